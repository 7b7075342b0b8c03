/**
 * Approval requests (issue 15): the store. Every change and its audit event commit in one
 * transaction, like the admin API's writes (src/admin/changes.ts).
 *
 * API:
 * - createApprovalRequest: a pending request for the agent's CIBA call (`approval.requested`).
 * - getApprovalRequest / findApprovalByAuthReqId / listApprovalRequests: reads. A pending row
 *   past its expiry reads as `expired` even before expireApprovalRequests has written it.
 * - approveApprovalRequest: the subject (and only the subject) says yes, possibly to fewer
 *   scopes or a shorter time; creates the delegation grant (grant-plan.ts) owned by the person,
 *   naming its approver and the request (`approval.approved`).
 * - denyApprovalRequest: the subject says no (`approval.denied`).
 * - cancelApprovalRequest: an admin withdraws a pending request (`approval.cancelled`).
 * - cancelPendingApprovals: inside a revocation's transaction, the revoked actor's or
 *   subject's pending requests are cancelled.
 * - expireApprovalRequests: writes `expired` (and `approval.expired`) for pending rows past expiry.
 * - notePoll / claimTokenIssue / releaseTokenIssue: the CIBA token endpoint's bookkeeping.
 *
 * The auth_req_id is a bearer credential of the agent: only its SHA-256 is stored.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import type { PrismaTransaction } from '../db/prisma.js';
import { appendAuditEvents, inTransaction, type AuditEventInput } from '../audit/audit-log.js';
import { planApprovedGrant } from './grant-plan.js';
import type { ApprovalStatus } from './statuses.js';

export { APPROVAL_STATUSES, type ApprovalStatus } from './statuses.js';

export interface ApprovalRequest {
  id: string;
  clientId: string;
  subjectId: string;
  actorId: string;
  resource: string;
  scopes: string[];
  durationSeconds: number;
  purpose: string;
  bindingMessage: string | null;
  status: ApprovalStatus;
  requestedAt: Date;
  expiresAt: Date;
  decidedAt: Date | null;
  decidedBy: string | null;
  approvedScopes: string[];
  approvedDurationSeconds: number | null;
  grantId: string | null;
  cancelReason: string | null;
  tokenIssued: boolean;
}

export type ApprovalErrorCode = 'not_found' | 'not_pending' | 'scope_not_requested' | 'duration_not_allowed' | 'nothing_to_grant';

export class ApprovalError extends Error {
  constructor(readonly code: ApprovalErrorCode) {
    super(code);
    this.name = 'ApprovalError';
  }
}

export function authReqDigest(authReqId: string): Buffer {
  return createHash('sha256').update(authReqId, 'utf8').digest();
}

/** The columns an approval request is read with (its status as read: see EFFECTIVE_STATUS). */
export const APPROVAL_COLUMNS = `id, client_id, subject_id, actor_id, resource_uri, scopes, duration_seconds, purpose, binding_message,
  CASE WHEN status = 'pending' AND expires_at <= now() THEN 'expired' ELSE status END AS status,
  requested_at, expires_at, decided_at, decided_by, approved_scopes, approved_duration_seconds, grant_id, cancel_reason,
  token_jti IS NOT NULL AS token_issued`;

/** The status as read: a pending row past its expiry is expired. */
export const EFFECTIVE_STATUS = `(CASE WHEN status = 'pending' AND expires_at <= now() THEN 'expired' ELSE status END)`;

