/**
 * GET /admin/v1/tokens/:jti/status: what introspection answers, why, and the chain hop by hop;
 * GET /admin/v1/overview: the console's counts.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { RESOURCE, TT, claimsOf, startExchangeWorld, type HttpResult, type World } from '../support/exchange-world.js';
import { ADMIN_TOKEN, adminClient, type Admin } from './support.js';

function tokenOf(result: HttpResult): string {
  if (result.status !== 200) throw new Error(`expected a token, got ${result.status} ${result.text}`);
  return result.json.access_token as string;
}

describe('token status and chain', () => {
  let w: World;
  let admin: Admin;
  beforeAll(async () => {
    w = await startExchangeWorld({ DEPUTY_ADMIN_TOKEN: ADMIN_TOKEN });
    admin = adminClient(w.deputy.url);
  });
  afterAll(async () => {
    await w?.stop();
  });

  const status = async (token: string) => (await admin.get(`/tokens/${claimsOf(token).jti}/status`)).body;
  const twoHops = async () => {
    const first = tokenOf(await w.exchangeAs('alice', { scope: 'read write' }));
    const second = tokenOf(await w.exchange({ subject_token: first, subject_token_type: TT.accessToken, resource: RESOURCE }, { clientId: 'app-b' }));
    return { first, second };
  };

  it('draws a two-hop chain with each hop\'s grant, active like introspection says', async () => {
    const { first, second } = await twoHops();
    const body = await status(second);
    expect(body).toEqual({
      jti: claimsOf(second).jti,
      active: true,
      reasons: [],
      subject: 'alice',
      subject_status: 'active',
      hops: [
        { actor: 'agent:a', actor_status: 'active', grant: { id: w.grantIds['agent:a'], scopes: ['read', 'write', 'delete'], expires_at: null, revoked_at: null } },
        { actor: 'agent:b', actor_status: 'active', grant: { id: w.grantIds['agent:b'], scopes: ['read', 'write', 'delete'], expires_at: null, revoked_at: null } },
      ],
      ancestors: [{ jti: claimsOf(first).jti, revoked_at: null }],
    });
    expect((await w.introspect(second)).json.active).toBe(true);
  });

  it('says why a token is inactive: actor disabled, ancestor revoked, grant revoked — and introspection agrees', async () => {
    await w.addSubject('erin', { entitlements: ['read', 'write'], grants: { 'agent:a': ['read', 'write'], 'agent:b': ['read', 'write'] } });
    const first = tokenOf(await w.exchangeAs('erin', { scope: 'read' }));
    const second = tokenOf(await w.exchange({ subject_token: first, subject_token_type: TT.accessToken, resource: RESOURCE }, { clientId: 'app-b' }));

    await w.sql(`UPDATE actors SET status = 'disabled' WHERE id = 'agent:a'`);
    try {
      const body = await status(second);
      expect(body.active).toBe(false);
      expect(body.reasons).toEqual([{ code: 'actor_disabled', message: 'the actor agent:a is disabled' }]);
      expect(body.hops[0].actor_status).toBe('disabled');
      expect((await w.introspect(second)).json).toEqual({ active: false });
    } finally {
      await w.sql(`UPDATE actors SET status = 'active' WHERE id = 'agent:a'`);
    }
    // A kill switch is final for the tokens issued before it (review item 15).
    const revived = await status(second);
    expect(revived.active).toBe(false);
    expect(revived.reasons.map((r: { code: string }) => r.code)).toEqual(['actor_disabled_since_issued']);
    expect((await w.introspect(second)).json).toEqual({ active: false });

    const parent = tokenOf(await w.exchangeAs('erin', { scope: 'read' }));
    const child = tokenOf(await w.exchange({ subject_token: parent, subject_token_type: TT.accessToken, resource: RESOURCE }, { clientId: 'app-b' }));
    expect((await status(child)).active).toBe(true);
    expect((await admin.post(`/tokens/${claimsOf(parent).jti}/revoke`, {})).status).toBe(200);
    const grantId = (await status(child)).hops[1].grant.id;
    expect((await admin.post(`/grants/${grantId}/revoke`, {})).status).toBe(200);
    const body = await status(child);
    expect(body.reasons.map((r: { code: string }) => r.code)).toEqual(['ancestor_revoked', 'grant_revoked']);
    expect((await w.introspect(child)).json).toEqual({ active: false });
  });

  it('answers 404 for an unknown token, and requires the admin credential', async () => {
    expect((await admin.get('/tokens/00000000-0000-4000-8000-000000000000/status')).status).toBe(404);
    expect((await adminClient(w.deputy.url, null).get('/tokens/x/status')).status).toBe(401);
  });

  it('counts the overview: actors by kind, grants, tokens and denials of the last 24 h', async () => {
    const before = (await admin.get('/overview')).body;
    await w.expectRefused(() => w.exchangeAs('alice', { scope: 'read', resource: 'https://unknown.test/' }), 'invalid_target');
    tokenOf(await w.exchangeAs('alice', { scope: 'read' }));
    await w.sql(`UPDATE actors SET expires_at = now() + interval '3 days' WHERE id = 'agent:c'`);
    const reply = await admin.get('/overview');
    expect(reply.status).toBe(200);
    const after = reply.body;
    expect(after.active_actors_by_kind.agent).toBe(before.active_actors_by_kind.agent);
    expect(after.actors_expiring_within_7_days).toBe(before.actors_expiring_within_7_days + 1);
    expect(after.tokens_minted_24h).toBe(before.tokens_minted_24h + 1);
    expect(after.exchanges_denied_24h.invalid_target).toBe((before.exchanges_denied_24h.invalid_target ?? 0) + 1);
    const [grants] = await w.sql<{ n: number }>('SELECT count(*)::int AS n FROM delegation_grants WHERE revoked_at IS NULL');
    expect(after.active_grants).toBe(grants!.n);
  });
});
