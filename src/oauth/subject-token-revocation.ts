/**
 * RFC 7009 revocation of the person's IdP token (issue 16): a JWT from a trusted user issuer,
 * presented at Deputy's revocation endpoint by an authenticated client. Deputy cannot revoke it
 * at the IdP, but it can stop honouring it: in ONE transaction it remembers the token as revoked
 * (revoked_subject_tokens, by SHA-256, until it expires: later exchanges presenting it are
 * refused, live-facts.ts and decide.ts) and revokes every unexpired Deputy token derived from it,
 * chains included (issued_tokens.subject_token_sha256, the provenance recorded at issue). The
 * Shared Signals triggers (migration 0015) queue their events with reason
 * `upstream_token_revoked`; one `subject_token.revoked` audit event, plus `token.revoked` per
 * token, is appended in the same transaction.
 *
 * Who may revoke: any authenticated client presenting the token. RFC 7009 §2.1 has the server
 * check that the token was issued to the client, but an IdP token was issued to no Deputy client;
 * presenting it proves possession, and a holder could as well exchange it, so letting it be
 * switched off widens nothing.
 *
 * A token that does not verify (untrusted issuer, bad signature, wrong audience, Deputy's own
 * issuer, not a JWT) changes nothing. Neither does an expired one: every token derived from it
 * expired no later than it (decide.ts bounds a token's lifetime by its subject token's exp, and
 * a chain by its parent's), and the exchange refuses it anyway, so there is nothing left to stop.
 * The endpoint answers 200 in every such case (RFC 7009 §2.2).
 */
import type { AuditEventInput } from '../audit/audit-log.js';
import { appendAuditEvents } from '../audit/audit-log.js';
import type { PrismaClient } from '../db/prisma.js';
import { DeputyError } from '../errors.js';
import { subjectTokenDigest } from '../trust/subject-token-digest.js';
import { verifyTrustedIssuerToken, type TrustedIssuerDeps, type TrustedIssuerToken } from '../trust/trusted-issuer-token.js';
import { ISSUED_TOKEN_COLUMNS, type IssuedTokenRecord } from './revocation.js';

/** The Shared Signals reason of tokens revoked because their IdP token was (deputy.revocation_reason). */
export const UPSTREAM_TOKEN_REVOKED = 'upstream_token_revoked';

export interface SubjectTokenRevocationDeps {
  trusted: TrustedIssuerDeps;
  prisma: PrismaClient;
}

export interface SubjectTokenRevocationRequest {
  token: string;
  /** The authenticated client that presented it. */
  clientId: string;
  requestId: string | null;
  now: Date;
}

export interface SubjectTokenRevoked {
  /** The IdP token was not already remembered as revoked. */
  newlyRevoked: boolean;
  revokedJtis: string[];
}

/** The verified IdP token, or null when it does not verify (a client's mistake, never an outage). */
async function verified(token: string, trusted: TrustedIssuerDeps, now: Date): Promise<TrustedIssuerToken | null> {
  try {
    return await verifyTrustedIssuerToken(token, trusted, now, 'user');
  } catch (error) {
    // An unreachable database or key source is answered 503 by the caller; a bad token is not an error.
    if (error instanceof DeputyError && error.status < 500) return null;
    throw error;
  }
}

/** Revokes the IdP token and what was derived from it; null when it is not a verifiable IdP token (nothing changed). */
export async function revokeSubjectToken(deps: SubjectTokenRevocationDeps, request: SubjectTokenRevocationRequest): Promise<SubjectTokenRevoked | null> {
  const idpToken = await verified(request.token, deps.trusted, request.now);
  if (!idpToken) return null;
  const digest = subjectTokenDigest(request.token);
  return deps.prisma.$transaction(async (tx) => {
    // The subject's exclusive lock (locks.sql): an exchange of this token being recorded either
    // commits first, and its token is revoked below, or sees the revoked_subject_tokens row.
    await tx.$queryRawUnsafe(`SELECT pg_advisory_xact_lock(7300101, deputy_subject_lock_key($1))::text`, idpToken.subjectId);
    const inserted = await tx.$queryRawUnsafe<unknown[]>(
      `INSERT INTO revoked_subject_tokens (sha256, issuer, expires_at) VALUES (decode($1, 'hex'), $2, to_timestamp($3::float8))
       ON CONFLICT (sha256) DO NOTHING RETURNING 1 AS inserted`,
      digest,
      idpToken.issuer,
      idpToken.exp,
    );
    await tx.$queryRawUnsafe(`SELECT set_config('deputy.revocation_reason', $1, true)`, UPSTREAM_TOKEN_REVOKED);
    const revoked = await tx.$queryRawUnsafe<IssuedTokenRecord[]>(
      `UPDATE issued_tokens SET revoked_at = now()
        WHERE subject_token_sha256 = decode($1, 'hex') AND revoked_at IS NULL AND expires_at > now()
       RETURNING ${ISSUED_TOKEN_COLUMNS}`,
      digest,
    );
    const newlyRevoked = inserted.length > 0;
    if (!newlyRevoked && revoked.length === 0) return { newlyRevoked, revokedJtis: [] };
    const at = new Date();
    const common = { at, requestId: request.requestId };
    const via = { via: 'revocation_endpoint', reason: UPSTREAM_TOKEN_REVOKED, revoked_by_client: request.clientId };
    const events: AuditEventInput[] = [
      {
        ...common,
        type: 'subject_token.revoked',
        clientId: request.clientId,
        subjectId: idpToken.subjectId,
        // The digest names the IdP token in the records; the token itself is never written.
        details: { issuer: idpToken.issuer, subject_token_sha256: digest, expires_at: idpToken.exp, revoked_jtis: revoked.map((t) => t.jti) },
      },
      ...revoked.map((token) => ({
        ...common,
        type: 'token.revoked',
        jti: token.jti,
        subjectId: token.subject_id,
        actorIds: token.actor_ids,
        clientId: token.client_id,
        resourceUri: token.resource_uri,
        grantId: token.grant_id,
        details: via,
      })),
    ];
    await appendAuditEvents(tx, events);
    return { newlyRevoked, revokedJtis: revoked.map((t) => t.jti) };
  });
}
