/**
 * SPEC §3, the effective scope over HTTP: each of the six sets cuts a scope on its own, the
 * response lists exactly what was granted, and every refusal is clean (no token, no
 * issued-token row, one token.exchange_denied audit event naming the error).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { OTHER_RESOURCE, RESOURCE, TT, claimsOf, startExchangeWorld, type HttpResult, type World } from '../../support/exchange-world.js';

const ALL = ['read', 'write', 'delete', 'admin'];

describe('token exchange: the effective scope is the intersection of six sets', () => {
  let w: World;
  beforeAll(async () => {
    w = await startExchangeWorld();
    // agent:wide's ceiling includes a scope the resource does not define; agent:narrow's ceiling is read/write.
    await w.addActor('agent:wide', { scopeCeiling: [...ALL, 'export'], clientId: 'app-wide' });
    await w.addActor('agent:narrow', { scopeCeiling: ['read', 'write'], clientId: 'app-narrow' });
  });
  afterAll(async () => {
    await w?.stop();
  });

  async function expectGranted(result: HttpResult, scopes: string[], dropped: Array<{ scope: string; reason: string }>) {
    expect(result.status).toBe(200);
    expect(result.json.scope).toBe(scopes.join(' '));
    const claims = claimsOf(result.json.access_token as string);
    expect(claims.scope).toBe(scopes.join(' '));
    const event = await w.sql<{ scope_granted: string[]; scope_denied: unknown[]; type: string }>(
      'SELECT type, scope_granted, scope_denied FROM audit_events WHERE jti = $1',
      [claims.jti],
    );
    expect(event).toEqual([{ type: 'token.exchanged', scope_granted: scopes, scope_denied: dropped }]);
    const [row] = await w.sql<{ scope: string }>('SELECT scope FROM issued_tokens WHERE jti = $1', [claims.jti]);
    expect(row?.scope).toBe(scopes.join(' '));
  }

  it('the requested scopes cut on their own', async () => {
    // alice: entitled to all four, grant read/write/delete, agent:a ceiling all four.
    await expectGranted(await w.exchangeAs('alice', { scope: 'write' }), ['write'], []);
  });

  it('the live entitlements cut on their own', async () => {
    await w.addSubject('s-ent', { entitlements: ['read', 'write'], grants: { 'agent:wide': ALL } });
    const result = await w.exchangeAs('s-ent', { scope: 'read write delete' }, { clientId: 'app-wide' });
    await expectGranted(result, ['read', 'write'], [{ scope: 'delete', reason: 'no_entitlement' }]);
  });

  it('the delegation grant cuts on its own', async () => {
    await w.addSubject('s-grant', { entitlements: ALL, grants: { 'agent:wide': ['read', 'write'] } });
    const result = await w.exchangeAs('s-grant', { scope: 'read write delete' }, { clientId: 'app-wide' });
    await expectGranted(result, ['read', 'write'], [{ scope: 'delete', reason: 'not_delegated' }]);
  });

  it('the actor ceiling cuts on its own', async () => {
    await w.addSubject('s-ceil', { entitlements: ALL, grants: { 'agent:narrow': ALL } });
    const result = await w.exchangeAs('s-ceil', { scope: 'read write delete' }, { clientId: 'app-narrow' });
    await expectGranted(result, ['read', 'write'], [{ scope: 'delete', reason: 'above_actor_ceiling' }]);
  });

  it('the resource\'s defined scopes cut on their own', async () => {
    await w.addSubject('s-res', { entitlements: [...ALL, 'export'], grants: { 'agent:wide': [...ALL, 'export'] } });
    const result = await w.exchangeAs('s-res', { scope: 'read export' }, { clientId: 'app-wide' });
    await expectGranted(result, ['read'], [{ scope: 'export', reason: 'unknown_to_resource' }]);
  });

  it('the parent token\'s scopes cut on their own in a chain', async () => {
    const parent = await w.exchangeAs('alice', { scope: 'read write' });
    expect(parent.status).toBe(200);
    // alice → agent:b grants read/write/delete; agent:b's ceiling and alice's entitlements allow delete.
    const result = await w.exchange(
      { subject_token: parent.json.access_token as string, subject_token_type: TT.accessToken, resource: RESOURCE, scope: 'read write delete' },
      { clientId: 'app-b' },
    );
    await expectGranted(result, ['read', 'write'], [{ scope: 'delete', reason: 'not_in_parent_token' }]);
    expect(claimsOf(result.json.access_token as string).act).toEqual({ sub: 'agent:b', act: { sub: 'agent:a' } });
  });

  it('an absent scope asks for the grant\'s scopes, still cut by the other sets', async () => {
    await w.addSubject('s-absent', { entitlements: ['read'], grants: { 'agent:wide': ['read', 'write'] } });
    const result = await w.exchangeAs('s-absent', {}, { clientId: 'app-wide' });
    await expectGranted(result, ['read'], [{ scope: 'write', reason: 'no_entitlement' }]);
  });

  describe('refusals', () => {
    it('an empty intersection → 400 invalid_scope, with each dropped scope audited', async () => {
      await w.expectRefused(() => w.exchangeAs('alice', { scope: 'admin' }), 'invalid_scope');
      const event = await w.lastEvent('token.exchange_denied');
      expect(event).toMatchObject({ subject_id: 'alice', scope_denied: [{ scope: 'admin', reason: 'not_delegated' }], jti: null });
    });

    it('a scope nobody defines alone → invalid_scope', async () => {
      await w.expectRefused(() => w.exchangeAs('alice', { scope: 'frobnicate' }), 'invalid_scope');
    });

    it('no grant from the subject to the actor → invalid_request, audited with who asked for what', async () => {
      await w.expectRefused(() => w.exchangeAs('bob', { scope: 'read' }), 'invalid_request');
      expect(await w.lastEvent('token.exchange_denied')).toMatchObject({
        type: 'token.exchange_denied',
        error: 'invalid_request',
        client_id: 'app-a',
        subject_id: 'bob',
        actor_ids: ['agent:a'],
        resource_uri: RESOURCE,
        scope_requested: ['read'],
        scope_granted: [],
        jti: null,
      });
    });

    it('an expired grant → invalid_request', async () => {
      await w.addSubject('s-expired-grant', {
        entitlements: ALL,
        grants: { 'agent:a': { scopes: ['read'], expiresAt: new Date(Date.now() - 60_000) } },
      });
      await w.expectRefused(() => w.exchangeAs('s-expired-grant', { scope: 'read' }), 'invalid_request');
    });

    it('a revoked grant → invalid_request', async () => {
      const grants = await w.addSubject('s-revoked-grant', { entitlements: ALL, grants: { 'agent:a': ['read'] } });
      expect((await w.exchangeAs('s-revoked-grant', { scope: 'read' })).status).toBe(200);
      await w.sql('UPDATE delegation_grants SET revoked_at = now() WHERE id = $1', [grants['agent:a']]);
      await w.expectRefused(() => w.exchangeAs('s-revoked-grant', { scope: 'read' }), 'invalid_request');
    });

    it('a grant to another actor does not count → invalid_request', async () => {
      await w.addSubject('s-other-actor', { entitlements: ALL, grants: { 'agent:b': ['read'] } });
      await w.expectRefused(() => w.exchangeAs('s-other-actor', { scope: 'read' }), 'invalid_request');
    });

    it('an unknown resource → invalid_target', async () => {
      await w.expectRefused(() => w.exchangeAs('alice', { resource: 'https://api.test/unknown', scope: 'read' }), 'invalid_target');
    });

    it('a registered resource the actor may not target → invalid_target', async () => {
      await w.addGrant('alice', 'agent:a', ['read'], null, OTHER_RESOURCE);
      await w.expectRefused(() => w.exchangeAs('alice', { resource: OTHER_RESOURCE, scope: 'read' }), 'invalid_target');
    });

    it('a missing resource → invalid_target', async () => {
      await w.expectRefused(
        async () => w.exchange({ subject_token: await w.userToken('alice'), subject_token_type: TT.jwt, scope: 'read' }),
        'invalid_target',
      );
    });

    it('resource and audience naming different targets → invalid_target', async () => {
      await w.expectRefused(
        async () => w.exchangeAs('alice', { audience: OTHER_RESOURCE, scope: 'read' }),
        'invalid_target',
      );
    });

    it('a grant on another resource does not count', async () => {
      await w.addSubject('s-wrong-resource', { entitlements: ALL });
      await w.addGrant('s-wrong-resource', 'agent:a', ['read'], null, OTHER_RESOURCE);
      await w.expectRefused(() => w.exchangeAs('s-wrong-resource', { scope: 'read' }), 'invalid_request');
    });
  });
});
