/**
 * Approval requests (docs/guide-agent-approval.md): an agent's CIBA request for a delegation,
 * pending until the person answers. Admins list and read them, and cancel a pending one; only
 * the person approves or denies.
 */
import { z } from 'zod';
import { APPROVAL_STATUSES, ApprovalError, cancelApprovalRequest, getApprovalRequest, type ApprovalRequest } from '../../approval/store.js';
import type { AdminApi } from '../api.js';
import { iso } from '../changes.js';
import { conflict, notFound } from '../errors.js';
import { Prisma } from '../../generated/prisma/client.js';
import { isUuid, listPageSql, type KeyColumn } from '../pagination.js';
import type { RouteDeps } from '../router.js';
import { IdParam, Identifier, TimestampOut, pageOf, pageQuery } from '../schemas.js';

const Status = z.enum(APPROVAL_STATUSES);

export const Approval = z
  .object({
    id: z.uuid(),
    client_id: z.string(),
    subject: z.string(),
    actor: z.string(),
    resource: z.string(),
    scopes: z.array(z.string()).meta({ description: 'What the agent asked for' }),
    duration: z.number().int().meta({ description: 'Seconds the agent asked for' }),
    purpose: z.string(),
    binding_message: z.string().nullable(),
    status: Status.meta({ description: 'A pending request past its expiry reads as expired' }),
    requested_at: TimestampOut,
    expires_at: TimestampOut,
    decided_at: TimestampOut.nullable(),
    decided_by: z.string().nullable().meta({ description: 'The person who approved or denied it, or the admin who cancelled it' }),
    approved_scopes: z.array(z.string()),
    approved_duration: z.number().int().nullable().meta({ description: 'Seconds the created grant lives' }),
    grant_id: z.uuid().nullable().meta({ description: 'The delegation grant the approval created' }),
    cancel_reason: z.string().nullable().meta({ description: 'admin, actor_disabled or subject_disabled' }),
    token_issued: z.boolean().meta({ description: 'The agent has collected its token' }),
  })
  .meta({ id: 'Approval' });
type ApprovalOut = z.infer<typeof Approval>;
const ApprovalPage = pageOf(Approval, 'ApprovalPage');

const ApprovalQuery = z.strictObject({
  ...pageQuery,
  status: Status.optional(),
  subject: Identifier.optional(),
  actor: Identifier.optional(),
});

const EFFECTIVE_STATUS = `(CASE WHEN status = 'pending' AND expires_at <= now() THEN 'expired' ELSE status END)`;
const COLUMNS = `id, client_id, subject_id, actor_id, resource_uri, scopes, duration_seconds, purpose, binding_message,
  ${EFFECTIVE_STATUS} AS status, requested_at, expires_at, decided_at, decided_by, approved_scopes, approved_duration_seconds,
  grant_id, cancel_reason, token_jti IS NOT NULL AS token_issued`;
const KEY: KeyColumn[] = [
  { column: 'requested_at', type: 'timestamptz', field: 'requested_at' },
  { column: 'id', type: 'uuid', field: 'id' },
];

interface ApprovalRow extends Record<string, unknown> {
  id: string;
  client_id: string;
  subject_id: string;
  actor_id: string;
  resource_uri: string;
  scopes: string[];
  duration_seconds: number;
  purpose: string;
  binding_message: string | null;
  status: ApprovalOut['status'];
  requested_at: Date;
  expires_at: Date;
  decided_at: Date | null;
  decided_by: string | null;
  approved_scopes: string[];
  approved_duration_seconds: number | null;
  grant_id: string | null;
  cancel_reason: string | null;
  token_issued: boolean;
}

const fromRow = (row: ApprovalRow): ApprovalOut => ({
  id: row.id,
  client_id: row.client_id,
  subject: row.subject_id,
  actor: row.actor_id,
  resource: row.resource_uri,
  scopes: row.scopes,
  duration: row.duration_seconds,
  purpose: row.purpose,
  binding_message: row.binding_message,
  status: row.status,
  requested_at: row.requested_at.toISOString(),
  expires_at: row.expires_at.toISOString(),
  decided_at: iso(row.decided_at),
  decided_by: row.decided_by,
  approved_scopes: row.approved_scopes,
  approved_duration: row.approved_duration_seconds,
  grant_id: row.grant_id,
  cancel_reason: row.cancel_reason,
  token_issued: row.token_issued,
});

const fromRequest = (request: ApprovalRequest): ApprovalOut => ({
  id: request.id,
  client_id: request.clientId,
  subject: request.subjectId,
  actor: request.actorId,
  resource: request.resource,
  scopes: request.scopes,
  duration: request.durationSeconds,
  purpose: request.purpose,
  binding_message: request.bindingMessage,
  status: request.status,
  requested_at: request.requestedAt.toISOString(),
  expires_at: request.expiresAt.toISOString(),
  decided_at: iso(request.decidedAt),
  decided_by: request.decidedBy,
  approved_scopes: request.approvedScopes,
  approved_duration: request.approvedDurationSeconds,
  grant_id: request.grantId,
  cancel_reason: request.cancelReason,
  token_issued: request.tokenIssued,
});

export function approvalRoutes(api: AdminApi, { pool, prisma }: RouteDeps): void {
  api.route({
    method: 'get',
    path: '/approvals',
    operationId: 'listApprovals',
    tag: 'approvals',
    summary: 'List approval requests, newest first',
    query: ApprovalQuery,
    status: 200,
    response: ApprovalPage,
    responseDescription: 'A page of approval requests',
    handler: ({ query }) =>
      listPageSql(prisma, {
        from: Prisma.sql`SELECT ${Prisma.raw(COLUMNS)} FROM approval_requests`,
        conditions: [
          ...(query.status === undefined ? [] : [Prisma.sql`${Prisma.raw(EFFECTIVE_STATUS)} = ${query.status}`]),
          ...(query.subject === undefined ? [] : [Prisma.sql`subject_id = ${query.subject}`]),
          ...(query.actor === undefined ? [] : [Prisma.sql`actor_id = ${query.actor}`]),
        ],
        key: KEY,
        limit: query.limit,
        cursor: query.cursor,
        toItem: fromRow,
      }),
  });

  api.route({
    method: 'get',
    path: '/approvals/:id',
    operationId: 'getApproval',
    tag: 'approvals',
    summary: 'Read an approval request',
    params: IdParam,
    status: 200,
    response: Approval,
    responseDescription: 'The approval request',
    handler: async ({ params }) => {
      if (!isUuid(params.id)) throw notFound('approval request');
      const request = await getApprovalRequest(pool, params.id);
      if (!request) throw notFound('approval request');
      return fromRequest(request);
    },
  });

  api.route({
    method: 'post',
    path: '/approvals/:id/cancel',
    operationId: 'cancelApproval',
    tag: 'approvals',
    summary: 'Cancel a pending approval request',
    description: 'The agent’s next poll answers access_denied. Only a pending request can be cancelled (409 otherwise).',
    params: IdParam,
    status: 200,
    response: Approval,
    responseDescription: 'The cancelled request',
    errors: [409],
    handler: async ({ params, admin, requestId }) => {
      try {
        return fromRequest(await cancelApprovalRequest(pool, { id: params.id, admin, now: new Date(), requestId }));
      } catch (error) {
        if (error instanceof ApprovalError && error.code === 'not_found') throw notFound('approval request');
        if (error instanceof ApprovalError && error.code === 'not_pending') throw conflict('the approval request is not pending');
        throw error;
      }
    },
  });
}