/** An approval request's row as APPROVAL_COLUMNS reads it. */
export interface ApprovalRow extends Record<string, unknown> {
  id: string;
  client_id: string;
  subject_id: string;
  actor_id: string;
  resource_uri: string;
  scopes: string[];
  duration_seconds: number;
  purpose: string;
  binding_message: string | null;
  status: ApprovalStatus;
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

export function approvalFromRow(row: ApprovalRow): ApprovalRequest {
  return {
    id: row.id,
    clientId: row.client_id,
    subjectId: row.subject_id,
    actorId: row.actor_id,
    resource: row.resource_uri,
    scopes: row.scopes,
    durationSeconds: row.duration_seconds,
    purpose: row.purpose,
    bindingMessage: row.binding_message,
    status: row.status,
    requestedAt: row.requested_at,
    expiresAt: row.expires_at,
    decidedAt: row.decided_at,
    decidedBy: row.decided_by,
    approvedScopes: row.approved_scopes,
    approvedDurationSeconds: row.approved_duration_seconds,
    grantId: row.grant_id,
    cancelReason: row.cancel_reason,
    tokenIssued: row.token_issued,
  };
}

function event(request: ApprovalRequest, type: string, at: Date, extra: Partial<AuditEventInput> = {}): AuditEventInput {
  return {
    type,
    at,
    clientId: request.clientId,
    subjectId: request.subjectId,
    actorIds: [request.actorId],
    resourceUri: request.resource,
    scopeRequested: request.scopes,
    details: { approval_request_id: request.id },
    ...extra,
  };
}

export interface NewApprovalRequest {
  authReqId: string;
  clientId: string;
  subjectId: string;
  actorId: string;
  resource: string;
  scopes: readonly string[];
  durationSeconds: number;
  purpose: string;
  bindingMessage: string | null;
  requestedAt: Date;
  expiresAt: Date;
  requestId: string | null;
}

export async function createApprovalRequest(pool: pg.Pool, input: NewApprovalRequest): Promise<ApprovalRequest> {
  return inTransaction(pool, async (db) => {
    const { rows } = await db.query<ApprovalRow>(
      `INSERT INTO approval_requests (auth_req_sha256, client_id, subject_id, actor_id, resource_uri, scopes, duration_seconds, purpose,
         binding_message, requested_at, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING ${APPROVAL_COLUMNS}`,
      [
        authReqDigest(input.authReqId),
        input.clientId,
        input.subjectId,
        input.actorId,
        input.resource,
        [...new Set(input.scopes)],
        input.durationSeconds,
        input.purpose,
        input.bindingMessage,
        input.requestedAt,
        input.expiresAt,
      ],
    );
    const request = approvalFromRow(rows[0]!);
    await appendAuditEvents(db, [
      event(request, 'approval.requested', input.requestedAt, {
        requestId: input.requestId,
        details: { approval_request_id: request.id, duration_seconds: request.durationSeconds, expires_at: request.expiresAt.toISOString() },
      }),
    ]);
    return request;
  });
}

/** One request; with `subjectId`, only when it is that subject's (another person learns nothing). */
export async function getApprovalRequest(pool: pg.Pool | pg.ClientBase, id: string, subjectId?: string): Promise<ApprovalRequest | null> {
  if (!/^[0-9a-f-]{36}$/i.test(id)) return null;
  const { rows } = await pool.query<ApprovalRow>(`SELECT ${APPROVAL_COLUMNS} FROM approval_requests WHERE id = $1 AND ($2::text IS NULL OR subject_id = $2)`, [
    id,
    subjectId ?? null,
  ]);
  return rows[0] ? approvalFromRow(rows[0]) : null;
}

export async function findApprovalByAuthReqId(pool: pg.Pool, authReqId: string): Promise<ApprovalRequest | null> {
  const { rows } = await pool.query<ApprovalRow>(`SELECT ${APPROVAL_COLUMNS} FROM approval_requests WHERE auth_req_sha256 = $1`, [authReqDigest(authReqId)]);
  return rows[0] ? approvalFromRow(rows[0]) : null;
}

export interface ApprovalFilter {
  status?: ApprovalStatus;
  subjectId?: string;
  actorId?: string;
  limit: number;
  /** Keyset cursor: the last item of the previous page. */
  after?: { requestedAt: Date; id: string };
}

/** Newest first. */
export async function listApprovalRequests(pool: pg.Pool, filter: ApprovalFilter): Promise<ApprovalRequest[]> {
  const { rows } = await pool.query<ApprovalRow>(
    `SELECT ${APPROVAL_COLUMNS} FROM approval_requests
      WHERE ($1::text IS NULL OR ${EFFECTIVE_STATUS} = $1)
        AND ($2::text IS NULL OR subject_id = $2)
        AND ($3::text IS NULL OR actor_id = $3)
        AND ($4::timestamptz IS NULL OR (requested_at, id) < ($4, $5::uuid))
      ORDER BY requested_at DESC, id DESC LIMIT $6`,
    [filter.status ?? null, filter.subjectId ?? null, filter.actorId ?? null, filter.after?.requestedAt ?? null, filter.after?.id ?? null, filter.limit],
  );
  return rows.map(approvalFromRow);
}

/** Locks a pending, unexpired request of this subject (any subject when null) for a decision. */
async function lockPending(db: pg.PoolClient, id: string, subjectId: string | null): Promise<ApprovalRequest> {
  if (!/^[0-9a-f-]{36}$/i.test(id)) throw new ApprovalError('not_found');
  const { rows } = await db.query<ApprovalRow>(
    `SELECT ${APPROVAL_COLUMNS} FROM approval_requests WHERE id = $1 AND ($2::text IS NULL OR subject_id = $2) FOR UPDATE`,
    [id, subjectId],
  );
  if (!rows[0]) throw new ApprovalError('not_found');
  const request = approvalFromRow(rows[0]);
  if (request.status !== 'pending') throw new ApprovalError('not_pending');
  return request;
}

export interface ApprovalDecisionInput {
  id: string;
  /** The signed-in person: must be the request's subject. */
  subjectId: string;
  now: Date;
  requestId: string | null;
}

export interface ApproveInput extends ApprovalDecisionInput {
  scopes: readonly string[];
  durationSeconds: number;
  /** APPROVAL_GRANT_TTL, seconds. */
  justInTimeTtl: number;
}

export async function approveApprovalRequest(pool: pg.Pool, input: ApproveInput): Promise<ApprovalRequest> {
  return inTransaction(pool, async (db) => {
    const request = await lockPending(db, input.id, input.subjectId);
    const nowSeconds = Math.floor(input.now.getTime() / 1000);
    const { rows: facts } = await db.query<{ entitled: string[]; approval_scopes: string[] | null }>(
      `SELECT coalesce((SELECT array_agg(DISTINCT e.scope) FROM entitlements e
                         WHERE e.subject_id = $1 AND e.resource_uri = $2 AND (e.expires_at IS NULL OR e.expires_at > $3)), '{}') AS entitled,
              (SELECT r.approval_scopes FROM resources r WHERE r.uri = $2) AS approval_scopes`,
      [request.subjectId, request.resource, input.now],
    );
    const plan = planApprovedGrant(
      { scopes: input.scopes, durationSeconds: input.durationSeconds },
      {
        now: nowSeconds,
        requestedScopes: request.scopes,
        requestedDurationSeconds: request.durationSeconds,
        entitledScopes: facts[0]!.entitled,
        approvalScopes: facts[0]!.approval_scopes ?? [],
        justInTimeTtl: input.justInTimeTtl,
      },
    );
    if (!plan.ok) throw new ApprovalError(plan.reason);
    const { rows: grants } = await db.query<{ id: string }>(
      `INSERT INTO delegation_grants (subject_id, actor_id, resource_uri, scopes, expires_at, approved_by, approval_request_id, just_in_time)
       VALUES ($1, $2, $3, $4, to_timestamp($5), $6, $7, $8) RETURNING id`,
      [request.subjectId, request.actorId, request.resource, plan.scopes, plan.expiresAt, input.subjectId, request.id, plan.justInTime],
    );
    const grantId = grants[0]!.id;
    const { rows } = await db.query<ApprovalRow>(
      `UPDATE approval_requests SET status = 'approved', decided_at = $2, decided_by = $3, approved_scopes = $4,
              approved_duration_seconds = $5, grant_id = $6
        WHERE id = $1 RETURNING ${APPROVAL_COLUMNS}`,
      [request.id, input.now, input.subjectId, plan.scopes, plan.expiresAt - nowSeconds, grantId],
    );
    const approved = approvalFromRow(rows[0]!);
    await appendAuditEvents(db, [
      event(approved, 'approval.approved', input.now, {
        requestId: input.requestId,
        scopeGranted: plan.scopes,
        scopeDenied: plan.notEntitled.map((scope) => ({ scope, reason: 'no_entitlement' })),
        grantId,
        details: {
          approval_request_id: approved.id,
          decided_by: input.subjectId,
          just_in_time: plan.justInTime,
          expires_at: new Date(plan.expiresAt * 1000).toISOString(),
        },
      }),
    ]);
    return approved;
  });
}

export async function denyApprovalRequest(pool: pg.Pool, input: ApprovalDecisionInput): Promise<ApprovalRequest> {
  return inTransaction(pool, async (db) => {
    const request = await lockPending(db, input.id, input.subjectId);
    const { rows } = await db.query<ApprovalRow>(
      `UPDATE approval_requests SET status = 'denied', decided_at = $2, decided_by = $3 WHERE id = $1 RETURNING ${APPROVAL_COLUMNS}`,
      [request.id, input.now, input.subjectId],
    );
    const denied = approvalFromRow(rows[0]!);
    await appendAuditEvents(db, [
      event(denied, 'approval.denied', input.now, { requestId: input.requestId, details: { approval_request_id: denied.id, decided_by: input.subjectId } }),
    ]);
    return denied;
  });
}

export interface CancelInput {
  id: string;
  /** The admin principal who cancels. */
  admin: string;
  now: Date;
  requestId: string | null;
}

export async function cancelApprovalRequest(pool: pg.Pool, input: CancelInput): Promise<ApprovalRequest> {
  return inTransaction(pool, async (db) => {
    const request = await lockPending(db, input.id, null);
    const { rows } = await db.query<ApprovalRow>(
      `UPDATE approval_requests SET status = 'cancelled', decided_at = $2, decided_by = $3, cancel_reason = 'admin' WHERE id = $1 RETURNING ${APPROVAL_COLUMNS}`,
      [request.id, input.now, input.admin],
    );
    const cancelled = approvalFromRow(rows[0]!);
    await appendAuditEvents(db, [
      event(cancelled, 'approval.cancelled', input.now, { requestId: input.requestId, admin: input.admin, details: { approval_request_id: cancelled.id, reason: 'admin' } }),
    ]);
    return cancelled;
  });
}

/**
 * Inside the caller's transaction (a revocation, a disable): cancels the pending requests of a
 * subject or an actor, with one audit event each. Returns how many.
 */
export async function cancelPendingApprovals(
  db: pg.ClientBase | PrismaTransaction,
  whose: { subjectId: string } | { actorId: string },
  reason: 'subject_disabled' | 'actor_disabled' | 'subject_deleted' | 'actor_deleted',
  at: Date,
  requestId: string | null = null,
): Promise<number> {
  const column = 'subjectId' in whose ? 'subject_id' : 'actor_id';
  const value = 'subjectId' in whose ? whose.subjectId : whose.actorId;
  const sql = `UPDATE approval_requests SET status = 'cancelled', decided_at = $2, cancel_reason = $3
      WHERE ${column} = $1 AND status = 'pending' RETURNING ${APPROVAL_COLUMNS}`;
  // Inside an admin change (Prisma's transaction) or the exchange side's pg transaction.
  const rows = '$queryRawUnsafe' in db ? await db.$queryRawUnsafe<ApprovalRow[]>(sql, value, at, reason) : (await db.query<ApprovalRow>(sql, [value, at, reason])).rows;
  await appendAuditEvents(
    db,
    rows.map(approvalFromRow).map((request) => event(request, 'approval.cancelled', at, { requestId, details: { approval_request_id: request.id, reason } })),
  );
  return rows.length;
}

/** Whether `id` names an active subject: only such a person is asked, or signs in to answer. */
export async function isActiveSubject(pool: pg.Pool, id: string): Promise<boolean> {
  const { rowCount } = await pool.query(`SELECT 1 FROM subjects WHERE id = $1 AND status = 'active'`, [id]);
  return rowCount === 1;
}

/**
 * Writes `expired` for pending requests past their expiry, one `approval.expired` audit event
 * each, in transactions of at most `batchSize` rows (rows another process is expiring are
 * skipped, never counted twice). Returns how many it expired.
 */
export async function expireApprovalRequests(pool: pg.Pool, now: Date, batchSize = 500): Promise<number> {
  let expired = 0;
  for (;;) {
    const batch = await inTransaction(pool, async (db) => {
      const { rows } = await db.query<ApprovalRow>(
        `UPDATE approval_requests SET status = 'expired'
          WHERE id IN (SELECT id FROM approval_requests WHERE status = 'pending' AND expires_at <= $1 LIMIT $2 FOR UPDATE SKIP LOCKED)
            AND status = 'pending'
          RETURNING ${APPROVAL_COLUMNS}`,
        [now, batchSize],
      );
      await appendAuditEvents(db, rows.map(approvalFromRow).map((request) => event(request, 'approval.expired', now)));
      return rows.length;
    });
    expired += batch;
    if (batch < batchSize) return expired;
  }
}

/**
 * Notes one poll of the token endpoint: 'ok', or 'slow_down' when the previous poll of the same
 * auth_req_id was less than `intervalSeconds` ago (CIBA §11: the client must then wait longer).
 */
export async function notePoll(pool: pg.Pool, id: string, now: Date, intervalSeconds: number): Promise<'ok' | 'slow_down'> {
  const { rowCount } = await pool.query(
    `UPDATE approval_requests SET last_polled_at = $2
      WHERE id = $1 AND (last_polled_at IS NULL OR last_polled_at <= $2::timestamptz - make_interval(secs => $3))`,
    [id, now, intervalSeconds],
  );
  if (rowCount === 1) return 'ok';
  await pool.query(`UPDATE approval_requests SET last_polled_at = $2 WHERE id = $1`, [id, now]);
  return 'slow_down';
}

/** Claims the one token an approved request yields; false when it was already issued. */
export async function claimTokenIssue(pool: pg.Pool, id: string, jti: string): Promise<boolean> {
  const { rowCount } = await pool.query(`UPDATE approval_requests SET token_jti = $2 WHERE id = $1 AND status = 'approved' AND token_jti IS NULL`, [id, jti]);
  return rowCount === 1;
}

/** Gives the claim back when the token could not be issued (nothing was recorded). */
export async function releaseTokenIssue(pool: pg.Pool, id: string, jti: string): Promise<void> {
  await pool.query(`UPDATE approval_requests SET token_jti = NULL WHERE id = $1 AND token_jti = $2`, [id, jti]);
}
