/**
 * SPEC §3/§4, liveness: entitlement and grant changes show on the very next exchange, and
 * introspection turns inactive at once when the grant is revoked, the subject or an actor of the
 * chain is disabled, or the holder revokes the token.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { PEPPER, RESOURCE, TT, claimsOf, startExchangeWorld, type World } from '../../support/exchange-world.js';
import { startTestDeputy, type TestDeputy } from '../../support/deputy.js';

const ALL = ['read', 'write', 'delete', 'admin'];

describe('live checks', () => {
  let w: World;
  beforeAll(async () => {
    w = await startExchangeWorld();
    await w.addActor('agent:k1', { clientId: 'app-k1', mayDelegateTo: ['agent:k2'] });
    await w.addActor('agent:k2', { clientId: 'app-k2' });
  });
  afterAll(async () => {
    await w?.stop();
  });

  async function mint(sub: string, clientId = 'app-k1', scope = 'read'): Promise<string> {
    const result = await w.exchangeAs(sub, { scope }, { clientId });
    expect(result.status).toBe(200);
    return result.json.access_token as string;
  }

  async function active(token: string): Promise<boolean> {
    const result = await w.introspect(token);
    expect(result.status).toBe(200);
    return result.json.active as boolean;
  }

  describe('the next exchange sees every change', () => {
    it('withdrawing an entitlement (DELETE) drops that scope, then refuses', async () => {
      await w.addSubject('v-ent', { entitlements: ['read', 'write'], grants: { 'agent:k1': ALL } });
      expect((await w.exchangeAs('v-ent', { scope: 'read write' }, { clientId: 'app-k1' })).json.scope).toBe('read write');

      await w.sql(`DELETE FROM entitlements WHERE subject_id = 'v-ent' AND scope = 'write'`);
      const narrowed = await w.exchangeAs('v-ent', { scope: 'read write' }, { clientId: 'app-k1' });
      expect(narrowed.status).toBe(200);
      expect(narrowed.json.scope).toBe('read');

      await w.sql(`DELETE FROM entitlements WHERE subject_id = 'v-ent'`);
      await w.expectRefused(() => w.exchangeAs('v-ent', { scope: 'read write' }, { clientId: 'app-k1' }), 'invalid_scope');
    });

    it('an entitlement reaching its expires_at counts as withdrawn', async () => {
      await w.addSubject('v-ent-exp', { entitlements: ['read', 'write'], grants: { 'agent:k1': ALL } });
      await w.sql(`UPDATE entitlements SET expires_at = now() - interval '1 minute' WHERE subject_id = 'v-ent-exp' AND scope = 'write'`);
      const result = await w.exchangeAs('v-ent-exp', { scope: 'read write' }, { clientId: 'app-k1' });
      expect(result.json.scope).toBe('read');
    });

    it('granting an entitlement widens the very next exchange', async () => {
      await w.addSubject('v-ent-add', { entitlements: ['read'], grants: { 'agent:k1': ALL } });
      expect((await w.exchangeAs('v-ent-add', { scope: 'read write' }, { clientId: 'app-k1' })).json.scope).toBe('read');
      await w.sql(`INSERT INTO entitlements (subject_id, resource_uri, scope) VALUES ('v-ent-add', $1, 'write')`, [RESOURCE]);
      expect((await w.exchangeAs('v-ent-add', { scope: 'read write' }, { clientId: 'app-k1' })).json.scope).toBe('read write');
    });

    it('revoking the grant refuses the very next exchange', async () => {
      const grants = await w.addSubject('v-grant', { entitlements: ALL, grants: { 'agent:k1': ALL } });
      await mint('v-grant');
      await w.sql('UPDATE delegation_grants SET revoked_at = now() WHERE id = $1', [grants['agent:k1']]);
      await w.expectRefused(() => w.exchangeAs('v-grant', { scope: 'read' }, { clientId: 'app-k1' }), 'invalid_request');
    });

    it('disabling the subject refuses the very next exchange', async () => {
      await w.addSubject('v-subj', { entitlements: ALL, grants: { 'agent:k1': ALL } });
      await mint('v-subj');
      await w.sql(`UPDATE subjects SET status = 'disabled' WHERE id = 'v-subj'`);
      await w.expectRefused(() => w.exchangeAs('v-subj', { scope: 'read' }, { clientId: 'app-k1' }), 'invalid_request');
    });
  });

  describe('a kill switch is final for the tokens issued before it', () => {
    const exchangeChild = (parent: string, clientId = 'app-r2') =>
      w.exchange({ subject_token: parent, subject_token_type: TT.accessToken, resource: RESOURCE, scope: 'read' }, { clientId });

    it('re-enabling a disabled actor does not revive its tokens; new exchanges work and are active', async () => {
      await w.addActor('agent:r1', { clientId: 'app-r1', mayDelegateTo: ['agent:r2'] });
      await w.addActor('agent:r2', { clientId: 'app-r2' });
      await w.addSubject('k-actor', { entitlements: ALL, grants: { 'agent:r1': ALL, 'agent:r2': ALL } });
      const old = await mint('k-actor', 'app-r1');
      expect(await active(old)).toBe(true);

      await w.sql(`UPDATE actors SET status = 'disabled' WHERE id = 'agent:r1'`);
      await w.sql(`UPDATE actors SET status = 'active' WHERE id = 'agent:r1'`);

      expect(await w.introspect(old)).toMatchObject({ status: 200, json: { active: false } });
      await w.expectRefused(() => exchangeChild(old), 'invalid_request');
      expect(await w.lastEvent('token.exchange_denied')).toMatchObject({ error: 'invalid_request', details: { reason: 'decision.chain_actor_inactive' } });

      const fresh = await mint('k-actor', 'app-r1');
      expect(await active(fresh)).toBe(true);
      const child = await exchangeChild(fresh);
      expect(child.status).toBe(200);
      expect(await active(child.json.access_token as string)).toBe(true);
    });

    it('re-enabling a disabled subject does not revive its tokens; new exchanges work and are active', async () => {
      await w.addSubject('k-subj', { entitlements: ALL, grants: { 'agent:k1': ALL, 'agent:k2': ALL } });
      const old = await mint('k-subj');
      expect(await active(old)).toBe(true);

      await w.sql(`UPDATE subjects SET status = 'disabled' WHERE id = 'k-subj'`);
      await w.sql(`UPDATE subjects SET status = 'active' WHERE id = 'k-subj'`);

      expect(await w.introspect(old)).toMatchObject({ status: 200, json: { active: false } });
      await w.expectRefused(() => exchangeChild(old, 'app-k2'), 'invalid_request');
      expect(await w.lastEvent('token.exchange_denied')).toMatchObject({ error: 'invalid_request', details: { reason: 'decision.subject_disabled_since_issued' } });

      const fresh = await mint('k-subj');
      expect(await active(fresh)).toBe(true);
      const child = await exchangeChild(fresh, 'app-k2');
      expect(child.status).toBe(200);
      expect(await active(child.json.access_token as string)).toBe(true);
    });

    it('re-enabling a disabled subject does not revive its IdP tokens issued before the disable; fresh ones are accepted', async () => {
      await w.addSubject('k-idp', { entitlements: ALL, grants: { 'agent:k1': ALL } });
      const exchangeIdp = (subjectToken: string) =>
        w.exchange({ subject_token: subjectToken, subject_token_type: TT.jwt, resource: RESOURCE, scope: 'read' }, { clientId: 'app-k1' });
      const old = await w.userToken('k-idp', { claims: { iat: Math.floor(Date.now() / 1000) - 5 } });
      expect((await exchangeIdp(old)).status).toBe(200);

      await w.sql(`UPDATE subjects SET status = 'disabled' WHERE id = 'k-idp'`);
      await w.sql(`UPDATE subjects SET status = 'active' WHERE id = 'k-idp'`);
      const [row] = await w.sql<{ disabled_at: Date }>(`SELECT disabled_at FROM subjects WHERE id = 'k-idp'`);
      const disabledSecond = Math.floor(row!.disabled_at.getTime() / 1000);

      await w.expectRefused(() => exchangeIdp(old), 'invalid_request');
      expect(await w.lastEvent('token.exchange_denied')).toMatchObject({ error: 'invalid_request', details: { reason: 'decision.subject_disabled_since_issued' } });
      const justBefore = await w.userToken('k-idp', { claims: { iat: disabledSecond - 1 } });
      await w.expectRefused(() => exchangeIdp(justBefore), 'invalid_request');

      // iat is whole seconds: a token of the disable's own second cannot be told apart, and is accepted.
      const sameSecond = await w.userToken('k-idp', { claims: { iat: disabledSecond } });
      expect((await exchangeIdp(sameSecond)).status).toBe(200);
      const fresh = await w.userToken('k-idp');
      const result = await exchangeIdp(fresh);
      expect(result.status).toBe(200);
      expect(await active(result.json.access_token as string)).toBe(true);
    });

    it('is stamped by the database whatever changes the status, and cannot be cleared by hand', async () => {
      await w.addActor('agent:r3', { clientId: 'app-r3' });
      await w.sql(`UPDATE actors SET status = 'disabled' WHERE id = 'agent:r3'`);
      const [stamped] = await w.sql<{ disabled_at: Date | null }>(`SELECT disabled_at FROM actors WHERE id = 'agent:r3'`);
      expect(stamped!.disabled_at).toBeInstanceOf(Date);
      await w.sql(`UPDATE actors SET status = 'active', disabled_at = NULL WHERE id = 'agent:r3'`);
      const [after] = await w.sql<{ disabled_at: Date | null }>(`SELECT disabled_at FROM actors WHERE id = 'agent:r3'`);
      expect(after!.disabled_at).toEqual(stamped!.disabled_at);
    });
  });

  describe('introspection', () => {
    it('is active:false right after the grant is revoked', async () => {
      const grants = await w.addSubject('i-grant', { entitlements: ALL, grants: { 'agent:k1': ALL } });
      const token = await mint('i-grant');
      expect(await active(token)).toBe(true);
      await w.sql('UPDATE delegation_grants SET revoked_at = now() WHERE id = $1', [grants['agent:k1']]);
      expect(await active(token)).toBe(false);
      expect((await w.introspect(token)).json).toEqual({ active: false });
    });

    it('is active:false right after the subject is disabled', async () => {
      await w.addSubject('i-subj', { entitlements: ALL, grants: { 'agent:k1': ALL } });
      const token = await mint('i-subj');
      expect(await active(token)).toBe(true);
      await w.sql(`UPDATE subjects SET status = 'disabled' WHERE id = 'i-subj'`);
      expect(await active(token)).toBe(false);
    });

    it('is active:false right after the actor is disabled (the kill switch)', async () => {
      await w.addActor('agent:kill', { clientId: 'app-kill' });
      await w.addSubject('i-actor', { entitlements: ALL, grants: { 'agent:kill': ALL } });
      const token = await mint('i-actor', 'app-kill');
      expect(await active(token)).toBe(true);
      await w.sql(`UPDATE actors SET status = 'disabled' WHERE id = 'agent:kill'`);
      expect(await active(token)).toBe(false);
    });

    it('a chained token is inactive once an earlier actor of its chain is disabled, or an earlier grant revoked', async () => {
      await w.addActor('agent:c1', { clientId: 'app-c1', mayDelegateTo: ['agent:c2'] });
      await w.addActor('agent:c2', { clientId: 'app-c2' });
      const grants = await w.addSubject('i-chain', { entitlements: ALL, grants: { 'agent:c1': ALL, 'agent:c2': ALL } });
      const chained = async (parent: string) => {
        const result = await w.exchange(
          { subject_token: parent, subject_token_type: TT.accessToken, resource: RESOURCE, scope: 'read' },
          { clientId: 'app-c2' },
        );
        expect(result.status).toBe(200);
        return result.json.access_token as string;
      };

      const parent = await mint('i-chain', 'app-c1');
      const child = await chained(parent);
      expect(claimsOf(child).act).toEqual({ sub: 'agent:c2', act: { sub: 'agent:c1' } });
      expect(await active(child)).toBe(true);
      await w.sql(`UPDATE actors SET status = 'disabled' WHERE id = 'agent:c1'`);
      expect(await active(child)).toBe(false);
      // A kill switch is final for the tokens issued before it (SPEC §4): re-enabling revives neither.
      await w.sql(`UPDATE actors SET status = 'active' WHERE id = 'agent:c1'`);
      expect(await active(child)).toBe(false);
      expect(await active(parent)).toBe(false);

      const newParent = await mint('i-chain', 'app-c1');
      const newChild = await chained(newParent);
      expect(await active(newChild)).toBe(true);
      await w.sql('UPDATE delegation_grants SET revoked_at = now() WHERE id = $1', [grants['agent:c1']]);
      expect(await active(newChild)).toBe(false);
      expect(await active(newParent)).toBe(false);
    });

    it('is active:false once the token has expired, and an expired token cannot be exchanged', async () => {
      await w.addSubject('i-expiry', { entitlements: ALL, grants: { 'agent:k1': ALL, 'agent:k2': ALL } });
      // The token lives only as long as the subject token it came from: two seconds.
      const subjectExp = Math.floor(Date.now() / 1000) + 2;
      const result = await w.exchange(
        { subject_token: await w.userToken('i-expiry', { claims: { exp: subjectExp } }), subject_token_type: TT.jwt, resource: RESOURCE, scope: 'read' },
        { clientId: 'app-k1' },
      );
      const token = result.json.access_token as string;
      expect(claimsOf(token).exp).toBe(subjectExp);
      expect(await active(token)).toBe(true);
      while (Date.now() / 1000 < subjectExp + 1) await new Promise((resolve) => setTimeout(resolve, 100));
      expect((await w.introspect(token)).json).toEqual({ active: false });
      await w.expectRefused(
        () => w.exchange({ subject_token: token, subject_token_type: TT.accessToken, resource: RESOURCE }, { clientId: 'app-k2' }),
        'invalid_request',
      );
    });

    /** The token with every scope in its payload, under its genuine header and signature. */
    const widened = (token: string) => {
      const [header, , signature] = token.split('.');
      return `${header}.${Buffer.from(JSON.stringify({ ...claimsOf(token), scope: 'read write delete admin' })).toString('base64url')}.${signature}`;
    };

    it('records each token’s digest, and is active:false for a token that reuses a real jti with other content', async () => {
      await w.addSubject('i-digest', { entitlements: ALL, grants: { 'agent:k1': ALL } });
      const token = await mint('i-digest');
      const { jti } = claimsOf(token) as { jti: string };
      const [row] = await w.sql<{ digest: string }>(`SELECT encode(token_sha256, 'hex') AS digest FROM issued_tokens WHERE jti = $1`, [jti]);
      expect(row!.digest).toBe(createHash('sha256').update(token).digest('hex'));
      expect(await active(token)).toBe(true);

      // Same header, same jti, wider scope, the genuine token's signature: not the token recorded.
      expect(await active(widened(token))).toBe(false);
      // And a byte of the signature changed.
      const flipped = `${token.slice(0, -2)}${token.at(-2) === 'A' ? 'B' : 'A'}${token.at(-1)}`;
      expect(await active(flipped)).toBe(false);
    });

    it('verifies the signature of a token recorded without a digest (issued before migration 0006)', async () => {
      await w.addSubject('i-legacy', { entitlements: ALL, grants: { 'agent:k1': ALL } });
      const token = await mint('i-legacy');
      const { jti } = claimsOf(token) as { jti: string };
      await w.sql('UPDATE issued_tokens SET token_sha256 = NULL WHERE jti = $1', [jti]);
      expect(await active(token)).toBe(true);
      expect(await active(widened(token))).toBe(false);
    });

    it('answers active:false for a token it did not mint', async () => {
      expect((await w.introspect(await w.userToken('alice'))).json).toEqual({ active: false });
      expect((await w.introspect('not-a-token')).json).toEqual({ active: false });
    });
  });

  describe('revocation endpoint', () => {
    it('the holder client revokes its token: introspection inactive, exchange with it refused, one token.revoked event', async () => {
      await w.addSubject('r-holder', { entitlements: ALL, grants: { 'agent:k1': ALL, 'agent:k2': ALL } });
      const token = await mint('r-holder');
      const jti = claimsOf(token).jti as string;
      const revoked = await w.revoke(token, { clientId: 'app-k1' });
      expect(revoked.status).toBe(200);
      expect(await active(token)).toBe(false);
      expect(await w.auditCount({ type: 'token.revoked', jti })).toBe(1);
      const [row] = await w.sql<{ revoked: boolean }>('SELECT revoked_at IS NOT NULL AS revoked FROM issued_tokens WHERE jti = $1', [jti]);
      expect(row?.revoked).toBe(true);
      await w.expectRefused(
        () => w.exchange({ subject_token: token, subject_token_type: TT.accessToken, resource: RESOURCE, scope: 'read' }, { clientId: 'app-k2' }),
        'invalid_request',
      );

      // Revoking again is a no-op (still 200, no second event).
      expect((await w.revoke(token, { clientId: 'app-k1' })).status).toBe(200);
      expect(await w.auditCount({ type: 'token.revoked', jti })).toBe(1);
    });

    it('another client\'s revocation leaves the token active', async () => {
      await w.addSubject('r-other', { entitlements: ALL, grants: { 'agent:k1': ALL } });
      const token = await mint('r-other');
      const result = await w.revoke(token, { clientId: 'app-b' });
      expect(result.status).toBe(200);
      expect(await active(token)).toBe(true);
      const [row] = await w.sql<{ revoked: boolean }>('SELECT revoked_at IS NOT NULL AS revoked FROM issued_tokens WHERE jti = $1', [claimsOf(token).jti]);
      expect(row?.revoked).toBe(false);
    });

    it('revoking one token leaves its siblings under the same grant active', async () => {
      await w.addSubject('r-sibling', { entitlements: ALL, grants: { 'agent:k1': ALL } });
      const first = await mint('r-sibling');
      const second = await mint('r-sibling');
      await w.revoke(first, { clientId: 'app-k1' });
      expect(await active(first)).toBe(false);
      expect(await active(second)).toBe(true);
    });
  });

  describe('two Deputy processes on one database', () => {
    let other: TestDeputy;
    beforeAll(async () => {
      // Behind one load balancer the processes share one ISSUER.
      other = await startTestDeputy({ CLIENT_SECRET_PEPPER: PEPPER, ISSUER: w.issuer }, w.deputy.database);
    });
    afterAll(async () => {
      await other?.stop();
    });

    it('a revocation through one is honoured by the other at once', async () => {
      await w.addSubject('m-proc', { entitlements: ALL, grants: { 'agent:k1': ALL } });
      const token = await mint('m-proc');
      const introspectOther = async () => {
        const response = await fetch(`${other.url}/token/introspection`, {
          method: 'POST',
          headers: {
            'content-type': 'application/x-www-form-urlencoded',
            authorization: `Basic ${Buffer.from('app-k1:secret-of-app-k1').toString('base64')}`,
          },
          body: new URLSearchParams({ token }).toString(),
        });
        expect(response.status).toBe(200);
        return ((await response.json()) as { active: boolean }).active;
      };
      // Both processes sign with the keys stored in the database, so the other one verifies it.
      expect(await introspectOther()).toBe(true);
      await w.revoke(token, { clientId: 'app-k1' });
      expect(await introspectOther()).toBe(false);
    });
  });
});
