import type pg from 'pg';
import type { IssuerKind, TrustedIssuerRecord } from './trusted-issuer-token.js';

interface IssuerRow {
  issuer: string;
  jwks_uri: string | null;
  jwks: { keys: unknown[] } | null;
  audience: string;
  kind: IssuerKind;
  subject_claim: string;
  algorithms: string[];
}

/** Looks a trusted issuer up live, so removing or changing one applies to the next request. */
export async function findTrustedIssuer(pool: pg.Pool, iss: string, kind: IssuerKind): Promise<TrustedIssuerRecord | null> {
  const { rows } = await pool.query<IssuerRow>({
    name: 'deputy_trusted_issuer',
    text: 'SELECT issuer, jwks_uri, jwks, audience, kind, subject_claim, algorithms FROM trusted_issuers WHERE issuer = $1 AND kind = $2',
    values: [iss, kind],
  });
  const row = rows[0];
  if (!row) return null;
  return {
    issuer: row.issuer,
    jwksUri: row.jwks_uri,
    jwks: row.jwks,
    audience: row.audience,
    kind: row.kind,
    subjectClaim: row.subject_claim,
    algorithms: row.algorithms,
  };
}
