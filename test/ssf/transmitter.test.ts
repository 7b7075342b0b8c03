/**
 * Issue 16.1: Deputy as an OpenID Shared Signals transmitter. A real push receiver on loopback
 * verifies every SET against /jwks; each way a token stops being active produces one
 * session-revoked event per affected unexpired token, in the order of the changes, delivered at
 * least once through an outage.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { claimsOf, RESOURCE, SECRETS, startExchangeWorld, TT, type World } from '../support/exchange-world.js';
import { hashClientSecret } from '../../src/oauth/client-secrets.js';
import { PEPPER } from '../support/exchange-world.js';
import { call, POLL, PUSH, reasonOf, receiverToken, revokedJti, SESSION_REVOKED, startPushReceiver, VERIFICATION, type PushReceiver } from './support.js';

const ADMIN_TOKEN = `ssf-transmitter-${'a'.repeat(32)}`;
const ALL = ['read', 'write', 'delete', 'admin'];
export const FAST_RETRIES = {
  DEPUTY_ADMIN_TOKEN: ADMIN_TOKEN,
  SSF_ALLOW_PRIVATE_NETWORK: 'true',
  SSF_RETRY_BASE_MS: '50',
  SSF_RETRY_MAX_MS: '200',
  SSF_DELIVERY_INTERVAL_MS: '50',
  RATE_LIMIT_CLIENT_PER_SECOND: '0',
  RATE_LIMIT_ACTOR_PER_SECOND: '0',
};

describe('SSF transmitter', () => {
  let w: World;
  let receiver: PushReceiver;
  let token: string;
  let streamId: string;

  const tokenOf = (result: { status: number; json: Record<string, unknown>; text: string }) => {
    if (result.status !== 200) throw new Error(`exchange failed: ${result.text}`);
    return result.json.access_token as string;
  };
  const admin = (method: string, path: string, body?: unknown) => call(w.deputy.url, ADMIN_TOKEN, method, `/admin/v1${path}`, body);
  const eventsFor = (jti: string) => receiver.on('/push').filter((set) => revokedJti(set) === jti);
  async function waitForJtis(jtis: string[]) {
    const deadline = Date.now() + 20_000;
    while (!jtis.every((jti) => eventsFor(jti).length > 0)) {
      if (Date.now() > deadline) throw new Error(`no event for ${jtis.filter((jti) => eventsFor(jti).length === 0).join(', ')}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    return jtis.map((jti) => eventsFor(jti)[0]!);
  }
  async function mint(subject: string): Promise<string> {
    return tokenOf(await w.exchangeAs(subject, { scope: 'read' }));
  }

  beforeAll(async () => {
    w = await startExchangeWorld(FAST_RETRIES);
    receiver = await startPushReceiver(w.deputy.url, w.issuer);
    const response = await receiverToken(w.deputy.url, 'resource-server', SECRETS['resource-server']!);
    expect(response.status).toBe(200);
    token = ((await response.json()) as { access_token: string }).access_token;
    const created = await call(w.deputy.url, token, 'POST', '/ssf/streams', {
      delivery: { method: PUSH, endpoint_url: `${receiver.url}/push`, authorization_header: 'Bearer receiver-secret' },
      events_requested: [SESSION_REVOKED],
    });
    expect(created.status).toBe(201);
    streamId = created.json.stream_id as string;
  });
  afterAll(async () => {
    await receiver?.close();
    await w?.stop();
  });

  it('publishes its metadata (SSF 1.0 §7.1)', async () => {
    const response = await fetch(`${w.deputy.url}/.well-known/ssf-configuration`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({
      issuer: w.issuer,
      jwks_uri: `${w.issuer}/jwks`,
      delivery_methods_supported: [PUSH, POLL],
      configuration_endpoint: `${w.issuer}/ssf/streams`,
      status_endpoint: `${w.issuer}/ssf/status`,
      verification_endpoint: `${w.issuer}/ssf/verify`,
      authorization_schemes: [{ spec_urn: 'urn:ietf:rfc:6749' }],
      default_subjects: 'ALL',
    });
  });

  describe('receiver authorization', () => {
    it('client_credentials grants ssf:stream only to clients linked to resources, and nothing else to them', async () => {
      expect((await receiverToken(w.deputy.url, 'app-a', SECRETS['app-a']!)).status).toBe(400);
      const admin = await receiverToken(w.deputy.url, 'resource-server', SECRETS['resource-server']!, 'deputy:admin');
      expect(admin.status).toBe(400);
      expect(((await admin.json()) as { error: string }).error).toBe('invalid_scope');
    });

    it('refuses calls without a token, with another token, or with a token lacking ssf:stream', async () => {
      expect((await call(w.deputy.url, null, 'GET', '/ssf/streams')).status).toBe(401);
      expect((await call(w.deputy.url, 'not-a-token', 'GET', '/ssf/streams')).status).toBe(401);
      const deputyJwt = await mint('alice');
      expect((await call(w.deputy.url, deputyJwt, 'GET', '/ssf/streams')).status).toBe(401);
      const empty = await receiverToken(w.deputy.url, 'resource-server', SECRETS['resource-server']!, '');
      const emptyToken = ((await empty.json()) as { access_token?: string }).access_token;
      if (emptyToken) expect((await call(w.deputy.url, emptyToken, 'GET', '/ssf/streams')).status).toBe(403);
    });

    it('shows a stream only to the client that created it', async () => {
      await w.sql(`INSERT INTO clients (client_id, client_secret_hash, token_endpoint_auth_method, protected_resources) VALUES ('rs-2', $1, 'client_secret_basic', $2)`, [
        hashClientSecret('secret-of-rs-2', PEPPER),
        [RESOURCE],
      ]);
      const other = ((await (await receiverToken(w.deputy.url, 'rs-2', 'secret-of-rs-2')).json()) as { access_token: string }).access_token;
      expect((await call(w.deputy.url, other, 'GET', `/ssf/streams?stream_id=${streamId}`)).status).toBe(404);
      expect((await call(w.deputy.url, other, 'DELETE', `/ssf/streams?stream_id=${streamId}`)).status).toBe(404);
      expect((await call(w.deputy.url, other, 'POST', '/ssf/status', { stream_id: streamId, status: 'disabled' })).status).toBe(404);
      expect((await call(w.deputy.url, other, 'GET', '/ssf/streams')).json).toEqual([]);
      await w.sql(`DELETE FROM clients WHERE client_id = 'rs-2'`);
    });
  });

  describe('stream management', () => {
    it('creates, reads, updates, pauses and deletes a stream', async () => {
      const created = await call(w.deputy.url, token, 'POST', '/ssf/streams', { delivery: { method: POLL }, description: 'poll me' });
      expect(created.status).toBe(201);
      const id = created.json.stream_id as string;
      expect(created.json).toEqual({
        stream_id: id,
        iss: w.issuer,
        aud: [RESOURCE, 'https://api.test/billing'],
        events_supported: [SESSION_REVOKED],
        events_requested: [SESSION_REVOKED],
        events_delivered: [SESSION_REVOKED],
        delivery: { method: POLL, endpoint_url: `${w.issuer}/ssf/poll/${id}` },
        description: 'poll me',
      });
      expect((await call(w.deputy.url, token, 'GET', `/ssf/streams?stream_id=${id}`)).json).toEqual(created.json);
      const patched = await call(w.deputy.url, token, 'PATCH', '/ssf/streams', { stream_id: id, description: 'renamed' });
      expect(patched.json).toMatchObject({ description: 'renamed', events_delivered: [SESSION_REVOKED] });
      const put = await call(w.deputy.url, token, 'PUT', '/ssf/streams', { stream_id: id, delivery: { method: POLL }, events_requested: ['urn:example:unknown'] });
      expect(put.json).toMatchObject({ events_requested: ['urn:example:unknown'], events_delivered: [] });
      expect((await call(w.deputy.url, token, 'POST', '/ssf/status', { stream_id: id, status: 'paused', reason: 'maintenance' })).json).toEqual({
        stream_id: id,
        status: 'paused',
        reason: 'maintenance',
      });
      expect((await call(w.deputy.url, token, 'GET', `/ssf/status?stream_id=${id}`)).json).toMatchObject({ status: 'paused' });
      expect((await call(w.deputy.url, token, 'DELETE', `/ssf/streams?stream_id=${id}`)).status).toBe(204);
      expect((await call(w.deputy.url, token, 'GET', `/ssf/streams?stream_id=${id}`)).status).toBe(404);
    });

    it('never shows the push authorization header back', async () => {
      const read = await call(w.deputy.url, token, 'GET', `/ssf/streams?stream_id=${streamId}`);
      expect(JSON.stringify(read.json)).not.toContain('receiver-secret');
    });

    it.each([
      ['a push without endpoint', { delivery: { method: PUSH } }],
      ['a link-local endpoint', { delivery: { method: PUSH, endpoint_url: 'http://169.254.169.254/latest' } }],
      ['a non-http endpoint', { delivery: { method: PUSH, endpoint_url: 'file:///etc/passwd' } }],
      ['an endpoint with credentials', { delivery: { method: PUSH, endpoint_url: 'https://u:p@rs.example/ssf' } }],
      ['an unknown method', { delivery: { method: 'urn:example:carrier-pigeon' } }],
      ['a header with a line break', { delivery: { method: PUSH, endpoint_url: 'https://rs.example/ssf', authorization_header: 'Bearer x\r\nX: y' } }],
      ['no delivery', {}],
    ])('refuses %s with 400 invalid_request', async (_name, body) => {
      const result = await call(w.deputy.url, token, 'POST', '/ssf/streams', body);
      expect(result.status).toBe(400);
      expect(result.json.error).toBe('invalid_request');
    });

    it('refuses a malformed stream id, a non-JSON body and an oversized body without a 500', async () => {
      expect((await call(w.deputy.url, token, 'GET', `/ssf/streams?stream_id=x'--`)).status).toBe(404);
      const notJson = await fetch(`${w.deputy.url}/ssf/streams`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{' });
      expect(notJson.status).toBe(400);
      const big = await fetch(`${w.deputy.url}/ssf/streams`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
        body: JSON.stringify({ description: 'x'.repeat(100_000) }),
      });
      expect(big.status).toBe(413);
    });
  });

  describe('push delivery: every way a token stops being active', () => {
    it('RFC 7009 revocation: one event, signed, shaped as the contract says, with the stream’s authorization header', async () => {
      const revoked = await mint('alice');
      const jti = claimsOf(revoked).jti as string;
      expect((await w.revoke(revoked)).status).toBe(200);
      const [set] = await waitForJtis([jti]);
      expect(set!.header).toMatchObject({ typ: 'secevent+jwt', alg: 'ES256' });
      expect(set!.authorization).toBe('Bearer receiver-secret');
      expect(set!.claims).toMatchObject({
        iss: w.issuer,
        aud: [RESOURCE, 'https://api.test/billing'],
        sub_id: { format: 'jwt_id', iss: w.issuer, jti },
        events: { [SESSION_REVOKED]: { reason_admin: { en: 'rfc7009' }, initiating_entity: 'user', token_exp: claimsOf(revoked).exp } },
      });
      expect(typeof set!.claims.jti).toBe('string');
      expect(typeof set!.claims.events![SESSION_REVOKED]!.event_timestamp).toBe('number');
    });

    it('admin revocation of one token', async () => {
      const jti = claimsOf(await mint('alice')).jti as string;
      expect((await admin('POST', `/tokens/${jti}/revoke`, {})).status).toBe(200);
      const [set] = await waitForJtis([jti]);
      expect(reasonOf(set!)).toBe('admin');
      expect(set!.claims.events![SESSION_REVOKED]!.initiating_entity).toBe('admin');
    });

    it('grant revocation: one event per unexpired token under the grant', async () => {
      const grants = await w.addSubject('ssf-grant', { entitlements: ALL, grants: { 'agent:a': ['read'] } });
      const jtis = [await mint('ssf-grant'), await mint('ssf-grant'), await mint('ssf-grant')].map((t) => claimsOf(t).jti as string);
      await w.sql(`UPDATE issued_tokens SET expires_at = now() - interval '1 second' WHERE jti = $1`, [jtis[2]]);
      expect((await admin('POST', `/grants/${grants['agent:a']}/revoke`, {})).status).toBe(200);
      const sets = await waitForJtis(jtis.slice(0, 2));
      expect(sets.map(reasonOf)).toEqual(['grant_revoked', 'grant_revoked']);
      expect(eventsFor(jtis[2]!)).toEqual([]);
    });

    it('subject disabled, actor disabled and entitlement withdrawn (by SQL as well as by the API)', async () => {
      await w.addSubject('ssf-subject', { entitlements: ALL, grants: { 'agent:a': ['read'] } });
      const subjectJti = claimsOf(await mint('ssf-subject')).jti as string;
      await w.sql(`UPDATE subjects SET status = 'disabled' WHERE id = 'ssf-subject'`);

      await w.addSubject('ssf-entitlement', { entitlements: ALL, grants: { 'agent:a': ['read'] } });
      const entitlementJti = claimsOf(await mint('ssf-entitlement')).jti as string;
      await w.sql(`DELETE FROM entitlements WHERE subject_id = 'ssf-entitlement' AND scope = 'read'`);
      expect((await w.introspect(await mint('alice'))).json.active).toBe(true);

      await w.addActor('agent:ssf', {});
      await w.addSubject('ssf-actor', { entitlements: ALL, grants: { 'agent:a': ['read'] } });
      const actorJti = claimsOf(await mint('ssf-actor')).jti as string;
      await w.sql(`UPDATE actors SET status = 'disabled' WHERE id = 'agent:ssf'`);
      await w.sql(`UPDATE actors SET status = 'disabled' WHERE id = 'agent:a'`);
      try {
        const sets = await waitForJtis([subjectJti, entitlementJti, actorJti]);
        expect(sets.map(reasonOf)).toEqual(['subject_disabled', 'entitlement_withdrawn', 'actor_disabled']);
        expect(sets.map((set) => set.claims.events![SESSION_REVOKED]!.initiating_entity)).toEqual(['admin', 'policy', 'admin']);
      } finally {
        await w.sql(`UPDATE actors SET status = 'active' WHERE id = 'agent:a'`);
      }
    });

    it('ancestor revocation: the revoked token and each of its descendants get one event', async () => {
      await w.addSubject('ssf-chain', { entitlements: ALL, grants: { 'agent:a': ['read'], 'agent:b': ['read'], 'agent:c': ['read'] } });
      const first = await mint('ssf-chain');
      const second = tokenOf(await w.exchange({ subject_token: first, subject_token_type: TT.accessToken, resource: RESOURCE }, { clientId: 'app-b' }));
      const third = tokenOf(await w.exchange({ subject_token: second, subject_token_type: TT.accessToken, resource: RESOURCE }, { clientId: 'app-c' }));
      const jtis = [first, second, third].map((t) => claimsOf(t).jti as string);
      expect((await w.revoke(first)).status).toBe(200);
      const sets = await waitForJtis(jtis);
      expect(sets.map(reasonOf)).toEqual(['rfc7009', 'ancestor_revoked', 'ancestor_revoked']);
      expect(sets.map((set) => set.claims.events![SESSION_REVOKED]!.token_exp)).toEqual([first, second, third].map((t) => claimsOf(t).exp));
    });

    it('a verification event carries the receiver’s state (SSF 1.0 §8.1.4)', async () => {
      expect((await call(w.deputy.url, token, 'POST', '/ssf/verify', { stream_id: streamId, state: 'st-123' })).status).toBe(204);
      const deadline = Date.now() + 20_000;
      let found;
      while (!(found = receiver.on('/push').find((set) => set.claims.events?.[VERIFICATION]))) {
        if (Date.now() > deadline) throw new Error('no verification event');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(found.claims).toMatchObject({ sub_id: { format: 'opaque', id: streamId }, events: { [VERIFICATION]: { state: 'st-123' } } });
    });

    it('a receiver that is down gets every event afterwards, in the order of the changes, and the exchanges never waited for it', async () => {
      receiver.status = 503;
      const attemptsBefore = receiver.attempts;
      const tokens = [];
      for (let i = 0; i < 6; i += 1) tokens.push(await mint('alice'));
      for (const revoked of tokens) expect((await w.revoke(revoked)).status).toBe(200);
      const jtis = tokens.map((t) => claimsOf(t).jti as string);
      // Several retries fail (backoff), exchanges and revocations keep answering meanwhile.
      const deadline = Date.now() + 20_000;
      while (receiver.attempts < attemptsBefore + 3) {
        if (Date.now() > deadline) throw new Error('no retries');
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect((await w.exchangeAs('alice', { scope: 'read' })).status).toBe(200);
      const [stream] = await w.sql<{ failures: number; last_error: string }>('SELECT failures, last_error FROM ssf_streams WHERE id = $1', [streamId]);
      expect(stream!.failures).toBeGreaterThanOrEqual(1);
      expect(stream!.last_error).toBe('receiver answered 503');
      receiver.status = 202;
      await waitForJtis(jtis);
      const order = receiver.on('/push').map(revokedJti).filter((jti) => jtis.includes(jti));
      expect(order).toEqual(jtis);
      const metrics = await (await fetch(`${w.deputy.url}/metrics`)).text();
      expect(metrics).toMatch(/deputy_ssf_events_delivered_total\{method="push",outcome="failed"\} [1-9]/);
      expect(metrics).toMatch(/deputy_ssf_events_delivered_total\{method="push",outcome="delivered"\} [1-9]/);
    });

    it('events of tokens for a resource outside the stream’s audience are not queued for it', async () => {
      await w.sql(`INSERT INTO resources (uri, scopes) VALUES ('https://api.test/elsewhere', ARRAY['read']) ON CONFLICT DO NOTHING`);
      const before = await w.sql<{ n: number }>('SELECT count(*)::int AS n FROM ssf_outbox');
      await w.sql(`UPDATE issued_tokens SET resource_uri = 'https://api.test/elsewhere' WHERE jti = $1`, [claimsOf(await mint('alice')).jti]);
      await w.sql(`UPDATE issued_tokens SET revoked_at = now() WHERE resource_uri = 'https://api.test/elsewhere'`);
      const after = await w.sql<{ n: number }>('SELECT count(*)::int AS n FROM ssf_outbox');
      expect(after[0]!.n).toBe(before[0]!.n);
    });
  });

  describe('poll delivery (RFC 8936)', () => {
    it('returns pending SETs, redelivers until acknowledged, and takes acks and errors', async () => {
      const created = await call(w.deputy.url, token, 'POST', '/ssf/streams', { delivery: { method: POLL } });
      const id = created.json.stream_id as string;
      const revoked = [await mint('alice'), await mint('alice')];
      for (const t of revoked) await w.revoke(t);
      const jtis = revoked.map((t) => claimsOf(t).jti as string);
      const poll = (body: unknown) => call(w.deputy.url, token, 'POST', `/ssf/poll/${id}`, body);
      const first = await poll({ maxEvents: 1, returnImmediately: true });
      expect(first.status).toBe(200);
      expect(first.json.moreAvailable).toBe(true);
      const [setJti, set] = Object.entries(first.json.sets as Record<string, string>)[0]!;
      expect(claimsOf(set)).toMatchObject({ jti: setJti, sub_id: { jti: jtis[0] } });
      // Not acknowledged: the same SET again.
      expect(Object.keys((await poll({ maxEvents: 1, returnImmediately: true })).json.sets as object)).toEqual([setJti]);
      const second = await poll({ ack: [setJti], maxEvents: 10, returnImmediately: true });
      const entries = Object.entries(second.json.sets as Record<string, string>);
      expect(entries.map(([, s]) => claimsOf(s).sub_id)).toEqual([expect.objectContaining({ jti: jtis[1] })]);
      const third = await poll({ setErrs: { [entries[0]![0]]: { err: 'invalid_key', description: 'x' } }, returnImmediately: true });
      expect(third.json).toEqual({ sets: {}, moreAvailable: false });
      // A long poll answers as soon as an event is committed.
      const waiting = poll({ maxEvents: 5 });
      const late = await mint('alice');
      await w.revoke(late);
      const answered = await waiting;
      expect(Object.values(answered.json.sets as Record<string, string>).map((s) => (claimsOf(s).sub_id as { jti: string }).jti)).toEqual([claimsOf(late).jti]);
      expect((await call(w.deputy.url, token, 'POST', `/ssf/poll/${streamId}`, {})).status).toBe(404);
      expect((await poll({ maxEvents: -1 })).status).toBe(400);
    });

    it('holds events of a paused stream, drops those of a disabled one', async () => {
      const id = (await call(w.deputy.url, token, 'POST', '/ssf/streams', { delivery: { method: POLL } })).json.stream_id as string;
      const poll = () => call(w.deputy.url, token, 'POST', `/ssf/poll/${id}`, { returnImmediately: true });
      await call(w.deputy.url, token, 'POST', '/ssf/status', { stream_id: id, status: 'paused' });
      const held = await mint('alice');
      await w.revoke(held);
      expect((await poll()).json.sets).toEqual({});
      await call(w.deputy.url, token, 'POST', '/ssf/status', { stream_id: id, status: 'enabled' });
      expect(Object.values((await poll()).json.sets as Record<string, string>).map((s) => (claimsOf(s).sub_id as { jti: string }).jti)).toContain(claimsOf(held).jti);
      await call(w.deputy.url, token, 'POST', '/ssf/status', { stream_id: id, status: 'disabled' });
      await w.revoke(await mint('alice'));
      await call(w.deputy.url, token, 'POST', '/ssf/status', { stream_id: id, status: 'enabled' });
      expect((await poll()).json.sets).toEqual({});
    });
  });
});
