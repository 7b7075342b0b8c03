/**
 * The library as an SSF receiver, with hand-made SETs: a SET is verified (signature, typ
 * secevent+jwt, iss, aud) before it revokes anything; a revoked token is refused; a revoked jti
 * is forgotten after token_exp; pushes and polls answer as RFC 8935/8936 say; stream creation
 * and verification go through the transmitter API (a stand-in transmitter on loopback).
 */
import { randomUUID } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { SignJWT, createLocalJWKSet } from 'jose';
import { AccessError, SESSION_REVOKED, VERIFICATION, createResourceServer, type ResourceServer } from '../../src/resource-server/index.js';
import { makeKeyPair, type KeyPair } from '../support/exchange-world.js';
import { until } from '../support/wait.js';

const ISSUER = 'https://deputy.test';
const AUDIENCE = 'https://api.test/tickets';
const PUSH_SECRET = 'Bearer push-secret-0123456789';

let key: KeyPair;
let stranger: KeyPair;
beforeAll(async () => {
  key = await makeKeyPair('deputy-key');
  stranger = await makeKeyPair('deputy-key');
});

const nowSeconds = () => Math.floor(Date.now() / 1000);

function accessToken(jti: string, claims: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ iss: ISSUER, sub: 'alice', aud: AUDIENCE, iat: nowSeconds(), exp: nowSeconds() + 300, jti, scope: 'read', act: { sub: 'agent:a' }, ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'at+jwt' })
    .sign(key.privateKey);
}

interface SetOverrides {
  claims?: Record<string, unknown>;
  header?: Record<string, unknown>;
  event?: Record<string, unknown>;
  signer?: KeyPair;
}

function revocationSet(jti: string, overrides: SetOverrides = {}): Promise<string> {
  const claims: Record<string, unknown> = {
    iss: ISSUER,
    aud: AUDIENCE,
    jti: randomUUID(),
    iat: nowSeconds(),
    sub_id: { format: 'jwt_id', iss: ISSUER, jti },
    events: {
      [SESSION_REVOKED]: { event_timestamp: nowSeconds(), reason_admin: { en: 'rfc7009' }, initiating_entity: 'user', token_exp: nowSeconds() + 300, ...overrides.event },
    },
    ...overrides.claims,
  };
  for (const [name, value] of Object.entries(claims)) if (value === undefined) delete claims[name];
  return new SignJWT(claims)
    .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'secevent+jwt', ...overrides.header } as { alg: string })
    .sign((overrides.signer ?? key).privateKey);
}

const bearer = (token: string) => ({ method: 'GET', url: 'https://api.test/tickets/1', headers: { authorization: `Bearer ${token}` } });

async function refused(rs: ResourceServer, token: string): Promise<AccessError | null> {
  try {
    await rs.verify(bearer(token));
    return null;
  } catch (error) {
    if (error instanceof AccessError) return error;
    throw error;
  }
}

