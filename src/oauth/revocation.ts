/**
 * Revoking one issued delegated token, the one implementation behind both ways in: the RFC 7009
 * endpoint (token-status.ts) and the admin API's `POST /tokens/:jti/revoke`. The row's
 * `revoked_at` is the database's now() (the clock introspection compares with), and the
 * `token.revoked` audit event is appended in the caller's transaction, so a revocation never
 * exists without its event. Revoking a revoked (or unknown) token changes nothing.
 */
import type { AuditEventInput } from '../audit/audit-log.js';
import type { PrismaTransaction } from '../db/prisma.js';

export interface IssuedTokenRecord {
  jti: string;
  subject_id: string;
  actor_ids: string[];
  client_id: string;
  resource_uri: string;
  scope: string;
  grant_id: string;
  grant_ids: string[];
  issued_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
}

/** The columns of an issued token's record, as the admin API shows it. */
export const ISSUED_TOKEN_COLUMNS = 'jti, subject_id, actor_ids, client_id, resource_uri, scope, grant_id, grant_ids, issued_at, expires_at, revoked_at';

/** The event's fields that say who revoked and why; the rest come from the token's record. */
export type RevocationEvent = Omit<AuditEventInput, 'at' | 'admin' | 'requestId'>;

/** Who revoked: named in the Shared Signals events the revocation queues (`reason_admin`, migration 0015). */
export type RevocationCause = 'admin' | 'rfc7009';

/**
 * Revokes the token `jti` if it is unrevoked, and records `token.revoked` through `record` (which
 * adds who and when) in the same transaction. Returns the revoked record; null when there was
 * nothing to revoke (no such token, or already revoked).
 */
export async function revokeIssuedToken(
  tx: PrismaTransaction,
  jti: string,
  cause: RevocationCause,
  details: Record<string, unknown>,
  record: (event: RevocationEvent) => Promise<void>,
): Promise<IssuedTokenRecord | null> {
  await tx.$queryRawUnsafe(`SELECT set_config('deputy.revocation_reason', $1, true)`, cause);
  const [revoked] = await tx.$queryRawUnsafe<IssuedTokenRecord[]>(
    `UPDATE issued_tokens SET revoked_at = now() WHERE jti = $1 AND revoked_at IS NULL RETURNING ${ISSUED_TOKEN_COLUMNS}`,
    jti,
  );
  if (!revoked) return null;
  await record({
    type: 'token.revoked',
    jti: revoked.jti,
    subjectId: revoked.subject_id,
    actorIds: revoked.actor_ids,
    clientId: revoked.client_id,
    resourceUri: revoked.resource_uri,
    grantId: revoked.grant_id,
    details,
  });
  return revoked;
}
