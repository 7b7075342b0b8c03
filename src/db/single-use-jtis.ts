/**
 * The one single-use store for every `jti` Deputy must accept only once: actor assertions, and
 * (through oidc-provider's ReplayDetection) DPoP proofs and client assertions. The decision is
 * one INSERT ... ON CONFLICT DO NOTHING, so of any number of concurrent presentations exactly
 * one is first — unlike a find-then-save, which lets several through. The token exchange's
 * actor assertion and DPoP proof go into the same table through the statement that records the
 * exchange instead (src/token-exchange/single-use-presented.ts, deputy_record_exchanges).
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';

/**
 * `actor_assertion`: keyed by actor id. `oauth_client`: oidc-provider's replay checks (DPoP proofs
 * and client assertions), keyed by client id, one namespace as oidc-provider had it.
 */
export type JtiNamespace = 'actor_assertion' | 'oauth_client';

/** Records the jti until `expiresAt` (epoch seconds); false when it was recorded before. */
export type MarkJtiUsed = (namespace: JtiNamespace, issuer: string, jti: string, expiresAt: number) => Promise<boolean>;

export function jtiDigest(jti: string): Buffer {
  return createHash('sha256').update(jti, 'utf8').digest();
}

export function createSingleUseJtis(pool: pg.Pool): MarkJtiUsed {
  return async (namespace, issuer, jti, expiresAt) => {
    const { rowCount } = await pool.query({
      name: 'deputy_mark_jti_used',
      text: `INSERT INTO used_assertion_jtis (namespace, issuer, jti_sha256, expires_at) VALUES ($1, $2, $3, to_timestamp($4))
             ON CONFLICT (namespace, issuer, jti_sha256) DO NOTHING`,
      values: [namespace, issuer, jtiDigest(jti), expiresAt],
    });
    return rowCount === 1;
  };
}
