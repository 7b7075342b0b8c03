/**
 * Entitlements: subject × resource × scope, optionally until `expires_at` — the live truth of
 * what a human may do. Withdrawing one (DELETE) deletes its row; the audit event keeps its record.
 */
import { z } from 'zod';
import type { AdminApi } from '../api.js';
import { changeWithAudit, iso } from '../changes.js';
import { notFound } from '../errors.js';
import { Filters, isUuid, listPage, type KeyColumn } from '../pagination.js';
import { requireDefinedScopes, resourceScopes } from '../references.js';
import type { AdminDeps } from '../router.js';
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

interface EntitlementRow extends Record<string, unknown> {
  id: string;
  subject_id: string;
  resource_uri: string;
  scope: string;
  expires_at: Date | null;
  created_at: Date;
}

const COLUMNS = 'id, subject_id, resource_uri, scope, expires_at, created_at';
const KEY: KeyColumn[] = [
  { column: 'created_at', type: 'timestamptz', field: 'created_at' },
  { column: 'id', type: 'uuid', field: 'id' },
];

const toEntitlement = (row: EntitlementRow): EntitlementOut => ({
  id: row.id,
  subject: row.subject_id,
  resource: row.resource_uri,
  scope: row.scope,
  expires_at: iso(row.expires_at),
  created_at: row.created_at.toISOString(),
});

export function entitlementRoutes(api: AdminApi, { pool }: AdminDeps): void {
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
    handler: ({ query }) =>
      listPage(pool, {
        from: `SELECT ${COLUMNS} FROM entitlements`,
        filters: new Filters().when(query.subject, 'subject_id = $?').when(query.resource, 'resource_uri = $?'),
        key: KEY,
        limit: query.limit,
        cursor: query.cursor,
        toItem: toEntitlement,
      }),
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
      changeWithAudit(pool, { admin, requestId }, async (db, record) => {
        requireDefinedScopes(await resourceScopes(db, body.resource), [body.scope], 'scope', true);
        const { rows } = await db.query<EntitlementRow>(
          `INSERT INTO entitlements (subject_id, resource_uri, scope, expires_at) VALUES ($1, $2, $3, $4) RETURNING ${COLUMNS}`,
          [body.subject, body.resource, body.scope, body.expires_at ?? null],
        );
        const entitlement = toEntitlement(rows[0]!);
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
      const { rows } = await pool.query<EntitlementRow>(`SELECT ${COLUMNS} FROM entitlements WHERE id = $1`, [params.id]);
      if (!rows[0]) throw notFound('entitlement');
      return toEntitlement(rows[0]);
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
      changeWithAudit(pool, { admin, requestId }, async (db, record) => {
        if (!isUuid(params.id)) throw notFound('entitlement');
        const { rows } = await db.query<EntitlementRow>(`DELETE FROM entitlements WHERE id = $1 RETURNING ${COLUMNS}`, [params.id]);
        if (!rows[0]) throw notFound('entitlement');
        const entitlement = toEntitlement(rows[0]);
        await record({
          type: 'entitlement.deleted',
          subjectId: entitlement.subject,
          resourceUri: entitlement.resource,
          details: { id: entitlement.id, scope: entitlement.scope, expires_at: entitlement.expires_at },
        });
      }),
  });
}
