/**
 * Delegation grants: a subject's consent that an actor may act for it with some scopes on one
 * resource. Never deleted. Revoking one is a single row update (`revoked_at`, `revoked_by`),
 * whatever the number of tokens minted under it: exchanges and introspection read the grant live.
 */
import { z } from 'zod';
import type { AdminApi } from '../api.js';
import { Prisma, type DelegationGrant } from '../../generated/prisma/client.js';
import { changeWithAudit, iso } from '../changes.js';
import { notFound } from '../errors.js';
import { isUuid, listPageSql, type KeyColumn } from '../pagination.js';
import { requireDefinedScopes, resourceScopes } from '../references.js';
import type { RouteDeps } from '../router.js';
import { FutureTimestamp, IdParam, Identifier, QueryBoolean, ResourceUri, ScopeList, TimestampOut, pageOf, pageQuery } from '../schemas.js';

export const Grant = z
  .object({
    id: z.uuid(),
    subject: z.string(),
    actor: z.string(),
    resource: z.string(),
    scopes: z.array(z.string()),
    expires_at: TimestampOut.nullable(),
    revoked_at: TimestampOut.nullable(),
    revoked_by: z.string().nullable().meta({ description: 'The admin who revoked it' }),
    created_at: TimestampOut,
    approved_by: z.string().nullable().meta({ description: 'The person whose approval created it (null: created by an admin)' }),
    approval_request_id: z.uuid().nullable().meta({ description: 'The approval request that created it' }),
    just_in_time: z.boolean().meta({ description: 'Created by an approval of a scope requiring approval: short-lived, not delegable further' }),
  })
  .meta({ id: 'Grant' });
type GrantOut = z.infer<typeof Grant>;
const GrantPage = pageOf(Grant, 'GrantPage');

const GrantCreate = z
  .strictObject({
    subject: Identifier.meta({ example: 'alice' }),
    actor: Identifier.meta({ example: 'agent:triage' }),
    resource: ResourceUri,
    scopes: ScopeList.min(1).meta({ example: ['tickets:read'] }),
    expires_at: FutureTimestamp.nullable().optional(),
  })
  .meta({ id: 'GrantCreate' });

const GrantRevoke = z
  .strictObject({ reason: z.string().max(500).optional().meta({ description: 'Recorded in the audit event' }) })
  .meta({ id: 'GrantRevoke' });

const GrantQuery = z.strictObject({
  ...pageQuery,
  subject: Identifier.optional(),
  actor: Identifier.optional(),
  resource: ResourceUri.optional(),
  active: QueryBoolean.optional().meta({ description: 'true: unrevoked and unexpired; false: revoked or expired' }),
});

interface GrantRow extends Record<string, unknown> {
  id: string;
  subject_id: string;
  actor_id: string;
  resource_uri: string;
  scopes: string[];
  expires_at: Date | null;
  revoked_at: Date | null;
  revoked_by: string | null;
  created_at: Date;
  approved_by: string | null;
  approval_request_id: string | null;
  just_in_time: boolean;
}

const COLUMNS = 'id, subject_id, actor_id, resource_uri, scopes, expires_at, revoked_at, revoked_by, created_at, approved_by, approval_request_id, just_in_time';
const KEY: KeyColumn[] = [
  { column: 'created_at', type: 'timestamptz', field: 'created_at' },
  { column: 'id', type: 'uuid', field: 'id' },
];
/** What `active` means for a grant: the one liveness predicate (migrations/functions/liveness.sql). */
const GRANT_ACTIVE_SQL = 'deputy_grant_is_live(delegation_grants, now())';

const toGrant = (row: GrantRow): GrantOut => ({
  id: row.id,
  subject: row.subject_id,
  actor: row.actor_id,
  resource: row.resource_uri,
  scopes: row.scopes,
  expires_at: iso(row.expires_at),
  revoked_at: iso(row.revoked_at),
  revoked_by: row.revoked_by,
  created_at: row.created_at.toISOString(),
  approved_by: row.approved_by,
  approval_request_id: row.approval_request_id,
  just_in_time: row.just_in_time,
});

const fromModel = (grant: DelegationGrant): GrantOut =>
  toGrant({
    id: grant.id,
    subject_id: grant.subjectId,
    actor_id: grant.actorId,
    resource_uri: grant.resourceUri,
    scopes: grant.scopes,
    expires_at: grant.expiresAt,
    revoked_at: grant.revokedAt,
    revoked_by: grant.revokedBy,
    created_at: grant.createdAt,
    approved_by: grant.approvedBy,
    approval_request_id: grant.approvalRequestId,
    just_in_time: grant.justInTime,
  });

