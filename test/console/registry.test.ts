/**
 * The console's registry pages: writes go through the admin API (its validation messages next
 * to the fields, its audit events), and a client's secret is shown once.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { ADMIN_TOKEN, startAdminDeputy, type Admin } from '../admin/support.js';
import type { TestDeputy } from '../support/deputy.js';
import { ConsoleClient } from './support.js';

describe('console registry', () => {
  let deputy: TestDeputy;
  let admin: Admin;
  let db: pg.Pool;
  let browser: ConsoleClient;

  beforeAll(async () => {
    ({ deputy, admin } = await startAdminDeputy());
    db = new pg.Pool({ connectionString: deputy.database.url, max: 2 });
    browser = new ConsoleClient(deputy.url);
    expect((await browser.signIn(ADMIN_TOKEN)).status).toBe(303);
  });
  afterAll(async () => {
    await db?.end();
    await deputy?.stop();
  });

  const csrf = async (path: string) => ConsoleClient.csrfOf(await browser.get(path));
  const secretOn = (text: string) => /<p class="mono" id="client-secret">([A-Za-z0-9_-]+)<\/p>/.exec(text)?.[1];

  it('creates a client and shows its secret once; the secret signs in; rotating shows a new one and retires the old', async () => {
    const created = await browser.post('/console/registry/clients', { _csrf: await csrf('/console/registry/clients'), client_id: 'ops-two', scope: 'deputy:admin' });
    expect(created.status).toBe(201);
    const secret = secretOn(created.text)!;
    expect(secret).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await browser.get('/console/registry/clients')).text).not.toContain(secret);
    const [event] = (await db.query("SELECT admin FROM audit_events WHERE type = 'client.created' AND client_id = 'ops-two'")).rows;
    expect(event).toEqual({ admin: 'bootstrap' });
    expect((await new ConsoleClient(deputy.url).signIn(secret, 'ops-two')).status).toBe(303);

    const rotated = await browser.post('/console/registry/clients/ops-two/secret', { _csrf: await csrf('/console/registry/clients') });
    expect(rotated.status).toBe(200);
    const next = secretOn(rotated.text)!;
    expect(next).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(next).not.toBe(secret);
    expect((await new ConsoleClient(deputy.url).signIn(secret, 'ops-two')).status).toBe(401);
    expect((await new ConsoleClient(deputy.url).signIn(next, 'ops-two')).status).toBe(303);
  });

  it('shows the admin API\'s validation message next to the field, and creates nothing', async () => {
    const reply = await browser.post('/console/registry/subjects', { _csrf: await csrf('/console/registry/subjects'), id: 'has space' });
    expect(reply.status).toBe(400);
    expect(reply.text).toContain('<span class="field-error" id="err-id">must be 1-255 printable ASCII characters without spaces</span>');
    expect(reply.text).toContain('value="has space"');
    expect((await db.query("SELECT 1 FROM subjects WHERE id = 'has space'")).rowCount).toBe(0);

    const duplicate = await browser.post('/console/registry/resources', { _csrf: await csrf('/console/registry/resources'), uri: 'https://api.example.com/x', scopes: 'read' });
    expect(duplicate.status).toBe(201);
    const again = await browser.post('/console/registry/resources', { _csrf: await csrf('/console/registry/resources'), uri: 'https://api.example.com/x', scopes: 'read' });
    expect(again.status).toBe(409);
    expect(again.text).toContain('a resource with this uri already exists');
  });

  it('edits a resource\'s scopes and a subject\'s email through the API, audited', async () => {
    const [resource] = (await db.query<{ id: string }>("SELECT id FROM resources WHERE uri = 'https://api.example.com/x'")).rows;
    const editPath = `/console/registry/resources/${resource!.id}/edit`;
    const form = await browser.get(editPath);
    expect(form.text).toContain('value="read"');
    const bad = await browser.post(editPath, { _csrf: ConsoleClient.csrfOf(form), scopes: 'read bad"scope' });
    expect(bad.status).toBe(400);
    expect(bad.text).toMatch(/<span class="field-error" id="err-scopes">[^<]+<\/span>/);
    const saved = await browser.post(editPath, { _csrf: ConsoleClient.csrfOf(form), scopes: 'read write' });
    expect(saved.status).toBe(200);
    expect((await db.query('SELECT scopes FROM resources WHERE id = $1', [resource!.id])).rows[0]).toEqual({ scopes: ['read', 'write'] });
    expect((await db.query("SELECT admin FROM audit_events WHERE type = 'resource.updated'")).rows).toEqual([{ admin: 'bootstrap' }]);

    expect((await admin.post('/subjects', { id: 'frank' })).status).toBe(201);
    const subjectForm = await browser.get('/console/registry/subjects/frank/edit');
    const email = await browser.post('/console/registry/subjects/frank/edit', { _csrf: ConsoleClient.csrfOf(subjectForm), email: 'frank@example.com' });
    expect(email.status).toBe(200);
    expect((await admin.get('/subjects/frank')).body.email).toBe('frank@example.com');
  });

  it('trusts an issuer, shows the API\'s message for a bad inline JWKS, edits it, and stops trusting it', async () => {
    const token = await csrf('/console/registry/issuers');
    const bad = await browser.post('/console/registry/issuers', { _csrf: token, issuer: 'https://idp.example.com', kind: 'user', audience: 'deputy', jwks: '{"keys": "nope"}' });
    expect(bad.status).toBe(400);
    expect(bad.text).toMatch(/<span class="field-error" id="err-jwks">[^<]+<\/span>/);
    const created = await browser.post('/console/registry/issuers', { _csrf: token, issuer: 'https://idp.example.com', kind: 'user', audience: 'deputy', jwks_uri: 'https://idp.example.com/jwks' });
    expect(created.status).toBe(201);
    const [issuer] = (await db.query<{ id: string }>("SELECT id FROM trusted_issuers WHERE issuer = 'https://idp.example.com'")).rows;
    const edit = await browser.post(`/console/registry/issuers/${issuer!.id}/edit`, { _csrf: token, audience: 'deputy-2', subject_claim: 'sub', jwks_uri: 'https://idp.example.com/keys' });
    expect(edit.status).toBe(200);
    expect((await admin.get(`/issuers/${issuer!.id}`)).body).toMatchObject({ audience: 'deputy-2', jwks_uri: 'https://idp.example.com/keys' });
    expect((await browser.get(`/console/registry/issuers/${issuer!.id}/delete`)).text).toContain('Deputy will refuse every user token from');
    expect((await browser.post(`/console/registry/issuers/${issuer!.id}/delete`, { _csrf: token })).status).toBe(200);
    expect((await admin.get(`/issuers/${issuer!.id}`)).status).toBe(404);
    expect((await db.query("SELECT admin FROM audit_events WHERE type LIKE 'issuer.%' ORDER BY id")).rows).toEqual([{ admin: 'bootstrap' }, { admin: 'bootstrap' }, { admin: 'bootstrap' }]);
  });

  it('disables and re-enables a subject', async () => {
    const token = await csrf('/console/registry/subjects');
    expect((await browser.post('/console/registry/subjects/frank/status', { _csrf: token, status: 'disabled' })).status).toBe(200);
    expect((await admin.get('/subjects/frank')).body.status).toBe('disabled');
    expect((await browser.post('/console/registry/subjects/frank/status', { _csrf: token, status: 'active' })).status).toBe(200);
    expect((await admin.get('/subjects/frank')).body.status).toBe('active');
  });

  it('withdraws an entitlement after a confirmation that says what it stops, through the admin API (audited)', async () => {
    await admin.post('/subjects', { id: 'wendy' });
    await admin.post('/resources', { uri: 'https://withdraw.example', scopes: ['read'] });
    const { body: entitlement } = await admin.post('/entitlements', { subject: 'wendy', resource: 'https://withdraw.example', scope: 'read' });
    const list = await browser.get('/console/registry/entitlements');
    expect(list.text).toContain(`/console/registry/entitlements/${entitlement.id}/withdraw`);
    const confirm = await browser.get(`/console/registry/entitlements/${entitlement.id}/withdraw`);
    expect(confirm.status).toBe(200);
    expect(confirm.text).toContain('from now on no exchange grants it');

    const refused = await browser.post(`/console/registry/entitlements/${entitlement.id}/withdraw`, { _csrf: 'forged' });
    expect(refused.status).toBe(403);
    expect((await db.query('SELECT count(*)::int AS n FROM entitlements WHERE id = $1', [entitlement.id])).rows[0]).toEqual({ n: 1 });

    const withdrawn = await browser.post(`/console/registry/entitlements/${entitlement.id}/withdraw`, { _csrf: ConsoleClient.csrfOf(confirm) });
    expect(withdrawn.status).toBe(200);
    expect(withdrawn.text).toContain('The entitlement is withdrawn.');
    expect((await db.query('SELECT count(*)::int AS n FROM entitlements WHERE id = $1', [entitlement.id])).rows[0]).toEqual({ n: 0 });
    const [event] = (await db.query("SELECT admin FROM audit_events WHERE type = 'entitlement.deleted' AND subject_id = 'wendy'")).rows;
    expect(event).toEqual({ admin: 'bootstrap' });
  });
});
