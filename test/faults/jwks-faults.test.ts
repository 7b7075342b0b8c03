/**
 * Fault: a trusted user issuer's jwks_uri misbehaves. Each mode is a path on a node:http server
 * on 127.0.0.1 that this test controls, registered (by SQL) as the jwks_uri of its own trusted
 * user issuer. Deputy runs with JWKS_TIMEOUT_MS=300 and JWKS_COOLDOWN_MS=60000.
 *
 * Expected: a subject token from an issuer whose keys cannot be obtained gets 503
 * temporarily_unavailable and no token (fail closed); slow-but-in-time gets 200; the issuer with
 * an inline JWKS is unaffected at the same moment; repeated unknown-kid tokens refetch at most
 * once per cooldown; a failed fetch is not retried within the cooldown either.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { GRANT_TYPE, RESOURCE, TT, expectRefusalShape, makeKeyPair, startExchangeWorld, type HttpResult, type KeyPair, type World } from '../support/exchange-world.js';
import { guardedExchange, postToken } from '../support/hostile.js';

type Mode = 'good' | 'slow' | 'hang' | 'error500' | 'garbage' | 'notjwks' | 'huge' | 'redirect' | 'badkey' | 'cooldown' | 'empty';

const MODES: Mode[] = ['good', 'slow', 'hang', 'error500', 'garbage', 'notjwks', 'huge', 'redirect', 'badkey', 'cooldown', 'empty'];
const HUGE_BYTES = 5 * 1024 * 1024;

describe('fault: a trusted issuer’s JWKS endpoint misbehaves', () => {
  let w: World;
  let jwksServer: Server;
  let base: string;
  let remoteKey: KeyPair;
  let rotatedKey: KeyPair;
  /** Keys served on /cooldown; a test adds a key to simulate the IdP rotating. */
  let cooldownKeys: KeyPair[];
  const hits: Record<string, number> = {};
  /** Resolves when a request arrives on /hang (so the test knows Deputy is waiting on it). */
  let hangArrived: () => void = () => {};

  const issuerOf = (mode: Mode) => `https://idp-${mode}.test`;

  function serve(req: IncomingMessage, res: ServerResponse): void {
    const mode = (req.url ?? '/').slice(1).split('?')[0] as Mode;
    hits[mode] = (hits[mode] ?? 0) + 1;
    const jwks = (keys: KeyPair[]) => JSON.stringify({ keys: keys.map((k) => k.publicJwk) });
    const json = (body: string) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(body);
    };
    switch (mode) {
      case 'good':
        return json(jwks([remoteKey]));
      case 'slow':
        setTimeout(() => json(jwks([remoteKey])), 100);
        return;
      case 'hang':
        hangArrived();
        return; // never answers; closed in afterAll
      case 'error500':
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('internal error at /srv/idp/jwks.ts:12');
        return;
      case 'garbage':
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end('\u0000\u0001{"keys": [ not json <html>');
        return;
      case 'notjwks':
        return json(JSON.stringify({ keys: 'not-an-array' }));
      case 'empty':
        return json(JSON.stringify({ keys: [] }));
      case 'huge': {
        res.writeHead(200, { 'content-type': 'application/json' });
        const chunk = Buffer.alloc(64 * 1024, 'A');
        let sent = 0;
        const pump = (): void => {
          while (sent < HUGE_BYTES) {
            sent += chunk.length;
            if (!res.write(chunk)) {
              res.once('drain', pump);
              return;
            }
          }
          res.end();
        };
        res.on('error', () => {});
        pump();
        return;
      }
      case 'redirect':
        res.writeHead(302, { location: `${base}/good` });
        res.end();
        return;
      case 'badkey':
        return json(JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', kid: remoteKey.kid, alg: 'ES256', x: 'AAAA', y: '!!!' }] }));
      case 'cooldown':
        return json(jwks(cooldownKeys));
      default:
        res.writeHead(404);
        res.end();
    }
  }

  beforeAll(async () => {
    remoteKey = await makeKeyPair('remote-key-1');
    rotatedKey = await makeKeyPair('remote-key-2');
    cooldownKeys = [remoteKey];
    jwksServer = createServer(serve);
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    base = `http://127.0.0.1:${(jwksServer.address() as AddressInfo).port}`;
    w = await startExchangeWorld({ JWKS_ALLOW_PRIVATE_NETWORK: 'true', JWKS_TIMEOUT_MS: '300', JWKS_COOLDOWN_MS: '60000' });
    for (const mode of MODES) {
      await w.sql(
        `INSERT INTO trusted_issuers (issuer, jwks_uri, audience, kind, algorithms) VALUES ($1, $2, $3, 'user', ARRAY['ES256'])`,
        [issuerOf(mode), `${base}/${mode}`, w.issuer],
      );
    }
  });

  afterAll(async () => {
    await w?.stop();
    jwksServer?.closeAllConnections();
    await new Promise<void>((resolve) => (jwksServer ? jwksServer.close(() => resolve()) : resolve()));
  });

  async function remoteToken(mode: Mode, key: KeyPair = remoteKey): Promise<string> {
    return w.userToken('alice', { claims: { iss: issuerOf(mode) }, header: { kid: key.kid }, key: key.privateKey });
  }

  async function exchangeFrom(mode: Mode, key: KeyPair = remoteKey): Promise<HttpResult> {
    return postToken(w, {
      grant_type: GRANT_TYPE,
      subject_token: await remoteToken(mode, key),
      subject_token_type: TT.jwt,
      resource: RESOURCE,
      scope: 'read',
    });
  }

  function expectUnavailable(result: HttpResult): void {
    expect(result.status).toBe(503);
    expect(result.json.error).toBe('temporarily_unavailable');
    expect(result.json.access_token).toBeUndefined();
    expectRefusalShape(result);
    expect(result.text).not.toContain('127.0.0.1');
    expect(result.text).not.toContain('/srv/idp');
  }

  it('a healthy remote JWKS (control) and a slow-but-in-time one both give 200', async () => {
    const good = await exchangeFrom('good');
    expect(good.status).toBe(200);
    expect(good.json.access_token).toEqual(expect.any(String));
    const slow = await exchangeFrom('slow');
    expect(slow.status).toBe(200);
    expect(slow.json.access_token).toEqual(expect.any(String));
  });

  it.each<[Mode]>([['error500'], ['garbage'], ['notjwks'], ['huge'], ['redirect']])(
    'JWKS %s → 503 temporarily_unavailable, no token, no issued row; inline-JWKS issuer still 200',
    async (mode) => {
      const issuedBefore = await w.issuedCount();
      const [faulty, inline] = await Promise.all([exchangeFrom(mode), guardedExchange(w)]);
      expectUnavailable(faulty);
      expect(inline.status).toBe(200);
      expect(await w.issuedCount()).toBe(issuedBefore + 1);
      // And again (no verdict was cached from the failure).
      expectUnavailable(await exchangeFrom(mode));
    },
  );

  it('a JWKS that hangs beyond JWKS_TIMEOUT_MS → 503; the inline issuer answers 200 while it hangs', async () => {
    const issuedBefore = await w.issuedCount();
    const arrived = new Promise<void>((resolve) => (hangArrived = resolve));
    let hangSettled = false;
    const hanging = exchangeFrom('hang').finally(() => (hangSettled = true));
    await arrived; // Deputy is now waiting on the hanging JWKS
    const inline = await guardedExchange(w);
    expect(inline.status).toBe(200);
    const inlineAnsweredWhileHanging = !hangSettled;
    const result = await hanging;
    expectUnavailable(result);
    expect(await w.issuedCount()).toBe(issuedBefore + 1);
    console.log(`jwks-faults: inline issuer answered while the JWKS hung: ${inlineAnsweredWhileHanging}`);
  });

  it('a JWKS whose only key cannot be imported, or an empty JWKS → refused without a token (400 or 503)', async () => {
    for (const mode of ['badkey', 'empty'] as const) {
      const result = await exchangeFrom(mode);
      expect([400, 503]).toContain(result.status);
      expect(result.json.access_token).toBeUndefined();
      expectRefusalShape(result);
      console.log(`jwks-faults: ${mode} JWKS → ${result.status} ${String(result.json.error)}`);
    }
  });

  it('repeated unknown-kid tokens refetch the JWKS at most once per cooldown', async () => {
    const ok = await exchangeFrom('cooldown');
    expect(ok.status).toBe(200);
    expect(hits.cooldown).toBe(1);

    const stranger = await makeKeyPair('unknown-kid');
    for (let i = 0; i < 10; i += 1) {
      const result = await exchangeFrom('cooldown', stranger);
      expect(result.status).toBe(400);
      expect(result.json.error).toBe('invalid_request');
      expect(result.json.access_token).toBeUndefined();
    }
    // Concurrent unknown kids too.
    const burst = await Promise.all(Array.from({ length: 10 }, () => exchangeFrom('cooldown', stranger)));
    for (const result of burst) expect(result.status).toBe(400);

    // The IdP rotates: within the cooldown its new kid is not fetched yet (the cost of the bound).
    cooldownKeys = [remoteKey, rotatedKey];
    const rotated = await exchangeFrom('cooldown', rotatedKey);
    expect(rotated.status).toBe(400);
    expect(rotated.json.access_token).toBeUndefined();

    // The first fetch happened just before the unknown kids, so the cooldown has not elapsed:
    // not a single refetch.
    expect(hits.cooldown).toBe(1);
    // The known key still works from the cache.
    expect((await exchangeFrom('cooldown')).status).toBe(200);
    expect(hits.cooldown).toBe(1);
  });

  it('a failing JWKS endpoint is not fetched again within the cooldown, whatever the traffic', async () => {
    const before = hits.error500 ?? 0;
    expect(before).toBeGreaterThan(0); // it failed in an earlier test, within this run's 60 s cooldown
    const stranger = await makeKeyPair('untrusted-key');
    for (let i = 0; i < 5; i += 1) expectUnavailable(await exchangeFrom('error500'));
    for (let i = 0; i < 5; i += 1) expectUnavailable(await exchangeFrom('error500', stranger));
    const sequential = (hits.error500 ?? 0) - before;
    const mid = hits.error500 ?? 0;
    const burst = await Promise.all(Array.from({ length: 10 }, (_, i) => exchangeFrom('error500', i % 2 ? stranger : remoteKey)));
    for (const result of burst) expectUnavailable(result);
    const concurrent = (hits.error500 ?? 0) - mid;
    console.log(`jwks-faults: a failing JWKS was fetched ${sequential} times for 10 sequential requests, ${concurrent} times for 10 concurrent ones; hits by mode ${JSON.stringify(hits)}`);
    expect(sequential).toBe(0);
    expect(concurrent).toBe(0);
  });

  it('a failing JWKS endpoint is fetched once for a burst of first requests', async () => {
    // A fresh issuer on a failing endpoint: concurrent first requests share one fetch.
    await w.sql(`INSERT INTO trusted_issuers (issuer, jwks_uri, audience, kind, algorithms) VALUES ('https://idp-burst.test', $1, $2, 'user', ARRAY['ES256'])`, [
      `${base}/error500?burst`,
      w.issuer,
    ]);
    const before = hits.error500 ?? 0;
    const token = await w.userToken('alice', { claims: { iss: 'https://idp-burst.test' }, header: { kid: remoteKey.kid }, key: remoteKey.privateKey });
    const burst = await Promise.all(
      Array.from({ length: 10 }, () => postToken(w, { grant_type: GRANT_TYPE, subject_token: token, subject_token_type: TT.jwt, resource: RESOURCE, scope: 'read' })),
    );
    for (const result of burst) expectUnavailable(result);
    expect((hits.error500 ?? 0) - before).toBe(1);
  });
});
