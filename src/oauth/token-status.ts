/**
 * Introspection (RFC 7662) and revocation (RFC 7009) of Deputy's delegated tokens. A token is
 * active only while it is authentic (its digest is the one recorded when it was issued or, for
 * tokens recorded without one, its signature is valid), it is unexpired, it, every token it was
 * derived from and every grant of its chain are unrevoked and unexpired, and its subject and
 * every actor of its chain are active and were not disabled since it was issued (re-enabling does
 * not revive it) — read live on every call, so a revocation through any process shows on the
 * next call everywhere. Revocation also takes the person's IdP token (a trusted user issuer's
 * JWT): subject-token-revocation.ts.
 */
import type { KoaContextWithOIDC } from 'oidc-provider';
import type pg from 'pg';
import { appendAuditEvents } from '../audit/audit-log.js';
import type { PrismaClient } from '../db/prisma.js';
import { allowedToIntrospect } from './introspection-policy.js';
import type { KeyRing } from '../keys/key-ring.js';
import type { Logger } from '../log.js';
import { checkDeputyToken, deputyTokenAuthentic, readDeputyToken } from './deputy-token.js';
import { revokeIssuedToken } from './revocation.js';
import { revokeSubjectToken, type SubjectTokenRevocationDeps } from './subject-token-revocation.js';

/** Whether the token is live now: deputy_token_is_live (migrations/functions/liveness.sql), inlined by the planner. */
const TOKEN_ACTIVE_SQL = `
SELECT t.dpop_jkt, t.token_sha256, l.live AS active
  FROM issued_tokens t, deputy_token_is_live(t, now()) l
 WHERE t.jti = $1`;

export interface TokenStatusDeps {
  pool: pg.Pool;
  /** Revocation's transaction (the one implementation shared with the admin API). */
  prisma: PrismaClient;
  keyRing: KeyRing;
  issuer: string;
  logger: Logger;
  /** The trusted issuers whose user tokens (the person's IdP tokens) may be revoked here. */
  trusted: SubjectTokenRevocationDeps['trusted'];
}

interface TokenRow {
  active: boolean;
  dpop_jkt: string | null;
  token_sha256: Buffer | null;
}

export function createTokenStatusHandlers({ pool, prisma, keyRing, issuer, logger, trusted }: TokenStatusDeps) {
  async function introspection(ctx: KoaContextWithOIDC): Promise<void> {
    ctx.body = { active: false };
    const token = String(ctx.oidc.params!.token);
    const nowSeconds = Math.floor(Date.now() / 1000);
    const check = readDeputyToken(token, issuer, nowSeconds);
    if (!check.valid) return;
    // A database failure is rendered by oidc-provider's error handler, and an outage answered
    // 503 temporarily_unavailable (src/http/app.ts, server_error).
    // RFC 7662 §4: only the token's client, its audience's resource servers and admins learn more.
    const about = { clientId: check.claims.client_id, audience: check.claims.aud };
    if (!(await allowedToIntrospect(pool, ctx.oidc.client!.clientId, about))) return;
    const {
      rows: [row],
    } = await pool.query<TokenRow>({ name: 'deputy_token_active', text: TOKEN_ACTIVE_SQL, values: [check.claims.jti] });
    // The record's digest authenticates the token (a forged one with a known jti does not match).
    if (!row?.active || !(await deputyTokenAuthentic(token, check, keyRing, nowSeconds, row.token_sha256))) return;
    const { claims } = check;
    ctx.body = {
      active: true,
      iss: issuer,
      sub: claims.sub,
      act: claims.act,
      scope: claims.scope,
      aud: claims.aud,
      client_id: claims.client_id,
      exp: claims.exp,
      iat: claims.iat,
      jti: claims.jti,
      token_type: row.dpop_jkt ? 'DPoP' : 'Bearer',
      ...(row.dpop_jkt ? { cnf: { jkt: row.dpop_jkt } } : {}),
    };
  }

  async function revocation(ctx: KoaContextWithOIDC): Promise<void> {
    ctx.body = '';
    const token = String(ctx.oidc.params!.token);
    const now = new Date();
    const check = await checkDeputyToken(token, keyRing, issuer, Math.floor(now.getTime() / 1000));
    // Not Deputy's: perhaps the person's IdP token, revoked at Deputy with what derives from it.
    if (!check.valid) return revokeIdpToken(ctx, token, now);
    // RFC 7009 §2.2: invalid tokens and tokens of other clients are answered 200, untouched.
    if (check.claims.client_id !== ctx.oidc.client!.clientId) return;
    const { claims } = check;
    try {
      await prisma.$transaction((tx) =>
        revokeIssuedToken(tx, claims.jti, 'rfc7009', { via: 'revocation_endpoint' }, (event) =>
          appendAuditEvents(tx, [{ ...event, at: new Date(), requestId: ctx.state.requestId ?? null }]),
        ),
      );
    } catch (error) {
      logger.warn({ request_id: ctx.state.requestId, detail: (error as Error).message }, 'token revocation failed');
      throw error; // an outage is answered 503 (src/http/app.ts, server_error)
    }
  }

  /** An unverifiable token changes nothing (200, RFC 7009 §2.2); only an authenticated client may revoke. */
  async function revokeIdpToken(ctx: KoaContextWithOIDC, token: string, now: Date): Promise<void> {
    if (!ctx.state.clientAuthenticated) return;
    const requestId = ctx.state.requestId ?? null;
    try {
      const revoked = await revokeSubjectToken({ trusted, prisma }, { token, clientId: ctx.oidc.client!.clientId, requestId, now });
      if (revoked) logger.info({ request_id: requestId, revoked_tokens: revoked.revokedJtis.length }, 'IdP token revoked');
    } catch (error) {
      logger.warn({ request_id: requestId, detail: (error as Error).message }, 'IdP token revocation failed');
      throw error; // an outage is answered 503 (src/http/app.ts, server_error)
    }
  }

  return { introspection, revocation };
}
