/**
 * The approval pages without sign-in settings, over HTTP: a clear "not configured" page, while the
 * notification still fires; a webhook that fails never breaks the agent's CIBA request (and its
 * log line holds no link); a link is not used up while sign-in is not configured.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as client from 'openid-client';
import { findApprovalByAuthReqId } from '../../src/approval/store.js';
import { createApprovalLink, redeemApprovalLink } from '../../src/approval/web/web-store.js';
import { createApprovalNotifier } from '../../src/approval/web/notify.js';
import type { Logger } from '../../src/log.js';
import { freePort } from '../../src/db/embedded.js';
import { RESOURCE, SECRETS, startExchangeWorld, type World } from '../support/exchange-world.js';

describe('approval pages without sign-in settings', () => {
  let world: World;
  let agent: client.Configuration;
  beforeAll(async () => {
    const closedPort = await freePort(); // nothing listens: the webhook call fails
    world = await startExchangeWorld({ APPROVAL_WEBHOOK_URL: `http://127.0.0.1:${closedPort}/hook`, APPROVAL_ALLOW_PRIVATE_NETWORK: 'true' });
    agent = await client.discovery(new URL(world.issuer), 'app-a', undefined, client.ClientSecretBasic(SECRETS['app-a']), { execute: [client.allowInsecureRequests] });
  }, 60_000);
  afterAll(async () => {
    await world?.stop();
  });

  it('/approve says sign-in is not configured, with the page headers', async () => {
    for (const path of ['/approve', '/approve/sign-in', '/approve/requests/00000000-0000-4000-8000-000000000001']) {
      const response = await fetch(`${world.issuer}${path}`, { redirect: 'manual' });
      expect(response.status).toBe(503);
      expect(response.headers.get('content-security-policy')).toContain("script-src 'none'");
      expect(await response.text()).toContain('Approval sign-in is not configured');
    }
  });

  it('a failing webhook does not break the CIBA request; the link was still created', async () => {
    const started = await client.initiateBackchannelAuthentication(agent, {
      scope: 'openid',
      login_hint: 'alice',
      authorization_details: JSON.stringify([{ type: 'delegation', actor: 'agent:a', resource: RESOURCE, scopes: ['read'], duration: 600, purpose: 'p' }]),
    });
    expect(started.auth_req_id).toEqual(expect.any(String));
    const approval = (await findApprovalByAuthReqId(world.deputy.pool, started.auth_req_id))!;
    for (let i = 0; i < 100; i++) {
      if ((await world.sql('SELECT 1 FROM approval_links WHERE approval_request_id = $1', [approval.id])).length) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    expect(await world.sql('SELECT 1 FROM approval_links WHERE approval_request_id = $1', [approval.id])).toHaveLength(1);
  });

  it('the notifier logs a failure without the link and without throwing', async () => {
    const [row] = await world.sql<{ id: string }>('SELECT id FROM approval_requests LIMIT 1');
    const approval = (await world.deputy.pool.query('SELECT auth_req_sha256 FROM approval_requests WHERE id = $1', [row!.id])).rows[0];
    expect(approval).toBeDefined();
    const lines: string[] = [];
    const logger = { warn: (obj: unknown, msg: string) => lines.push(JSON.stringify(obj) + msg) } as unknown as Logger;
    const notify = createApprovalNotifier({ pool: world.deputy.pool, logger, webhookUrl: 'https://10.0.0.1/hook', allowPrivateNetwork: false, linkBase: 'https://deputy.test/approve/link/' });
    const request = { id: row!.id, subjectId: 'alice', actorId: 'agent:a', clientId: 'app-a', bindingMessage: null, expiresAt: new Date(Date.now() + 60_000) } as never;
    await expect(notify(request)).resolves.toBeUndefined();
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain('private-network');
    expect(lines[0]).not.toContain('/approve/link/');
  });

  it('a link opened while sign-in is not configured says so and stays unused', async () => {
    const [row] = await world.sql<{ id: string }>('SELECT id FROM approval_requests LIMIT 1');
    const token = await createApprovalLink(world.deputy.pool, row!.id, new Date(Date.now() + 60_000));
    const response = await fetch(`${world.issuer}/approve/link/${token}`, { redirect: 'manual' });
    expect(response.status).toBe(503);
    expect(await response.text()).toContain('Approval sign-in is not configured');
    expect(await redeemApprovalLink(world.deputy.pool, token, new Date())).toEqual({ ok: true, approvalRequestId: row!.id });
    expect(await redeemApprovalLink(world.deputy.pool, token, new Date())).toEqual({ ok: false, reason: 'used' });
  });
});
