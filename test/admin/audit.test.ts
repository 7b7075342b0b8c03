/**
 * Every admin change is an audit event naming the admin, committed with the change; the log is
 * filterable, cursor-paged without repeats or gaps, and tampering is found by audit/verify.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { appendAuditEvents, inTransaction, type AuditEventInput } from '../../src/audit/audit-log.js';
import type { TestDeputy } from '../support/deputy.js';
import { startAdminDeputy, type Admin } from './support.js';

interface Event {
  id: number;
  type: string;
  admin: string | null;
  subject: string | null;
  actors: string[];
  client_id: string | null;
  resource: string | null;
  grant_id: string | null;
  jti: string | null;
  details: Record<string, unknown> | null;
  at: string;
}

const RESOURCE = 'https://api.example.com/docs';

describe('admin audit trail', () => {
  let deputy: TestDeputy;
  let admin: Admin;

  beforeAll(async () => {
    ({ deputy, admin } = await startAdminDeputy());
  });
  afterAll(async () => {
    await deputy.stop();
  });

  async function allEvents(query = ''): Promise<Event[]> {
    const events: Event[] = [];
    let cursor: string | null = null;
    do {
      const reply: { status: number; body: { items: Event[]; next_cursor: string | null } } = await admin.get(
        `/audit?limit=500${query}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`,
      );
      expect(reply.status).toBe(200);
      events.push(...reply.body.items);
      cursor = reply.body.next_cursor;
    } while (cursor);
    return events;
  }

  describe('recording', () => {
    let secret: string;

    beforeAll(async () => {
      const ok = (reply: { status: number }) => expect(reply.status).toBeLessThan(300);
      ok(await admin.post('/subjects', { id: 'dana', email: 'dana@example.com' }));
      ok(await admin.patch('/subjects/dana', { email: 'dana@corp.example.com' }));
      ok(await admin.post('/resources', { uri: RESOURCE, scopes: ['docs:read'] }));
      const resource = (await admin.get('/resources')).body.items[0];
      ok(await admin.patch(`/resources/${resource.id}`, { scopes: ['docs:read', 'docs:write'] }));
      ok(await admin.post('/actors', { id: 'agent:writer', kind: 'agent', owner: 'dana', resources: [RESOURCE] }));
      ok(await admin.patch('/actors/agent:writer', { status: 'disabled' }));
      const client = await admin.post('/clients', { client_id: 'writer-app', actor: 'agent:writer' });
      ok(client);
      secret = client.body.client_secret;
      ok(await admin.patch('/clients/writer-app', { allowed_actors: [] , scope: 'deputy:admin' }));
      ok(await admin.post('/clients/writer-app/secret'));
      const issuer = await admin.post('/issuers', { issuer: 'https://idp.example.com', jwks_uri: 'https://idp.example.com/jwks', audience: 'deputy', kind: 'user' });
      ok(issuer);
      ok(await admin.patch(`/issuers/${issuer.body.id}`, { audience: 'deputy-prod' }));
      const entitlement = await admin.post('/entitlements', { subject: 'dana', resource: RESOURCE, scope: 'docs:read' });
      ok(entitlement);
      ok(await admin.delete(`/entitlements/${entitlement.body.id}`));
      const grant = await admin.post('/grants', { subject: 'dana', actor: 'agent:writer', resource: RESOURCE, scopes: ['docs:read'] });
      ok(grant);
      ok(await admin.post(`/grants/${grant.body.id}/revoke`));
      await deputy.pool.query(
        `INSERT INTO issued_tokens (jti, subject_id, actor_ids, client_id, resource_uri, scope, grant_id, grant_ids, issued_at, expires_at)
         VALUES ('audited-jti', 'dana', ARRAY['agent:writer'], 'writer-app', $1, 'docs:read', $2, ARRAY[$2]::uuid[], now(), now() + interval '5 minutes')`,
        [RESOURCE, grant.body.id],
      );
      ok(await admin.post('/tokens/audited-jti/revoke'));
      ok(await admin.delete(`/issuers/${issuer.body.id}`));
    });

    it('writes one event per change, oldest last, each naming the admin', async () => {
      const events = await allEvents();
      expect(events.map((e) => e.type).reverse()).toEqual([
        'subject.created',
        'subject.updated',
        'resource.created',
        'resource.updated',
        'actor.created',
        'actor.updated',
        'client.created',
        'client.updated',
        'client.secret_rotated',
        'issuer.created',
        'issuer.updated',
        'entitlement.created',
        'entitlement.deleted',
        'grant.created',
        'grant.revoked',
        'token.revoked',
        'issuer.deleted',
      ]);
      expect(new Set(events.map((e) => e.admin))).toEqual(new Set(['bootstrap']));
    });

    it('records what changed, and the objects involved', async () => {
      const events = await allEvents();
      const byType = (type: string) => events.find((e) => e.type === type)!;
      expect(byType('subject.updated')).toMatchObject({
        subject: 'dana',
        details: { changes: { email: { from: 'dana@example.com', to: 'dana@corp.example.com' } } },
      });
      expect(byType('actor.updated')).toMatchObject({ actors: ['agent:writer'], details: { changes: { status: { from: 'active', to: 'disabled' } } } });
      expect(byType('grant.created')).toMatchObject({ subject: 'dana', actors: ['agent:writer'], resource: RESOURCE, grant_id: expect.any(String) });
      expect(byType('token.revoked')).toMatchObject({ jti: 'audited-jti', client_id: 'writer-app', subject: 'dana' });
      expect(byType('entitlement.deleted')).toMatchObject({ subject: 'dana', resource: RESOURCE, details: expect.objectContaining({ scope: 'docs:read' }) });
    });

    it('never records a secret', async () => {
      const rotated = await admin.post('/clients/writer-app/secret');
      const { rows } = await deputy.pool.query<{ text: string }>('SELECT details::text AS text FROM audit_events WHERE details IS NOT NULL');
      const everything = rows.map((row) => row.text).join('\n');
      expect(everything).not.toContain(secret);
      expect(everything).not.toContain(rotated.body.client_secret);
      expect(everything).not.toMatch(/client_secret"/);
    });

    it('writes nothing for a change that did not happen', async () => {
      const before = (await allEvents()).length;
      expect((await admin.post('/subjects', { id: 'dana' })).status).toBe(409);
      expect((await admin.post('/grants', { subject: 'dana', actor: 'agent:ghost', resource: RESOURCE, scopes: ['docs:read'] })).status).toBe(400);
      expect((await admin.patch('/subjects/dana', { email: 'dana@corp.example.com' })).status).toBe(200); // same value: no change
      expect((await allEvents()).length).toBe(before);
    });

    it('commits the change and its event together: no event, no change', async () => {
      // Make the audit insert fail for subject.created only; the subject must not be created either.
      await deputy.pool.query(`
        CREATE FUNCTION test_audit_down() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.type = 'subject.created' THEN RAISE EXCEPTION 'audit store unavailable'; END IF;
          RETURN NEW;
        END $$;
        CREATE TRIGGER test_audit_down BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION test_audit_down();`);
      try {
        const reply = await admin.post('/subjects', { id: 'ghost' });
        expect(reply.status).toBe(500);
        expect(JSON.stringify(reply.body)).not.toContain('audit store');
      } finally {
        await deputy.pool.query('DROP TRIGGER test_audit_down ON audit_events; DROP FUNCTION test_audit_down()');
      }
      expect((await admin.get('/subjects/ghost')).status).toBe(404);
    });
  });

  describe('filters', () => {
    it('by subject, actor, client, type, admin and time', async () => {
      const types = async (query: string) => (await allEvents(query)).map((e) => e.type);
      expect(await types('&subject=dana')).toEqual(
        expect.arrayContaining(['subject.created', 'subject.updated', 'entitlement.created', 'grant.created', 'grant.revoked', 'token.revoked']),
      );
      expect((await allEvents('&subject=dana')).every((e) => e.subject === 'dana')).toBe(true);
      expect(await types(`&actor=${encodeURIComponent('agent:writer')}`)).toEqual(['token.revoked', 'grant.revoked', 'grant.created', 'actor.updated', 'actor.created']);
      expect(await types('&client=writer-app')).toEqual(['client.secret_rotated', 'token.revoked', 'client.secret_rotated', 'client.updated', 'client.created']);
      expect(await types('&type=grant.revoked')).toEqual(['grant.revoked']);
      expect(await types('&admin=client:nobody')).toEqual([]);

      const events = await allEvents();
      const middle = events[Math.floor(events.length / 2)]!;
      const since = await allEvents(`&since=${encodeURIComponent(middle.at)}`);
      const until = await allEvents(`&until=${encodeURIComponent(middle.at)}`);
      expect(since.every((e) => e.at >= middle.at)).toBe(true);
      expect(until.every((e) => e.at < middle.at)).toBe(true);
      expect(since.length + until.length).toBe(events.length);
    });
  });

  describe('paging', () => {
    it('pages through 10,000 events newest first, each exactly once', async () => {
      const start = new Date();
      for (let batch = 0; batch < 10; batch += 1) {
        const events: AuditEventInput[] = Array.from({ length: 1000 }, (_, i) => ({
          type: 'load.test',
          at: start,
          subjectId: `user-${batch * 1000 + i}`,
          details: { n: batch * 1000 + i },
        }));
        await inTransaction(deputy.pool, (client) => appendAuditEvents(client, events));
      }
      const total = (await deputy.pool.query<{ count: number }>('SELECT count(*)::int AS count FROM audit_events')).rows[0]!.count;

      const all = await allEvents();
      const ids = all.map((e) => e.id);
      expect(ids).toHaveLength(total);
      expect(new Set(ids).size).toBe(total);
      expect(ids).toEqual([...ids].sort((a, b) => b - a));

      const loaded = await allEvents('&type=load.test');
      expect(loaded).toHaveLength(10_000);
      expect(new Set(loaded.map((e) => e.details!.n)).size).toBe(10_000);
    });

    it('refuses a cursor it did not issue', async () => {
      const reply = await admin.get(`/audit?cursor=${Buffer.from('["x"]').toString('base64url')}`);
      expect(reply.status).toBe(400);
    });
  });

  describe('verification', () => {
    it('reports an intact log, then the exact event edited behind its back', async () => {
      const intact = await admin.get('/audit/verify');
      expect(intact.status).toBe(200);
      expect(intact.body).toMatchObject({ ok: true, first_broken_link: null });
      expect(intact.body.events_checked).toBeGreaterThan(10_000);

      const { rows } = await deputy.pool.query<{ id: number }>(`SELECT id FROM audit_events WHERE type = 'load.test' ORDER BY id OFFSET 4321 LIMIT 1`);
      const tampered = rows[0]!.id;
      await deputy.pool.query('ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete');
      try {
        await deputy.pool.query(`UPDATE audit_events SET subject_id = 'someone-else' WHERE id = $1`, [tampered]);
      } finally {
        await deputy.pool.query('ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete');
      }

      const broken = await admin.get('/audit/verify');
      expect(broken.body).toMatchObject({ ok: false, first_broken_link: { event_id: tampered, problem: 'hash_mismatch' } });
    });

    it('has no route that edits or deletes an event', async () => {
      expect((await admin.delete('/audit')).status).toBe(405);
      expect((await admin.patch('/audit', { type: 'x' })).status).toBe(405);
    });
  });
});
