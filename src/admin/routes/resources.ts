/** Resources: the APIs that accept Deputy's tokens (the token's `aud`) and the scopes each defines. */
import { z } from 'zod';
import type { AdminApi } from '../api.js';
import type { Resource as ResourceRow } from '../../generated/prisma/client.js';
import { changeWithAudit, fieldChanges, lockRow } from '../changes.js';
import { notFound } from '../errors.js';
import { isUuid, keyset, keysetPage, type SortKey } from '../pagination.js';
import type { RouteDeps } from '../router.js';
import { IdParam, ResourceUri, ScopeList, TimestampOut, pageOf, pageQuery } from '../schemas.js';

const ApprovalScopes = ScopeList.meta({
  description:
    'Scopes of this resource that only a just-in-time grant from a person’s approval carries (step-up): a token exchange under a standing grant drops them (`approval_required`). Each must be one of `scopes`.',
  example: ['deploy'],
});

export const Resource = z
  .object({ id: z.uuid(), uri: z.string(), scopes: z.array(z.string()), approval_scopes: z.array(z.string()), created_at: TimestampOut })
  .meta({ id: 'Resource' });
type ResourceOut = z.infer<typeof Resource>;
const ResourcePage = pageOf(Resource, 'ResourcePage');

const approvalScopesWithin = <T extends { scopes: string[]; approval_scopes?: string[] | undefined }>(body: T) =>
  (body.approval_scopes ?? []).every((scope) => body.scopes.includes(scope));
const withinMessage = { message: 'every approval scope must be one of the scopes', path: ['approval_scopes'] };

const ResourceCreate = z
  .strictObject({ uri: ResourceUri, scopes: ScopeList.meta({ example: ['tickets:read', 'tickets:write'] }), approval_scopes: ApprovalScopes.optional() })
  .refine(approvalScopesWithin, withinMessage)
  .meta({ id: 'ResourceCreate' });

const ResourcePatch = z
  .strictObject({ scopes: ScopeList, approval_scopes: ApprovalScopes.optional() })
  .refine(approvalScopesWithin, withinMessage)
  .meta({
    id: 'ResourcePatch',
    description: 'The full new list of scopes (and, when given, of approval scopes; absent keeps those still defined). The URI is the resource’s identity and cannot change.',
  });

const ResourceQuery = z.strictObject({ ...pageQuery, uri: ResourceUri.optional() });

const KEY: SortKey[] = [
  { field: 'createdAt', type: 'timestamptz' },
  { field: 'id', type: 'uuid' },
];

const toResource = (row: ResourceRow): ResourceOut => ({
  id: row.id,
  uri: row.uri,
  scopes: row.scopes,
  approval_scopes: row.approvalScopes,
  created_at: row.createdAt.toISOString(),
});

export function resourceRoutes(api: AdminApi, deps: RouteDeps): void {
  api.route({
    method: 'get',
    path: '/resources',
    operationId: 'listResources',
    tag: 'resources',
    summary: 'List resources, newest first',
    query: ResourceQuery,
    status: 200,
    response: ResourcePage,
    responseDescription: 'A page of resources',
    handler: async ({ query }) => {
      const page = keyset(KEY, query.limit, query.cursor);
      const rows = await deps.prisma.resource.findMany({ where: { AND: [{ uri: query.uri }, page.after] }, orderBy: page.orderBy, take: page.take });
      return keysetPage(rows, KEY, query.limit, toResource);
    },
  });

  api.route({
    method: 'post',
    path: '/resources',
    operationId: 'createResource',
    tag: 'resources',
    summary: 'Register a resource and its scopes',
    body: ResourceCreate,
    status: 201,
    response: Resource,
    responseDescription: 'The registered resource',
    errors: [409],
    handler: ({ body, admin, requestId }) =>
      changeWithAudit(deps.prisma, { admin, requestId }, async (tx, record) => {
        const resource = toResource(await tx.resource.create({ data: { uri: body.uri, scopes: body.scopes, approvalScopes: body.approval_scopes ?? [] } }));
        await record({
          type: 'resource.created',
          resourceUri: resource.uri,
          details: { id: resource.id, scopes: resource.scopes, ...(resource.approval_scopes.length > 0 ? { approval_scopes: resource.approval_scopes } : {}) },
        });
        return resource;
      }),
  });

  api.route({
    method: 'get',
    path: '/resources/:id',
    operationId: 'getResource',
    tag: 'resources',
    summary: 'Read a resource',
    params: IdParam,
    status: 200,
    response: Resource,
    responseDescription: 'The resource',
    handler: async ({ params }) => {
      if (!isUuid(params.id)) throw notFound('resource');
      const resource = await deps.prisma.resource.findUnique({ where: { id: params.id } });
      if (!resource) throw notFound('resource');
      return toResource(resource);
    },
  });

  api.route({
    method: 'patch',
    path: '/resources/:id',
    operationId: 'updateResource',
    tag: 'resources',
    summary: 'Replace a resource’s scopes',
    description: 'A scope removed here is no longer minted for this resource, whatever entitlements and grants still name it.',
    params: IdParam,
    body: ResourcePatch,
    status: 200,
    response: Resource,
    responseDescription: 'The updated resource',
    handler: ({ params, body, admin, requestId }) =>
      changeWithAudit(deps.prisma, { admin, requestId }, async (tx, record) => {
        if (!isUuid(params.id)) throw notFound('resource');
        const current = (await lockRow(tx, 'resources', params.id)) ? await tx.resource.findUnique({ where: { id: params.id } }) : null;
        if (!current) throw notFound('resource');
        // Approval scopes follow the scopes: one no longer defined stops being one.
        const approvalScopes = (body.approval_scopes ?? current.approvalScopes).filter((scope) => body.scopes.includes(scope));
        const after = toResource(await tx.resource.update({ where: { id: params.id }, data: { scopes: body.scopes, approvalScopes } }));
        const changes = fieldChanges(toResource(current), after, ['scopes', 'approval_scopes']);
        if (Object.keys(changes).length > 0) await record({ type: 'resource.updated', resourceUri: after.uri, details: { id: after.id, changes } });
        return after;
      }),
  });
}
