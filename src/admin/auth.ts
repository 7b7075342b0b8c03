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
 *
 * The web console (src/console) signs admins in with these same rules (`signIn`: the bootstrap
 * token, or the client_id and secret of a client holding `deputy:admin`) and calls the admin
 * routes in-process as the session's principal (`actAs`). Its session keeps the principal and a
 * stamp of the credential's state (`credentialStamp`), checked again on every console request.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import type pg from 'pg';
import { clientSecretMatches } from '../oauth/client-secrets.js';
import { ADMIN_SCOPE } from '../oauth/provider.js';
import { compactShape } from '../jose/compact.js';
import { ApiError } from './errors.js';

/** `bootstrap` or `client:<client_id>`: recorded as `admin` on every audit event. */
export type AdminPrincipal = string;

export interface AdminState {
  requestId: string;
  admin: AdminPrincipal;
}

const REALM = 'deputy-admin';
const MAX_TOKEN_LENGTH = 4096;

const sha256 = (value: string | Buffer) => createHash('sha256').update(value).digest();

/**
 * Set only in-process by the console, after checking its session: the admin routes then act as
 * this principal. A symbol key, so nothing arriving over HTTP can set it.
 */
const ACTING_ADMIN = Symbol('deputy.actingAdmin');

export function actAs(state: object, admin: AdminPrincipal): void {
  (state as Record<symbol, unknown>)[ACTING_ADMIN] = admin;
}

/** What the console presents at sign-in: the bootstrap token (no client id), or a client's id and secret. */
export interface AdminCredentials {
  clientId: string;
  secret: string;
}

export interface SignedIn {
  admin: AdminPrincipal;
  /** Changes when the credential stops being valid (secret rotated, bootstrap token changed). */
  stamp: Buffer;
}

const SECRET_AUTH_METHODS = new Set(['client_secret_basic', 'client_secret_post']);

function unauthorized(description: string, withError = true): ApiError {
  const challenge = withError ? `Bearer realm="${REALM}", error="invalid_token"` : `Bearer realm="${REALM}"`;
  return new ApiError(401, 'invalid_token', description, undefined, { 'WWW-Authenticate': challenge });
}

function forbidden(): ApiError {
  return new ApiError(403, 'insufficient_scope', `the token lacks the ${ADMIN_SCOPE} scope`, undefined, {
    'WWW-Authenticate': `Bearer realm="${REALM}", error="insufficient_scope", scope="${ADMIN_SCOPE}"`,
  });
}

export interface AuthDeps {
  provider: Provider;
  pool: pg.Pool;
  /** DEPUTY_ADMIN_TOKEN, or undefined when only deputy:admin tokens are accepted. */
  bootstrapToken: string | undefined;
  clientSecretPepper: string;
}

export interface AdminAuthenticator {
  /** Koa middleware of every non-public admin route. */
  authenticate(ctx: Context, next: Next): Promise<void>;
  /** The console's sign-in; null when the credentials are not an admin's. */
  signIn(credentials: AdminCredentials): Promise<SignedIn | null>;
  /** The principal's current credential stamp; null when it is no longer an admin. */
  credentialStamp(admin: AdminPrincipal): Promise<Buffer | null>;
}

interface AdminClientRow {
  client_secret_hash: string | null;
  token_endpoint_auth_method: string;
  scope: string;
}

export function createAuthenticator({ provider, pool, bootstrapToken, clientSecretPepper }: AuthDeps): AdminAuthenticator {
  const bootstrapDigest = bootstrapToken ? sha256(bootstrapToken) : null;
  const bootstrapStamp = bootstrapDigest ? sha256(Buffer.concat([Buffer.from('bootstrap:'), bootstrapDigest])) : null;
  const clientStamp = (secretHash: string) => sha256(`client:${secretHash}`);

  /** A client that may sign in to the console: it authenticates by secret and holds deputy:admin. */
  async function adminClient(clientId: string): Promise<(AdminClientRow & { client_secret_hash: string }) | null> {
    const { rows } = await pool.query<AdminClientRow>(
      'SELECT client_secret_hash, token_endpoint_auth_method, scope FROM clients WHERE client_id = $1',
      [clientId],
    );
    const client = rows[0];
    if (!client?.client_secret_hash || !SECRET_AUTH_METHODS.has(client.token_endpoint_auth_method)) return null;
    if (!client.scope.split(' ').includes(ADMIN_SCOPE)) return null;
    return { ...client, client_secret_hash: client.client_secret_hash };
  }

  async function signIn({ clientId, secret }: AdminCredentials): Promise<SignedIn | null> {
    if (!secret || secret.length > MAX_TOKEN_LENGTH || clientId.length > MAX_TOKEN_LENGTH) return null;
    if (!clientId) {
      return bootstrapDigest && bootstrapStamp && timingSafeEqual(sha256(secret), bootstrapDigest)
        ? { admin: 'bootstrap', stamp: bootstrapStamp }
        : null;
    }
    const client = await adminClient(clientId);
    if (!client || !clientSecretMatches(secret, client.client_secret_hash, clientSecretPepper)) return null;
    return { admin: `client:${clientId}`, stamp: clientStamp(client.client_secret_hash) };
  }

  async function credentialStamp(admin: AdminPrincipal): Promise<Buffer | null> {
    if (admin === 'bootstrap') return bootstrapStamp;
    if (!admin.startsWith('client:')) return null;
    const client = await adminClient(admin.slice('client:'.length));
    return client ? clientStamp(client.client_secret_hash) : null;
  }

  async function principalOf(authorization: string): Promise<AdminPrincipal> {
    if (!authorization) throw unauthorized('a bearer token is required', false);
    const token = /^Bearer +(\S+) *$/i.exec(authorization)?.[1];
    if (!token || token.length > MAX_TOKEN_LENGTH) throw unauthorized('the Authorization header must be "Bearer <token>"');

    if (bootstrapDigest && timingSafeEqual(sha256(token), bootstrapDigest)) return 'bootstrap';
    if (compactShape(token) !== null) throw unauthorized('this token does not grant admin access');

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

  async function authenticate(ctx: Context, next: Next): Promise<void> {
    const acting = (ctx.state as unknown as Record<symbol, unknown>)[ACTING_ADMIN];
    (ctx.state as AdminState).admin = typeof acting === 'string' ? acting : await principalOf(ctx.get('authorization'));
    await next();
  }

  return { authenticate, signIn, credentialStamp };
}
