/**
 * Actors: non-human identities (agents, services, workloads) acting for subjects — the NHI
 * inventory. `status: disabled` is the kill switch: one update, and every exchange by the actor
 * and every token whose chain names it is refused / inactive at once (the exchange and
 * introspection read the status live).
 */
import { z } from 'zod';
import type { PrismaTransaction } from '../../db/prisma.js';
import { Prisma, type Actor as ActorRow } from '../../generated/prisma/client.js';
import { cancelPendingApprovals } from '../../approval/store.js';
import type { AdminApi } from '../api.js';
import { changeWithAudit, fieldChanges, iso, lockRow } from '../changes.js';
import { invalidRequest, notFound } from '../errors.js';
import { keyset, keysetPage, type SortKey } from '../pagination.js';
import { requireExisting } from '../references.js';
import type { RouteDeps } from '../router.js';
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

const KEY: SortKey[] = [
  { field: 'createdAt', type: 'timestamptz' },
  { field: 'id', type: 'text' },
];

const toActor = (row: ActorRow): ActorOut => ({
  id: row.id,
  kind: row.kind as ActorOut['kind'],
  owner: row.ownerId,
  purpose: row.purpose,
  status: row.status as ActorOut['status'],
  expires_at: iso(row.expiresAt),
  jwks: row.jwks as JwksValue | null,
  workload: row.workloadIssuer && row.workloadSubject ? { issuer: row.workloadIssuer, subject: row.workloadSubject } : null,
  scope_ceiling: row.scopeCeiling,
  resources: row.resources,
  max_token_ttl: row.maxTokenTtl,
  may_delegate_to: row.mayDelegateTo,
  last_used_at: iso(row.lastUsedAt),
  created_at: row.createdAt.toISOString(),
});

/** What an audit event records of an actor: everything but the keys themselves (their ids instead). */
const auditView = (actor: ActorOut) => {
  const { jwks, created_at: _created, last_used_at: _used, ...rest } = actor;
  return { ...rest, jwks: keyIds(jwks) };
};

type MutableField = keyof typeof mutable;
const MUTABLE_FIELDS = Object.keys(mutable) as MutableField[];

/** may_delegate_to names other registered actors; resources are registered resource URIs. */
async function checkReferences(db: PrismaTransaction, id: string, body: { may_delegate_to?: string[]; resources?: string[] }) {
  if (body.may_delegate_to?.includes(id)) {
    throw invalidRequest([{ in: 'body', path: ['may_delegate_to'], code: 'custom', message: 'an actor cannot delegate to itself' }]);
  }
  await requireExisting(db, 'actor', body.may_delegate_to, 'may_delegate_to');
  await requireExisting(db, 'resource', body.resources, 'resources');
}

/** The model fields for the mutable fields present in a body (absent fields stay undefined: unchanged). */
function actorData(body: Partial<z.output<typeof ActorPatch>>) {
  return {
    kind: body.kind,
    purpose: body.purpose,
    status: body.status,
    expiresAt: body.expires_at,
    jwks: body.jwks === null ? Prisma.DbNull : (body.jwks as Prisma.InputJsonValue | undefined),
    scopeCeiling: body.scope_ceiling,
    resources: body.resources,
    maxTokenTtl: body.max_token_ttl,
    mayDelegateTo: body.may_delegate_to,
    ownerId: body.owner,
    ...(body.workload === undefined ? {} : { workloadIssuer: body.workload?.issuer ?? null, workloadSubject: body.workload?.subject ?? null }),
  };
}

export function actorRoutes(api: AdminApi, deps: RouteDeps): void {
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
    handler: async ({ query }) => {
      const page = keyset(KEY, query.limit, query.cursor);
      const rows = await deps.prisma.actor.findMany({
        where: {
          AND: [
            { ownerId: query.owner, kind: query.kind, status: query.status },
            query.expiring_before === undefined ? {} : { expiresAt: { lt: new Date(query.expiring_before) } },
            query.unused_since === undefined ? {} : { OR: [{ lastUsedAt: null }, { lastUsedAt: { lt: new Date(query.unused_since) } }] },
            page.after,
          ],
        },
        orderBy: page.orderBy,
        take: page.take,
      });
      return keysetPage(rows, KEY, query.limit, toActor);
    },
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
      changeWithAudit(deps.prisma, { admin, requestId }, async (tx, record) => {
        await checkReferences(tx, body.id, body);
        const actor = toActor(await tx.actor.create({ data: { ...actorData(body), id: body.id, ownerId: body.owner, kind: body.kind } }));
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
      const actor = await deps.prisma.actor.findUnique({ where: { id: params.id } });
      if (!actor) throw notFound('actor');
      return toActor(actor);
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
      changeWithAudit(deps.prisma, { admin, requestId }, async (tx, record) => {
        const current = (await lockRow(tx, 'actors', params.id)) ? await tx.actor.findUnique({ where: { id: params.id } }) : null;
        if (!current) throw notFound('actor');
        await checkReferences(tx, params.id, body);
        const updated = await tx.actor.update({ where: { id: params.id }, data: { ...actorData(body), updatedAt: new Date() } });
        const before = toActor(current);
        const after = toActor(updated);
        const changes = fieldChanges(auditView(before), auditView(after), MUTABLE_FIELDS);
        if (Object.keys(changes).length > 0) await record({ type: 'actor.updated', actorIds: [after.id], details: { changes } });
        // A disabled actor's pending approval requests end with it.
        if (after.status === 'disabled' && before.status !== 'disabled') await cancelPendingApprovals(tx, { actorId: after.id }, 'actor_disabled', new Date(), requestId);
        return after;
      }),
  });
}