describe('push (RFC 8935)', () => {
  let now = Date.now();
  let rs: ResourceServer;
  beforeAll(() => {
    rs = createResourceServer({ issuer: ISSUER, audience: AUDIENCE, keys: createLocalJWKSet({ keys: [key.publicJwk] }), ssf: { pushAuthorization: PUSH_SECRET }, clock: () => now });
  });
  const push = async (set: string, contentType = 'application/secevent+jwt', authorization: string | null = PUSH_SECRET) =>
    rs.ssf!.handlePush({ contentType, authorization: authorization ?? undefined, body: set });

  it('a verified session-revoked SET → 202, and the token is refused from then on (only that one)', async () => {
    const jti = randomUUID();
    const token = await accessToken(jti);
    const other = await accessToken(randomUUID());
    expect(await refused(rs, token)).toBeNull();
    expect((await push(await revocationSet(jti))).status).toBe(202);
    const error = await refused(rs, token);
    expect([error?.code, error?.description]).toEqual(['invalid_token', 'the access token was revoked']);
    expect(await refused(rs, other)).toBeNull();
  });

  it('the same SET twice (at-least-once delivery) → 202 both times', async () => {
    const set = await revocationSet(randomUUID());
    expect((await push(set)).status).toBe(202);
    expect((await push(set)).status).toBe(202);
  });

  it('forgets a revoked jti after the token_exp the SET gives', async () => {
    const jti = randomUUID();
    await push(await revocationSet(jti, { event: { token_exp: Math.floor(now / 1000) + 60 } }));
    expect(await rs.ssf!.isRevoked(jti)).toBe(true);
    now += 61_000;
    expect(await rs.ssf!.isRevoked(jti)).toBe(false);
    now = Date.now();
  });

  const refusedSets: Array<[string, () => Promise<string>, string]> = [
    ['typ JWT instead of secevent+jwt', () => revocationSet(randomUUID(), { header: { typ: 'JWT' } }), 'invalid_request'],
    ['another issuer', () => revocationSet(randomUUID(), { claims: { iss: 'https://evil.test' } }), 'invalid_issuer'],
    ['another audience', () => revocationSet(randomUUID(), { claims: { aud: 'https://api.test/billing' } }), 'invalid_audience'],
    ['a signature by another key', () => revocationSet(randomUUID(), { signer: stranger }), 'invalid_key'],
    ['no events', () => revocationSet(randomUUID(), { claims: { events: {} } }), 'invalid_request'],
    ['no jti', () => revocationSet(randomUUID(), { claims: { jti: undefined } }), 'invalid_request'],
    ['a session-revoked event without sub_id', () => revocationSet(randomUUID(), { claims: { sub_id: undefined } }), 'invalid_request'],
    ['a sub_id in another format', () => revocationSet(randomUUID(), { claims: { sub_id: { format: 'opaque', id: 'x' } } }), 'invalid_request'],
    ['a sub_id naming a token of another issuer', () => revocationSet(randomUUID(), { claims: { sub_id: { format: 'jwt_id', iss: 'https://evil.test', jti: 'x' } } }), 'invalid_request'],
    ['not a JWT', async () => 'not-a-set', 'invalid_request'],
  ];

  it.each(refusedSets)('refuses a SET with %s: 400 {err, description}, nothing revoked', async (_name, build, err) => {
    const set = await build();
    const answer = await push(set);
    expect(answer.status).toBe(400);
    expect(JSON.parse(answer.body)).toEqual({ err, description: expect.any(String) });
  });

  it('a refused SET revokes nothing', async () => {
    const jti = randomUUID();
    await push(await revocationSet(jti, { signer: stranger }));
    await push(await revocationSet(jti, { claims: { aud: 'https://api.test/billing' } }));
    expect(await rs.ssf!.isRevoked(jti)).toBe(false);
    expect(await refused(rs, await accessToken(jti))).toBeNull();
  });

  it('without the stream authorization header → 401; another content type → 415', async () => {
    const jti = randomUUID();
    const set = await revocationSet(jti);
    expect((await push(set, 'application/secevent+jwt', null)).status).toBe(401);
    expect((await push(set, 'application/secevent+jwt', 'Bearer wrong')).status).toBe(401);
    expect((await push(set, 'application/json')).status).toBe(415);
    expect(await rs.ssf!.isRevoked(jti)).toBe(false);
  });

  it('other event types are acknowledged and change nothing', async () => {
    const set = await revocationSet('x', { claims: { events: { 'https://schemas.openid.net/secevent/caep/event-type/credential-change': {} } } });
    expect((await push(set)).status).toBe(202);
  });
});

describe('coverage: tokens minted before the receiver listened', () => {
  it('are checked by introspection when it is configured; later ones are not', async () => {
    let now = Date.now();
    const asked: string[] = [];
    const fakeFetch = (async (_url: string, init: RequestInit) => {
      asked.push(new URLSearchParams(String(init.body)).get('token')!);
      return new Response(JSON.stringify({ active: false }), { status: 200, headers: { 'content-type': 'application/json' } });
    }) as unknown as typeof fetch;
    const rs = createResourceServer({
      issuer: ISSUER,
      audience: AUDIENCE,
      keys: createLocalJWKSet({ keys: [key.publicJwk] }),
      ssf: {},
      introspection: { clientId: 'rs', clientSecret: 's', endpoint: 'http://127.0.0.1:9/introspect' },
      fetch: fakeFetch,
      clock: () => now,
    });
    const before = await accessToken(randomUUID(), { iat: Math.floor(now / 1000) - 10 });
    rs.ssf!.markListening();
    now += 2000;
    const after = await accessToken(randomUUID(), { iat: Math.floor(now / 1000) });
    expect((await refused(rs, before))?.description).toBe('the access token is not active');
    expect(await refused(rs, after)).toBeNull();
    expect(asked).toEqual([before]);
  });
});

/** A stand-in transmitter: SSF configuration, streams, verification and a poll endpoint with acks. */
class FakeTransmitter {
  server!: http.Server;
  url!: string;
  streams: Array<Record<string, any>> = [];
  queue: Array<{ jti: string; set: string }> = [];
  polls: Array<Record<string, any>> = [];
  pushes: string[] = [];
  authorizations: string[] = [];
  pushTo: string | null = null;
  statusUpdates: Array<Record<string, unknown>> = [];

