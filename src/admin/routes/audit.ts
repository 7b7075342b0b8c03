/**
 * The audit log, read-only: events are never updated or deleted through the API (the database
 * refuses it too). Newest first, keyset-paged over `id`; `verify` walks every hash chain.
 */
import { z } from 'zod';
import { verifyAuditChains, type DroppedScopeRecord } from '../../audit/audit-log.js';
import { checkPositions, ChainPosition, takeCheckpoint } from '../../audit/checkpoint.js';
import type { AdminApi } from '../api.js';
import { ApiError } from '../errors.js';
import type { AuditEvent as AuditRow } from '../../generated/prisma/client.js';
import { keyset, keysetPage, type SortKey } from '../pagination.js';
import type { RouteDeps } from '../router.js';
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

const Checkpoint = z
  .object({
    checkpoint: z.string().meta({ description: 'The signed checkpoint (compact JWS, `typ: deputy-audit-checkpoint+jwt`): keep it, and pass it to `POST audit/verify` later' }),
    kid: z.string().meta({ description: 'The checkpoint key that signed it (see `audit/checkpoint-key`)' }),
    issued_at: TimestampOut,
    events: z.number().int().meta({ description: 'Events in all chains at that moment' }),
    chains: z.array(ChainPosition).meta({ description: 'Each chain’s head: last sequence number, event id and hash' }),
  })
  .meta({ id: 'AuditCheckpoint' });

const CheckpointKeySet = z
  .object({ keys: z.array(z.looseObject({ kty: z.string(), kid: z.string() })) })
  .meta({ id: 'AuditCheckpointKeys', description: 'The public key (JWK Set) that verifies checkpoints' });

const VerifyWithCheckpoint = z
  .strictObject({ checkpoint: z.string().min(1).max(65_536).meta({ description: 'A checkpoint from `GET audit/checkpoint` or the log' }) })
  .meta({ id: 'AuditVerifyRequest' });

const CheckedVerificationReport = VerificationReport.extend({
  checkpoint: z.object({
    signature: z
      .enum(['valid', 'invalid', 'unknown_key'])
      .meta({ description: '`unknown_key`: signed by another checkpoint key than the current one (verify it with that key)' }),
    issued_at: TimestampOut,
    chains: z.array(
      z.object({
        chain_id: z.number().int(),
        seq: z.number().int(),
        event_id: z.number().int().nullable(),
        status: z.enum(['intact', 'missing_event', 'hash_mismatch']).meta({
          description: '`missing_event`: the event the checkpoint pinned is gone (truncation); `hash_mismatch`: it was rewritten',
        }),
      }),
    ),
  }),
}).meta({ id: 'AuditVerificationWithCheckpoint' });

const KEY: SortKey[] = [{ field: 'id', type: 'bigint' }];

const toEvent = (row: AuditRow): AuditEventOut => ({
  id: Number(row.id),
  at: row.at.toISOString(),
  type: row.type,
  request_id: row.requestId,
  admin: row.admin,
  client_id: row.clientId,
  subject: row.subjectId,
  actors: row.actorIds,
  resource: row.resourceUri,
  scope_requested: row.scopeRequested,
  scope_granted: row.scopeGranted,
  scope_denied: row.scopeDenied as unknown as DroppedScopeRecord[],
  jti: row.jti,
  grant_id: row.grantId,
  error: row.error,
  details: row.details as Record<string, unknown> | null,
  chain_id: row.chainId,
  seq: Number(row.seq),
  prev_hash: row.prevHash,
  hash: row.hash,
});

export function auditRoutes(api: AdminApi, deps: RouteDeps): void {
  const { pool, checkpointKey, config } = deps;
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
    handler: async ({ query }) => {
      const page = keyset(KEY, query.limit, query.cursor);
      const rows = await deps.prisma.auditEvent.findMany({
        where: {
          AND: [
            { subjectId: query.subject, clientId: query.client, type: query.type, admin: query.admin },
            query.actor === undefined ? {} : { actorIds: { has: query.actor } },
            query.since === undefined ? {} : { at: { gte: new Date(query.since) } },
            query.until === undefined ? {} : { at: { lt: new Date(query.until) } },
            page.after,
          ],
        },
        orderBy: page.orderBy,
        take: page.take,
      });
      return keysetPage(rows, KEY, query.limit, toEvent);
    },
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

  api.route({
    method: 'get',
    path: '/audit/checkpoint',
    operationId: 'getAuditCheckpoint',
    tag: 'audit',
    summary: 'A signed checkpoint of every audit chain’s head',
    description:
      'Signed with a key that is not stored in the database. Keep it outside Deputy: `POST audit/verify` with it later detects ' +
      'any deletion or rewrite of events up to the positions it pins, even one that re-hashed the chain. Deputy also writes one to the log every AUDIT_CHECKPOINT_INTERVAL_S.',
    status: 200,
    response: Checkpoint,
    responseDescription: 'The checkpoint, and its claims decoded',
    handler: async () => {
      const { jws, claims } = await takeCheckpoint(pool, checkpointKey, config.ISSUER, new Date());
      return { checkpoint: jws, kid: checkpointKey.kid, issued_at: new Date(claims.iat * 1000).toISOString(), events: claims.events, chains: claims.chains };
    },
  });

  api.route({
    method: 'get',
    path: '/audit/checkpoint-key',
    operationId: 'getAuditCheckpointKey',
    tag: 'audit',
    summary: 'The public key that verifies audit checkpoints',
    status: 200,
    response: CheckpointKeySet,
    responseDescription: 'A JWK Set holding the Ed25519 public key',
    handler: async () => ({ keys: [checkpointKey.publicJwk as { kty: string; kid: string }] }),
  });

  api.route({
    method: 'post',
    path: '/audit/verify',
    operationId: 'verifyAuditLogAgainstCheckpoint',
    tag: 'audit',
    summary: 'Verify the audit log against a checkpoint',
    description:
      'Walks every chain as `GET audit/verify` does, checks the checkpoint’s signature, and checks that each event the checkpoint pinned ' +
      'still carries the pinned hash. `ok` only when all three hold. Deleting the newest events and rewinding a chain head, or editing an ' +
      'event and re-hashing every later one, passes `GET audit/verify` but not this check, for every event up to the checkpoint.',
    body: VerifyWithCheckpoint,
    status: 200,
    response: CheckedVerificationReport,
    responseDescription: 'The verification report, with the checkpoint comparison',
    handler: async ({ body }) => {
      const read = await checkpointKey.read(body.checkpoint);
      if (!read) {
        throw new ApiError(400, 'invalid_request', 'body.checkpoint: is not a Deputy audit checkpoint', [
          { in: 'body', path: ['checkpoint'], code: 'invalid_checkpoint', message: 'is not a Deputy audit checkpoint' },
        ]);
      }
      const [report, chains] = await Promise.all([verifyAuditChains(pool), checkPositions(pool, read.claims.chains)]);
      return {
        ...report,
        ok: report.ok && read.signature === 'valid' && chains.every((chain) => chain.status === 'intact'),
        checkpoint: { signature: read.signature, issued_at: new Date(read.claims.iat * 1000).toISOString(), chains },
      };
    },
  });
}
