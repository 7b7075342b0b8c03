/**
 * Actors: non-human identities (agents, services, workloads) acting for subjects — the NHI
 * inventory. `status: disabled` is the kill switch: one update, and every exchange by the actor
 * and every token whose chain names it is refused / inactive at once (the exchange and
 * introspection read the status live).
 */
import type pg from 'pg';
import { z } from 'zod';
import { cancelPendingApprovals } from '../../approval/store.js';
import type { AdminApi } from '../api.js';
import { assignments, changeWithAudit, fieldChanges, iso } from '../changes.js';
import { invalidRequest, notFound } from '../errors.js';
import { Filters, listPage, type KeyColumn } from '../pagination.js';
import { requireExisting } from '../references.js';
import type { AdminDeps } from '../router.js';
import {
  IdParam,
  Identifier,
  Jwks,
  ResourceUri,
  ScopeList,
  Timestamp,
  TimestampOut,
  keyIds,
  nonEmptyPatch,
  pageOf,
  pageQuery,
  type JwksValue,
} from '../schemas.js';

const Kind = z.enum(['agent', 'service', 'workload']);
const Status = z.enum(['active', 'disabled']);
const Workload = z
  .strictObject({ issuer: z.string().min(1).max(2048), subject: z.string().min(1).max(1024) })
  .meta({ id: 'WorkloadBinding', description: 'A workload identity: tokens from this trusted workload issuer with this subject act as the actor' });
const ActorIds = z
  .array(Identifier)
  .max(100)
  .refine((ids) => new Set(ids).size === ids.length, 'must not repeat an actor');
const Resources = z
  .array(ResourceUri)
  .max(100)
  .refine((uris) => new Set(uris).size === uris.length, 'must not repeat a resource');

export const Actor = z
  .object({
    id: z.string(),
    kind: Kind,
    owner: z.string().meta({ description: 'The subject accountable for this actor' }),
    purpose: z.string(),
    status: Status,
    expires_at: TimestampOut.nullable(),
    jwks: Jwks.nullable(),
    workload: Workload.nullable(),
    scope_ceiling: z.array(z.string()),
    resources: z.array(z.string()),
    max_token_ttl: z.number().int().nullable(),
    may_delegate_to: z.array(z.string()),
    last_used_at: TimestampOut.nullable().meta({ description: 'Last successful exchange by this actor (server-set)' }),
    created_at: TimestampOut,
  })
  .meta({ id: 'Actor' });
type ActorOut = z.infer<typeof Actor>;
const ActorPage = pageOf(Actor, 'ActorPage');

const mutable = {
  kind: Kind,
  owner: Identifier.meta({ description: 'Subject id of the accountable owner' }),
  purpose: z.string().max(1000),
  status: Status,
  expires_at: Timestamp.nullable(),
  jwks: Jwks.nullable(),
  workload: Workload.nullable(),
  scope_ceiling: ScopeList.meta({ description: 'The most this actor may ever be granted' }),
  resources: Resources.meta({ description: 'Resource URIs this actor may target' }),
  max_token_ttl: z.number().int().min(1).max(86400).nullable(),
  may_delegate_to: ActorIds.meta({ description: 'Actors this one may pass a delegation on to' }),
};

const ActorCreate = z
  .strictObject({
    id: Identifier.meta({ example: 'agent:triage' }),
    kind: mutable.kind,
    owner: mutable.owner,
    purpose: mutable.purpose.default(''),
    status: mutable.status.default('active'),
    expires_at: mutable.expires_at.optional(),
    jwks: mutable.jwks.optional(),
    workload: mutable.workload.optional(),
    scope_ceiling: mutable.scope_ceiling.default([]),
    resources: mutable.resources.default([]),
    max_token_ttl: mutable.max_token_ttl.optional(),
    may_delegate_to: mutable.may_delegate_to.default([]),
  })
  .meta({ id: 'ActorCreate' });

