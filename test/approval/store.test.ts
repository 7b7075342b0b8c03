/**
 * The approval-request store against PostgreSQL: every change with its audit event, only the
 * subject decides, one decision per request, expiry, cancellation on revocation, polling bookkeeping.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { inTransaction, verifyAuditChains } from '../../src/audit/audit-log.js';
import { createPool } from '../../src/db/pool.js';
import {
  ApprovalError,
  approveApprovalRequest,
  cancelApprovalRequest,
  cancelPendingApprovals,
  claimTokenIssue,
  createApprovalRequest,
  denyApprovalRequest,
  expireApprovalRequests,
  findApprovalByAuthReqId,
  getApprovalRequest,
  listApprovalRequests,
  notePoll,
  releaseTokenIssue,
  type NewApprovalRequest,
} from '../../src/approval/store.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

describe('approval request store', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  beforeAll(async () => {
    db = await createTestDatabase();
    pool = createPool({ url: db.url, size: 4, acquireTimeoutMs: 2000 });
    await pool.query(`INSERT INTO subjects (id) VALUES ('alice'), ('bob')`);
    await pool.query(`INSERT INTO resources (uri, scopes, approval_scopes) VALUES ('https://api.test', ARRAY['read','write','deploy'], ARRAY['deploy'])`);
    await pool.query(`INSERT INTO actors (id, kind, owner_id) VALUES ('agent:a', 'agent', 'alice'), ('agent:b', 'agent', 'bob')`);
    await pool.query(`INSERT INTO entitlements (subject_id, resource_uri, scope) VALUES ('alice', 'https://api.test', 'read'), ('alice', 'https://api.test', 'deploy')`);
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  function newRequest(overrides: Partial<NewApprovalRequest> = {}): NewApprovalRequest {
    const now = new Date();
    return {
      authReqId: randomUUID(),
      clientId: 'agent-client',
      subjectId: 'alice',
      actorId: 'agent:a',
      resource: 'https://api.test',
      scopes: ['read', 'write'],
      durationSeconds: 3600,
      purpose: 'triage issues',
      bindingMessage: 'ABCD-1234',
      requestedAt: now,
      expiresAt: new Date(now.getTime() + 600_000),
      requestId: 'req-1',
      ...overrides,
    };
  }

  async function eventsOf(id: string) {
    const { rows } = await pool.query<{ type: string; subject_id: string; admin: string | null; grant_id: string | null; scope_granted: string[] }>(
      `SELECT type, subject_id, admin, grant_id, scope_granted FROM audit_events WHERE details->>'approval_request_id' = $1 ORDER BY id`,
      [id],
    );
    return rows;
  }

  it('creates a pending request found by its auth_req_id, which is stored only as a digest', async () => {
    const input = newRequest();
    const created = await createApprovalRequest(pool, input);
    expect(created).toMatchObject({ status: 'pending', subjectId: 'alice', actorId: 'agent:a', scopes: ['read', 'write'], bindingMessage: 'ABCD-1234' });
    expect((await findApprovalByAuthReqId(pool, input.authReqId))?.id).toBe(created.id);
    expect(await findApprovalByAuthReqId(pool, 'not-an-id')).toBeNull();
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM approval_requests WHERE auth_req_sha256::text LIKE '%' || $1 || '%'`, [input.authReqId]);
    expect(rows[0].n).toBe(0);
    expect((await eventsOf(created.id)).map((e) => e.type)).toEqual(['approval.requested']);
  });

  it('approves fewer scopes and a shorter time: a grant owned by the person, naming approver and request', async () => {
    const created = await createApprovalRequest(pool, newRequest({ scopes: ['read', 'write'] }));
    const now = new Date();
    const approved = await approveApprovalRequest(pool, { id: created.id, subjectId: 'alice', scopes: ['read'], durationSeconds: 600, now, justInTimeTtl: 900, requestId: null });
    expect(approved).toMatchObject({ status: 'approved', decidedBy: 'alice', approvedScopes: ['read'], approvedDurationSeconds: 600 });
    const { rows } = await pool.query(
      `SELECT subject_id, actor_id, scopes, approved_by, approval_request_id, just_in_time, extract(epoch from expires_at - $2::timestamptz)::int AS ttl FROM delegation_grants WHERE id = $1`,
      [approved.grantId, now],
    );
    expect(rows[0]).toMatchObject({ subject_id: 'alice', actor_id: 'agent:a', scopes: ['read'], approved_by: 'alice', approval_request_id: created.id, just_in_time: false });
    expect(Math.abs(rows[0].ttl - 600)).toBeLessThanOrEqual(1);
    const events = await eventsOf(created.id);
    expect(events.map((e) => e.type)).toEqual(['approval.requested', 'approval.approved']);
    expect(events[1]).toMatchObject({ grant_id: approved.grantId, scope_granted: ['read'] });
  });

  it('an approval scope yields a just-in-time grant capped at the TTL', async () => {
    const created = await createApprovalRequest(pool, newRequest({ scopes: ['deploy'] }));
    const approved = await approveApprovalRequest(pool, { id: created.id, subjectId: 'alice', scopes: ['deploy'], durationSeconds: 3600, now: new Date(), justInTimeTtl: 900 , requestId: null });
    expect(approved.approvedDurationSeconds).toBe(900);
    const { rows } = await pool.query(`SELECT just_in_time FROM delegation_grants WHERE id = $1`, [approved.grantId]);
    expect(rows[0].just_in_time).toBe(true);
  });

  it('only the subject decides; a second decision is refused', async () => {
    const created = await createApprovalRequest(pool, newRequest());
    await expect(approveApprovalRequest(pool, { id: created.id, subjectId: 'bob', scopes: ['read'], durationSeconds: 60, now: new Date(), justInTimeTtl: 900, requestId: null })).rejects.toEqual(new ApprovalError('not_found'));
    await expect(denyApprovalRequest(pool, { id: created.id, subjectId: 'bob', now: new Date(), requestId: null })).rejects.toEqual(new ApprovalError('not_found'));
    expect(await getApprovalRequest(pool, created.id, 'bob')).toBeNull();
    expect((await getApprovalRequest(pool, created.id, 'alice'))?.status).toBe('pending');
    const denied = await denyApprovalRequest(pool, { id: created.id, subjectId: 'alice', now: new Date(), requestId: null });
    expect(denied.status).toBe('denied');
    await expect(approveApprovalRequest(pool, { id: created.id, subjectId: 'alice', scopes: ['read'], durationSeconds: 60, now: new Date(), justInTimeTtl: 900, requestId: null })).rejects.toEqual(new ApprovalError('not_pending'));
    expect((await eventsOf(created.id)).map((e) => e.type)).toEqual(['approval.requested', 'approval.denied']);
  });

  it('refuses an approval wider than the request, or with nothing the person holds, and writes nothing', async () => {
    const created = await createApprovalRequest(pool, newRequest({ scopes: ['read', 'write'] }));
    const attempt = (scopes: string[], durationSeconds: number) =>
      approveApprovalRequest(pool, { id: created.id, subjectId: 'alice', scopes, durationSeconds, now: new Date(), justInTimeTtl: 900, requestId: null });
    await expect(attempt(['deploy'], 60)).rejects.toEqual(new ApprovalError('scope_not_requested'));
    await expect(attempt(['read'], 3601)).rejects.toEqual(new ApprovalError('duration_not_allowed'));
    await expect(attempt(['write'], 60)).rejects.toEqual(new ApprovalError('nothing_to_grant'));
    expect((await getApprovalRequest(pool, created.id))?.status).toBe('pending');
    const { rows } = await pool.query(`SELECT count(*)::int AS n FROM delegation_grants WHERE approval_request_id = $1`, [created.id]);
    expect(rows[0].n).toBe(0);
  });

  it('reads an overdue pending request as expired, refuses to decide it, and expireApprovalRequests writes it', async () => {
    const past = new Date(Date.now() - 1000);
    const created = await createApprovalRequest(pool, newRequest({ requestedAt: new Date(past.getTime() - 60_000), expiresAt: past }));
    expect((await getApprovalRequest(pool, created.id))?.status).toBe('expired');
    await expect(denyApprovalRequest(pool, { id: created.id, subjectId: 'alice', now: new Date(), requestId: null })).rejects.toEqual(new ApprovalError('not_pending'));
    expect(await expireApprovalRequests(pool, new Date())).toBeGreaterThanOrEqual(1);
    expect((await eventsOf(created.id)).map((e) => e.type)).toEqual(['approval.requested', 'approval.expired']);
  });

  it('expires in bounded batches, each row once, leaving current and decided requests alone', async () => {
    const past = new Date(Date.now() - 1000);
    const overdue = await Promise.all(
      Array.from({ length: 5 }, () => createApprovalRequest(pool, newRequest({ requestedAt: new Date(past.getTime() - 60_000), expiresAt: past }))),
    );
    const current = await createApprovalRequest(pool, newRequest());
    const denied = await createApprovalRequest(pool, newRequest());
    await denyApprovalRequest(pool, { id: denied.id, subjectId: 'alice', now: new Date(), requestId: null });
    // Two runs at once, batches of two: every overdue row is expired by exactly one of them.
    const [first, second] = await Promise.all([expireApprovalRequests(pool, new Date(), 2), expireApprovalRequests(pool, new Date(), 2)]);
    expect(first + second).toBe(5);
    expect(await expireApprovalRequests(pool, new Date(), 2)).toBe(0);
    for (const request of overdue) expect((await eventsOf(request.id)).map((e) => e.type)).toEqual(['approval.requested', 'approval.expired']);
    const { rows } = await pool.query<{ id: string; status: string }>(`SELECT id, status FROM approval_requests WHERE id = ANY($1::uuid[])`, [[current.id, denied.id, ...overdue.map((r) => r.id)]]);
    const statusOf = new Map(rows.map((row) => [row.id, row.status]));
    expect(statusOf.get(current.id)).toBe('pending');
    expect(statusOf.get(denied.id)).toBe('denied');
    for (const request of overdue) expect(statusOf.get(request.id)).toBe('expired');
  });

  it('an admin cancels a pending request; a decided one cannot be cancelled', async () => {
    const created = await createApprovalRequest(pool, newRequest());
    const cancelled = await cancelApprovalRequest(pool, { id: created.id, admin: 'admin:root', now: new Date(), requestId: null });
    expect(cancelled).toMatchObject({ status: 'cancelled', cancelReason: 'admin', decidedBy: 'admin:root' });
    await expect(cancelApprovalRequest(pool, { id: created.id, admin: 'admin:root', now: new Date(), requestId: null })).rejects.toEqual(new ApprovalError('not_pending'));
    await expect(cancelApprovalRequest(pool, { id: randomUUID(), admin: 'admin:root', now: new Date(), requestId: null })).rejects.toEqual(new ApprovalError('not_found'));
    await expect(cancelApprovalRequest(pool, { id: 'not-a-uuid', admin: 'admin:root', now: new Date(), requestId: null })).rejects.toEqual(new ApprovalError('not_found'));
    expect((await eventsOf(created.id)).at(-1)).toMatchObject({ type: 'approval.cancelled', admin: 'admin:root' });
  });

  it('cancels the pending requests of a revoked actor or subject, and only those', async () => {
    const ofActor = await createApprovalRequest(pool, newRequest());
    const ofBob = await createApprovalRequest(pool, newRequest({ subjectId: 'bob', actorId: 'agent:b' }));
    const n = await inTransaction(pool, (client) => cancelPendingApprovals(client, { actorId: 'agent:a' }, 'actor_disabled', new Date()));
    expect(n).toBeGreaterThanOrEqual(1);
    expect(await getApprovalRequest(pool, ofActor.id)).toMatchObject({ status: 'cancelled', cancelReason: 'actor_disabled' });
    expect((await getApprovalRequest(pool, ofBob.id))?.status).toBe('pending');
    await inTransaction(pool, (client) => cancelPendingApprovals(client, { subjectId: 'bob' }, 'subject_disabled', new Date()));
    expect(await getApprovalRequest(pool, ofBob.id)).toMatchObject({ status: 'cancelled', cancelReason: 'subject_disabled' });
  });

  it('lists with filters, newest first, by keyset pages', async () => {
    const a = await createApprovalRequest(pool, newRequest({ subjectId: 'bob', actorId: 'agent:b', requestedAt: new Date(Date.now() + 1000) }));
    const b = await createApprovalRequest(pool, newRequest({ subjectId: 'bob', actorId: 'agent:b', requestedAt: new Date(Date.now() + 2000) }));
    const page1 = await listApprovalRequests(pool, { subjectId: 'bob', status: 'pending', limit: 1 });
    expect(page1.map((r) => r.id)).toEqual([b.id]);
    const page2 = await listApprovalRequests(pool, { subjectId: 'bob', status: 'pending', limit: 1, after: { requestedAt: page1[0]!.requestedAt, id: page1[0]!.id } });
    expect(page2.map((r) => r.id)).toEqual([a.id]);
    expect((await listApprovalRequests(pool, { actorId: 'agent:b', status: 'cancelled', limit: 10 })).every((r) => r.status === 'cancelled' && r.actorId === 'agent:b')).toBe(true);
    expect(await listApprovalRequests(pool, { subjectId: 'nobody', limit: 10 })).toEqual([]);
  });

  it('polling faster than the interval is slow_down; one token per approval', async () => {
    const created = await createApprovalRequest(pool, newRequest());
    const t0 = new Date();
    expect(await notePoll(pool, created.id, t0, 5)).toBe('ok');
    expect(await notePoll(pool, created.id, new Date(t0.getTime() + 1000), 5)).toBe('slow_down');
    expect(await notePoll(pool, created.id, new Date(t0.getTime() + 7000), 5)).toBe('ok');
    expect(await claimTokenIssue(pool, created.id, 'jti-1')).toBe(false); // still pending
    await approveApprovalRequest(pool, { id: created.id, subjectId: 'alice', scopes: ['read'], durationSeconds: 60, now: new Date(), justInTimeTtl: 900, requestId: null });
    expect(await claimTokenIssue(pool, created.id, 'jti-1')).toBe(true);
    expect(await claimTokenIssue(pool, created.id, 'jti-2')).toBe(false);
    await releaseTokenIssue(pool, created.id, 'jti-1');
    expect(await claimTokenIssue(pool, created.id, 'jti-2')).toBe(true);
  });

  it('keeps the audit chains intact', async () => {
    expect((await verifyAuditChains(pool)).ok).toBe(true);
  });
});
