/**
 * Records an exchange. A granted exchange's issued-token row and its audit event commit in one
 * transaction before the token is returned; a refusal writes its audit event alone.
 */
import type pg from 'pg';
import { appendAuditEvents, inTransaction, type AuditEventInput } from '../audit/audit-log.js';

export interface IssuedTokenRecord {
  jti: string;
  subjectId: string;
  actorIds: readonly string[];
  clientId: string;
  resource: string;
  scope: string;
  grantId: string;
  grantIds: readonly string[];
  parentJti: string | null;
  dpopJkt: string | null;
  issuedAt: Date;
  expiresAt: Date;
}

export async function recordIssuedToken(pool: pg.Pool, token: IssuedTokenRecord, event: AuditEventInput): Promise<void> {
  await inTransaction(pool, async (client) => {
    await client.query({
      name: 'deputy_insert_issued_token',
      text: `INSERT INTO issued_tokens (jti, subject_id, actor_ids, client_id, resource_uri, scope, grant_id, grant_ids, parent_jti, dpop_jkt, issued_at, expires_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`,
      values: [
        token.jti, token.subjectId, token.actorIds, token.clientId, token.resource, token.scope, token.grantId,
        token.grantIds, token.parentJti, token.dpopJkt, token.issuedAt, token.expiresAt,
      ],
    });
    await appendAuditEvents(client, [event]);
  });
}

export async function recordDenial(pool: pg.Pool, event: AuditEventInput): Promise<void> {
  await inTransaction(pool, (client) => appendAuditEvents(client, [event]));
}
