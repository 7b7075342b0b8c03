/**
 * Introspection (RFC 7662) and revocation (RFC 7009) of Deputy's delegated tokens. A token is
 * active only while it is authentic (its digest is the one recorded when it was issued or, for
 * tokens recorded without one, its signature is valid), it is unexpired, it, every token it was
 * derived from and every grant of its chain are unrevoked and unexpired, and its subject and
 * every actor of its chain are active and were not disabled since it was issued (re-enabling does
 * not revive it) — read live on every call, so a revocation through any process shows on the
 * next call everywhere.
 */
import type { KoaContextWithOIDC } from 'oidc-provider';
import type pg from 'pg';
import { appendAuditEvents, inTransaction } from '../audit/audit-log.js';
import { isDatabaseUnavailable } from '../db/pool.js';
import { temporarilyUnavailable } from '../errors.js';
import { allowedToIntrospect } from '../oauth/introspection-policy.js';
import { toProviderError } from '../oauth/provider-errors.js';
import type { KeyRing } from '../keys/key-ring.js';
import type { Logger } from '../log.js';
import { checkDeputyToken, deputyTokenAuthentic, readDeputyToken } from './deputy-token.js';

const TOKEN_ACTIVE_SQL = `
SELECT t.dpop_jkt, t.token_sha256,
  (t.revoked_at IS NULL AND t.expires_at > now()
   AND (SELECT count(*) FROM delegation_grants g
         WHERE g.id = ANY(t.grant_ids) AND g.revoked_at IS NULL AND (g.expires_at IS NULL OR g.expires_at > now())) = cardinality(t.grant_ids)
   AND EXISTS (SELECT 1 FROM subjects s WHERE s.id = t.subject_id AND s.status = 'active'
                 AND (s.disabled_at IS NULL OR s.disabled_at < t.issued_at))
   AND (SELECT count(*) FROM actors a
         WHERE a.id = ANY(t.actor_ids) AND a.status = 'active' AND (a.expires_at IS NULL OR a.expires_at > now())
           AND (a.disabled_at IS NULL OR a.disabled_at < t.issued_at)) = cardinality(t.actor_ids)
   AND NOT EXISTS (SELECT 1 FROM issued_tokens a WHERE a.jti = ANY(t.ancestor_jtis) AND a.revoked_at IS NOT NULL)
  ) AS active
FROM issued_tokens t WHERE t.jti = $1`;

export interface TokenStatusDeps {
  pool: pg.Pool;
  keyRing: KeyRing;
  issuer: string;
  logger: Logger;
}

interface TokenRow {
  active: boolean;
  dpop_jkt: string | null;
  token_sha256: Buffer | null;
}

const unavailable = () => toProviderError(temporarilyUnavailable());

export function createTokenStatusHandlers({ pool, keyRing, issuer, logger }: TokenStatusDeps) {
  async function introspection(ctx: KoaContextWithOIDC): Promise<void> {
    ctx.body = { active: false };
    const token = String(ctx.oidc.params!.token);
    const nowSeconds = Math.floor(Date.now() / 1000);
    const check = readDeputyToken(token, issuer, nowSeconds);
    if (!check.valid) return;
    let row: TokenRow | undefined;
    try {
      // RFC 7662 §4: only the token's client, its audience's resource servers and admins learn more.
      const about = { clientId: check.claims.client_id, audience: check.claims.aud };
      if (!(await allowedToIntrospect(pool, ctx.oidc.client!.clientId, about))) return;
      ({ rows: [row] } = await pool.query<TokenRow>({ name: 'deputy_token_active', text: TOKEN_ACTIVE_SQL, values: [check.claims.jti] }));
    } catch (error) {
      if (isDatabaseUnavailable(error)) throw unavailable();
      throw error;
    }
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
    const check = await checkDeputyToken(token, keyRing, issuer, Math.floor(Date.now() / 1000));
    // RFC 7009 §2.2: invalid tokens and tokens of other clients are answered 200, untouched.
    if (!check.valid || check.claims.client_id !== ctx.oidc.client!.clientId) return;
    const { claims } = check;
    try {
      await inTransaction(pool, async (client) => {
        // Names the cause in the Shared Signals events this revocation queues (migration 0015).
        await client.query(`SELECT set_config('deputy.revocation_reason', 'rfc7009', true)`);
        const { rows } = await client.query<{ subject_id: string; actor_ids: string[]; resource_uri: string; grant_id: string }>(
          `UPDATE issued_tokens SET revoked_at = now() WHERE jti = $1 AND revoked_at IS NULL
           RETURNING subject_id, actor_ids, resource_uri, grant_id`,
          [claims.jti],
        );
        const revoked = rows[0];
        if (!revoked) return;
        await appendAuditEvents(client, [
          {
            type: 'token.revoked',
            at: new Date(),
            requestId: ctx.state.requestId ?? null,
            clientId: claims.client_id,
            subjectId: revoked.subject_id,
            actorIds: revoked.actor_ids,
            resourceUri: revoked.resource_uri,
            jti: claims.jti,
            grantId: revoked.grant_id,
            details: { via: 'revocation_endpoint' },
          },
        ]);
      });
    } catch (error) {
      logger.warn({ request_id: ctx.state.requestId, detail: (error as Error).message }, 'token revocation failed');
      if (isDatabaseUnavailable(error)) throw unavailable();
      throw error;
    }
  }

  return { introspection, revocation };
}
