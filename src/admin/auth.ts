/**
 * Who may call the admin API: `Authorization: Bearer <token>` where the token is either
 *
 * - the bootstrap secret DEPUTY_ADMIN_TOKEN (principal `bootstrap`): the process keeps only its
 *   SHA-256 and compares digests in constant time; or
 * - an opaque access token that oidc-provider issued to a client through client_credentials with
 *   scope `deputy:admin` (principal `client:<client_id>`). The client must still exist and still
 *   hold `deputy:admin` at the time of the call, so taking the scope away takes effect at once.
 *
 * Anything shaped like a JWT (Deputy's delegated tokens, any IdP's token) never grants admin
 * access. Sender-constrained (DPoP / mTLS-bound) tokens are refused: the admin API checks no proof.
 * Missing or unusable credentials → 401 with `WWW-Authenticate: Bearer`; a valid token without
 * the admin scope → 403.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import type pg from 'pg';
import { ADMIN_SCOPE } from '../oauth/provider.js';
import { ApiError } from './errors.js';

/** `bootstrap` or `client:<client_id>`: recorded as `admin` on every audit event. */
export type AdminPrincipal = string;

export interface AdminState {
  requestId: string;
  admin: AdminPrincipal;
}

const REALM = 'deputy-admin';
const MAX_TOKEN_LENGTH = 4096;

const sha256 = (value: string) => createHash('sha256').update(value, 'utf8').digest();

function unauthorized(description: string, withError = true): ApiError {
  const challenge = withError ? `Bearer realm="${REALM}", error="invalid_token"` : `Bearer realm="${REALM}"`;
  return new ApiError(401, 'invalid_token', description, undefined, { 'WWW-Authenticate': challenge });
}

function forbidden(): ApiError {
  return new ApiError(403, 'insufficient_scope', `the token lacks the ${ADMIN_SCOPE} scope`, undefined, {
    'WWW-Authenticate': `Bearer realm="${REALM}", error="insufficient_scope", scope="${ADMIN_SCOPE}"`,
  });
}

const looksLikeJwt = (token: string) => token.split('.').length === 3 || token.split('.').length === 5;

export interface AuthDeps {
  provider: Provider;
  pool: pg.Pool;
  /** DEPUTY_ADMIN_TOKEN, or undefined when only deputy:admin tokens are accepted. */
  bootstrapToken: string | undefined;
}

export function createAuthenticator({ provider, pool, bootstrapToken }: AuthDeps) {
  const bootstrapDigest = bootstrapToken ? sha256(bootstrapToken) : null;

  async function principalOf(authorization: string): Promise<AdminPrincipal> {
    if (!authorization) throw unauthorized('a bearer token is required', false);
    const token = /^Bearer +(\S+) *$/i.exec(authorization)?.[1];
    if (!token || token.length > MAX_TOKEN_LENGTH) throw unauthorized('the Authorization header must be "Bearer <token>"');

    if (bootstrapDigest && timingSafeEqual(sha256(token), bootstrapDigest)) return 'bootstrap';
    if (looksLikeJwt(token)) throw unauthorized('this token does not grant admin access');

    const stored = await provider.ClientCredentials.find(token);
    if (!stored || !stored.isValid || stored.isExpired || !stored.clientId) throw unauthorized('the token is invalid or expired');
    if (stored.isSenderConstrained()) throw unauthorized('sender-constrained tokens are not accepted by the admin API');
    if (!(stored.scope ?? '').split(' ').includes(ADMIN_SCOPE)) throw forbidden();

    const { rows } = await pool.query<{ scope: string }>('SELECT scope FROM clients WHERE client_id = $1', [stored.clientId]);
    const client = rows[0];
    if (!client) throw unauthorized('the token is invalid or expired');
    if (!client.scope.split(' ').includes(ADMIN_SCOPE)) throw forbidden();
    return `client:${stored.clientId}`;
  }

  return async function authenticate(ctx: Context, next: Next): Promise<void> {
    (ctx.state as AdminState).admin = await principalOf(ctx.get('authorization'));
    await next();
  };
}
