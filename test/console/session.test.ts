/**
 * The console's sign-in, session, CSRF and headers, over HTTP (issue 12). The browser flows are
 * in browser.test.ts.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { ADMIN_TOKEN, startAdminDeputy, type Admin } from '../admin/support.js';
import { startTestDeputy, type TestDeputy } from '../support/deputy.js';
import { ConsoleClient } from './support.js';

const CSP = "default-src 'self'; script-src 'none'; style-src 'self'; img-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

describe('console sign-in, sessions and CSRF', () => {
  let deputy: TestDeputy;
  let admin: Admin;
  let db: pg.Pool;
  let opsSecret: string;

  beforeAll(async () => {
    ({ deputy, admin } = await startAdminDeputy());
    db = new pg.Pool({ connectionString: deputy.database.url, max: 2 });
    expect((await admin.post('/subjects', { id: 'carol' })).status).toBe(201);
    expect((await admin.post('/actors', { id: 'agent:mailer', kind: 'agent', owner: 'carol' })).status).toBe(201);
    const ops = await admin.post('/clients', { client_id: 'ops-console', scope: 'deputy:admin' });
    expect(ops.status).toBe(201);
    opsSecret = ops.body.client_secret;
  });
  afterAll(async () => {
    await db?.end();
    await deputy?.stop();
  });

  const actorStatus = async (id: string) => (await db.query<{ status: string }>('SELECT status FROM actors WHERE id = $1', [id])).rows[0]?.status;
  const events = async (type: string) => (await db.query<{ admin: string | null }>('SELECT admin FROM audit_events WHERE type = $1 ORDER BY id', [type])).rows;

  it('sends a visitor without a session to the sign-in page, which carries the strict CSP', async () => {
    const browser = new ConsoleClient(deputy.url);
    const home = await browser.get('/console');
    expect(home.status).toBe(303);
    expect(home.headers.get('location')).toBe('/console/sign-in');
    const signIn = await browser.get('/console/sign-in');
    expect(signIn.status).toBe(200);
    expect(signIn.headers.get('content-security-policy')).toBe(CSP);
    expect(signIn.headers.get('x-frame-options')).toBe('DENY');
    expect(signIn.headers.get('x-content-type-options')).toBe('nosniff');
    expect(signIn.text).toContain('<form method="post" action="/console/sign-in">');
    expect(signIn.text).not.toMatch(/<script|style=/);
  });

  it('refuses a wrong credential with a clear message, echoing nothing of the secret', async () => {
    const browser = new ConsoleClient(deputy.url);
    const wrongSecret = 'not-the-secret-' + 'q'.repeat(30);
    for (const reply of [await browser.signIn(wrongSecret), await browser.signIn(wrongSecret, 'ops-console'), await browser.signIn(opsSecret, 'no-such-client')]) {
      expect(reply.status).toBe(401);
      expect(reply.text).toContain('These credentials do not sign in an admin');
      expect(reply.text).not.toContain(wrongSecret);
      expect(reply.text).not.toContain(opsSecret);
      expect(reply.headers.get('set-cookie')).toBeNull();
    }
    expect(browser.cookie).toBe('');
  });

  it('refuses a client without deputy:admin, even with its right secret', async () => {
    const plain = await admin.post('/clients', { client_id: 'plain-console', scope: '' });
    const reply = await new ConsoleClient(deputy.url).signIn(plain.body.client_secret, 'plain-console');
    expect(reply.status).toBe(401);
  });

  it('signs in with the bootstrap token: an HttpOnly SameSite=Strict session cookie that is not the credential, and an audit event', async () => {
    const browser = new ConsoleClient(deputy.url);
    const reply = await browser.signIn(ADMIN_TOKEN);
    expect(reply.status).toBe(303);
    expect(reply.headers.get('location')).toBe('/console');
    const setCookie = reply.headers.get('set-cookie')!;
    expect(setCookie).toMatch(/^deputy-console=[A-Za-z0-9_-]{43}; Path=\/console; Max-Age=28800; HttpOnly; SameSite=Strict$/);
    expect(setCookie).not.toContain(ADMIN_TOKEN);
    const { rows } = await db.query<{ admin: string; id_sha256: Buffer }>('SELECT admin, id_sha256 FROM console_sessions');
    expect(rows.map((r) => r.admin)).toContain('bootstrap');
    expect(rows.every((r) => r.id_sha256.length === 32)).toBe(true);
    expect(await events('console.signed_in')).toContainEqual({ admin: 'bootstrap' });
    const overview = await browser.get('/console');
    expect(overview.status).toBe(200);
    expect(overview.text).toContain('Signed in as <strong>bootstrap</strong>');
    expect(overview.headers.get('cache-control')).toBe('no-store');
  });

  it('refuses a state change without the CSRF token, with a wrong one, or from another origin: 403 and nothing changed', async () => {
    const browser = new ConsoleClient(deputy.url);
    await browser.signIn(ADMIN_TOKEN);
    const actorPage = await browser.get('/console/actors/agent%3Amailer');
    expect(actorPage.status).toBe(200);
    const csrf = ConsoleClient.csrfOf(actorPage);
    const updatesBefore = (await events('actor.updated')).length;

    const attempts = [
      await browser.post('/console/actors/agent%3Amailer/status', { status: 'disabled' }),
      await browser.post('/console/actors/agent%3Amailer/status', { status: 'disabled', _csrf: csrf.slice(0, -2) + 'xx' }),
      await browser.post('/console/actors/agent%3Amailer/status', { status: 'disabled', _csrf: csrf }, { origin: 'https://evil.example' }),
      await browser.post('/console/actors/agent%3Amailer/status', { status: 'disabled', _csrf: csrf }, { 'sec-fetch-site': 'cross-site' }),
      await new ConsoleClient(deputy.url).post('/console/actors/agent%3Amailer/status', { status: 'disabled', _csrf: csrf }),
    ];
    expect(attempts.map((reply) => reply.status)).toEqual([403, 403, 403, 403, 403]);
    for (const reply of attempts) {
      expect(reply.text).toContain('nothing was changed');
    }
    expect(await actorStatus('agent:mailer')).toBe('active');
    expect((await events('actor.updated')).length).toBe(updatesBefore);

    const done = await browser.post('/console/actors/agent%3Amailer/status', { status: 'disabled', _csrf: csrf });
    expect(done.status).toBe(303);
    expect(await actorStatus('agent:mailer')).toBe('disabled');
    // The admin API's own audit event, naming the admin, as a PATCH /admin/v1/actors would.
    expect((await events('actor.updated')).at(-1)).toEqual({ admin: 'bootstrap' });
    await admin.patch('/actors/agent:mailer', { status: 'active' });
  });

  it('shows the admin API\'s validation message for a bad filter, as a 400 page', async () => {
    const browser = new ConsoleClient(deputy.url);
    await browser.signIn(ADMIN_TOKEN);
    const reply = await browser.get('/console/actors?expiring_before=tomorrow');
    expect(reply.status).toBe(400);
    expect(reply.text).toContain('query.expiring_before');
  });

  it('signs in an admin client by id and secret; rotating its secret or withdrawing deputy:admin ends the session', async () => {
    const browser = new ConsoleClient(deputy.url);
    expect((await browser.signIn(opsSecret, 'ops-console')).status).toBe(303);
    expect((await browser.get('/console/actors')).status).toBe(200);
    // A change made through the console names the client as the admin.
    const subjects = await browser.get('/console/registry/subjects');
    const created = await browser.post('/console/registry/subjects', { id: 'dave', _csrf: ConsoleClient.csrfOf(subjects) });
    expect(created.status).toBe(201);
    const [event] = (await db.query('SELECT admin, subject_id FROM audit_events WHERE type = $1', ['subject.created'])).rows.filter((r) => r.subject_id === 'dave');
    expect(event).toEqual({ admin: 'client:ops-console', subject_id: 'dave' });

    const rotated = await admin.post('/clients/ops-console/secret');
    expect(rotated.status).toBe(200);
    opsSecret = rotated.body.client_secret;
    const after = await browser.get('/console/actors');
    expect(after.status).toBe(303);
    expect(after.headers.get('location')).toBe('/console/sign-in');

    const again = new ConsoleClient(deputy.url);
    expect((await again.signIn(opsSecret, 'ops-console')).status).toBe(303);
    expect((await again.get('/console/actors')).status).toBe(200);
    expect((await admin.patch('/clients/ops-console', { scope: '' })).status).toBe(200);
    expect((await again.get('/console/actors')).status).toBe(303);
    await admin.patch('/clients/ops-console', { scope: 'deputy:admin' });
  });

  it('ends a session at its expiry', async () => {
    const browser = new ConsoleClient(deputy.url);
    await browser.signIn(ADMIN_TOKEN);
    expect((await browser.get('/console/tokens')).status).toBe(200);
    await db.query(`UPDATE console_sessions SET expires_at = now() - interval '1 second'`);
    const reply = await browser.get('/console/tokens');
    expect(reply.status).toBe(303);
    expect(reply.headers.get('location')).toBe('/console/sign-in');
  });

  it('signs out: the cookie is cleared, the session deleted and the old cookie refused', async () => {
    const browser = new ConsoleClient(deputy.url);
    await browser.signIn(ADMIN_TOKEN);
    const overview = await browser.get('/console');
    const csrf = ConsoleClient.csrfOf(overview);
    const oldCookie = browser.cookie;
    const out = await browser.post('/console/sign-out', { _csrf: csrf });
    expect(out.status).toBe(303);
    expect(out.headers.get('location')).toBe('/console/sign-in?signed_out=1');
    expect(out.headers.get('set-cookie')).toMatch(/^deputy-console=; .*Max-Age=0/);
    expect(await events('console.signed_out')).toContainEqual({ admin: 'bootstrap' });

    const replay = new ConsoleClient(deputy.url);
    replay.cookie = oldCookie;
    expect((await replay.get('/console/actors')).status).toBe(303);
    const refused = await replay.post('/console/actors/agent%3Amailer/status', { status: 'disabled', _csrf: csrf });
    expect(refused.status).toBe(403);
    expect(await actorStatus('agent:mailer')).toBe('active');
  });

  it('shows the audit chain\'s status on the overview once verified', async () => {
    const browser = new ConsoleClient(deputy.url);
    await browser.signIn(ADMIN_TOKEN);
    const status = async () => /<p id="chain-status">([\s\S]*?)<\/p>/.exec((await browser.get('/console')).text)?.[1] ?? '';
    expect(await status()).toContain('not verified');
    const verified = await browser.get('/console/audit/verify');
    expect(verified.text).toContain('The audit log is intact.');
    const { rows } = await db.query<{ n: number }>('SELECT count(*)::int AS n FROM audit_events');
    expect(await status()).toMatch(new RegExp(`intact</span> ${rows[0]!.n} events, verified at .* UTC by bootstrap`));
  });

  it('answers an oversized or unreadable form with a plain page, never a stack or a 500', async () => {
    const browser = new ConsoleClient(deputy.url);
    await browser.signIn(ADMIN_TOKEN);
    const csrf = ConsoleClient.csrfOf(await browser.get('/console'));
    const big = await browser.post('/console/grants', { _csrf: csrf, subject: 'x'.repeat(40_000) });
    expect(big.status).toBe(413);
    expect(big.headers.get('content-security-policy')).toBe(CSP);
    expect(big.text).toContain('The form is too large.');
    const garbled = await browser.send('/console/sign-in', {
      method: 'POST',
      body: 'client_id=%E0%A4%A&secret=x',
      headers: { 'content-type': 'application/x-www-form-urlencoded', origin: deputy.url },
    });
    expect([400, 401]).toContain(garbled.status);
    for (const reply of [big, garbled]) expect(reply.text).not.toMatch(/ at |node_modules|Error:/);
  });

  it('serves its stylesheet itself, under the same CSP', async () => {
    const css = await new ConsoleClient(deputy.url).get('/console/assets/console.css');
    expect(css.status).toBe(200);
    expect(css.headers.get('content-type')).toBe('text/css; charset=utf-8');
    expect(css.headers.get('content-security-policy')).toBe(CSP);
    expect(css.text).not.toMatch(/url\(|@import/);
  });
});

describe('console cookie when ISSUER is https', () => {
  let deputy: TestDeputy;
  beforeAll(async () => {
    deputy = await startTestDeputy({ DEPUTY_ADMIN_TOKEN: ADMIN_TOKEN, ISSUER: 'https://deputy.example' });
  });
  afterAll(async () => {
    await deputy?.stop();
  });

  it('is Secure and __Host- prefixed', async () => {
    const reply = await new ConsoleClient(deputy.url).post('/console/sign-in', { client_id: '', secret: ADMIN_TOKEN }, { origin: 'https://deputy.example' });
    expect(reply.status).toBe(303);
    expect(reply.headers.get('set-cookie')).toMatch(/^__Host-deputy-console=[A-Za-z0-9_-]{43}; Path=\/; Max-Age=28800; HttpOnly; SameSite=Strict; Secure$/);
  });
});
