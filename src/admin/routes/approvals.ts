/**
 * Approval requests (docs/guide-agent-approval.md): an agent's CIBA request for a delegation,
 * pending until the person answers. Admins list and read them, and cancel a pending one; only
 * the person approves or denies.
 */
import { z } from 'zod';
import {
  APPROVAL_COLUMNS,
  APPROVAL_STATUSES,
  ApprovalError,
  EFFECTIVE_STATUS,
  approvalFromRow,
  cancelApprovalRequest,
  getApprovalRequest,
  type ApprovalRequest,
  type ApprovalRow,
} from '../../approval/store.js';
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

const KEY: KeyColumn[] = [
  { column: 'requested_at', type: 'timestamptz', field: 'requested_at' },
  { column: 'id', type: 'uuid', field: 'id' },
];

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
        from: Prisma.sql`SELECT ${Prisma.raw(APPROVAL_COLUMNS)} FROM approval_requests`,
        conditions: [
          ...(query.status === undefined ? [] : [Prisma.sql`${Prisma.raw(EFFECTIVE_STATUS)} = ${query.status}`]),
          ...(query.subject === undefined ? [] : [Prisma.sql`subject_id = ${query.subject}`]),
          ...(query.actor === undefined ? [] : [Prisma.sql`actor_id = ${query.actor}`]),
        ],
        key: KEY,
        limit: query.limit,
        cursor: query.cursor,
        toItem: (row: ApprovalRow) => fromRequest(approvalFromRow(row)),
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
