/**
 * The console's approval requests page: lists agents' requests with their status (filtered),
 * shows the binding message escaped, and cancels a pending one through the admin API (audited).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import { createApprovalRequest } from '../../src/approval/store.js';
import { ADMIN_TOKEN, startAdminDeputy, type Admin } from '../admin/support.js';
import type { TestDeputy } from '../support/deputy.js';
import { ConsoleClient } from './support.js';

const API = 'https://api.console-approvals.test';

describe('console: approval requests', () => {
  let deputy: TestDeputy;
  let admin: Admin;
  let browser: ConsoleClient;

  beforeAll(async () => {
    ({ deputy, admin } = await startAdminDeputy());
    expect((await admin.post('/subjects', { id: 'alice' })).status).toBe(201);
    expect((await admin.post('/resources', { uri: API, scopes: ['read', 'deploy'], approval_scopes: ['deploy'] })).status).toBe(201);
    expect((await admin.post('/actors', { id: 'agent:a', kind: 'agent', owner: 'alice', scope_ceiling: ['read', 'deploy'], resources: [API] })).status).toBe(201);
    browser = new ConsoleClient(deputy.url);
    expect((await browser.signIn(ADMIN_TOKEN)).status).toBe(303);
  });
  afterAll(async () => {
    await deputy?.stop();
  });

  const ask = (bindingMessage: string) => {
    const now = new Date();
    return createApprovalRequest(deputy.pool, {
      authReqId: randomUUID(),
      clientId: 'app',
      subjectId: 'alice',
      actorId: 'agent:a',
      resource: API,
      scopes: ['deploy'],
      durationSeconds: 600,
      purpose: 'release 1.2',
      bindingMessage,
      requestedAt: now,
      expiresAt: new Date(now.getTime() + 600_000),
      requestId: null,
    });
  };

  it('lists a pending request with its binding message escaped, and cancels it', async () => {
    const request = await ask('<script>alert(1)</script>');
    const listed = await browser.get('/console/approvals?status=pending');
    expect(listed.status).toBe(200);
    expect(listed.text).toContain('release 1.2');
    expect(listed.text).toContain('&lt;script&gt;alert(1)&lt;/script&gt;');
    expect(listed.text).not.toContain('<script>alert(1)</script>');
    expect(listed.text).toContain(`/console/approvals/${request.id}/cancel`);

    const cancelled = await browser.post(`/console/approvals/${request.id}/cancel`, { _csrf: ConsoleClient.csrfOf(listed) });
    expect(cancelled.status).toBe(303);
    expect((await admin.get(`/approvals/${request.id}`)).body).toMatchObject({ status: 'cancelled', cancel_reason: 'admin' });
    expect((await browser.get('/console/approvals?status=pending')).text).not.toContain(request.id);
    expect((await browser.get('/console/approvals?status=cancelled')).text).toContain('release 1.2');
  });

  it('refuses a cancel without the form token, and a second cancel says why', async () => {
    const request = await ask('B7');
    expect((await browser.post(`/console/approvals/${request.id}/cancel`, {})).status).toBe(403);
    expect((await admin.get(`/approvals/${request.id}`)).body).toMatchObject({ status: 'pending' });
    const listed = await browser.get('/console/approvals');
    expect((await browser.post(`/console/approvals/${request.id}/cancel`, { _csrf: ConsoleClient.csrfOf(listed) })).status).toBe(303);
    const again = await browser.post(`/console/approvals/${request.id}/cancel`, { _csrf: ConsoleClient.csrfOf(listed) });
    expect(again.status).toBe(409);
  });
});
