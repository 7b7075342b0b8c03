/**
 * The person's side of an approval request in Chromium (issue 15, item e): an agent asks over
 * CIBA (openid-client); the webhook receives the single-use approve_url; the person opens it,
 * signs in at the quickstart's demo identity provider (ISSUER/demo-idp, the same component
 * `npm start` serves) with their password, sees the request with its binding_message
 * as text, approves fewer scopes, and the agent's poll gets exactly those. Also: deny →
 * access_denied; bob cannot see alice's request; a reused link is refused; a POST without the
 * CSRF token is refused; revoking one's delegation is audited; a wrong password or an unknown
 * name signs nobody in.
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { decodeJwt, exportJWK, generateKeyPair } from 'jose';
import * as client from 'openid-client';
import { chromium, type Browser, type Page } from 'playwright-core';
import { freePort } from '../../src/db/embedded.js';
import { findApprovalByAuthReqId } from '../../src/approval/store.js';
import { createApprovalLink, redeemApprovalLink } from '../../src/approval/web/web-store.js';
import { RESOURCE, SECRETS, startExchangeWorld, type World } from '../support/exchange-world.js';
import { DEMO_IDP_PATH } from '../../src/demo/identity-provider.js';
import { trustDemoIssuer } from '../../src/demo/seed.js';

const CHROMIUM = '/usr/bin/chromium';

describe('approving in a browser', () => {
  let world: World;
  const passwords = { alice: `alice-${randomUUID()}`, bob: `bob-${randomUUID()}` };
  let agent: client.Configuration;
  let browser: Browser;
  let hook: Server;
  const notifications: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    const hookPort = await freePort();
    hook = createServer((req, res) => {
      let body = '';
      req.on('data', (chunk: Buffer) => (body += chunk.toString('utf8')));
      req.on('end', () => {
        notifications.push(JSON.parse(body) as Record<string, unknown>);
        res.statusCode = 204;
        res.end();
      });
    });
    await new Promise<void>((resolve) => hook.listen(hookPort, '127.0.0.1', resolve));
    const port = await freePort();
    const signingKey = { ...(await exportJWK((await generateKeyPair('ES256', { extractable: true })).privateKey)), kid: 'demo-idp', alg: 'ES256' };
    world = await startExchangeWorld(
      {
        PORT: String(port),
        ISSUER: `http://127.0.0.1:${port}`,
        APPROVAL_POLL_INTERVAL_S: '1',
        APPROVAL_WEBHOOK_URL: `http://127.0.0.1:${hookPort}/hook`,
        APPROVAL_ALLOW_PRIVATE_NETWORK: 'true',
      },
      undefined,
      { demoPeople: { passwords, signingKey } },
    );
    // The demo IdP is a trusted issuer of people, as the quickstart seeds it.
    await trustDemoIssuer(world.deputy.pool, world.issuer, { issuerPrivateJwk: signingKey });
    agent = await client.discovery(new URL(world.issuer), 'app-a', undefined, client.ClientSecretBasic(SECRETS['app-a']), { execute: [client.allowInsecureRequests] });
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu', '--no-first-run'] });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await world?.stop();
    await new Promise((resolve) => hook?.close(resolve));
  });

  async function ask(bindingMessage: string) {
    const before = notifications.length;
    const started = await client.initiateBackchannelAuthentication(agent, {
      scope: 'openid',
      login_hint: 'alice',
      binding_message: bindingMessage,
      authorization_details: JSON.stringify([{ type: 'delegation', actor: 'agent:a', resource: RESOURCE, scopes: ['read', 'write'], duration: 3600, purpose: 'triage the backlog' }]),
    });
    for (let i = 0; i < 100 && notifications.length === before; i++) await new Promise((r) => setTimeout(r, 50));
    const notification = notifications[before];
    if (!notification) throw new Error('no notification arrived');
    return { started, notification };
  }

  /** A fresh browser profile, at the demo IdP's sign-in page after following `url`, with `who` and `password` typed in. */
  async function signIn(who: string, password: string, url: string): Promise<Page> {
    const context = await browser.newContext();
    const page = await context.newPage();
    await page.goto(url);
    expect(page.url()).toMatch(new RegExp(`^${world.issuer}${DEMO_IDP_PATH}/interaction/`));
    await page.locator('input[name="login"]').fill(who);
    await page.locator('input[name="password"]').fill(password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    return page;
  }

  /** A fresh browser profile signed in as `who` (with their password) after following `url`. */
  async function openAs(who: keyof typeof passwords, url: string): Promise<Page> {
    const page = await signIn(who, passwords[who], url);
    await page.waitForURL((u) => u.href.startsWith(`${world.issuer}/approve`));
    return page;
  }

  it('a wrong password, another user’s password or an unknown name signs nobody in', async () => {
    for (const [who, password] of [
      ['alice', 'wrong'],
      ['alice', passwords.bob],
      ['mallory', passwords.alice],
    ] as const) {
      const page = await signIn(who, password, `${world.issuer}/approve`);
      await expect(page.getByRole('alert').textContent()).resolves.toBe('The name or the password is wrong.');
      expect(page.url()).toMatch(new RegExp(`^${world.issuer}${DEMO_IDP_PATH}/interaction/`));
      // Still signed out at Deputy: /approve sends the browser back to sign in.
      const approve = await page.request.get(`${world.issuer}/approve`, { maxRedirects: 0 });
      expect(approve.status()).toBe(303);
      expect(approve.headers().location).toMatch(/^\/approve\/sign-in/);
      await page.context().close();
    }
  }, 60_000);

  it('the person approves fewer scopes; the agent gets exactly those; the link is single-use', async () => {
    const { started, notification } = await ask('<script>x</script>');
    const approval = (await findApprovalByAuthReqId(world.deputy.pool, started.auth_req_id))!;
    expect(notification).toEqual({
      approval_request_id: approval.id,
      subject: 'alice',
      actor: 'agent:a',
      client_id: 'app-a',
      binding_message: '<script>x</script>',
      approve_url: expect.stringMatching(new RegExp(`^${world.issuer}/approve/link/[A-Za-z0-9_-]{43}$`)),
      expires_at: approval.expiresAt.toISOString(),
    });
    const linkRows = await world.sql<{ token_sha256: Buffer }>('SELECT token_sha256 FROM approval_links WHERE approval_request_id = $1', [approval.id]);
    expect(linkRows).toHaveLength(1);
    expect(linkRows[0]!.token_sha256.toString('base64url')).not.toBe(String(notification.approve_url).split('/').pop());

    const page = await openAs('alice', String(notification.approve_url));
    expect(page.url()).toBe(`${world.issuer}/approve/requests/${approval.id}`);
    // The binding message is text, not markup.
    await expect(page.locator('.binding-message').textContent()).resolves.toBe('<script>x</script>');
    expect(await page.locator('main script').count()).toBe(0);
    expect(await page.content()).toContain('&lt;script&gt;x&lt;/script&gt;');

    await page.getByRole('checkbox', { name: 'write' }).uncheck();
    await page.getByLabel(/Duration/).fill('600');
    await page.getByRole('button', { name: 'Approve' }).click();
    await expect(page.getByRole('status').textContent()).resolves.toContain('You approved the request');

    const tokens = await client.pollBackchannelAuthenticationGrant(agent, started);
    expect(tokens.scope).toBe('read');
    expect(decodeJwt(tokens.access_token)).toMatchObject({ sub: 'alice', scope: 'read', act: { sub: 'agent:a' } });
    expect(tokens.authorization_details).toEqual([expect.objectContaining({ scopes: ['read'], duration: 600 })]);

    // The link again (even signed in): refused.
    const again = await page.goto(String(notification.approve_url));
    expect(again!.status()).toBe(410);
    await expect(page.locator('main').textContent()).resolves.toContain('This link was already used.');
    await page.context().close();
  }, 60_000);

  it('an expired, unknown or used link gets a clear page (410)', async () => {
    const [row] = await world.sql<{ id: string }>('SELECT id FROM approval_requests LIMIT 1');
    const expired = await createApprovalLink(world.deputy.pool, row!.id, new Date(Date.now() - 1000));
    const used = await createApprovalLink(world.deputy.pool, row!.id, new Date(Date.now() + 60_000));
    expect(await redeemApprovalLink(world.deputy.pool, used, new Date())).toEqual({ ok: true, approvalRequestId: row!.id });
    const cases: Array<[string, string]> = [
      [expired, 'This link has expired.'],
      [used, 'This link was already used.'],
      ['A'.repeat(43), 'This link is not valid.'],
      ['short', 'This link is not valid.'],
    ];
    for (const [token, message] of cases) {
      const response = await fetch(`${world.issuer}/approve/link/${token}`, { redirect: 'manual' });
      expect(response.status).toBe(410);
      expect(await response.text()).toContain(message);
    }
  });

  it('a callback not started by this browser, or with a wrong state, signs nobody in', async () => {
    const stray = await fetch(`${world.issuer}/approve/callback?code=x&state=y`, { redirect: 'manual' });
    expect(stray.status).toBe(400);
    expect(stray.headers.get('set-cookie')).toBeNull();
    // A real sign-in started, then a callback with another state: refused, no session.
    const start = await fetch(`${world.issuer}/approve/sign-in`, { redirect: 'manual' });
    const cookie = start.headers.get('set-cookie')!.split(';')[0]!;
    expect(new URL(start.headers.get('location')!).searchParams.get('code_challenge_method')).toBe('S256');
    const wrong = await fetch(`${world.issuer}/approve/callback?code=x&state=not-the-state&iss=${encodeURIComponent(`${world.issuer}${DEMO_IDP_PATH}`)}`, { headers: { cookie }, redirect: 'manual' });
    expect(wrong.status).toBe(401);
    const after = await fetch(`${world.issuer}/approve`, { headers: { cookie }, redirect: 'manual' });
    expect(after.status).toBe(303);
    expect(after.headers.get('location')).toMatch(/^\/approve\/sign-in/);
  });

  it('a denial reaches the agent as access_denied', async () => {
    const { started, notification } = await ask('DENY1');
    const page = await openAs('alice', String(notification.approve_url));
    await page.getByRole('button', { name: 'Deny' }).click();
    await expect(page.getByRole('status').textContent()).resolves.toContain('You denied the request');
    await expect(client.pollBackchannelAuthenticationGrant(agent, started)).rejects.toMatchObject({ error: 'access_denied' });
    await page.context().close();
  }, 60_000);

  it("bob sees nothing of alice's request; a POST without the CSRF token changes nothing", async () => {
    const { started, notification } = await ask('BOB1');
    const approval = (await findApprovalByAuthReqId(world.deputy.pool, started.auth_req_id))!;
    // bob uses alice's link: after his sign-in the request is a 404 for him, and not in his list.
    const page = await openAs('bob', String(notification.approve_url));
    const response = await page.goto(`${world.issuer}/approve/requests/${approval.id}`);
    expect(response!.status()).toBe(404);
    expect(await page.content()).not.toContain('BOB1');
    await page.goto(`${world.issuer}/approve`);
    await expect(page.locator('main').textContent()).resolves.toContain('No request is waiting for you.');
    // bob's approve with his own valid CSRF token: still a 404, nothing decided.
    const csrf = await page.locator('input[name="_csrf"]').first().getAttribute('value');
    const forged = await page.request.post(`${world.issuer}/approve/requests/${approval.id}/approve`, {
      form: { _csrf: csrf!, scope: 'read', duration: '60' },
      headers: { origin: world.issuer },
    });
    expect(forged.status()).toBe(404);
    // Without the CSRF token: refused.
    const noCsrf = await page.request.post(`${world.issuer}/approve/requests/${approval.id}/deny`, { form: { x: '1' }, headers: { origin: world.issuer } });
    expect(noCsrf.status()).toBe(403);
    expect((await findApprovalByAuthReqId(world.deputy.pool, started.auth_req_id))!.status).toBe('pending');
    await page.context().close();

    // alice, signed in, also cannot act without the token.
    const alice = await openAs('alice', `${world.issuer}/approve`);
    await expect(alice.locator('main').textContent()).resolves.toContain('agent:a asks for read write');
    const refused = await alice.request.post(`${world.issuer}/approve/requests/${approval.id}/approve`, { form: { scope: 'read', duration: '60' }, headers: { origin: world.issuer } });
    expect(refused.status()).toBe(403);
    expect((await findApprovalByAuthReqId(world.deputy.pool, started.auth_req_id))!.status).toBe('pending');
    await alice.context().close();
  }, 60_000);

  it('the person revokes a delegation of theirs, audited; not another person’s', async () => {
    const [grant] = await world.sql<{ id: string }>(
      `INSERT INTO delegation_grants (subject_id, actor_id, resource_uri, scopes) VALUES ('alice', 'agent:b', $1, ARRAY['read']) RETURNING id`,
      [RESOURCE],
    );
    const [bobs] = await world.sql<{ id: string }>(
      `INSERT INTO delegation_grants (subject_id, actor_id, resource_uri, scopes) VALUES ('bob', 'agent:b', $1, ARRAY['read']) RETURNING id`,
      [RESOURCE],
    );
    const page = await openAs('alice', `${world.issuer}/approve/delegations`);
    expect(await page.content()).not.toContain(bobs!.id);
    const csrf = await page.locator('input[name="_csrf"]').first().getAttribute('value');
    const other = await page.request.post(`${world.issuer}/approve/delegations/${bobs!.id}/revoke`, { form: { _csrf: csrf! }, headers: { origin: world.issuer } });
    expect(other.status()).toBe(404);
    await page.locator(`form[action="/approve/delegations/${grant!.id}/revoke"] button`).click();
    await expect(page.getByRole('status').textContent()).resolves.toContain('The delegation is revoked');
    const rows = await world.sql<{ id: string; revoked_at: Date | null }>('SELECT id, revoked_at FROM delegation_grants WHERE id = ANY($1)', [[grant!.id, bobs!.id]]);
    expect(rows.find((r) => r.id === grant!.id)!.revoked_at).not.toBeNull();
    expect(rows.find((r) => r.id === bobs!.id)!.revoked_at).toBeNull();
    const [event] = await world.sql(`SELECT type, subject_id, grant_id, details FROM audit_events WHERE type = 'grant.revoked' AND grant_id = $1`, [grant!.id]);
    expect(event).toMatchObject({ subject_id: 'alice', details: { revoked_by: 'alice' } });
    await page.context().close();
  }, 60_000);
});
