/**
 * SPEC §3 chains: a Deputy delegated token exchanged again (subject_token_type access_token)
 * keeps `sub`, nests `act`, only narrows, and is re-checked live hop by hop.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { OTHER_RESOURCE, RESOURCE, TT, claimsOf, startExchangeWorld, type HttpResult, type World } from '../../support/exchange-world.js';

const ALL = ['read', 'write', 'delete', 'admin'];

function tokenOf(result: HttpResult): string {
  if (result.status !== 200) throw new Error(`expected a token, got ${result.status} ${result.text}`);
  return result.json.access_token as string;
}

describe('delegation chains', () => {
  let w: World;
  beforeAll(async () => {
    w = await startExchangeWorld();
  });
  afterAll(async () => {
    await w?.stop();
  });

  /** The next hop: `clientId` exchanges `parent` (a Deputy token) for itself. */
  function hop(parent: string, clientId: string, params: Record<string, string> = {}): Promise<HttpResult> {
    return w.exchange({ subject_token: parent, subject_token_type: TT.accessToken, resource: RESOURCE, ...params }, { clientId });
  }

  /** A subject with its own grants to agent:a, agent:b and agent:c (read/write/delete). */
  async function chainSubject(id: string): Promise<Record<string, string>> {
    return w.addSubject(id, { entitlements: ALL, grants: { 'agent:a': ['read', 'write', 'delete'], 'agent:b': ['read', 'write', 'delete'], 'agent:c': ['read', 'write', 'delete'] } });
  }

  it('two hops: same sub, act nested {agent:b, act: {agent:a}}, the second hop\'s grant named and recorded', async () => {
    const first = tokenOf(await w.exchangeAs('alice', { scope: 'read write' }));
    const second = await hop(first, 'app-b');
    const claims = claimsOf(tokenOf(second));
    expect(claims).toMatchObject({ sub: 'alice', aud: RESOURCE, client_id: 'app-b', grant_id: w.grantIds['agent:b'], scope: 'read write' });
    expect(claims.act).toEqual({ sub: 'agent:b', act: { sub: 'agent:a' } });
    expect(second.json.scope).toBe('read write');

    const [row] = await w.sql<{ actor_ids: string[]; grant_ids: string[]; parent_jti: string; grant_id: string }>(
      'SELECT actor_ids, grant_ids, parent_jti, grant_id FROM issued_tokens WHERE jti = $1',
      [claims.jti],
    );
    expect(row).toEqual({
      actor_ids: ['agent:a', 'agent:b'],
      grant_ids: [w.grantIds['agent:a'], w.grantIds['agent:b']],
      parent_jti: claimsOf(first).jti,
      grant_id: w.grantIds['agent:b'],
    });
    const [event] = await w.sql<{ actor_ids: string[]; type: string }>('SELECT type, actor_ids FROM audit_events WHERE jti = $1', [claims.jti]);
    expect(event).toEqual({ type: 'token.exchanged', actor_ids: ['agent:a', 'agent:b'] });
    expect((await w.introspect(tokenOf(second))).json).toMatchObject({ active: true, act: { sub: 'agent:b', act: { sub: 'agent:a' } } });
  });

  it('three hops: act nested three deep, outermost the newest actor', async () => {
    const first = tokenOf(await w.exchangeAs('alice', { scope: 'read write' }));
    const second = tokenOf(await hop(first, 'app-b'));
    const third = tokenOf(await hop(second, 'app-c', { scope: 'read' }));
    const claims = claimsOf(third);
    expect(claims.sub).toBe('alice');
    expect(claims.scope).toBe('read');
    expect(claims.act).toEqual({ sub: 'agent:c', act: { sub: 'agent:b', act: { sub: 'agent:a' } } });
  });

  it('the default MAX_DELEGATION_DEPTH is 3: a fourth actor is refused even when delegation allows it', async () => {
    await w.addActor('agent:d', { clientId: 'app-d' });
    await w.addGrant('alice', 'agent:d', ['read']);
    await w.sql(`UPDATE actors SET may_delegate_to = ARRAY['agent:d'] WHERE id = 'agent:c'`);
    try {
      const first = tokenOf(await w.exchangeAs('alice', { scope: 'read' }));
      const second = tokenOf(await hop(first, 'app-b'));
      const third = tokenOf(await hop(second, 'app-c'));
      // agent:c → agent:d is allowed on its own (a two-actor chain): only the depth refuses the fourth.
      const fromC = tokenOf(await w.exchangeAs('alice', { scope: 'read' }, { clientId: 'app-c' }));
      expect(claimsOf(tokenOf(await hop(fromC, 'app-d'))).act).toEqual({ sub: 'agent:d', act: { sub: 'agent:c' } });
      await w.expectRefused(() => hop(third, 'app-d'), 'invalid_request');
    } finally {
      await w.sql(`UPDATE actors SET may_delegate_to = '{}' WHERE id = 'agent:c'`);
    }
  });

  it('a chain only narrows: absent scope keeps the parent\'s, wider is cut, nothing in common is invalid_scope', async () => {
    const parent = tokenOf(await w.exchangeAs('alice', { scope: 'read' }));
    expect((await hop(parent, 'app-b')).json.scope).toBe('read');
    expect((await hop(parent, 'app-b', { scope: 'read write delete' })).json.scope).toBe('read');
    await w.expectRefused(() => hop(parent, 'app-b', { scope: 'write' }), 'invalid_scope');
  });

  it('a chain hop is also cut by the new actor\'s own grant', async () => {
    const grants = await w.addSubject('ch-narrow', { entitlements: ALL, grants: { 'agent:a': ['read', 'write'], 'agent:b': ['read'] } });
    expect(grants['agent:b']).toBeDefined();
    const parent = tokenOf(await w.exchangeAs('ch-narrow', { scope: 'read write' }));
    const child = await hop(parent, 'app-b', { scope: 'read write' });
    expect(child.json.scope).toBe('read');
  });

  it('the same resource only: a chain cannot move to another resource', async () => {
    const parent = tokenOf(await w.exchangeAs('alice', { scope: 'read' }));
    await w.expectRefused(() => hop(parent, 'app-b', { resource: OTHER_RESOURCE }), 'invalid_target');
  });

  it('an actor appearing twice is refused (a → b → a, and a → a)', async () => {
    const first = tokenOf(await w.exchangeAs('alice', { scope: 'read' }));
    const second = tokenOf(await hop(first, 'app-b'));
    await w.expectRefused(() => hop(second, 'app-a'), 'invalid_request');
    await w.expectRefused(() => hop(first, 'app-a'), 'invalid_request');
  });

  it('the previous actor must list the new one in may_delegate_to', async () => {
    const first = tokenOf(await w.exchangeAs('alice', { scope: 'read' }));
    // agent:a may delegate to agent:b only.
    await w.expectRefused(() => hop(first, 'app-c'), 'invalid_request');
    await w.sql(`UPDATE actors SET may_delegate_to = ARRAY['agent:b', 'agent:c'] WHERE id = 'agent:a'`);
    try {
      expect(claimsOf(tokenOf(await hop(first, 'app-c'))).act).toEqual({ sub: 'agent:c', act: { sub: 'agent:a' } });
    } finally {
      await w.sql(`UPDATE actors SET may_delegate_to = ARRAY['agent:b'] WHERE id = 'agent:a'`);
    }
    // Read live: withdrawn again, refused again.
    await w.expectRefused(() => hop(first, 'app-c'), 'invalid_request');
  });

  it('may_act in the user token must name the actor', async () => {
    const exchangeWithMayAct = async (sub: string) =>
      w.exchange({
        subject_token: await w.userToken('alice', { claims: { may_act: { sub } } }),
        subject_token_type: TT.jwt,
        resource: RESOURCE,
        scope: 'read',
      });
    await w.expectRefused(() => exchangeWithMayAct('agent:x'), 'invalid_request');
    expect((await exchangeWithMayAct('agent:a')).status).toBe(200);
  });

  it('a malformed may_act is refused rather than ignored', async () => {
    await w.expectRefused(
      async () => w.exchange({
        subject_token: await w.userToken('alice', { claims: { may_act: 'agent:a' } }),
        subject_token_type: TT.jwt,
        resource: RESOURCE,
        scope: 'read',
      }),
      'invalid_request',
    );
  });

  describe('the whole chain is re-checked live', () => {
    it('revoking the first hop\'s grant refuses the next hop (and the one after)', async () => {
      const grants = await chainSubject('ch-rev-first');
      const first = tokenOf(await w.exchangeAs('ch-rev-first', { scope: 'read' }));
      const second = tokenOf(await hop(first, 'app-b'));
      await w.sql('UPDATE delegation_grants SET revoked_at = now() WHERE id = $1', [grants['agent:a']]);
      await w.expectRefused(() => hop(first, 'app-b'), 'invalid_request');
      await w.expectRefused(() => hop(second, 'app-c'), 'invalid_request');
    });

    it('revoking a middle hop\'s grant refuses the next hop', async () => {
      const grants = await chainSubject('ch-rev-middle');
      const first = tokenOf(await w.exchangeAs('ch-rev-middle', { scope: 'read' }));
      const second = tokenOf(await hop(first, 'app-b'));
      await w.sql('UPDATE delegation_grants SET revoked_at = now() WHERE id = $1', [grants['agent:b']]);
      await w.expectRefused(() => hop(second, 'app-c'), 'invalid_request');
    });

    it('revoking the new hop\'s own grant refuses it', async () => {
      const grants = await chainSubject('ch-rev-last');
      const first = tokenOf(await w.exchangeAs('ch-rev-last', { scope: 'read' }));
      const second = tokenOf(await hop(first, 'app-b'));
      await w.sql('UPDATE delegation_grants SET revoked_at = now() WHERE id = $1', [grants['agent:c']]);
      await w.expectRefused(() => hop(second, 'app-c'), 'invalid_request');
    });

    it('a revoked parent token (revocation endpoint) refuses', async () => {
      await chainSubject('ch-rev-token');
      const first = tokenOf(await w.exchangeAs('ch-rev-token', { scope: 'read' }));
      expect((await w.revoke(first, { clientId: 'app-a' })).status).toBe(200);
      await w.expectRefused(() => hop(first, 'app-b'), 'invalid_request');
    });

    it('a parent token revoked in the database two hops in refuses', async () => {
      await chainSubject('ch-rev-parent');
      const first = tokenOf(await w.exchangeAs('ch-rev-parent', { scope: 'read' }));
      const second = tokenOf(await hop(first, 'app-b'));
      await w.sql('UPDATE issued_tokens SET revoked_at = now() WHERE jti = $1', [claimsOf(second).jti]);
      await w.expectRefused(() => hop(second, 'app-c'), 'invalid_request');
    });

    it('a chain whose grandparent alone was revoked (in the database, no cascade) refuses the next hop', async () => {
      await chainSubject('ch-rev-ancestor');
      const first = tokenOf(await w.exchangeAs('ch-rev-ancestor', { scope: 'read' }));
      const second = tokenOf(await hop(first, 'app-b'));
      await w.sql('UPDATE issued_tokens SET revoked_at = now() WHERE jti = $1', [claimsOf(first).jti]);
      const [parent] = await w.sql<{ revoked_at: Date | null }>('SELECT revoked_at FROM issued_tokens WHERE jti = $1', [claimsOf(second).jti]);
      expect(parent?.revoked_at).toBeNull();
      await w.expectRefused(() => hop(second, 'app-c'), 'invalid_request');
      expect((await w.lastEvent('token.exchange_denied'))?.details).toEqual({ reason: 'live_facts.subject_token_is_not_active' });
    });

    it('an earlier actor disabled refuses the next hop', async () => {
      await w.addActor('agent:p', { clientId: 'app-p', mayDelegateTo: ['agent:q'] });
      await w.addActor('agent:q', { clientId: 'app-q' });
      await w.addSubject('ch-actor', { entitlements: ALL, grants: { 'agent:p': ALL, 'agent:q': ALL } });
      const first = tokenOf(await w.exchangeAs('ch-actor', { scope: 'read' }, { clientId: 'app-p' }));
      await w.sql(`UPDATE actors SET status = 'disabled' WHERE id = 'agent:p'`);
      await w.expectRefused(() => hop(first, 'app-q'), 'invalid_request');
      await w.sql(`UPDATE actors SET status = 'active' WHERE id = 'agent:p'`);
      // A kill switch is final for the tokens issued before it (SPEC §4): re-enabling allows new
      // exchanges, and their tokens chain again.
      await w.expectRefused(() => hop(first, 'app-q'), 'invalid_request');
      const fresh = tokenOf(await w.exchangeAs('ch-actor', { scope: 'read' }, { clientId: 'app-p' }));
      expect((await hop(fresh, 'app-q')).status).toBe(200);
    });

    it('the subject disabled refuses the next hop', async () => {
      await chainSubject('ch-subject');
      const first = tokenOf(await w.exchangeAs('ch-subject', { scope: 'read' }));
      await w.sql(`UPDATE subjects SET status = 'disabled' WHERE id = 'ch-subject'`);
      await w.expectRefused(() => hop(first, 'app-b'), 'invalid_request');
    });
  });

  describe('token types are not interchangeable', () => {
    it('a Deputy token sent as an external jwt is refused', async () => {
      const first = tokenOf(await w.exchangeAs('alice', { scope: 'read' }));
      await w.expectRefused(
        () => w.exchange({ subject_token: first, subject_token_type: TT.jwt, resource: RESOURCE }, { clientId: 'app-b' }),
        'invalid_request',
      );
    });

    it('an external user token sent as a Deputy access_token is refused', async () => {
      await w.expectRefused(
        async () => w.exchange({ subject_token: await w.userToken('alice'), subject_token_type: TT.accessToken, resource: RESOURCE }),
        'invalid_request',
      );
    });
  });

  describe("Deputy's own tokens never come back as a trusted issuer's (review item 10)", () => {
    // As if an admin had registered Deputy's ISSUER (the admin API now refuses it): the runtime
    // check must hold whatever rows exist.
    beforeAll(async () => {
      const jwks = (await (await fetch(`${w.deputy.url}/jwks`)).json()) as { keys: unknown[] };
      await w.sql(
        `INSERT INTO trusted_issuers (issuer, jwks, audience, kind, subject_claim, algorithms)
         VALUES ($1, $2, $3, 'user', 'sub', ARRAY['ES256']), ($1, $2, $3, 'workload', 'sub', ARRAY['ES256'])`,
        [w.issuer, jwks, RESOURCE],
      );
      await w.addActor('agent:self-wl', { clientId: 'app-self-wl' });
      await w.sql(`UPDATE actors SET workload_issuer = $1, workload_subject = 'alice' WHERE id = 'agent:self-wl'`, [w.issuer]);
      await w.sql(`UPDATE clients SET allowed_actors = array_append(allowed_actors, 'agent:self-wl') WHERE client_id = 'app-a'`);
      await w.addGrant('alice', 'agent:self-wl', ['read']);
    });

    it('a narrowed two-hop token presented as a user token (jwt or id_token) is refused, not widened', async () => {
      const first = tokenOf(await w.exchangeAs('alice', { scope: 'read write delete' }));
      const narrowed = tokenOf(await hop(first, 'app-b', { scope: 'read' }));
      for (const type of [TT.jwt, TT.idToken]) {
        const refused = await w.expectRefused(
          () => w.exchange({ subject_token: narrowed, subject_token_type: type, resource: RESOURCE, scope: 'read write delete' }),
          'invalid_request',
        );
        expect(refused.json.error_description).toBe('an access token is not accepted as subject token');
      }
    });

    it('a Deputy token presented as a workload actor_token is refused', async () => {
      const token = tokenOf(await w.exchangeAs('alice', { scope: 'read' }));
      const refused = await w.expectRefused(
        async () =>
          w.exchange({ subject_token: await w.userToken('alice'), subject_token_type: TT.jwt, actor_token: token, actor_token_type: TT.jwt, resource: RESOURCE, scope: 'read' }),
        'invalid_request',
      );
      // Refused for what it is: a Deputy access token (typ at+jwt, iss Deputy), before any key work.
      expect(refused.json.error_description).toBe('an access token is not accepted as actor token');
    });

    it('a trusted IdP\'s token with typ at+jwt is refused as a subject token', async () => {
      for (const typ of ['at+jwt', 'application/AT+JWT']) {
        await w.expectRefused(async () => w.exchangeAs('alice', { subject_token: await w.userToken('alice', { header: { typ } }), scope: 'read' }), 'invalid_request');
      }
    });
  });
});

describe('delegation chains: MAX_DELEGATION_DEPTH', () => {
  let w: World;
  beforeAll(async () => {
    w = await startExchangeWorld({ MAX_DELEGATION_DEPTH: '2' });
  });
  afterAll(async () => {
    await w?.stop();
  });

  it('allows two actors and refuses a third', async () => {
    const first = tokenOf(await w.exchangeAs('alice', { scope: 'read' }));
    const second = tokenOf(await w.exchange({ subject_token: first, subject_token_type: TT.accessToken, resource: RESOURCE }, { clientId: 'app-b' }));
    expect(claimsOf(second).act).toEqual({ sub: 'agent:b', act: { sub: 'agent:a' } });
    await w.expectRefused(
      () => w.exchange({ subject_token: second, subject_token_type: TT.accessToken, resource: RESOURCE }, { clientId: 'app-c' }),
      'invalid_request',
    );
  });
});
