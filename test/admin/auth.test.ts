/**
 * Who may call /admin/v1: the bootstrap token, or a deputy:admin client_credentials token.
 */
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { TestDeputy } from '../support/deputy.js';
import { adminClient, clientCredentialsToken, startAdminDeputy, type Admin } from './support.js';

describe('admin API authentication', () => {
  let deputy: TestDeputy;
  let admin: Admin;
  let plainSecret: string;
  let adminSecret: string;

  beforeAll(async () => {
    ({ deputy, admin } = await startAdminDeputy());
    const plain = await admin.post('/clients', { client_id: 'plain-app', scope: '' });
    const adminClientReply = await admin.post('/clients', { client_id: 'ops-cli', scope: 'deputy:admin' });
    expect([plain.status, adminClientReply.status]).toEqual([201, 201]);
    plainSecret = plain.body.client_secret;
    adminSecret = adminClientReply.body.client_secret;
  });

  /** POSTs client_credentials for `clientId`; returns the HTTP status (the token is not kept). */
  async function tokenRequestStatus(clientId: string, secret: string, scope: string): Promise<number> {
    const response = await fetch(`${deputy.url}/token`, {
      method: 'POST',
      headers: { authorization: `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'client_credentials', scope }),
    });
    return response.status;
  }
  afterAll(async () => {
    await deputy.stop();
  });

  it('refuses a request without credentials: 401 with a Bearer challenge', async () => {
    const reply = await adminClient(deputy.url, null).get('/subjects');
    expect(reply.status).toBe(401);
    expect(reply.headers.get('www-authenticate')).toMatch(/^Bearer /);
    expect(reply.body).toMatchObject({ error: 'invalid_token' });
  });

  it.each([
    ['a wrong bearer token', 'Bearer ' + 'y'.repeat(40)],
    ['the bootstrap token under another scheme', 'Basic ' + 'x'.repeat(40)],
    ['a bearer token with a suffix', 'Bearer ' + 'x'.repeat(41)],
    ['an empty bearer', 'Bearer '],
  ])('refuses %s with 401', async (_label, authorization) => {
    const reply = await adminClient(deputy.url, null).raw('/subjects', { headers: { authorization } });
    expect(reply.status).toBe(401);
    expect(reply.headers.get('www-authenticate')).toContain('error="invalid_token"');
  });

  it('never accepts a JWT (e.g. a delegated token), whatever it claims', async () => {
    const part = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
    const jwt = `${part({ alg: 'ES256', typ: 'at+jwt' })}.${part({ sub: 'alice', scope: 'deputy:admin', iss: deputy.config.ISSUER })}.${'s'.repeat(86)}`;
    const reply = await adminClient(deputy.url, jwt).get('/subjects');
    expect(reply.status).toBe(401);
  });

  it('accepts the bootstrap token', async () => {
    const reply = await admin.get('/subjects');
    expect(reply.status).toBe(200);
    expect(reply.body).toEqual({ items: [], next_cursor: null });
  });

  it('a client without deputy:admin cannot obtain an admin token at all', async () => {
    expect(await tokenRequestStatus('plain-app', plainSecret, 'deputy:admin')).not.toBe(200);
  });

  it('answers 403 to a valid client token without deputy:admin', async () => {
    // An admin client's token issued without the scope (none requested) is valid but not admin.
    const token = await clientCredentialsToken(deputy, 'ops-cli', adminSecret);
    const reply = await adminClient(deputy.url, token).get('/subjects');
    expect(reply.status).toBe(403);
    expect(reply.body).toMatchObject({ error: 'insufficient_scope' });
    expect(reply.headers.get('www-authenticate')).toContain('scope="deputy:admin"');
  });

  it('accepts a deputy:admin client_credentials token and records the client as the admin', async () => {
    const token = await clientCredentialsToken(deputy, 'ops-cli', adminSecret, 'deputy:admin');
    const ops = adminClient(deputy.url, token);
    expect((await ops.get('/subjects')).status).toBe(200);
    expect((await ops.post('/subjects', { id: 'carol' })).status).toBe(201);

    const events = await admin.get('/audit?type=subject.created');
    expect(events.body.items[0]).toMatchObject({ subject: 'carol', admin: 'client:ops-cli' });
  });

  it('a deputy:admin token stops working as soon as its client loses the scope', async () => {
    expect((await admin.post('/clients', { client_id: 'temp-admin', scope: 'deputy:admin' })).status).toBe(201);
    const secret = (await admin.post('/clients/temp-admin/secret')).body.client_secret;
    const token = await clientCredentialsToken(deputy, 'temp-admin', secret, 'deputy:admin');
    const temp = adminClient(deputy.url, token);
    expect((await temp.get('/actors')).status).toBe(200);

    expect((await admin.patch('/clients/temp-admin', { scope: '' })).status).toBe(200);
    expect((await temp.get('/actors')).status).toBe(401); // its tokens are deleted with the scope
  });

  it('refuses an opaque token that is unknown or expired', async () => {
    const token = await clientCredentialsToken(deputy, 'ops-cli', adminSecret, 'deputy:admin');
    expect((await adminClient(deputy.url, `${token}x`).get('/subjects')).status).toBe(401);

    const storedId = createHash('sha256').update(token).digest('base64url');
    const expired = await deputy.pool.query(`UPDATE oidc_payloads SET expires_at = now() - interval '1 second' WHERE id = $1`, [storedId]);
    expect(expired.rowCount).toBe(1);
    expect((await adminClient(deputy.url, token).get('/subjects')).status).toBe(401);
  });

  it('serves openapi.json without credentials, and nothing else', async () => {
    const anonymous = adminClient(deputy.url, null);
    expect((await anonymous.get('/openapi.json')).status).toBe(200);
    expect((await anonymous.get('/audit/verify')).status).toBe(401);
    expect((await anonymous.post('/subjects', { id: 'mallory' })).status).toBe(401);
  });
});
