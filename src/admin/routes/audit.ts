/**
 * The audit log, read-only: events are never updated or deleted through the API (the database
 * refuses it too). Newest first, keyset-paged over `id`; `verify` walks every hash chain.
 */
import { z } from 'zod';
import { verifyAuditChains, type DroppedScopeRecord } from '../../audit/audit-log.js';
import type { AdminApi } from '../api.js';
import { Filters, listPage, type KeyColumn } from '../pagination.js';
import type { AdminDeps } from '../router.js';
import { Identifier, Timestamp, TimestampOut, pageOf, pageQuery } from '../schemas.js';

export const AuditEvent = z
  .object({
    id: z.number().int(),
    at: TimestampOut,
    type: z.string().meta({ example: 'grant.revoked' }),
    request_id: z.string().nullable(),
    admin: z.string().nullable().meta({ description: 'The admin who made the change: `bootstrap` or `client:<client_id>`' }),
    client_id: z.string().nullable(),
    subject: z.string().nullable(),
    actors: z.array(z.string()).meta({ description: 'The actor chain, outermost last' }),
    resource: z.string().nullable(),
    scope_requested: z.array(z.string()),
    scope_granted: z.array(z.string()),
    scope_denied: z.array(z.object({ scope: z.string(), reason: z.string() })),
    jti: z.string().nullable(),
    grant_id: z.string().nullable(),
    error: z.string().nullable(),
    details: z.record(z.string(), z.unknown()).nullable(),
    chain_id: z.number().int(),
    seq: z.number().int(),
    prev_hash: z.string(),
    hash: z.string(),
  })
  .meta({ id: 'AuditEvent' });
type AuditEventOut = z.infer<typeof AuditEvent>;
const AuditEventPage = pageOf(AuditEvent, 'AuditEventPage');

const AuditQuery = z.strictObject({
  ...pageQuery,
  subject: Identifier.optional(),
  actor: Identifier.optional().meta({ description: 'Events whose actor chain names this actor' }),
  client: Identifier.optional(),
  type: z.string().min(1).max(100).optional().meta({ example: 'token.exchanged' }),
  admin: z.string().min(1).max(300).optional().meta({ description: 'Changes made by this admin (`bootstrap` or `client:<id>`)' }),
  since: Timestamp.optional().meta({ description: 'Events at or after this time' }),
  until: Timestamp.optional().meta({ description: 'Events before this time' }),
});

const VerificationReport = z
  .object({
    ok: z.boolean(),
    events_checked: z.number().int(),
    chains: z.number().int(),
    first_broken_link: z
      .object({
        chain_id: z.number().int(),
        seq: z.number().int(),
        event_id: z.number().int().nullable(),
        problem: z.enum(['hash_mismatch', 'previous_hash_mismatch', 'missing_event', 'head_mismatch']),
      })
      .nullable(),
  })
  .meta({ id: 'AuditVerification' });

interface AuditRow extends Record<string, unknown> {
  id: number;
  chain_id: number;
  seq: number;
  at: Date;
  type: string;
  request_id: string | null;
  admin: string | null;
  client_id: string | null;
  subject_id: string | null;
  actor_ids: string[];
  resource_uri: string | null;
  scope_requested: string[];
  scope_granted: string[];
  scope_denied: DroppedScopeRecord[];
  jti: string | null;
  grant_id: string | null;
  error: string | null;
  details: Record<string, unknown> | null;
  prev_hash: string;
  hash: string;
}

const COLUMNS = `id, chain_id, seq, at, type, request_id, admin, client_id, subject_id, actor_ids, resource_uri,
  scope_requested, scope_granted, scope_denied, jti, grant_id, error, details, prev_hash, hash`;
const KEY: KeyColumn[] = [{ column: 'id', type: 'bigint', field: 'id' }];

const toEvent = (row: AuditRow): AuditEventOut => ({
  id: row.id,
  at: row.at.toISOString(),
  type: row.type,
  request_id: row.request_id,
  admin: row.admin,
  client_id: row.client_id,
  subject: row.subject_id,
  actors: row.actor_ids,
  resource: row.resource_uri,
  scope_requested: row.scope_requested,
  scope_granted: row.scope_granted,
  scope_denied: row.scope_denied,
  jti: row.jti,
  grant_id: row.grant_id,
  error: row.error,
  details: row.details,
  chain_id: row.chain_id,
  seq: row.seq,
  prev_hash: row.prev_hash,
  hash: row.hash,
});

export function auditRoutes(api: AdminApi, { pool }: AdminDeps): void {
  api.route({
    method: 'get',
    path: '/audit',
    operationId: 'listAuditEvents',
    tag: 'audit',
    summary: 'List audit events, newest first',
    description: 'Filters combine with AND. Paging is by event id, so a page never repeats or skips an event.',
    query: AuditQuery,
    status: 200,
    response: AuditEventPage,
    responseDescription: 'A page of audit events',
    handler: ({ query }) =>
      listPage(pool, {
        from: `SELECT ${COLUMNS} FROM audit_events`,
        filters: new Filters()
          .when(query.subject, 'subject_id = $?')
          .when(query.actor, 'actor_ids @> ARRAY[$?::text]')
          .when(query.client, 'client_id = $?')
          .when(query.type, 'type = $?')
          .when(query.admin, 'admin = $?')
          .when(query.since, 'at >= $?::timestamptz')
          .when(query.until, 'at < $?::timestamptz'),
        key: KEY,
        limit: query.limit,
        cursor: query.cursor,
        toItem: toEvent,
      }),
  });

  api.route({
    method: 'get',
    path: '/audit/verify',
    operationId: 'verifyAuditLog',
    tag: 'audit',
    summary: 'Verify the audit log’s hash chains',
    description: 'Walks every chain from its genesis and reports the first broken link (an edited, inserted or deleted event), if any.',
    status: 200,
    response: VerificationReport,
    responseDescription: 'The verification report',
    handler: () => verifyAuditChains(pool),
  });
}
