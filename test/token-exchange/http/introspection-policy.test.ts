/**
 * Who introspection answers (RFC 7662 §4; issue 11 item 14): the token's own client, a
 * resource server of its audience (a client linked to the resource through
 * `protected_resources`) and admin clients learn about a token; every other client gets exactly
 * `{"active": false}`, whether or not the token is active.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { hashClientSecret } from '../../../src/oauth/client-secrets.js';
import { adminClient, clientCredentialsToken, type Admin } from '../../admin/support.js';
import { OTHER_RESOURCE, PEPPER, RESOURCE, SECRETS, startExchangeWorld, type World } from '../../support/exchange-world.js';

const ADMIN_TOKEN = 'a'.repeat(40);

describe('introspection policy', () => {
  let w: World;
  let admin: Admin;
  let token: string;

  beforeAll(async () => {
    w = await startExchangeWorld({ DEPUTY_ADMIN_TOKEN: ADMIN_TOKEN });
    admin = adminClient(w.deputy.url, ADMIN_TOKEN);
    for (const [clientId, scope] of [['rs-tickets', ''], ['rs-billing', ''], ['ops', 'deputy:admin']] as const) {
      SECRETS[clientId] = `secret-of-${clientId}`;
      await w.sql(`INSERT INTO clients (client_id, client_secret_hash, token_endpoint_auth_method, scope) VALUES ($1, $2, 'client_secret_basic', $3)`, [
        clientId,
        hashClientSecret(SECRETS[clientId]!, PEPPER),
        scope,
      ]);
    }
    const linked = await admin.patch('/clients/rs-tickets', { protected_resources: [RESOURCE] });
    expect(linked.status).toBe(200);
    expect(linked.body.protected_resources).toEqual([RESOURCE]);
    expect((await admin.patch('/clients/rs-billing', { protected_resources: [OTHER_RESOURCE] })).status).toBe(200);
    const minted = await w.exchangeAs('alice', { scope: 'read' });
    expect(minted.status).toBe(200);
    token = minted.json.access_token as string;
  });
  afterAll(async () => {
    await w.stop();
  });

  describe('a delegated token', () => {
    it.each([
      ['its own client', 'app-a'],
      ['a resource server of its audience', 'rs-tickets'],
      ['an admin client', 'ops'],
    ])('%s learns that it is active', async (_who, clientId) => {
      const result = await w.introspect(token, { clientId });
      expect(result.status).toBe(200);
      expect(result.json).toMatchObject({ active: true, sub: 'alice', aud: RESOURCE, client_id: 'app-a', scope: 'read' });
    });

    it.each([
      ['another token client', 'app-b'],
      ['a resource server of another resource', 'rs-billing'],
      ['a client with no actor', 'app-none'],
    ])('%s gets {"active": false} only', async (_who, clientId) => {
      const result = await w.introspect(token, { clientId });
      expect(result.status).toBe(200);
      expect(result.json).toEqual({ active: false });
    });

    it('an unrelated client gets the same answer for a revoked token as for an active one', async () => {
      const minted = await w.exchangeAs('alice', { scope: 'read' });
      const revoked = minted.json.access_token as string;
      expect((await w.revoke(revoked)).status).toBe(200);
      expect((await w.introspect(revoked, { clientId: 'app-b' })).json).toEqual({ active: false });
      expect((await w.introspect(revoked, { clientId: 'app-a' })).json).toEqual({ active: false });
    });

    it('unlinking the resource server takes effect at once', async () => {
      expect((await w.introspect(token, { clientId: 'rs-tickets' })).json.active).toBe(true);
      expect((await admin.patch('/clients/rs-tickets', { protected_resources: [] })).status).toBe(200);
      expect((await w.introspect(token, { clientId: 'rs-tickets' })).json).toEqual({ active: false });
      expect((await admin.patch('/clients/rs-tickets', { protected_resources: [RESOURCE] })).status).toBe(200);
      expect((await w.introspect(token, { clientId: 'rs-tickets' })).json.active).toBe(true);
    });
  });

  describe('an admin (opaque) token', () => {
    it('only its own client and admins learn about it', async () => {
      const opsToken = await clientCredentialsToken(w.deputy, 'ops', SECRETS.ops!, 'deputy:admin');
      expect((await w.introspect(opsToken, { clientId: 'ops' })).json).toMatchObject({ active: true, client_id: 'ops', scope: 'deputy:admin' });
      expect((await w.introspect(opsToken, { clientId: 'app-a' })).json).toEqual({ active: false });
      expect((await w.introspect(opsToken, { clientId: 'rs-tickets' })).json).toEqual({ active: false });
    });
  });

  describe('the admin API', () => {
    it('refuses a protected resource that is not registered', async () => {
      const reply = await admin.patch('/clients/rs-billing', { protected_resources: ['https://unknown.example/api'] });
      expect(reply.status).toBe(400);
      expect(reply.body.issues).toEqual([expect.objectContaining({ path: ['protected_resources', 0], code: 'unknown_reference' })]);
    });

    it('lists protected_resources on every client and accepts it on create', async () => {
      const created = await admin.post('/clients', { client_id: 'rs-new', protected_resources: [RESOURCE, OTHER_RESOURCE] });
      expect(created.status).toBe(201);
      expect(created.body.protected_resources).toEqual([RESOURCE, OTHER_RESOURCE]);
      expect((await admin.get('/clients/app-a')).body.protected_resources).toEqual([]);
      const event = (await admin.get('/audit?type=client.created&client=rs-new')).body.items[0];
      expect(event.details.protected_resources).toEqual([RESOURCE, OTHER_RESOURCE]);
    });
  });
});
