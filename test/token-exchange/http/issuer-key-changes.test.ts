/**
 * Review item 9: an IdP drops a key; once the admin edits, deletes (and re-creates) the issuer,
 * or asks for a refresh, a token signed with the dropped key is refused — in every Deputy
 * process on the database, not only the one the admin called. Two processes share one
 * database here; the JWKS endpoint is a loopback server (JWKS_ALLOW_PRIVATE_NETWORK=true) with
 * a long cooldown, so without the fix the dropped key would stay cached for a minute.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { GRANT_TYPE, RESOURCE, TT, makeKeyPair, startExchangeWorld, type HttpResult, type KeyPair, type World } from '../../support/exchange-world.js';
import { startTestDeputy, type TestDeputy } from '../../support/deputy.js';
import { postToken } from '../../support/hostile.js';
import { adminClient, ADMIN_TOKEN, type Admin } from '../../admin/support.js';
import { until } from '../../support/wait.js';

const IDP = 'https://rotating-idp.test';
const ENV = { JWKS_ALLOW_PRIVATE_NETWORK: 'true', JWKS_COOLDOWN_MS: '60000', DEPUTY_ADMIN_TOKEN: ADMIN_TOKEN };

describe('issuer changes drop its fetched keys everywhere', () => {
  let w: World;
  let other: TestDeputy;
  let admin: Admin;
  let jwksServer: Server;
  let jwksUrl: string;
  let published: KeyPair[];
  let requests = 0;
  let kept: KeyPair;
  let dropped: KeyPair;
  let issuerId: string;

  beforeAll(async () => {
    kept = await makeKeyPair('kept-key');
    dropped = await makeKeyPair('dropped-key');
    jwksServer = createServer((_req, res) => {
      requests += 1;
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: published.map((k) => k.publicJwk) }));
    });
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    jwksUrl = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}/jwks`;
    w = await startExchangeWorld(ENV);
    other = await startTestDeputy({ ...ENV, ISSUER: w.issuer, CLIENT_SECRET_PEPPER: w.deputy.config.CLIENT_SECRET_PEPPER! }, w.deputy.database);
    admin = adminClient(w.deputy.url);
  });

  afterAll(async () => {
    await other?.stop();
    await w?.stop();
    jwksServer?.closeAllConnections();
    await new Promise<void>((resolve) => (jwksServer ? jwksServer.close(() => resolve()) : resolve()));
  });

  /** An exchange of a token from the rotating IdP signed with `key`, sent to `deputy`. */
  async function exchangeVia(deputy: TestDeputy, key: KeyPair): Promise<HttpResult> {
    const token = await w.userToken('alice', { claims: { iss: IDP }, header: { kid: key.kid }, key: key.privateKey });
    return postToken({ ...w, deputy }, { grant_type: GRANT_TYPE, subject_token: token, subject_token_type: TT.jwt, resource: RESOURCE, scope: 'read' });
  }

  /** Registers the IdP publishing both keys and warms both processes' caches with the soon-dropped key. */
  async function trustWithBothKeysCached(): Promise<void> {
    published = [kept, dropped];
    const created = await admin.post('/issuers', { issuer: IDP, jwks_uri: jwksUrl, audience: w.issuer, kind: 'user', algorithms: ['ES256'] });
    expect(created.status).toBe(201);
    issuerId = created.body.id;
    for (const deputy of [w.deputy, other]) expect((await exchangeVia(deputy, dropped)).status).toBe(200);
    published = [kept]; // the IdP drops a key
    // Still cached (within the cooldown): this is what the issuer change must end.
    for (const deputy of [w.deputy, other]) expect((await exchangeVia(deputy, dropped)).status).toBe(200);
  }

  async function expectDroppedKeyRefusedEverywhere(): Promise<void> {
    for (const deputy of [w.deputy, other]) {
      await until(async () => (await exchangeVia(deputy, dropped)).status === 400, 'the dropped key to be refused', 5000, 50);
      const refused = await exchangeVia(deputy, dropped);
      expect(refused.json).toMatchObject({ error: 'invalid_request' });
      expect(refused.json.access_token).toBeUndefined();
      expect((await exchangeVia(deputy, kept)).status).toBe(200);
    }
  }

  it('after the admin edits the issuer', async () => {
    await trustWithBothKeysCached();
    const edited = await admin.patch(`/issuers/${issuerId}`, { algorithms: ['ES256', 'ES384'] });
    expect(edited.status).toBe(200);
    await expectDroppedKeyRefusedEverywhere();
    expect((await admin.delete(`/issuers/${issuerId}`)).status).toBe(204);
  });

  it('after the admin deletes and re-creates the issuer with the same jwks_uri', async () => {
    await trustWithBothKeysCached();
    expect((await admin.delete(`/issuers/${issuerId}`)).status).toBe(204);
    const again = await admin.post('/issuers', { issuer: IDP, jwks_uri: jwksUrl, audience: w.issuer, kind: 'user', algorithms: ['ES256'] });
    expect(again.status).toBe(201);
    issuerId = again.body.id;
    await expectDroppedKeyRefusedEverywhere();
    expect((await admin.delete(`/issuers/${issuerId}`)).status).toBe(204);
  });

  it('after POST /admin/v1/issuers/:id/refresh (audited), at once in the process that answered it', async () => {
    await trustWithBothKeysCached();
    const before = requests;
    const refreshed = await admin.post(`/issuers/${issuerId}/refresh`);
    expect(refreshed.status).toBe(200);
    expect(refreshed.body).toEqual({ id: issuerId, issuer: IDP, kind: 'user', kids: ['kept-key'] });
    expect(requests).toBeGreaterThan(before);
    const refused = await exchangeVia(w.deputy, dropped);
    expect(refused.status).toBe(400);
    await expectDroppedKeyRefusedEverywhere();
    const event = await w.lastEvent('issuer.keys_refreshed');
    expect(event).toMatchObject({ admin: 'bootstrap', details: { id: issuerId, issuer: IDP, kind: 'user' } });
    expect((await admin.delete(`/issuers/${issuerId}`)).status).toBe(204);
  });

  it('refresh of an unknown issuer → 404; of an unreachable jwks_uri → 503, caches dropped all the same', async () => {
    expect((await admin.post('/issuers/00000000-0000-4000-8000-000000000000/refresh')).status).toBe(404);
    expect((await admin.post('/issuers/not-a-uuid/refresh')).status).toBe(404);
    const dead = await admin.post('/issuers', { issuer: 'https://dead-idp.test', jwks_uri: 'http://127.0.0.1:9/jwks', audience: w.issuer, kind: 'user' });
    expect(dead.status).toBe(201);
    const refreshed = await admin.post(`/issuers/${dead.body.id}/refresh`);
    expect(refreshed.status).toBe(503);
    expect(refreshed.body).toMatchObject({ error: 'temporarily_unavailable' });
    expect(JSON.stringify(refreshed.body)).not.toContain('127.0.0.1');
  });
});
