/** Resources: the APIs that accept Deputy's tokens (the token's `aud`) and the scopes each defines. */
import { z } from 'zod';
import type { AdminApi } from '../api.js';
import { changeWithAudit, fieldChanges } from '../changes.js';
import { notFound } from '../errors.js';
import { Filters, isUuid, listPage, type KeyColumn } from '../pagination.js';
import type { AdminDeps } from '../router.js';
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

interface ResourceRow extends Record<string, unknown> {
  id: string;
  uri: string;
  scopes: string[];
  approval_scopes: string[];
  created_at: Date;
}

const COLUMNS = 'id, uri, scopes, approval_scopes, created_at';
const KEY: KeyColumn[] = [
  { column: 'created_at', type: 'timestamptz', field: 'created_at' },
  { column: 'id', type: 'uuid', field: 'id' },
];

const toResource = (row: ResourceRow): ResourceOut => ({
  id: row.id,
  uri: row.uri,
  scopes: row.scopes,
  approval_scopes: row.approval_scopes,
  created_at: row.created_at.toISOString(),
});

export function resourceRoutes(api: AdminApi, { pool }: AdminDeps): void {
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
    handler: ({ query }) =>
      listPage(pool, {
        from: `SELECT ${COLUMNS} FROM resources`,
        filters: new Filters().when(query.uri, 'uri = $?'),
        key: KEY,
        limit: query.limit,
        cursor: query.cursor,
        toItem: toResource,
      }),
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
      changeWithAudit(pool, { admin, requestId }, async (db, record) => {
        const { rows } = await db.query<ResourceRow>(`INSERT INTO resources (uri, scopes, approval_scopes) VALUES ($1, $2, $3) RETURNING ${COLUMNS}`, [
          body.uri,
          body.scopes,
          body.approval_scopes ?? [],
        ]);
        const resource = toResource(rows[0]!);
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
      const { rows } = await pool.query<ResourceRow>(`SELECT ${COLUMNS} FROM resources WHERE id = $1`, [params.id]);
      if (!rows[0]) throw notFound('resource');
      return toResource(rows[0]);
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
      changeWithAudit(pool, { admin, requestId }, async (db, record) => {
        if (!isUuid(params.id)) throw notFound('resource');
        const current = await db.query<ResourceRow>(`SELECT ${COLUMNS} FROM resources WHERE id = $1 FOR UPDATE`, [params.id]);
        if (!current.rows[0]) throw notFound('resource');
        // Approval scopes follow the scopes: one no longer defined stops being one.
        const approvalScopes = (body.approval_scopes ?? current.rows[0].approval_scopes).filter((scope) => body.scopes.includes(scope));
        const { rows } = await db.query<ResourceRow>(`UPDATE resources SET scopes = $2, approval_scopes = $3 WHERE id = $1 RETURNING ${COLUMNS}`, [
          params.id,
          body.scopes,
          approvalScopes,
        ]);
        const after = toResource(rows[0]!);
        const changes = fieldChanges(toResource(current.rows[0]), after, ['scopes', 'approval_scopes']);
        if (Object.keys(changes).length > 0) await record({ type: 'resource.updated', resourceUri: after.uri, details: { id: after.id, changes } });
        return after;
      }),
  });
}
