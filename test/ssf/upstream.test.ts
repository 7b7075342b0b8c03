/**
 * Issue 16.3: Deputy receives a trusted issuer's Shared Signals. A CAEP session-revoked event for
 * a subject revokes that subject's Deputy tokens issued before the event (and their events reach
 * the resource servers' streams); a RISC account-disabled event disables the subject. Every SET
 * is verified against the issuer's keys, for the stream's audience, once.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { generateKeyPair, SignJWT, type CryptoKey, type JWTPayload } from 'jose';
import { randomUUID } from 'node:crypto';
import { claimsOf, SECRETS, startExchangeWorld, USER_ISSUER, type World } from '../support/exchange-world.js';
import { call, PUSH, reasonOf, receiverToken, revokedJti, SESSION_REVOKED, startPushReceiver, type PushReceiver } from './support.js';

const ADMIN_TOKEN = `ssf-upstream-${'u'.repeat(32)}`;
const ACCOUNT_DISABLED = 'https://schemas.openid.net/secevent/risc/event-type/account-disabled';
const ALL = ['read', 'write', 'delete', 'admin'];

describe('upstream Shared Signals (Deputy as receiver)', () => {
  let w: World;
  let receiver: PushReceiver;
  let pushEndpoint: string;
  let streamId: string;

  const admin = (method: string, path: string, body?: unknown) => call(w.deputy.url, ADMIN_TOKEN, method, `/admin/v1${path}`, body);
  async function set(claims: JWTPayload, options: { typ?: string; key?: CryptoKey; header?: Record<string, unknown> } = {}) {
    return new SignJWT({ iss: USER_ISSUER, aud: w.issuer, iat: Math.floor(Date.now() / 1000), jti: randomUUID(), ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: w.userKey.kid, typ: options.typ ?? 'secevent+jwt', ...options.header })
      .sign(options.key ?? w.userKey.privateKey);
  }
  const push = (body: string, headers: Record<string, string> = {}) =>
    fetch(pushEndpoint, { method: 'POST', headers: { 'content-type': 'application/secevent+jwt', authorization: 'Bearer from-idp', ...headers }, body });
  const sessionRevoked = (sub: string, at = Math.floor(Date.now() / 1000)) => ({
    sub_id: { format: 'iss_sub', iss: USER_ISSUER, sub },
    events: { [SESSION_REVOKED]: { event_timestamp: at } },
  });
  const mint = async (sub: string) => {
    const result = await w.exchangeAs(sub, { scope: 'read' });
    if (result.status !== 200) throw new Error(result.text);
    return result.json.access_token as string;
  };

  beforeAll(async () => {
    w = await startExchangeWorld({ DEPUTY_ADMIN_TOKEN: ADMIN_TOKEN, SSF_ALLOW_PRIVATE_NETWORK: 'true', SSF_DELIVERY_INTERVAL_MS: '50', RATE_LIMIT_CLIENT_PER_SECOND: '0' });
    receiver = await startPushReceiver(w.deputy.url, w.issuer);
    const token = ((await (await receiverToken(w.deputy.url, 'resource-server', SECRETS['resource-server']!)).json()) as { access_token: string }).access_token;
    expect((await call(w.deputy.url, token, 'POST', '/ssf/streams', { delivery: { method: PUSH, endpoint_url: `${receiver.url}/down` } })).status).toBe(201);
    const [issuer] = await w.sql<{ id: string }>(`SELECT id::text FROM trusted_issuers WHERE issuer = $1 AND kind = 'user'`, [USER_ISSUER]);
    const created = await admin('POST', '/upstream-streams', { trusted_issuer_id: issuer!.id, delivery_method: 'push', authorization_header: 'Bearer from-idp' });
    expect(created.status).toBe(201);
    streamId = created.json.id as string;
    pushEndpoint = created.json.push_endpoint as string;
    expect(pushEndpoint).toBe(`${w.issuer}/ssf/receiver/${streamId}`);
    expect(JSON.stringify(created.json)).not.toContain('from-idp');
  });
  afterAll(async () => {
    await receiver?.close();
    await w?.stop();
  });

  it('session-revoked revokes the subject’s tokens issued before the event, and Deputy transmits one event per token', async () => {
    await w.addSubject('up-alice', { entitlements: ALL, grants: { 'agent:a': ['read'] } });
    const before = [await mint('up-alice'), await mint('up-alice')];
    const other = await mint('alice');
    const at = Math.floor(Date.now() / 1000) + 1;
    await new Promise((resolve) => setTimeout(resolve, 2100));
    const after = await mint('up-alice');
    const response = await push(await set(sessionRevoked('up-alice', at)));
    expect(response.status).toBe(202);
    for (const token of before) expect((await w.introspect(token)).json.active).toBe(false);
    expect((await w.introspect(after)).json.active).toBe(true);
    expect((await w.introspect(other)).json.active).toBe(true);
    const jtis = before.map((t) => claimsOf(t).jti as string);
    const sets = await receiver.waitFor('/down', 2);
    expect(sets.map(revokedJti).sort()).toEqual([...jtis].sort());
    expect(sets.map(reasonOf)).toEqual(['upstream_session_revoked', 'upstream_session_revoked']);
    expect(await w.lastEvent('ssf.event_received')).toMatchObject({ subject_id: 'up-alice' });
    const [stream] = await w.sql<{ last_event_at: Date | null }>('SELECT last_event_at FROM ssf_upstream_streams WHERE id = $1', [streamId]);
    expect(stream!.last_event_at).not.toBeNull();
  });

  it('account-disabled disables the subject: its tokens are inactive and the next exchange is refused', async () => {
    await w.addSubject('up-bob', { entitlements: ALL, grants: { 'agent:a': ['read'] } });
    const token = await mint('up-bob');
    const response = await push(await set({ sub_id: { format: 'iss_sub', iss: USER_ISSUER, sub: 'up-bob' }, events: { [ACCOUNT_DISABLED]: { reason: 'hijacking' } } }));
    expect(response.status).toBe(202);
    const [subject] = await w.sql<{ status: string }>(`SELECT status FROM subjects WHERE id = 'up-bob'`);
    expect(subject!.status).toBe('disabled');
    expect((await w.introspect(token)).json.active).toBe(false);
    expect((await w.exchangeAs('up-bob', { scope: 'read' })).status).toBe(400);
    const [delivered] = await receiver.waitFor('/down', 3);
    expect(receiver.on('/down').map(revokedJti)).toContain(claimsOf(token).jti);
    expect(delivered).toBeDefined();
  });

  it('a replayed SET is acknowledged and changes nothing more', async () => {
    await w.addSubject('up-carol', { entitlements: ALL, grants: { 'agent:a': ['read'] } });
    const once = await set(sessionRevoked('up-carol'));
    expect((await push(once)).status).toBe(202);
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const later = await mint('up-carol');
    const count = await w.auditCount({ type: 'ssf.event_received' });
    expect((await push(once)).status).toBe(202);
    expect(await w.auditCount({ type: 'ssf.event_received' })).toBe(count);
    expect((await w.introspect(later)).json.active).toBe(true);
  });

  describe('refusals (RFC 8935 §2.3), each changing nothing', () => {
    let token: string;
    beforeAll(async () => {
      await w.addSubject('up-dave', { entitlements: ALL, grants: { 'agent:a': ['read'] } });
      token = await mint('up-dave');
    });
    afterAll(async () => {
      expect((await w.introspect(token)).json.active).toBe(true);
    });

    it('a SET signed by another key: 400 invalid_key', async () => {
      const { privateKey } = await generateKeyPair('ES256');
      const response = await push(await set(sessionRevoked('up-dave'), { key: privateKey }));
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ err: 'invalid_key' });
    });

    it('a SET for another audience: 400 invalid_audience', async () => {
      const response = await push(await set({ ...sessionRevoked('up-dave'), aud: 'https://someone-else' }));
      expect(response.status).toBe(400);
      expect(await response.json()).toMatchObject({ err: 'invalid_audience' });
    });

    it('a SET from another issuer: 400 invalid_issuer', async () => {
      const response = await push(await set({ ...sessionRevoked('up-dave'), iss: 'https://idp.other' }));
      expect(await response.json()).toMatchObject({ err: 'invalid_issuer' });
    });

    it('a JWT that is not a SET (typ), a body that is not a JWS, the wrong content type: 400 invalid_request', async () => {
      expect(await (await push(await set(sessionRevoked('up-dave'), { typ: 'JWT' }))).json()).toMatchObject({ err: 'invalid_request' });
      expect(await (await push('not.a.jws')).json()).toMatchObject({ err: 'invalid_request' });
      const wrongType = await push(await set(sessionRevoked('up-dave')), { 'content-type': 'application/json' });
      expect(wrongType.status).toBe(400);
    });

    it('a push without the stream’s authorization header: 401', async () => {
      const response = await push(await set(sessionRevoked('up-dave')), { authorization: 'Bearer guessed' });
      expect(response.status).toBe(401);
      expect(await response.json()).toMatchObject({ err: 'authentication_failed' });
    });

    it('a subject named another way than the issuer’s tokens name it, or by another issuer: acknowledged, ignored', async () => {
      expect((await push(await set({ sub_id: { format: 'iss_sub', iss: 'https://idp.other', sub: 'up-dave' }, events: { [SESSION_REVOKED]: { event_timestamp: 9e9 } } }))).status).toBe(202);
      expect((await push(await set({ sub_id: { format: 'phone_number', phone_number: '+1' }, events: { [SESSION_REVOKED]: {} } }))).status).toBe(202);
    });

    it('an unknown stream: 404', async () => {
      expect((await fetch(`${w.issuer}/ssf/receiver/${randomUUID()}`, { method: 'POST', headers: { 'content-type': 'application/secevent+jwt' }, body: 'x' })).status).toBe(404);
    });
  });

  it('an issuer limited to some subjects acts on no other', async () => {
    await w.sql(`UPDATE trusted_issuers SET allowed_subjects = ARRAY['alice', 'bob', 'up-alice', 'up-bob', 'up-carol', 'up-dave'] WHERE issuer = $1`, [USER_ISSUER]);
    await w.addSubject('up-erin', { entitlements: ALL, grants: { 'agent:a': ['read'] } });
    await w.sql(`INSERT INTO delegation_grants (subject_id, actor_id, resource_uri, scopes) SELECT 'up-erin', 'agent:b', resource_uri, scopes FROM delegation_grants WHERE subject_id = 'up-erin' LIMIT 1`);
    const [token] = await w.sql<{ jti: string }>(
      `INSERT INTO issued_tokens (jti, subject_id, actor_ids, client_id, resource_uri, scope, grant_id, grant_ids, issued_at, expires_at)
       SELECT 'erin-token', 'up-erin', ARRAY['agent:a'], 'app-a', resource_uri, 'read', id, ARRAY[id], now() - interval '1 minute', now() + interval '5 minutes'
         FROM delegation_grants WHERE subject_id = 'up-erin' LIMIT 1 RETURNING jti`,
    );
    expect((await push(await set(sessionRevoked('up-erin')))).status).toBe(202);
    const [row] = await w.sql<{ revoked_at: Date | null }>('SELECT revoked_at FROM issued_tokens WHERE jti = $1', [token!.jti]);
    expect(row!.revoked_at).toBeNull();
  });

  it('the admin API lists, reads and deletes upstream streams, and refuses a second one per issuer and workload issuers', async () => {
    expect((await admin('GET', '/upstream-streams')).json.items).toHaveLength(1);
    expect((await admin('GET', `/upstream-streams/${streamId}`)).json).toMatchObject({ id: streamId, issuer: USER_ISSUER, delivery_method: 'push', has_authorization_header: true });
    const [issuer] = await w.sql<{ id: string }>(`SELECT id::text FROM trusted_issuers WHERE issuer = $1 AND kind = 'user'`, [USER_ISSUER]);
    expect((await admin('POST', '/upstream-streams', { trusted_issuer_id: issuer!.id, delivery_method: 'push' })).status).toBe(400);
    expect((await admin('POST', '/upstream-streams', { trusted_issuer_id: randomUUID(), delivery_method: 'push' })).status).toBe(400);
    expect((await admin('POST', '/upstream-streams', { trusted_issuer_id: issuer!.id, delivery_method: 'poll', poll_url: 'http://169.254.169.254/' })).status).toBe(400);
    expect((await admin('GET', '/upstream-streams/not-a-uuid')).status).toBe(404);
    expect((await admin('DELETE', `/upstream-streams/${streamId}`)).status).toBe(204);
    expect((await push(await set(sessionRevoked('alice')))).status).toBe(404);
    expect(await w.lastEvent('upstream_stream.deleted')).toBeDefined();
  });
});
