/**
 * Create / read / update / list round trips for every admin resource, with their filters.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { generateKeyPairSync } from 'node:crypto';
import { decodeKey32, KeyEncryptionKey } from '../../src/keys/key-encryption.js';
import { clientSecretMatches } from '../../src/oauth/client-secrets.js';
import type { TestDeputy } from '../support/deputy.js';
import { clientCredentialsToken, startAdminDeputy, type Admin } from './support.js';

const RESOURCE = 'https://api.example.com/tickets';
const future = (days: number) => new Date(Date.now() + days * 86400_000).toISOString();

function publicJwk(): Record<string, unknown> {
  const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { ...(publicKey.export({ format: 'jwk' }) as Record<string, unknown>), kid: 'k1', alg: 'ES256' };
}

describe('admin API resources', () => {
  let deputy: TestDeputy;
  let admin: Admin;

  beforeAll(async () => {
    ({ deputy, admin } = await startAdminDeputy());
  });
  afterAll(async () => {
    await deputy.stop();
  });

  describe('subjects', () => {
    it('creates, reads, updates and lists', async () => {
      const created = await admin.post('/subjects', { id: 'alice', email: 'alice@example.com' });
      expect(created.status).toBe(201);
      expect(created.body).toEqual({ id: 'alice', email: 'alice@example.com', status: 'active', created_at: expect.any(String) });
      expect(Date.parse(created.body.created_at)).not.toBeNaN();

      expect((await admin.get('/subjects/alice')).body).toEqual(created.body);

      const disabled = await admin.patch('/subjects/alice', { status: 'disabled', email: null });
      expect(disabled.status).toBe(200);
      expect(disabled.body).toMatchObject({ id: 'alice', email: null, status: 'disabled' });

      expect((await admin.post('/subjects', { id: 'bob' })).status).toBe(201);
      const all = await admin.get('/subjects');
      expect(all.body.items.map((s: { id: string }) => s.id)).toEqual(['bob', 'alice']);
      expect((await admin.get('/subjects?status=disabled')).body.items.map((s: { id: string }) => s.id)).toEqual(['alice']);
      await admin.patch('/subjects/alice', { status: 'active' });
    });
  });

  describe('resources', () => {
    it('registers, reads, replaces scopes and lists', async () => {
      const created = await admin.post('/resources', { uri: RESOURCE, scopes: ['tickets:read', 'tickets:write'] });
      expect(created.status).toBe(201);
      expect(created.body).toEqual({ id: expect.any(String), uri: RESOURCE, scopes: ['tickets:read', 'tickets:write'], approval_scopes: [], created_at: expect.any(String) });

      const id = created.body.id;
      const updated = await admin.patch(`/resources/${id}`, { scopes: ['tickets:read', 'tickets:write', 'tickets:delete'] });
      expect(updated.body.scopes).toEqual(['tickets:read', 'tickets:write', 'tickets:delete']);
      expect((await admin.get(`/resources/${id}`)).body).toEqual(updated.body);
      expect((await admin.get(`/resources?uri=${encodeURIComponent(RESOURCE)}`)).body.items).toEqual([updated.body]);
    });
  });

  describe('actors (NHI inventory)', () => {
    it('registers an actor with keys, ceiling, resources and delegation targets', async () => {
      expect((await admin.post('/actors', { id: 'agent:summarizer', kind: 'agent', owner: 'alice' })).status).toBe(201);
      const jwk = publicJwk();
      const expires = future(30);
      const created = await admin.post('/actors', {
        id: 'agent:triage',
        kind: 'agent',
        owner: 'alice',
        purpose: 'Triages support tickets',
        expires_at: expires,
        jwks: { keys: [jwk] },
        scope_ceiling: ['tickets:read', 'tickets:write'],
        resources: [RESOURCE],
        max_token_ttl: 600,
        may_delegate_to: ['agent:summarizer'],
      });
      expect(created.status).toBe(201);
      expect(created.body).toEqual({
        id: 'agent:triage',
        kind: 'agent',
        owner: 'alice',
        purpose: 'Triages support tickets',
        status: 'active',
        expires_at: expires,
        jwks: { keys: [jwk] },
        workload: null,
        scope_ceiling: ['tickets:read', 'tickets:write'],
        resources: [RESOURCE],
        max_token_ttl: 600,
        may_delegate_to: ['agent:summarizer'],
        last_used_at: null,
        created_at: expect.any(String),
      });
      expect((await admin.get('/actors/agent:triage')).body).toEqual(created.body);
      expect((await admin.get(`/actors/${encodeURIComponent('agent:triage')}`)).status).toBe(200);
    });

    it('registers a workload actor bound to a workload identity', async () => {
      const created = await admin.post('/actors', {
        id: 'svc:billing',
        kind: 'workload',
        owner: 'bob',
        workload: { issuer: 'https://k8s.example.com', subject: 'system:serviceaccount:billing:api' },
      });
      expect(created.status).toBe(201);
      expect(created.body.workload).toEqual({ issuer: 'https://k8s.example.com', subject: 'system:serviceaccount:billing:api' });
    });

    it('updates mutable fields, including the kill switch', async () => {
      const updated = await admin.patch('/actors/agent:summarizer', { purpose: 'Summaries', max_token_ttl: 120, scope_ceiling: ['tickets:read'] });
      expect(updated.status).toBe(200);
      expect(updated.body).toMatchObject({ purpose: 'Summaries', max_token_ttl: 120, scope_ceiling: ['tickets:read'], status: 'active' });

      const disabled = await admin.patch('/actors/agent:summarizer', { status: 'disabled' });
      expect(disabled.body.status).toBe('disabled');
      const cleared = await admin.patch('/actors/svc:billing', { workload: null, expires_at: null });
      expect(cleared.body).toMatchObject({ workload: null, expires_at: null });
    });

    it('filters the inventory by owner, kind, status, expiry and staleness', async () => {
      const ids = async (query: string) => (await admin.get(`/actors?${query}`)).body.items.map((a: { id: string }) => a.id);
      await deputy.pool.query(`UPDATE actors SET last_used_at = now() - interval '40 days' WHERE id = 'agent:summarizer'`);
      await deputy.pool.query(`UPDATE actors SET last_used_at = now() WHERE id = 'agent:triage'`);

      expect(await ids('')).toEqual(['svc:billing', 'agent:triage', 'agent:summarizer']);
      expect(await ids('owner=alice')).toEqual(['agent:triage', 'agent:summarizer']);
      expect(await ids('kind=workload')).toEqual(['svc:billing']);
      expect(await ids('status=disabled')).toEqual(['agent:summarizer']);
      expect(await ids('owner=alice&status=active')).toEqual(['agent:triage']);
      expect(await ids(`expiring_before=${encodeURIComponent(future(60))}`)).toEqual(['agent:triage']);
      expect(await ids(`expiring_before=${encodeURIComponent(future(10))}`)).toEqual([]);
      // never used (svc:billing) or last used more than 30 days ago (agent:summarizer)
      expect(await ids(`unused_since=${encodeURIComponent(future(-30))}`)).toEqual(['svc:billing', 'agent:summarizer']);
      const triage = await admin.get('/actors/agent:triage');
      expect(Date.parse(triage.body.last_used_at)).toBeGreaterThan(Date.now() - 60_000);
    });
  });

  describe('clients', () => {
    it('shows a generated secret once and stores only its hash', async () => {
      const created = await admin.post('/clients', { client_id: 'triage-app', actor: 'agent:triage', allowed_actors: ['agent:summarizer'] });
      expect(created.status).toBe(201);
      expect(created.body).toEqual({
        client_id: 'triage-app',
        client_secret: expect.stringMatching(/^[A-Za-z0-9_-]{43}$/),
        token_endpoint_auth_method: 'client_secret_basic',
        jwks: null,
        actor: 'agent:triage',
        allowed_actors: ['agent:summarizer'],
        scope: '',
        protected_resources: [],
        created_at: expect.any(String),
      });
      const secret: string = created.body.client_secret;

      const read = await admin.get('/clients/triage-app');
      expect(read.body).not.toHaveProperty('client_secret');
      const { rows } = await deputy.pool.query<{ client_secret_hash: string }>(`SELECT client_secret_hash FROM clients WHERE client_id = 'triage-app'`);
      expect(rows[0]!.client_secret_hash).not.toContain(secret);
      expect(clientSecretMatches(secret, rows[0]!.client_secret_hash, await pepper(deputy))).toBe(true);
    });

    it('rotates a secret: the new one works, the old one stops at once', async () => {
      const created = await admin.post('/clients', { client_id: 'rotating', scope: 'deputy:admin' });
      const oldSecret: string = created.body.client_secret;
      const rotated = await admin.post('/clients/rotating/secret');
      expect(rotated.status).toBe(200);
      expect(rotated.body.client_secret).not.toBe(oldSecret);
      await expect(clientCredentialsToken(deputy, 'rotating', rotated.body.client_secret)).resolves.toEqual(expect.any(String));
      await expect(clientCredentialsToken(deputy, 'rotating', oldSecret)).rejects.toThrow(/401/);
    });

    it('registers a private_key_jwt client with keys and no secret', async () => {
      const jwk = publicJwk();
      const created = await admin.post('/clients', { client_id: 'agent-platform', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] } });
      expect(created.status).toBe(201);
      expect(created.body).not.toHaveProperty('client_secret');
      expect(created.body.jwks).toEqual({ keys: [jwk] });
      expect((await admin.post('/clients/agent-platform/secret')).status).toBe(409);

      const switched = await admin.patch('/clients/agent-platform', { token_endpoint_auth_method: 'client_secret_post' });
      expect(switched.status).toBe(200);
      expect(switched.body.client_secret).toEqual(expect.any(String));
    });

    it('updates and filters by actor', async () => {
      const updated = await admin.patch('/clients/triage-app', { allowed_actors: [], scope: 'deputy:admin' });
      expect(updated.body).toMatchObject({ allowed_actors: [], scope: 'deputy:admin' });
      expect(updated.body).not.toHaveProperty('client_secret');
      const listed = await admin.get('/clients?actor=agent:triage');
      expect(listed.body.items.map((c: { client_id: string }) => c.client_id)).toEqual(['triage-app']);
    });
  });

  describe('issuers', () => {
    it('trusts, reads, updates, lists and deletes an issuer', async () => {
      const created = await admin.post('/issuers', {
        issuer: 'https://idp.example.com',
        jwks_uri: 'https://idp.example.com/.well-known/jwks.json',
        audience: 'deputy',
        kind: 'user',
      });
      expect(created.status).toBe(201);
      expect(created.body).toEqual({
        id: expect.any(String),
        issuer: 'https://idp.example.com',
        jwks_uri: 'https://idp.example.com/.well-known/jwks.json',
        jwks: null,
        audience: 'deputy',
        kind: 'user',
        subject_claim: 'sub',
        algorithms: ['ES256', 'ES384', 'RS256', 'PS256', 'EdDSA'],
        allowed_subjects: null,
        subject_prefix: null,
        created_at: expect.any(String),
      });
      const id = created.body.id;
      const jwk = publicJwk();
      const updated = await admin.patch(`/issuers/${id}`, { jwks_uri: null, jwks: { keys: [jwk] }, subject_claim: 'email', algorithms: ['ES256'] });
      expect(updated.status).toBe(200);
      expect(updated.body).toMatchObject({ jwks_uri: null, jwks: { keys: [jwk] }, subject_claim: 'email', algorithms: ['ES256'] });
      expect((await admin.get(`/issuers/${id}`)).body).toEqual(updated.body);
      expect((await admin.get('/issuers?kind=user')).body.items).toEqual([updated.body]);
      expect((await admin.get('/issuers?kind=workload')).body.items).toEqual([]);

      expect((await admin.delete(`/issuers/${id}`)).status).toBe(204);
      expect((await admin.get(`/issuers/${id}`)).status).toBe(404);
    });

    it('limits an issuer to listed subjects or a subject prefix, and lifts the limit with null', async () => {
      const created = await admin.post('/issuers', {
        issuer: 'https://partner-idp.example.com',
        jwks: { keys: [publicJwk()] },
        audience: 'deputy',
        kind: 'user',
        allowed_subjects: ['alice', 'bob'],
        subject_prefix: 'partner:',
      });
      expect(created.status).toBe(201);
      expect(created.body).toMatchObject({ allowed_subjects: ['alice', 'bob'], subject_prefix: 'partner:' });
      const id = created.body.id;
      const audited = await admin.get('/audit?type=issuer.created');
      expect(audited.body.items[0].details).toMatchObject({ allowed_subjects: ['alice', 'bob'], subject_prefix: 'partner:' });

      const narrowed = await admin.patch(`/issuers/${id}`, { subject_prefix: null });
      expect(narrowed.body).toMatchObject({ allowed_subjects: ['alice', 'bob'], subject_prefix: null });
      const lifted = await admin.patch(`/issuers/${id}`, { allowed_subjects: null });
      expect(lifted.body).toMatchObject({ allowed_subjects: null, subject_prefix: null });
      const updates = await admin.get('/audit?type=issuer.updated');
      expect(updates.body.items[0].details.changes).toHaveProperty('allowed_subjects');

      for (const bad of [{ allowed_subjects: [] }, { allowed_subjects: ['alice', 'alice'] }, { subject_prefix: '' }, { allowed_subjects: ['a\u0000b'] }]) {
        const refused = await admin.patch(`/issuers/${id}`, bad);
        expect(refused.status).toBe(400);
        expect(refused.body.error).toBe('invalid_request');
      }
      await admin.delete(`/issuers/${id}`);
    });
  });

  describe("issuers: never Deputy's own ISSUER (review item 10)", () => {
    const issuerBody = (issuer: string) => ({ issuer, jwks: { keys: [publicJwk()] }, audience: 'deputy', kind: 'user' });

    it.each([
      ['exactly', (own: string) => own],
      ['with a trailing slash', (own: string) => `${own}/`],
      ['with the scheme and host in capitals', (own: string) => own.replace(/^http:\/\/([^/]+)/, (_m, host: string) => `HTTP://${host.toUpperCase()}`)],
    ])('refuses it %s, for users and workloads: 400 invalid_request with issues, nothing stored', async (_name, spell) => {
      const own = deputy.config.ISSUER;
      const count = async () => (await deputy.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM trusted_issuers')).rows[0]!.n;
      const events = async () => (await deputy.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_events WHERE type = 'issuer.created'`)).rows[0]!.n;
      const before = { issuers: await count(), events: await events() };
      for (const kind of ['user', 'workload']) {
        const refused = await admin.post('/issuers', { ...issuerBody(spell(own)), kind });
        expect(refused.status).toBe(400);
        expect(refused.body).toMatchObject({
          error: 'invalid_request',
          issues: [{ in: 'body', path: ['issuer'], message: "must not be Deputy's own issuer" }],
        });
      }
      expect(await count()).toBe(before.issuers);
      expect(await events()).toBe(before.events);
    });

    it('refuses to update a row that names Deputy (inserted by hand); it can still be deleted', async () => {
      const { rows } = await deputy.pool.query<{ id: string }>(
        `INSERT INTO trusted_issuers (issuer, jwks, audience, kind) VALUES ($1, $2, 'deputy', 'user') RETURNING id`,
        [deputy.config.ISSUER, { keys: [publicJwk()] }],
      );
      const id = rows[0]!.id;
      const refused = await admin.patch(`/issuers/${id}`, { audience: 'other' });
      expect(refused.status).toBe(400);
      expect(refused.body).toMatchObject({ error: 'invalid_request', issues: [{ in: 'path', path: ['id'] }] });
      expect((await admin.delete(`/issuers/${id}`)).status).toBe(204);
    });
  });

  describe('entitlements', () => {
    it('grants, reads, lists by subject and resource, and withdraws', async () => {
      const expires = future(1);
      const created = await admin.post('/entitlements', { subject: 'alice', resource: RESOURCE, scope: 'tickets:read', expires_at: expires });
      expect(created.status).toBe(201);
      expect(created.body).toEqual({ id: expect.any(String), subject: 'alice', resource: RESOURCE, scope: 'tickets:read', expires_at: expires, created_at: expect.any(String) });
      await admin.post('/entitlements', { subject: 'alice', resource: RESOURCE, scope: 'tickets:write' });
      await admin.post('/entitlements', { subject: 'bob', resource: RESOURCE, scope: 'tickets:read' });

      expect((await admin.get(`/entitlements/${created.body.id}`)).body).toEqual(created.body);
      const alices = await admin.get(`/entitlements?subject=alice&resource=${encodeURIComponent(RESOURCE)}`);
      expect(alices.body.items.map((e: { scope: string }) => e.scope)).toEqual(['tickets:write', 'tickets:read']);

      expect((await admin.delete(`/entitlements/${created.body.id}`)).status).toBe(204);
      expect((await admin.get(`/entitlements/${created.body.id}`)).status).toBe(404);
      expect((await admin.delete(`/entitlements/${created.body.id}`)).status).toBe(404);
      expect((await admin.get('/entitlements?subject=alice')).body.items).toHaveLength(1);
    });

    it('refuses a scope the resource does not define', async () => {
      const reply = await admin.post('/entitlements', { subject: 'alice', resource: RESOURCE, scope: 'tickets:admin' });
      expect(reply.status).toBe(400);
      expect(reply.body.issues).toEqual([expect.objectContaining({ in: 'body', path: ['scope'], code: 'unknown_scope' })]);
    });
  });

  describe('grants', () => {
    it('creates, reads, lists with filters and revokes', async () => {
      const expires = future(90);
      const created = await admin.post('/grants', { subject: 'alice', actor: 'agent:triage', resource: RESOURCE, scopes: ['tickets:read'], expires_at: expires });
      expect(created.status).toBe(201);
      expect(created.body).toEqual({
        id: expect.any(String),
        subject: 'alice',
        actor: 'agent:triage',
        resource: RESOURCE,
        scopes: ['tickets:read'],
        expires_at: expires,
        revoked_at: null,
        revoked_by: null,
        created_at: expect.any(String),
        approved_by: null,
        approval_request_id: null,
        just_in_time: false,
      });
      const other = await admin.post('/grants', { subject: 'bob', actor: 'agent:triage', resource: RESOURCE, scopes: ['tickets:read', 'tickets:write'] });
      expect((await admin.get(`/grants/${created.body.id}`)).body).toEqual(created.body);

      const ids = async (query: string) => (await admin.get(`/grants?${query}`)).body.items.map((g: { id: string }) => g.id);
      expect(await ids('actor=agent:triage')).toEqual([other.body.id, created.body.id]);
      expect(await ids('subject=alice')).toEqual([created.body.id]);

      const revoked = await admin.post(`/grants/${created.body.id}/revoke`, { reason: 'user request' });
      expect(revoked.status).toBe(200);
      expect(revoked.body).toMatchObject({ id: created.body.id, revoked_by: 'bootstrap', revoked_at: expect.any(String) });
      expect(await ids('active=true')).toEqual([other.body.id]);
      expect(await ids('active=false')).toEqual([created.body.id]);
      expect(await ids(`resource=${encodeURIComponent(RESOURCE)}&subject=bob`)).toEqual([other.body.id]);

      // revoking again changes nothing
      const again = await admin.post(`/grants/${created.body.id}/revoke`);
      expect(again.status).toBe(200);
      expect(again.body.revoked_at).toBe(revoked.body.revoked_at);
    });

    it('has no DELETE: grants are never deleted', async () => {
      const { body } = await admin.get('/grants');
      expect((await admin.delete(`/grants/${body.items[0].id}`)).status).toBe(405);
    });
  });

  describe('tokens', () => {
    it('lists issued tokens with filters, reads one and revokes it', async () => {
      const grant = (await admin.get('/grants?subject=bob')).body.items[0];
      await deputy.pool.query(
        `INSERT INTO issued_tokens (jti, subject_id, actor_ids, client_id, resource_uri, scope, grant_id, grant_ids, issued_at, expires_at)
         VALUES ('jti-1', 'bob', ARRAY['agent:triage'], 'triage-app', $1, 'tickets:read', $2, ARRAY[$2]::uuid[], now() - interval '2 seconds', now() + interval '5 minutes'),
                ('jti-2', 'bob', ARRAY['agent:triage', 'agent:summarizer'], 'triage-app', $1, 'tickets:read', $2, ARRAY[$2]::uuid[], now() - interval '1 second', now() + interval '5 minutes'),
                ('jti-3', 'alice', ARRAY['agent:triage'], 'other-app', $1, 'tickets:read', $2, ARRAY[$2]::uuid[], now(), now() + interval '5 minutes')`,
        [RESOURCE, grant.id],
      );
      const jtis = async (query: string) => (await admin.get(`/tokens?${query}`)).body.items.map((t: { jti: string }) => t.jti);
      expect(await jtis('')).toEqual(['jti-3', 'jti-2', 'jti-1']);
      expect(await jtis('subject=bob')).toEqual(['jti-2', 'jti-1']);
      expect(await jtis('actor=agent:summarizer')).toEqual(['jti-2']);
      expect(await jtis(`grant=${grant.id}&client=other-app`)).toEqual(['jti-3']);
      expect(await jtis('grant=not-a-uuid')).toEqual([]);

      const token = await admin.get('/tokens/jti-2');
      expect(token.body).toEqual({
        jti: 'jti-2',
        subject: 'bob',
        actors: ['agent:triage', 'agent:summarizer'],
        client_id: 'triage-app',
        resource: RESOURCE,
        scope: 'tickets:read',
        grant_id: grant.id,
        grant_ids: [grant.id],
        issued_at: expect.any(String),
        expires_at: expect.any(String),
        revoked_at: null,
      });
      const revoked = await admin.post('/tokens/jti-2/revoke', {});
      expect(revoked.status).toBe(200);
      expect(revoked.body.revoked_at).toEqual(expect.any(String));
      const { rows } = await deputy.pool.query(`SELECT revoked_at FROM issued_tokens WHERE jti = 'jti-2'`);
      expect(rows[0].revoked_at).toBeInstanceOf(Date);
      expect((await admin.post('/tokens/nope/revoke')).status).toBe(404);
    });
  });
});

async function pepper(deputy: TestDeputy): Promise<string> {
  if (deputy.config.CLIENT_SECRET_PEPPER) return deputy.config.CLIENT_SECRET_PEPPER;
  const { rows } = await deputy.pool.query<{ value: string }>(`SELECT value FROM server_settings WHERE key = 'client_secret_pepper'`);
  // Stored sealed under the key-encryption key (SECURITY.md, finding 19).
  return new KeyEncryptionKey(decodeKey32(deputy.config.KEY_ENCRYPTION_KEY!)!).open(rows[0]!.value, 'server_settings:client_secret_pepper');
}
