/**
 * Approval requests in the admin API: list with filters, read one, cancel a pending one (409
 * otherwise); resources' approval scopes; a disabled actor or subject cancels its pending
 * requests; grants created by an approval name it.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { approveApprovalRequest, createApprovalRequest, type NewApprovalRequest } from '../../src/approval/store.js';
import type { TestDeputy } from '../support/deputy.js';
import { startAdminDeputy, type Admin } from './support.js';

const API = 'https://api.approvals.test';

describe('admin API: approval requests', () => {
  let deputy: TestDeputy;
  let admin: Admin;
  beforeAll(async () => {
    ({ deputy, admin } = await startAdminDeputy());
    for (const id of ['alice', 'bob']) expect((await admin.post('/subjects', { id })).status).toBe(201);
    expect((await admin.post('/resources', { uri: API, scopes: ['read', 'deploy'], approval_scopes: ['deploy'] })).status).toBe(201);
    for (const [id, owner] of [['agent:a', 'alice'], ['agent:b', 'bob']]) {
      expect((await admin.post('/actors', { id, kind: 'agent', owner, scope_ceiling: ['read', 'deploy'], resources: [API] })).status).toBe(201);
    }
    expect((await admin.post('/entitlements', { subject: 'alice', resource: API, scope: 'read' })).status).toBe(201);
  });
  afterAll(async () => {
    await deputy.stop();
  });

  function ask(overrides: Partial<NewApprovalRequest> = {}) {
    const now = new Date();
    return createApprovalRequest(deputy.pool, {
      authReqId: randomUUID(),
      clientId: 'app',
      subjectId: 'alice',
      actorId: 'agent:a',
      resource: API,
      scopes: ['read'],
      durationSeconds: 600,
      purpose: 'triage',
      bindingMessage: 'X1',
      requestedAt: now,
      expiresAt: new Date(now.getTime() + 600_000),
      requestId: null,
      ...overrides,
    });
  }

  it('resources carry approval scopes, which must be among their scopes', async () => {
    const list = await admin.get(`/resources?uri=${encodeURIComponent(API)}`);
    expect(list.body.items[0]).toMatchObject({ scopes: ['read', 'deploy'], approval_scopes: ['deploy'] });
    const bad = await admin.post('/resources', { uri: 'https://bad.test', scopes: ['read'], approval_scopes: ['deploy'] });
    expect(bad.status).toBe(400);
    const id = list.body.items[0].id;
    const patched = await admin.patch(`/resources/${id}`, { scopes: ['read'] });
    expect(patched.body).toMatchObject({ scopes: ['read'], approval_scopes: [] });
    const restored = await admin.patch(`/resources/${id}`, { scopes: ['read', 'deploy'], approval_scopes: ['deploy'] });
    expect(restored.body).toMatchObject({ approval_scopes: ['deploy'] });
    expect((await admin.patch(`/resources/${id}`, { scopes: ['read'], approval_scopes: ['deploy'] })).status).toBe(400);
  });

  it('lists with status, subject and actor filters, and reads one', async () => {
    const pending = await ask();
    const ofBob = await ask({ subjectId: 'bob', actorId: 'agent:b' });
    const overdue = await ask({ requestedAt: new Date(Date.now() - 120_000), expiresAt: new Date(Date.now() - 60_000) });
    const byStatus = await admin.get('/approvals?status=pending&subject=alice');
    expect(byStatus.status).toBe(200);
    expect(byStatus.body.items.map((a: { id: string }) => a.id)).toContain(pending.id);
    expect(byStatus.body.items.every((a: { status: string; subject: string }) => a.status === 'pending' && a.subject === 'alice')).toBe(true);
    const expired = await admin.get('/approvals?status=expired');
    expect(expired.body.items.map((a: { id: string }) => a.id)).toEqual([overdue.id]);
    const byActor = await admin.get('/approvals?actor=agent:b');
    expect(byActor.body.items.map((a: { id: string }) => a.id)).toEqual([ofBob.id]);
    const one = await admin.get(`/approvals/${pending.id}`);
    expect(one.body).toMatchObject({ id: pending.id, subject: 'alice', actor: 'agent:a', resource: API, scopes: ['read'], duration: 600, binding_message: 'X1', status: 'pending', token_issued: false });
    expect((await admin.get(`/approvals/${randomUUID()}`)).status).toBe(404);
    expect((await admin.get('/approvals/not-a-uuid')).status).toBe(404);
    expect((await admin.get('/approvals?status=maybe')).status).toBe(400);
  });

  it('cancels a pending request once, audited; a decided one is 409', async () => {
    const request = await ask();
    const cancelled = await admin.post(`/approvals/${request.id}/cancel`);
    expect(cancelled.status).toBe(200);
    expect(cancelled.body).toMatchObject({ status: 'cancelled', cancel_reason: 'admin', decided_by: 'bootstrap' });
    expect((await admin.post(`/approvals/${request.id}/cancel`)).status).toBe(409);
    expect((await admin.post(`/approvals/${randomUUID()}/cancel`)).status).toBe(404);
    const { rows } = await deputy.pool.query(`SELECT admin FROM audit_events WHERE type = 'approval.cancelled' AND details->>'approval_request_id' = $1`, [request.id]);
    expect(rows).toEqual([{ admin: 'bootstrap' }]);
  });

  it('a grant created by an approval names its approver and request', async () => {
    const request = await ask();
    const approved = await approveApprovalRequest(deputy.pool, { id: request.id, subjectId: 'alice', scopes: ['read'], durationSeconds: 60, now: new Date(), justInTimeTtl: 900, requestId: null });
    const grant = await admin.get(`/grants/${approved.grantId}`);
    expect(grant.body).toMatchObject({ subject: 'alice', actor: 'agent:a', approved_by: 'alice', approval_request_id: request.id, just_in_time: false });
  });

  it('disabling an actor or a subject cancels their pending requests', async () => {
    const ofActor = await ask();
    const ofSubject = await ask({ subjectId: 'bob', actorId: 'agent:b' });
    expect((await admin.patch('/actors/agent:a', { status: 'disabled' })).status).toBe(200);
    expect((await admin.get(`/approvals/${ofActor.id}`)).body).toMatchObject({ status: 'cancelled', cancel_reason: 'actor_disabled' });
    expect((await admin.get(`/approvals/${ofSubject.id}`)).body.status).toBe('pending');
    expect((await admin.patch('/subjects/bob', { status: 'disabled' })).status).toBe(200);
    expect((await admin.get(`/approvals/${ofSubject.id}`)).body).toMatchObject({ status: 'cancelled', cancel_reason: 'subject_disabled' });
    await admin.patch('/actors/agent:a', { status: 'active' });
  });
});
