/**
 * Issue 16, "done when": a real Deputy and a real HTTP resource server using the library on
 * loopback. The API registers its push stream through Deputy's transmitter API and verifies it;
 * every way a token stops being active at Deputy (RFC 7009, admin token revoke, grant revoke,
 * actor disabled, subject disabled, entitlement withdrawn, ancestor revoked) makes the API
 * refuse the token; an outage and restart of the API, and a restart of Deputy, lose no event.
 * Latencies are collected and printed, never asserted (figures: scripts/bench/ssf.ts).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createResourceServer, ssfPushHandler, verifyNode, type ResourceServer } from '../../src/resource-server/index.js';
import { startTestDeputy, type TestDeputy } from '../support/deputy.js';
import { RESOURCE, SECRETS, TT, claimsOf, startExchangeWorld, type World } from '../support/exchange-world.js';
import { until } from '../support/wait.js';

const ADMIN_TOKEN = `rs-e2e-${'b'.repeat(40)}`;
const PUSH_SECRET = 'Bearer rs-push-secret-0123456789abcdef';
const ALL = ['read', 'write', 'delete', 'admin'];
const DEPUTY_ENV = {
  DEPUTY_ADMIN_TOKEN: ADMIN_TOKEN,
  SSF_ALLOW_PRIVATE_NETWORK: 'true',
  SSF_RETRY_BASE_MS: '50',
  SSF_RETRY_MAX_MS: '200',
  SSF_DELIVERY_INTERVAL_MS: '50',
  RATE_LIMIT_CLIENT_PER_SECOND: '0',
  RATE_LIMIT_ACTOR_PER_SECOND: '0',
};

async function receiverToken(deputyUrl: string): Promise<string> {
  const response = await fetch(`${deputyUrl}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`resource-server:${SECRETS['resource-server']}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'ssf:stream' }),
  });
  const body = (await response.json()) as { access_token?: string };
  if (!body.access_token) throw new Error(`no receiver token: ${response.status}`);
  return body.access_token;
}

/** The API under test: GET /tickets needs a valid, unrevoked token; POST /ssf is the push endpoint. */
interface Api {
  rs: ResourceServer;
  /** Revoked jtis in the order their events arrived. */
  revokedInOrder: string[];
  url: string;
  port: number;
  close(): Promise<void>;
}

async function startApi(deputyUrl: string, issuer: string, port = 0): Promise<Api> {
  const revokedInOrder: string[] = [];
  const rs = createResourceServer({
    issuer,
    audience: RESOURCE,
    jwksUri: `${deputyUrl}/jwks`,
    ssf: {
      accessToken: () => receiverToken(deputyUrl),
      pushAuthorization: PUSH_SECRET,
      onEvent: (event) => {
        if (event.kind === 'token-revoked') revokedInOrder.push(event.jti);
      },
    },
    // For tokens minted before this process listened (its revocation list is in memory).
    introspection: { clientId: 'resource-server', clientSecret: SECRETS['resource-server']!, endpoint: `${deputyUrl}/token/introspection`, cacheSeconds: 1 },
  });
  const push = ssfPushHandler(rs);
  const server = http.createServer((req, res) => {
    if (req.url === '/ssf' && req.method === 'POST') return push(req, res);
    void verifyNode(rs, req, res, { scopes: ['read'] }).then(
      (caller) => {
        if (!caller) return;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ subject: caller.subject, chain: caller.chain }));
      },
      () => {
        res.statusCode = 500;
        res.end();
      },
    );
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const actual = (server.address() as AddressInfo).port;
  rs.ssf!.markListening();
  return {
    rs,
    revokedInOrder,
    url: `http://127.0.0.1:${actual}`,
    port: actual,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await rs.close();
    },
  };
}

