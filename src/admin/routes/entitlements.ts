/**
 * Entitlements: subject × resource × scope, optionally until `expires_at` — the live truth of
 * what a human may do. Withdrawing one (DELETE) deletes its row; the audit event keeps its record.
 */
import { z } from 'zod';
import type { AdminApi } from '../api.js';
import { nullWhenMissing } from '../../db/prisma-errors.js';
import type { Entitlement as EntitlementRow } from '../../generated/prisma/client.js';
import { changeWithAudit, iso } from '../changes.js';
import { notFound } from '../errors.js';
import { isUuid, keyset, keysetPage, type SortKey } from '../pagination.js';
import { requireDefinedScopes, resourceScopes } from '../references.js';
import type { RouteDeps } from '../router.js';
import { FutureTimestamp, IdParam, Identifier, ResourceUri, ScopeToken, TimestampOut, pageOf, pageQuery } from '../schemas.js';

export const Entitlement = z
  .object({
    id: z.uuid(),
    subject: z.string(),
    resource: z.string(),
    scope: z.string(),
    expires_at: TimestampOut.nullable(),
    created_at: TimestampOut,
  })
  .meta({ id: 'Entitlement' });
type EntitlementOut = z.infer<typeof Entitlement>;
const EntitlementPage = pageOf(Entitlement, 'EntitlementPage');

const EntitlementCreate = z
  .strictObject({
    subject: Identifier.meta({ example: 'alice' }),
    resource: ResourceUri,
    scope: ScopeToken.meta({ description: 'One scope the resource defines', example: 'tickets:read' }),
    expires_at: FutureTimestamp.nullable().optional().meta({ description: 'Just-in-time access: the entitlement lapses then' }),
  })
  .meta({ id: 'EntitlementCreate' });

const EntitlementQuery = z.strictObject({ ...pageQuery, subject: Identifier.optional(), resource: ResourceUri.optional() });

const KEY: SortKey[] = [
  { field: 'createdAt', type: 'timestamptz' },
  { field: 'id', type: 'uuid' },
];

const toEntitlement = (row: EntitlementRow): EntitlementOut => ({
  id: row.id,
  subject: row.subjectId,
  resource: row.resourceUri,
  scope: row.scope,
  expires_at: iso(row.expiresAt),
  created_at: row.createdAt.toISOString(),
});

export function entitlementRoutes(api: AdminApi, deps: RouteDeps): void {
  api.route({
    method: 'get',
    path: '/entitlements',
    operationId: 'listEntitlements',
    tag: 'entitlements',
    summary: 'List entitlements, newest first',
    query: EntitlementQuery,
    status: 200,
    response: EntitlementPage,
    responseDescription: 'A page of entitlements',
    handler: async ({ query }) => {
      const page = keyset(KEY, query.limit, query.cursor);
      const rows = await deps.prisma.entitlement.findMany({
        where: { AND: [{ subjectId: query.subject, resourceUri: query.resource }, page.after] },
        orderBy: page.orderBy,
        take: page.take,
      });
      return keysetPage(rows, KEY, query.limit, toEntitlement);
    },
  });

  api.route({
    method: 'post',
    path: '/entitlements',
    operationId: 'createEntitlement',
    tag: 'entitlements',
    summary: 'Entitle a subject to one scope of a resource',
    body: EntitlementCreate,
    status: 201,
    response: Entitlement,
    responseDescription: 'The entitlement',
    errors: [409],
    handler: ({ body, admin, requestId }) =>
      changeWithAudit(deps.prisma, { admin, requestId }, async (tx, record) => {
        requireDefinedScopes(await resourceScopes(tx, body.resource), [body.scope], 'scope', true);
        const entitlement = toEntitlement(
          await tx.entitlement.create({
            data: { subjectId: body.subject, resourceUri: body.resource, scope: body.scope, expiresAt: body.expires_at ?? null },
          }),
        );
        await record({
          type: 'entitlement.created',
          subjectId: entitlement.subject,
          resourceUri: entitlement.resource,
          details: { id: entitlement.id, scope: entitlement.scope, expires_at: entitlement.expires_at },
        });
        return entitlement;
      }),
  });

  api.route({
    method: 'get',
    path: '/entitlements/:id',
    operationId: 'getEntitlement',
    tag: 'entitlements',
    summary: 'Read an entitlement',
    params: IdParam,
    status: 200,
    response: Entitlement,
    responseDescription: 'The entitlement',
    handler: async ({ params }) => {
      if (!isUuid(params.id)) throw notFound('entitlement');
      const entitlement = await deps.prisma.entitlement.findUnique({ where: { id: params.id } });
      if (!entitlement) throw notFound('entitlement');
      return toEntitlement(entitlement);
    },
  });

  api.route({
    method: 'delete',
    path: '/entitlements/:id',
    operationId: 'deleteEntitlement',
    tag: 'entitlements',
    summary: 'Withdraw an entitlement',
    description: 'Takes effect at once for exchanges, which read entitlements live; the subject’s live tokens for that resource carrying the scope are revoked (and Shared Signals events sent).',
    params: IdParam,
    status: 204,
    responseDescription: 'The entitlement is withdrawn',
    handler: ({ params, admin, requestId }) =>
      changeWithAudit(deps.prisma, { admin, requestId }, async (tx, record) => {
        if (!isUuid(params.id)) throw notFound('entitlement');
        const deleted = await nullWhenMissing(tx.entitlement.delete({ where: { id: params.id } }));
        if (!deleted) throw notFound('entitlement');
        const entitlement = toEntitlement(deleted);
        await record({
          type: 'entitlement.deleted',
          subjectId: entitlement.subject,
          resourceUri: entitlement.resource,
          details: { id: entitlement.id, scope: entitlement.scope, expires_at: entitlement.expires_at },
        });
      }),
  });
}