  async start(): Promise<void> {
    this.server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => void this.route(req, body, res));
    });
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }

  private json(res: http.ServerResponse, status: number, value: unknown) {
    res.writeHead(status, { 'content-type': 'application/json' });
    res.end(JSON.stringify(value));
  }

  private async route(req: http.IncomingMessage, body: string, res: http.ServerResponse) {
    const url = new URL(req.url!, this.url);
    if (url.pathname === '/.well-known/ssf-configuration') {
      return this.json(res, 200, { issuer: ISSUER, configuration_endpoint: `${this.url}/ssf/streams`, verification_endpoint: `${this.url}/ssf/verify`, status_endpoint: `${this.url}/ssf/status` });
    }
    this.authorizations.push(req.headers.authorization ?? '');
    if (req.headers.authorization !== 'Bearer receiver-token') return this.json(res, 401, { error: 'invalid_token' });
    if (url.pathname === '/ssf/streams' && req.method === 'GET') return this.json(res, 200, this.streams);
    if (url.pathname === '/ssf/streams' && req.method === 'POST') {
      const asked = JSON.parse(body);
      const id = randomUUID();
      const stream = {
        stream_id: id,
        iss: ISSUER,
        aud: AUDIENCE,
        delivery: asked.delivery.method === 'urn:ietf:rfc:8936' ? { method: asked.delivery.method, endpoint_url: `${this.url}/ssf/poll/${id}` } : asked.delivery,
        events_requested: asked.events_requested,
      };
      this.streams.push(stream);
      if (asked.delivery.endpoint_url) this.pushTo = asked.delivery.endpoint_url;
      return this.json(res, 201, stream);
    }
    if (url.pathname === '/ssf/streams' && req.method === 'DELETE') {
      this.streams = this.streams.filter((s) => s.stream_id !== url.searchParams.get('stream_id'));
      res.writeHead(204).end();
      return;
    }
    if (url.pathname === '/ssf/status' && req.method === 'POST') {
      this.statusUpdates.push(JSON.parse(body));
      return this.json(res, 200, JSON.parse(body));
    }
    if (url.pathname === '/ssf/verify') {
      const { stream_id, state } = JSON.parse(body);
      const set = await new SignJWT({ iss: ISSUER, aud: AUDIENCE, jti: randomUUID(), iat: nowSeconds(), sub_id: { format: 'opaque', id: stream_id }, events: { [VERIFICATION]: { state } } })
        .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'secevent+jwt' })
        .sign(key.privateKey);
      res.writeHead(204).end();
      if (this.pushTo) {
        await fetch(this.pushTo, { method: 'POST', headers: { 'content-type': 'application/secevent+jwt' }, body: set });
      } else {
        this.queue.push({ jti: randomUUID(), set });
      }
      return;
    }
    if (url.pathname.startsWith('/ssf/poll/')) {
      const request = JSON.parse(body);
      this.polls.push(request);
      this.queue = this.queue.filter((entry) => !(request.ack ?? []).includes(entry.jti) && !(request.setErrs?.[entry.jti]));
      const sets: Record<string, string> = {};
      for (const entry of this.queue.slice(0, request.maxEvents ?? 100)) sets[entry.jti] = entry.set;
      return this.json(res, 200, { sets, moreAvailable: this.queue.length > Object.keys(sets).length });
    }
    this.json(res, 404, {});
  }
}

