/**
 * Revocation is one request whatever the number of tokens: revoking a grant, disabling an actor
 * or a subject each change one row, which the exchange and introspection read live.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { TestDeputy } from '../support/deputy.js';
import { seedBasics, startAdminDeputy, type Admin } from './support.js';

describe('admin revocation', () => {
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

  async function grantWithTokens(count: number): Promise<string> {
    const grant = await admin.post('/grants', { subject: world.subject, actor: world.actor, resource: world.resource, scopes: ['tickets:read'] });
    expect(grant.status).toBe(201);
    await deputy.pool.query(
      `INSERT INTO issued_tokens (jti, subject_id, actor_ids, client_id, resource_uri, scope, grant_id, grant_ids, issued_at, expires_at)
       SELECT $1 || '-' || n, $2, ARRAY[$3], 'app', $4, 'tickets:read', $1::uuid, ARRAY[$1::uuid], now(), now() + interval '5 minutes'
         FROM generate_series(1, $5::int) AS n`,
      [grant.body.id, world.subject, world.actor, world.resource, count],
    );
    return grant.body.id;
  }

  it('revokes a grant with 1,000 issued tokens in one call', async () => {
    const grantId = await grantWithTokens(1000);
    const before = await deputy.pool.query<{ count: number }>('SELECT count(*)::int AS count FROM issued_tokens WHERE grant_id = $1', [grantId]);
    expect(before.rows[0]!.count).toBe(1000);

    const reply = await admin.post(`/grants/${grantId}/revoke`, { reason: 'compromised agent' });
    expect(reply.status).toBe(200);
    expect(reply.body).toMatchObject({ id: grantId, revoked_at: expect.any(String), revoked_by: 'bootstrap' });

    const { rows } = await deputy.pool.query('SELECT revoked_at, revoked_by FROM delegation_grants WHERE id = $1', [grantId]);
    expect(rows[0]).toEqual({ revoked_at: expect.any(Date), revoked_by: 'bootstrap' });
    // One audit event for the one change, with the reason.
    const events = await admin.get(`/audit?type=grant.revoked`);
    expect(events.body.items.filter((e: { grant_id: string }) => e.grant_id === grantId)).toEqual([
      expect.objectContaining({ admin: 'bootstrap', subject: world.subject, actors: [world.actor], details: { reason: 'compromised agent' } }),
    ]);
    // The tokens are reachable from the grant for inspection; none was deleted.
    const page = await admin.get(`/tokens?grant=${grantId}&limit=500`);
    expect(page.body.items).toHaveLength(500);
    expect(page.body.next_cursor).not.toBeNull();
  });

  it('disables an actor with one status update (the kill switch)', async () => {
    await grantWithTokens(50);
    const reply = await admin.patch(`/actors/${world.actor}`, { status: 'disabled' });
    expect(reply.status).toBe(200);
    expect(reply.body.status).toBe('disabled');
    const { rows } = await deputy.pool.query('SELECT status FROM actors WHERE id = $1', [world.actor]);
    expect(rows[0].status).toBe('disabled');

    const events = await admin.get(`/audit?type=actor.updated&actor=${encodeURIComponent(world.actor)}`);
    expect(events.body.items[0]).toMatchObject({ admin: 'bootstrap', details: { changes: { status: { from: 'active', to: 'disabled' } } } });
  });

  it('disables a subject with one status update', async () => {
    const reply = await admin.patch(`/subjects/${world.subject}`, { status: 'disabled' });
    expect(reply.status).toBe(200);
    const { rows } = await deputy.pool.query('SELECT status FROM subjects WHERE id = $1', [world.subject]);
    expect(rows[0].status).toBe('disabled');
  });

  it('revokes a single token by jti', async () => {
    const grantId = await grantWithTokens(3);
    const reply = await admin.post(`/tokens/${grantId}-2/revoke`, { reason: 'leaked in a log' });
    expect(reply.status).toBe(200);
    const { rows } = await deputy.pool.query<{ jti: string }>('SELECT jti FROM issued_tokens WHERE grant_id = $1 AND revoked_at IS NOT NULL', [grantId]);
    expect(rows.map((row) => row.jti)).toEqual([`${grantId}-2`]);
    const events = await admin.get(`/audit?type=token.revoked`);
    expect(events.body.items[0]).toMatchObject({ jti: `${grantId}-2`, grant_id: grantId, admin: 'bootstrap', details: { reason: 'leaked in a log' } });
  });
});
