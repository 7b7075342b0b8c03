/**
 * The admin API's error contract: 400 with issues, 404, 409, 413, 415, JSON 404/405 for unknown
 * endpoints, and 500 / 503 that reveal nothing about the cause.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { TestDeputy } from '../support/deputy.js';
import { seedBasics, startAdminDeputy, type Admin } from './support.js';

describe('admin API errors', () => {
  let deputy: TestDeputy;
  let admin: Admin;
  let world: { subject: string; resource: string; actor: string };

  beforeAll(async () => {
    ({ deputy, admin } = await startAdminDeputy());
    world = await seedBasics(admin);
  });
  afterAll(async () => {
    await deputy.stop();
  });

  describe('400 invalid_request with issues', () => {
    it('lists every problem of a body, with its location and path', async () => {
      const reply = await admin.post('/actors', { id: 'has space', kind: 'robot', owner: world.subject, scope_ceiling: ['ok', 'not ok'], extra: 1 });
      expect(reply.status).toBe(400);
      expect(reply.body.error).toBe('invalid_request');
      expect(reply.body.error_description).toEqual(expect.any(String));
      const where = reply.body.issues.map((issue: { in: string; path: unknown[] }) => [issue.in, issue.path]);
      expect(where).toEqual(
        expect.arrayContaining([
          ['body', ['id']],
          ['body', ['kind']],
          ['body', ['scope_ceiling', 1]],
          ['body', []], // the unrecognized key
        ]),
      );
    });

    it.each([
      ['a private key in an actor JWKS', '/actors', { id: 'agent:x', kind: 'agent', owner: 'alice', jwks: { keys: [{ kty: 'EC', crv: 'P-256', x: 'AA', y: 'AA', d: 'secret' }] } }, ['jwks', 'keys', 0, 'd']],
      ['a symmetric key in a client JWKS', '/clients', { client_id: 'c', token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [{ kty: 'oct', k: 'c2VjcmV0' }] } }, ['jwks', 'keys', 0, 'kty']],
      ['private_key_jwt without keys', '/clients', { client_id: 'c', token_endpoint_auth_method: 'private_key_jwt' }, ['jwks']],
      ['a client scope other than deputy:admin', '/clients', { client_id: 'c', scope: 'tickets:read' }, ['scope']],
      ['a resource URI with a fragment', '/resources', { uri: 'https://api.example.com/#x', scopes: [] }, ['uri']],
      ['an issuer with neither jwks_uri nor jwks', '/issuers', { issuer: 'https://idp', audience: 'deputy', kind: 'user' }, ['jwks_uri']],
      ['a plain-http jwks_uri', '/issuers', { issuer: 'https://idp', audience: 'deputy', kind: 'user', jwks_uri: 'http://idp.example.com/jwks' }, ['jwks_uri']],
      ['an expiry in the past', '/grants', { subject: 'alice', actor: 'agent:triage', resource: 'https://api.example.com/tickets', scopes: ['tickets:read'], expires_at: '2001-01-01T00:00:00Z' }, ['expires_at']],
      ['a time without an offset', '/entitlements', { subject: 'alice', resource: 'https://api.example.com/tickets', scope: 'tickets:read', expires_at: '2100-01-01T00:00:00' }, ['expires_at']],
      ['an empty grant', '/grants', { subject: 'alice', actor: 'agent:triage', resource: 'https://api.example.com/tickets', scopes: [] }, ['scopes']],
    ])('refuses %s', async (_label, path, body, issuePath) => {
      const reply = await admin.post(path, body);
      expect(reply.status).toBe(400);
      expect(reply.body.issues).toEqual(expect.arrayContaining([expect.objectContaining({ in: 'body', path: issuePath })]));
    });

    it('refuses an empty PATCH and unknown query parameters', async () => {
      expect((await admin.patch(`/subjects/${world.subject}`, {})).status).toBe(400);
      const reply = await admin.get('/actors?owner=alice&colour=blue');
      expect(reply.status).toBe(400);
      expect(reply.body.issues[0]).toMatchObject({ in: 'query' });
    });

    it.each(['limit=0', 'limit=501', 'limit=ten', 'cursor=garbage', 'unused_since=yesterday'])('refuses the query %s', async (query) => {
      const reply = await admin.get(`/actors?${query}`);
      expect(reply.status).toBe(400);
      expect(reply.body.issues[0].in).toBe('query');
    });

    it('answers 400 (not 409) for a reference to an object that does not exist, naming the field', async () => {
      const cases: Array<[string, object, unknown[]]> = [
        ['/actors', { id: 'agent:orphan', kind: 'agent', owner: 'nobody' }, ['owner']],
        ['/actors', { id: 'agent:orphan', kind: 'agent', owner: 'alice', may_delegate_to: ['agent:ghost'] }, ['may_delegate_to', 0]],
        ['/actors', { id: 'agent:orphan', kind: 'agent', owner: 'alice', resources: ['https://unknown.example'] }, ['resources', 0]],
        ['/clients', { client_id: 'c', actor: 'agent:ghost' }, ['actor']],
        ['/grants', { subject: 'nobody', actor: world.actor, resource: world.resource, scopes: ['tickets:read'] }, ['subject']],
        ['/grants', { subject: world.subject, actor: 'agent:ghost', resource: world.resource, scopes: ['tickets:read'] }, ['actor']],
        ['/grants', { subject: world.subject, actor: world.actor, resource: 'https://unknown.example', scopes: ['tickets:read'] }, ['resource']],
        ['/entitlements', { subject: 'nobody', resource: world.resource, scope: 'tickets:read' }, ['subject']],
      ];
      for (const [path, body, issuePath] of cases) {
        const reply = await admin.post(path, body);
        expect([path, reply.status]).toEqual([path, 400]);
        expect(reply.body.issues).toEqual([expect.objectContaining({ path: issuePath, code: 'unknown_reference' })]);
      }
    });
  });

  describe('404 not_found', () => {
    it.each(['/subjects/nobody', '/actors/agent:ghost', '/clients/ghost', '/resources/00000000-0000-4000-8000-000000000000', '/resources/not-a-uuid', '/issuers/nope', '/entitlements/nope', '/grants/00000000-0000-4000-8000-000000000000', '/tokens/nope'])(
      'GET %s',
      async (path) => {
        const reply = await admin.get(path);
        expect(reply.status).toBe(404);
        expect(reply.body).toMatchObject({ error: 'not_found' });
      },
    );

    it('for updates and actions on unknown ids', async () => {
      expect((await admin.patch('/subjects/nobody', { status: 'disabled' })).status).toBe(404);
      expect((await admin.patch('/actors/agent:ghost', { status: 'disabled' })).status).toBe(404);
      expect((await admin.post('/grants/not-a-uuid/revoke')).status).toBe(404);
      expect((await admin.post('/clients/ghost/secret')).status).toBe(404);
    });

    it('in JSON for unknown endpoints, and 405 with Allow for unsupported methods', async () => {
      const unknown = await admin.get('/nothing-here');
      expect(unknown.status).toBe(404);
      expect(unknown.body).toEqual({ error: 'not_found', error_description: 'no such endpoint' });
      const wrongMethod = await admin.raw('/subjects', { method: 'PUT' });
      expect(wrongMethod.status).toBe(405);
      expect(wrongMethod.headers.get('allow')).toContain('POST');
      expect(wrongMethod.body.error).toBe('method_not_allowed');
    });
  });

  describe('409 conflict', () => {
    it.each([
      ['a subject id', '/subjects', () => ({ id: world.subject })],
      ['an actor id', '/actors', () => ({ id: world.actor, kind: 'agent', owner: world.subject })],
      ['a resource URI', '/resources', () => ({ uri: world.resource, scopes: [] })],
      ['an entitlement', '/entitlements', () => ({ subject: world.subject, resource: world.resource, scope: 'tickets:read' })],
    ])('on a duplicate %s', async (_label, path, body) => {
      if (path === '/entitlements') await admin.post(path, body());
      const reply = await admin.post(path, body());
      expect(reply.status).toBe(409);
      expect(reply.body).toEqual({ error: 'conflict', error_description: expect.any(String) });
    });

    it('on a duplicate email, and on a second actor bound to the same workload identity', async () => {
      expect((await admin.post('/subjects', { id: 'alice2', email: `${world.subject}@example.com` })).status).toBe(409);
      const workload = { issuer: 'https://k8s.example', subject: 'sa:one' };
      expect((await admin.post('/actors', { id: 'w1', kind: 'workload', owner: world.subject, workload })).status).toBe(201);
      expect((await admin.post('/actors', { id: 'w2', kind: 'workload', owner: world.subject, workload })).status).toBe(409);
    });
  });

  describe('bodies', () => {
    it('415 for a non-JSON body', async () => {
      const reply = await admin.raw('/subjects', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'id=zed' });
      expect(reply.status).toBe(415);
      expect(reply.body.error).toBe('invalid_request');
      const text = await admin.raw('/subjects/alice', { method: 'PATCH', headers: { 'content-type': 'text/plain' }, body: '{"status":"disabled"}' });
      expect(text.status).toBe(415);
    });

    it('400 for malformed JSON, without echoing it', async () => {
      const reply = await admin.raw('/subjects', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"id": "zed",' });
      expect(reply.status).toBe(400);
      expect(JSON.stringify(reply.body)).not.toContain('zed');
    });

    it('413 for a body over 64 KiB', async () => {
      const big = JSON.stringify({ id: 'zed', email: null, padding: 'x'.repeat(70 * 1024) });
      const reply = await admin.raw('/subjects', { method: 'POST', headers: { 'content-type': 'application/json' }, body: big });
      expect(reply.status).toBe(413);
      expect(reply.body.error).toBe('invalid_request');
    });

    it('accepts an action without a body', async () => {
      const grant = await admin.post('/grants', { subject: world.subject, actor: world.actor, resource: world.resource, scopes: ['tickets:read'] });
      const reply = await admin.raw(`/grants/${grant.body.id}/revoke`, { method: 'POST' });
      expect(reply.status).toBe(200);
    });
  });

  describe('failures reveal nothing', () => {
    it('500 server_error without SQL or stack for an unexpected database error', async () => {
      await deputy.pool.query('ALTER TABLE subjects RENAME COLUMN email TO email_renamed');
      try {
        const reply = await admin.get('/subjects');
        expect(reply.status).toBe(500);
        expect(reply.body).toEqual({ error: 'server_error', error_description: expect.any(String) });
        expect(JSON.stringify(reply.body)).not.toMatch(/email|column|SELECT|subjects|at /i);
      } finally {
        await deputy.pool.query('ALTER TABLE subjects RENAME COLUMN email_renamed TO email');
      }
    });
  });
});

describe('admin API without its database', () => {
  it('answers 503 temporarily_unavailable', async () => {
    const { deputy, admin } = await startAdminDeputy();
    await deputy.pool.end();
    try {
      const reply = await admin.get('/subjects');
      expect(reply.status).toBe(503);
      expect(reply.body).toEqual({ error: 'temporarily_unavailable', error_description: expect.any(String) });
    } finally {
      await deputy.stop().catch(() => deputy.database.drop());
    }
  });
});