describe('stream management and poll (RFC 8936)', () => {
  let transmitter: FakeTransmitter;
  let rs: ResourceServer;

  beforeAll(async () => {
    transmitter = new FakeTransmitter();
    await transmitter.start();
  });
  afterEach(async () => {
    await rs?.close();
  });
  afterAll(async () => {
    await transmitter.stop();
  });

  const receiver = () =>
    createResourceServer({
      issuer: ISSUER,
      audience: AUDIENCE,
      keys: createLocalJWKSet({ keys: [key.publicJwk] }),
      ssf: { accessToken: async () => 'receiver-token' },
      // The transmitter's metadata lives at the stand-in's address, the SETs' iss is ISSUER.
      fetch: ((url: string | URL, init?: RequestInit) => fetch(String(url).replace(ISSUER, transmitter.url), init)) as typeof fetch,
    });

  it('creates a poll stream once, reuses it, verifies it end to end, and revokes what it polls (acknowledging each batch)', async () => {
    rs = receiver();
    expect(rs.ssf!.coveredSince).toBeNull();
    const stream = await rs.ssf!.ensureStream({ method: 'poll' });
    // Listening from the stream on: older tokens are the introspection's (when configured).
    expect(rs.ssf!.coveredSince).toEqual(expect.any(Number));
    expect(stream.delivery.method).toBe('urn:ietf:rfc:8936');
    expect((await rs.ssf!.ensureStream({ method: 'poll' })).stream_id).toBe(stream.stream_id);
    expect(transmitter.streams).toHaveLength(1);
    expect(transmitter.authorizations.every((value) => value === 'Bearer receiver-token')).toBe(true);

    rs.ssf!.startPolling(20);
    await rs.ssf!.verifyStream(5000);

    const revokedJtis = [randomUUID(), randomUUID(), randomUUID()];
    for (const jti of revokedJtis) {
      const set = await revocationSet(jti);
      transmitter.queue.push({ jti: randomUUID(), set });
    }
    const bad = { jti: randomUUID(), set: await revocationSet(randomUUID(), { signer: stranger }) };
    transmitter.queue.push(bad);
    await until(async () => (await Promise.all(revokedJtis.map((jti) => rs.ssf!.isRevoked(jti)))).every(Boolean), 'the polled revocations', 5000);
    for (const jti of revokedJtis) expect((await refused(rs, await accessToken(jti)))?.code).toBe('invalid_token');
    // Acknowledged on the next poll; the forged SET is reported in setErrs, not acknowledged.
    await until(() => transmitter.queue.length === 0, 'the acknowledgements', 5000);
    expect(transmitter.polls.some((poll) => poll.setErrs?.[bad.jti]?.err === 'invalid_key')).toBe(true);
  });

  it('a SET polled but not acknowledged (the receiver stopped) is redelivered to the next receiver', async () => {
    rs = receiver();
    await rs.ssf!.ensureStream({ method: 'poll' });
    const jti = randomUUID();
    const set = await revocationSet(jti);
    transmitter.queue.push({ jti: randomUUID(), set });
    // One poll that receives it and dies before acknowledging (no next poll).
    const first = await rs.ssf!.pollOnce([], {});
    expect(first.accepted).toHaveLength(1);
    await rs.close();

    const restarted = receiver();
    rs = restarted;
    await restarted.ssf!.ensureStream({ method: 'poll' });
    expect(await restarted.ssf!.isRevoked(jti)).toBe(false);
    restarted.ssf!.startPolling(20);
    await until(() => restarted.ssf!.isRevoked(jti), 'the redelivered SET', 5000);
  });

  it('a push stream names the endpoint and its authorization header; verification arrives by push', async () => {
    const api = createResourceServer({
      issuer: ISSUER,
      audience: AUDIENCE,
      keys: createLocalJWKSet({ keys: [key.publicJwk] }),
      ssf: { accessToken: async () => 'receiver-token' },
      fetch: ((url: string | URL, init?: RequestInit) => fetch(String(url).replace(ISSUER, transmitter.url), init)) as typeof fetch,
    });
    rs = api;
    const server = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', async () => {
        const answer = await api.ssf!.handlePush({ contentType: req.headers['content-type'], authorization: req.headers.authorization, body });
        res.writeHead(answer.status, answer.headers).end(answer.body);
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const endpointUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}/ssf`;
      const stream = await api.ssf!.ensureStream({ method: 'push', endpointUrl, authorizationHeader: 'Bearer x' });
      expect(stream.delivery).toEqual({ method: 'urn:ietf:rfc:8935', endpoint_url: endpointUrl, authorization_header: 'Bearer x' });
      await api.ssf!.verifyStream(5000);
      await api.ssf!.resume();
      expect(transmitter.statusUpdates.at(-1)).toEqual({ stream_id: stream.stream_id, status: 'enabled' });
      await api.ssf!.deleteStream();
      expect(transmitter.streams.find((s) => s.stream_id === stream.stream_id)).toBeUndefined();
    } finally {
      transmitter.pushTo = null;
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });

  it('a transmitter that refuses the receiver: the stream call fails, nothing is pretended', async () => {
    rs = createResourceServer({
      issuer: ISSUER,
      audience: AUDIENCE,
      keys: createLocalJWKSet({ keys: [key.publicJwk] }),
      ssf: { accessToken: async () => 'stolen-token' },
      fetch: ((url: string | URL, init?: RequestInit) => fetch(String(url).replace(ISSUER, transmitter.url), init)) as typeof fetch,
    });
    await expect(rs.ssf!.ensureStream({ method: 'poll' })).rejects.toThrow('answered 401');
  });
});