describe('continuous authorization at a resource server (issue 16)', () => {
  let w: World;
  let api: Api;
  let deputyRestarted = false;
  const latenciesMs: Record<string, number> = {};
  const admin = async (method: string, path: string, body?: unknown) => {
    const response = await fetch(`${w.deputy.url}/admin/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await response.text();
    return { status: response.status, body: text ? JSON.parse(text) : undefined };
  };
  const tokenOf = (result: { status: number; json: Record<string, unknown>; text: string }) => {
    if (result.status !== 200) throw new Error(`exchange failed: ${result.status} ${result.text}`);
    return result.json.access_token as string;
  };
  const mint = async (subject: string) => tokenOf(await w.exchangeAs(subject, { scope: 'read' }));
  const call = (target: Api, token: string) => fetch(`${target.url}/tickets`, { headers: { authorization: `Bearer ${token}` } });

  /** Runs `revoke` (whose promise resolves when Deputy answered) and waits until the API refuses every token. */
  async function expectRefusedAfter(way: string, tokens: string[], revoke: () => Promise<void>, target = api) {
    for (const token of tokens) expect((await call(target, token)).status).toBe(200);
    await revoke();
    const returned = performance.now();
    await until(async () => {
      for (const token of tokens) if ((await call(target, token)).status !== 401) return false;
      return true;
    }, `the API to refuse after ${way}`, 20_000, 5);
    latenciesMs[way] = Math.round(performance.now() - returned);
    for (const token of tokens) {
      const refused = await call(target, token);
      // Refused because the event arrived, not because of introspection.
      expect(refused.headers.get('www-authenticate')).toContain('error="invalid_token", error_description="the access token was revoked"');
    }
  }

  beforeAll(async () => {
    w = await startExchangeWorld(DEPUTY_ENV);
    api = await startApi(w.deputy.url, w.issuer);
    const stream = await api.rs.ssf!.ensureStream({ method: 'push', endpointUrl: `${api.url}/ssf`, authorizationHeader: PUSH_SECRET });
    expect(stream.delivery.method).toBe('urn:ietf:rfc:8935');
    await api.rs.ssf!.verifyStream(20_000);
  });
  afterAll(async () => {
    if (Object.keys(latenciesMs).length) console.log(`revoke returned → API refuses (ms, informative): ${JSON.stringify(latenciesMs)}`);
    await api?.close();
    // After the restart test the world's Deputy is already closed; its database is still ours.
    if (deputyRestarted) await w.deputy.database.drop();
    else await w?.stop();
  });

  it('the stream is registered once: a second ensureStream reuses it', async () => {
    const again = await api.rs.ssf!.ensureStream({ method: 'push', endpointUrl: `${api.url}/ssf`, authorizationHeader: PUSH_SECRET });
    expect(again.stream_id).toBe(api.rs.ssf!.stream);
  });

  it('RFC 7009 revocation by the client', async () => {
    const token = await mint('alice');
    await expectRefusedAfter('rfc7009', [token], async () => {
      expect((await w.revoke(token)).status).toBe(200);
    });
  });

  it('admin revocation of the token', async () => {
    const token = await mint('alice');
    await expectRefusedAfter('admin token revoke', [token], async () => {
      expect((await admin('POST', `/tokens/${claimsOf(token).jti}/revoke`, {})).status).toBe(200);
    });
  });

  it('grant revocation: every token under the grant', async () => {
    const grants = await w.addSubject('rs-grant', { entitlements: ALL, grants: { 'agent:a': ['read'] } });
    const tokens = [await mint('rs-grant'), await mint('rs-grant')];
    await expectRefusedAfter('grant revoke', tokens, async () => {
      expect((await admin('POST', `/grants/${grants['agent:a']}/revoke`, {})).status).toBe(200);
    });
  });

  it('actor disabled: tokens whose chain names it', async () => {
    await w.addActor('agent:rs', { clientId: 'app-rs' });
    await w.addSubject('rs-actor', { entitlements: ALL, grants: { 'agent:rs': ['read'] } });
    const token = tokenOf(await w.exchangeAs('rs-actor', { scope: 'read' }, { clientId: 'app-rs' }));
    await expectRefusedAfter('actor disable', [token], async () => {
      expect((await admin('PATCH', '/actors/agent:rs', { status: 'disabled' })).status).toBe(200);
    });
  });

  it('subject disabled', async () => {
    await w.addSubject('rs-subject', { entitlements: ALL, grants: { 'agent:a': ['read'] } });
    const token = await mint('rs-subject');
    await expectRefusedAfter('subject disable', [token], async () => {
      expect((await admin('PATCH', '/subjects/rs-subject', { status: 'disabled' })).status).toBe(200);
    });
  });

  it('entitlement withdrawn', async () => {
    await w.addSubject('rs-entitlement', { entitlements: ALL, grants: { 'agent:a': ['read'] } });
    const token = await mint('rs-entitlement');
    const [entitlement] = await w.sql<{ id: string }>(`SELECT id::text FROM entitlements WHERE subject_id = 'rs-entitlement' AND scope = 'read'`);
    await expectRefusedAfter('entitlement withdrawal', [token], async () => {
      expect((await admin('DELETE', `/entitlements/${entitlement!.id}`)).status).toBe(204);
    });
  });

  it('ancestor revoked: the chain below it too', async () => {
    await w.addSubject('rs-chain', { entitlements: ALL, grants: { 'agent:a': ['read'], 'agent:b': ['read'], 'agent:c': ['read'] } });
    const first = await mint('rs-chain');
    const second = tokenOf(await w.exchange({ subject_token: first, subject_token_type: TT.accessToken, resource: RESOURCE }, { clientId: 'app-b' }));
    const third = tokenOf(await w.exchange({ subject_token: second, subject_token_type: TT.accessToken, resource: RESOURCE }, { clientId: 'app-c' }));
    const seen = await (await call(api, third)).json();
    expect(seen).toEqual({ subject: 'rs-chain', chain: ['agent:c', 'agent:b', 'agent:a'] });
    await expectRefusedAfter('ancestor revoke', [second, third], async () => {
      expect((await w.revoke(first)).status).toBe(200);
    });
  });

  it('a token nobody revoked is still accepted', async () => {
    expect((await call(api, await mint('alice'))).status).toBe(200);
  });

  it('API down, then Deputy restarted, then the API back on the same endpoint: no event lost', async () => {
    const before = await mint('alice');
    await expectRefusedAfter('rfc7009 before the outage', [before], async () => {
      expect((await w.revoke(before)).status).toBe(200);
    });
    const tokens: string[] = [];
    for (let i = 0; i < 5; i += 1) tokens.push(await mint('alice'));
    const port = api.port;
    await api.close();

    // Revoked while the API is down: Deputy keeps the events (outbox) and retries.
    for (const token of tokens.slice(0, 3)) expect((await w.revoke(token)).status).toBe(200);
    // Deputy restarts (same database, same issuer) with events still pending.
    const deputy = w.deputy;
    deputyRestarted = true;
    await deputy.close();
    const restarted: TestDeputy = await startTestDeputy({ ...DEPUTY_ENV, CLIENT_SECRET_PEPPER: deputy.config.CLIENT_SECRET_PEPPER!, PORT: String(deputy.config.PORT), ISSUER: w.issuer }, deputy.database);
    try {
      for (const token of tokens.slice(3)) expect((await w.revoke(token)).status).toBe(200);

      // The API restarts with an empty (in-memory) revocation list on the same push endpoint.
      api = await startApi(restarted.url, w.issuer, port);
      // The API says it is back (stream enabled): Deputy delivers now rather than at its next retry.
      await api.rs.ssf!.ensureStream({ method: 'push', endpointUrl: `${api.url}/ssf`, authorizationHeader: PUSH_SECRET });
      await api.rs.ssf!.resume();
      // Every event of the outage reaches the restarted API (not merely refused by introspection:
      // the events themselves arrive), in the order of the changes (first arrival of each).
      const outage = tokens.map((token) => claimsOf(token).jti as string);
      await until(() => outage.every((jti) => api.revokedInOrder.includes(jti)), 'every event of the outage delivered after the restart', 30_000, 20);
      expect([...new Set(api.revokedInOrder)].filter((jti) => outage.includes(jti))).toEqual(outage);
      for (const token of tokens) expect((await call(api, token)).status).toBe(401);
      // What it learnt before the outage is gone from memory; introspection covers tokens older than this process.
      const forgotten = await call(api, before);
      expect({ status: forgotten.status, challenge: forgotten.headers.get('www-authenticate'), body: await forgotten.text() }).toMatchObject({
        status: 401,
        challenge: expect.stringContaining('the access token is not active'),
      });
      expect((await call(api, await tokenOf(await w.exchangeAs('alice', { scope: 'read' })))).status).toBe(200);
    } finally {
      await api.close();
      await restarted.close();
      api = { ...api, close: async () => undefined };
    }
  });
});