const ActorPatch = nonEmptyPatch(
  z.strictObject(Object.fromEntries(Object.entries(mutable).map(([name, schema]) => [name, schema.optional()])) as {
    [K in keyof typeof mutable]: z.ZodOptional<(typeof mutable)[K]>;
  }),
).meta({ id: 'ActorPatch' });

const ActorQuery = z.strictObject({
  ...pageQuery,
  owner: Identifier.optional(),
  kind: Kind.optional(),
  status: Status.optional(),
  expiring_before: Timestamp.optional().meta({ description: 'Only actors with an expires_at before this time' }),
  unused_since: Timestamp.optional().meta({ description: 'Only actors never used, or last used before this time' }),
});

interface ActorRow extends Record<string, unknown> {
  id: string;
  kind: ActorOut['kind'];
  owner_id: string;
  purpose: string;
  status: ActorOut['status'];
  expires_at: Date | null;
  jwks: JwksValue | null;
  workload_issuer: string | null;
  workload_subject: string | null;
  scope_ceiling: string[];
  resources: string[];
  max_token_ttl: number | null;
  may_delegate_to: string[];
  last_used_at: Date | null;
  created_at: Date;
}

const COLUMNS = `id, kind, owner_id, purpose, status, expires_at, jwks, workload_issuer, workload_subject, scope_ceiling,
  resources, max_token_ttl, may_delegate_to, last_used_at, created_at`;
const KEY: KeyColumn[] = [
  { column: 'created_at', type: 'timestamptz', field: 'created_at' },
  { column: 'id', type: 'text', field: 'id' },
];

const toActor = (row: ActorRow): ActorOut => ({
  id: row.id,
  kind: row.kind,
  owner: row.owner_id,
  purpose: row.purpose,
  status: row.status,
  expires_at: iso(row.expires_at),
  jwks: row.jwks,
  workload: row.workload_issuer && row.workload_subject ? { issuer: row.workload_issuer, subject: row.workload_subject } : null,
  scope_ceiling: row.scope_ceiling,
  resources: row.resources,
  max_token_ttl: row.max_token_ttl,
  may_delegate_to: row.may_delegate_to,
  last_used_at: iso(row.last_used_at),
  created_at: row.created_at.toISOString(),
});

/** What an audit event records of an actor: everything but the keys themselves (their ids instead). */
const auditView = (actor: ActorOut) => {
  const { jwks, created_at: _created, last_used_at: _used, ...rest } = actor;
  return { ...rest, jwks: keyIds(jwks) };
};

type MutableField = keyof typeof mutable;
const MUTABLE_FIELDS = Object.keys(mutable) as MutableField[];

/** may_delegate_to names other registered actors; resources are registered resource URIs. */
async function checkReferences(db: pg.ClientBase, id: string, body: { may_delegate_to?: string[]; resources?: string[] }) {
  if (body.may_delegate_to?.includes(id)) {
    throw invalidRequest([{ in: 'body', path: ['may_delegate_to'], code: 'custom', message: 'an actor cannot delegate to itself' }]);
  }
  await requireExisting(db, 'actor', body.may_delegate_to, 'may_delegate_to');
  await requireExisting(db, 'resource', body.resources, 'resources');
}

/** Columns for the mutable fields present in a body. */
function actorColumns(body: Partial<z.output<typeof ActorPatch>>): Record<string, unknown> {
  const columns: Record<string, unknown> = {};
  const direct = ['kind', 'purpose', 'status', 'expires_at', 'jwks', 'scope_ceiling', 'resources', 'max_token_ttl', 'may_delegate_to'] as const;
  for (const field of direct) if (body[field] !== undefined) columns[field] = body[field];
  if (body.owner !== undefined) columns.owner_id = body.owner;
  if (body.workload !== undefined) {
    columns.workload_issuer = body.workload?.issuer ?? null;
    columns.workload_subject = body.workload?.subject ?? null;
  }
  return columns;
}