export function grantRoutes(api: AdminApi, deps: RouteDeps): void {
  api.route({
    method: 'get',
    path: '/grants',
    operationId: 'listGrants',
    tag: 'grants',
    summary: 'List delegation grants, newest first',
    query: GrantQuery,
    status: 200,
    response: GrantPage,
    responseDescription: 'A page of grants',
    handler: ({ query }) => {
      const conditions: Prisma.Sql[] = [];
      if (query.subject !== undefined) conditions.push(Prisma.sql`subject_id = ${query.subject}`);
      if (query.actor !== undefined) conditions.push(Prisma.sql`actor_id = ${query.actor}`);
      if (query.resource !== undefined) conditions.push(Prisma.sql`resource_uri = ${query.resource}`);
      if (query.active !== undefined) conditions.push(Prisma.raw(query.active ? `(${GRANT_ACTIVE_SQL})` : `NOT (${GRANT_ACTIVE_SQL})`));
      return listPageSql(deps.prisma, {
        from: Prisma.sql`SELECT ${Prisma.raw(COLUMNS)} FROM delegation_grants`,
        conditions,
        key: KEY,
        limit: query.limit,
        cursor: query.cursor,
        toItem: toGrant,
      });
    },
  });

  api.route({
    method: 'post',
    path: '/grants',
    operationId: 'createGrant',
    tag: 'grants',
    summary: 'Record a subject’s delegation to an actor',
    body: GrantCreate,
    status: 201,
    response: Grant,
    responseDescription: 'The grant',
    handler: ({ body, admin, requestId }) =>
      changeWithAudit(deps.prisma, { admin, requestId }, async (tx, record) => {
        requireDefinedScopes(await resourceScopes(tx, body.resource), body.scopes, 'scopes');
        const grant = fromModel(
          await tx.delegationGrant.create({
            data: { subjectId: body.subject, actorId: body.actor, resourceUri: body.resource, scopes: body.scopes, expiresAt: body.expires_at ?? null },
          }),
        );
        await record({
          type: 'grant.created',
          subjectId: grant.subject,
          actorIds: [grant.actor],
          resourceUri: grant.resource,
          grantId: grant.id,
          scopeGranted: grant.scopes,
          details: { expires_at: grant.expires_at },
        });
        return grant;
      }),
  });

  api.route({
    method: 'get',
    path: '/grants/:id',
    operationId: 'getGrant',
    tag: 'grants',
    summary: 'Read a grant',
    params: IdParam,
    status: 200,
    response: Grant,
    responseDescription: 'The grant',
    handler: async ({ params }) => {
      if (!isUuid(params.id)) throw notFound('grant');
      const grant = await deps.prisma.delegationGrant.findUnique({ where: { id: params.id } });
      if (!grant) throw notFound('grant');
      return fromModel(grant);
    },
  });

  api.route({
    method: 'post',
    path: '/grants/:id/revoke',
    operationId: 'revokeGrant',
    tag: 'grants',
    summary: 'Revoke a grant',
    description:
      'One update, however many tokens were minted under the grant: further exchanges are refused and every such token is inactive at once. ' +
      'Revoking a revoked grant changes nothing and answers the grant as it is.',
    params: IdParam,
    body: GrantRevoke,
    bodyRequired: false,
    status: 200,
    response: Grant,
    responseDescription: 'The revoked grant',
    handler: ({ params, body, admin, requestId }) =>
      changeWithAudit(deps.prisma, { admin, requestId }, async (tx, record) => {
        if (!isUuid(params.id)) throw notFound('grant');
        // revoked_at is the database's now(), the clock exchanges and introspection compare with.
        const [revoked] = await tx.$queryRaw<GrantRow[]>`
          UPDATE delegation_grants SET revoked_at = now(), revoked_by = ${admin}
           WHERE id = ${params.id}::uuid AND revoked_at IS NULL RETURNING ${Prisma.raw(COLUMNS)}`;
        if (!revoked) {
          const existing = await tx.delegationGrant.findUnique({ where: { id: params.id } });
          if (!existing) throw notFound('grant');
          return fromModel(existing);
        }
        const grant = toGrant(revoked);
        await record({
          type: 'grant.revoked',
          subjectId: grant.subject,
          actorIds: [grant.actor],
          resourceUri: grant.resource,
          grantId: grant.id,
          details: { reason: body.reason ?? null },
        });
        return grant;
      }),
  });
}
