import type pg from 'pg';
import type { ConfigCache } from '../db/change-feed.js';
import type { IssuerKind, TrustedIssuerRecord } from './trusted-issuer-token.js';

interface IssuerRow {
  issuer: string;
  jwks_uri: string | null;
  jwks: { keys: unknown[] } | null;
  audience: string;
  kind: IssuerKind;
  subject_claim: string;
  algorithms: string[];
  allowed_subjects: string[];
  subject_prefix: string | null;
}

/** The configuration-cache key prefix of a trusted issuer; the change feed notifies `trusted_issuers:<issuer>`. */
export const TRUSTED_ISSUER_KEY = 'trusted_issuers:';

/**
 * Finds a trusted issuer through the change-notified cache: a removed or changed issuer applies
 * to the next request in every process (as soon as PostgreSQL's notification arrives).
 */
export async function findTrustedIssuer(pool: pg.Pool, cache: ConfigCache, iss: string, kind: IssuerKind): Promise<TrustedIssuerRecord | null> {
  const rows = await cache.get(`${TRUSTED_ISSUER_KEY}${iss}`, async () => {
    const result = await pool.query<IssuerRow>({
      name: 'deputy_trusted_issuer',
      text: 'SELECT issuer, jwks_uri, jwks, audience, kind, subject_claim, algorithms, allowed_subjects, subject_prefix FROM trusted_issuers WHERE issuer = $1',
      values: [iss],
    });
    return result.rows.length > 0 ? result.rows : null;
  });
  const row = rows?.find((candidate) => candidate.kind === kind);
  if (!row) return null;
  return {
    issuer: row.issuer,
    jwksUri: row.jwks_uri,
    jwks: row.jwks,
    audience: row.audience,
    kind: row.kind,
    subjectClaim: row.subject_claim,
    algorithms: row.algorithms,
    subjects: { allowed: row.allowed_subjects, prefix: row.subject_prefix },
  };
}