export function actorRoutes(api: AdminApi, { pool }: AdminDeps): void {
  api.route({
    method: 'get',
    path: '/actors',
    operationId: 'listActors',
    tag: 'actors',
    summary: 'List actors (the NHI inventory), newest first',
    description: 'Filters combine with AND. `unused_since` finds stale identities; `expiring_before` finds those about to lapse.',
    query: ActorQuery,
    status: 200,
    response: ActorPage,
    responseDescription: 'A page of actors',
    handler: ({ query }) =>
      listPage(pool, {
        from: `SELECT ${COLUMNS} FROM actors`,
        filters: new Filters()
          .when(query.owner, 'owner_id = $?')
          .when(query.kind, 'kind = $?')
          .when(query.status, 'status = $?')
          .when(query.expiring_before, 'expires_at < $?::timestamptz')
          .when(query.unused_since, '(last_used_at IS NULL OR last_used_at < $?::timestamptz)'),
        key: KEY,
        limit: query.limit,
        cursor: query.cursor,
        toItem: toActor,
      }),
  });

  api.route({
    method: 'post',
    path: '/actors',
    operationId: 'createActor',
    tag: 'actors',
    summary: 'Register an actor',
    body: ActorCreate,
    status: 201,
    response: Actor,
    responseDescription: 'The registered actor',
    errors: [409],
    handler: ({ body, admin, requestId }) =>
      changeWithAudit(pool, { admin, requestId }, async (db, record) => {
        await checkReferences(db, body.id, body);
        const columns = { id: body.id, owner_id: body.owner, ...actorColumns(body) };
        const names = Object.keys(columns);
        const { rows } = await db.query<ActorRow>(
          `INSERT INTO actors (${names.join(', ')}) VALUES (${names.map((_, i) => `$${i + 1}`).join(', ')}) RETURNING ${COLUMNS}`,
          Object.values(columns),
        );
        const actor = toActor(rows[0]!);
        await record({ type: 'actor.created', actorIds: [actor.id], details: auditView(actor) });
        return actor;
      }),
  });

  api.route({
    method: 'get',
    path: '/actors/:id',
    operationId: 'getActor',
    tag: 'actors',
    summary: 'Read an actor',
    params: IdParam,
    status: 200,
    response: Actor,
    responseDescription: 'The actor',
    handler: async ({ params }) => {
      const { rows } = await pool.query<ActorRow>(`SELECT ${COLUMNS} FROM actors WHERE id = $1`, [params.id]);
      if (!rows[0]) throw notFound('actor');
      return toActor(rows[0]);
    },
  });

  api.route({
    method: 'patch',
    path: '/actors/:id',
    operationId: 'updateActor',
    tag: 'actors',
    summary: 'Update an actor; `status: disabled` is the kill switch',
    description:
      'Disabling an actor is one update, however many tokens it holds: every exchange by it, and every token whose chain names it, is refused / inactive at once.',
    params: IdParam,
    body: ActorPatch,
    status: 200,
    response: Actor,
    responseDescription: 'The updated actor',
    errors: [409],
    handler: ({ params, body, admin, requestId }) =>
      changeWithAudit(pool, { admin, requestId }, async (db, record) => {
        const current = await db.query<ActorRow>(`SELECT ${COLUMNS} FROM actors WHERE id = $1 FOR UPDATE`, [params.id]);
        if (!current.rows[0]) throw notFound('actor');
        await checkReferences(db, params.id, body);
        const set = assignments(actorColumns(body), 1);
        const { rows } = await db.query<ActorRow>(
          `UPDATE actors SET ${set.sql}, updated_at = now() WHERE id = $1 RETURNING ${COLUMNS}`,
          [params.id, ...set.values],
        );
        const before = toActor(current.rows[0]);
        const after = toActor(rows[0]!);
        const changes = fieldChanges(auditView(before), auditView(after), MUTABLE_FIELDS);
        if (Object.keys(changes).length > 0) await record({ type: 'actor.updated', actorIds: [after.id], details: { changes } });
        // A disabled actor's pending approval requests end with it.
        if (after.status === 'disabled' && before.status !== 'disabled') await cancelPendingApprovals(db, { actorId: after.id }, 'actor_disabled', new Date(), requestId);
        return after;
      }),
  });
}
