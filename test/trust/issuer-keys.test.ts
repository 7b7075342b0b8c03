import { afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { errors as joseErrors, jwtVerify } from 'jose';
import { OAuthError } from '../../src/errors.js';
import { createIssuerKeys, createLocalKeySets, type IssuerKeyOptions, type IssuerKeySource } from '../../src/trust/issuer-keys.js';
import { verifyTrustedIssuerToken, type TrustedIssuerDeps, type TrustedIssuerRecord } from '../../src/trust/trusted-issuer-token.js';
import { NOW, NOW_S, jwksOf, makeKey, oauthRejection, signJwt, type TestKey } from '../support/jwt-fixtures.js';

const ISSUER = 'https://idp.example.com';
const AUDIENCE = 'https://deputy.example.com';

/** These JWKS servers listen on 127.0.0.1: opt in to loopback targets explicitly. */
const loopbackKeys = (options: IssuerKeyOptions = {}) => createIssuerKeys({ allowPrivateNetwork: true, ...options });

let key1: TestKey;
let key2: TestKey;

beforeAll(async () => {
  key1 = await makeKey('ES256', 'rot-1');
  key2 = await makeKey('ES256', 'rot-2');
});

interface JwksServer {
  url: string;
  requests: number;
  close(): Promise<void>;
}

const servers: JwksServer[] = [];

/** A JWKS endpoint on loopback; `handler` decides each response. */
async function jwksServer(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<JwksServer> {
  const server = createServer((req, res) => {
    s.requests += 1;
    handler(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const s: JwksServer = {
    url: `http://127.0.0.1:${port}/jwks`,
    requests: 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
  servers.push(s);
  return s;
}

const json = (body: unknown) => (_req: IncomingMessage, res: ServerResponse) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end(JSON.stringify(body));
};

afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => s.close()));
});

const claims = () => ({ iss: ISSUER, aud: AUDIENCE, sub: 'alice', iat: NOW_S - 10, exp: NOW_S + 600 });

function record(source: Partial<TrustedIssuerRecord>): TrustedIssuerRecord {
  return { issuer: ISSUER, jwksUri: null, jwks: null, audience: AUDIENCE, kind: 'user', subjectClaim: 'sub', algorithms: ['ES256'], subjects: { allowed: [], prefix: null }, ...source };
}

function depsWith(keys: ReturnType<typeof createIssuerKeys>, rec: TrustedIssuerRecord): TrustedIssuerDeps {
  return { clockSkewSeconds: 30, findIssuer: async () => rec, keysFor: (r) => keys.keysFor(r), ownIssuer: 'https://deputy.example.com' };
}

async function verifyWith(source: IssuerKeySource, token: string, keys = loopbackKeys()) {
  return jwtVerify(token, keys.keysFor(source), { currentDate: NOW });
}


describe('issuer keys: inline jwks', () => {
  it('verifies with an inline key set', async () => {
    const { payload } = await verifyWith({ issuer: ISSUER, jwks: jwksOf(key1) }, await signJwt(key1, claims()));
    expect(payload.sub).toBe('alice');
  });

  it('prefers inline keys over jwks_uri (no fetch)', async () => {
    const server = await jwksServer(json(jwksOf(key2)));
    await verifyWith({ issuer: ISSUER, jwks: jwksOf(key1), jwksUri: server.url }, await signJwt(key1, claims()));
    expect(server.requests).toBe(0);
  });

  it('leaves an unknown kid as JWKSNoMatchingKey, which the verifier reports as invalid_request', async () => {
    const keys = loopbackKeys();
    const token = await signJwt(key2, claims());
    await expect(verifyWith({ issuer: ISSUER, jwks: jwksOf(key1) }, token, keys)).rejects.toBeInstanceOf(joseErrors.JWKSNoMatchingKey);
    const error = await oauthRejection(verifyTrustedIssuerToken(token, depsWith(keys, record({ jwks: jwksOf(key1) })), NOW));
    expect(error.code).toBe('invalid_request');
    expect(error.description).toBe('subject token is signed with an unknown key');
  });

  it.each([
    ['not a key set', { keys: 'nope' }],
    ['a private key', null],
  ])('fails closed (503) on an inline jwks that is %s', async (_name, jwks) => {
    const privateJwks = { keys: [{ ...key1.publicJwk, d: 'AAAA' }] };
    const source = { issuer: ISSUER, jwks: (jwks ?? privateJwks) as { keys: unknown[] } };
    const error = await oauthRejection(
      (async () => verifyWith(source, await signJwt(key1, claims())))(),
    );
    expect(error.code).toBe('temporarily_unavailable');
    expect(error.status).toBe(503);
  });

  it('fails closed when an issuer has no key source at all', () => {
    let thrown: unknown;
    try {
      loopbackKeys().keysFor({ issuer: ISSUER });
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(OAuthError);
    expect((thrown as OAuthError).code).toBe('temporarily_unavailable');
  });

  it('reuses one local key set for an identical jwks', () => {
    const keys = loopbackKeys();
    expect(keys.localKeySet(jwksOf(key1))).toBe(keys.localKeySet(jwksOf(key1)));
    expect(keys.localKeySet(jwksOf(key1))).not.toBe(keys.localKeySet(jwksOf(key1, key2)));
  });

  it('keeps that cache per instance, not in the module', () => {
    const sets = createLocalKeySets();
    expect(sets(jwksOf(key1))).toBe(sets(jwksOf(key1)));
    expect(createLocalKeySets()(jwksOf(key1))).not.toBe(sets(jwksOf(key1)));
    expect(loopbackKeys().localKeySet(jwksOf(key1))).not.toBe(loopbackKeys().localKeySet(jwksOf(key1)));
  });

  it('bounds the cache, dropping the oldest entry', () => {
    const sets = createLocalKeySets(1);
    const first = sets(jwksOf(key1));
    sets(jwksOf(key2));
    expect(sets(jwksOf(key1))).not.toBe(first);
  });
});

describe('issuer keys: jwks_uri', () => {
  it('fetches once and serves later verifications from the cache', async () => {
    const server = await jwksServer(json(jwksOf(key1)));
    const keys = loopbackKeys();
    const source = { issuer: ISSUER, jwksUri: server.url };
    for (let i = 0; i < 3; i += 1) await verifyWith(source, await signJwt(key1, claims()), keys);
    expect(server.requests).toBe(1);
  });

  it('keeps one remote set per URI across calls and records', async () => {
    const server = await jwksServer(json(jwksOf(key1)));
    const keys = loopbackKeys();
    await verifyWith({ issuer: ISSUER, jwksUri: server.url }, await signJwt(key1, claims()), keys);
    await verifyWith({ issuer: 'https://alias.example.com', jwksUri: server.url }, await signJwt(key1, claims()), keys);
    expect(server.requests).toBe(1);
  });

  it('refetches on an unknown kid once the cooldown has passed (key rotation)', async () => {
    let published = jwksOf(key1);
    const server = await jwksServer((req, res) => json(published)(req, res));
    const keys = loopbackKeys({ cooldownMs: 0 });
    const source = { issuer: ISSUER, jwksUri: server.url };
    await verifyWith(source, await signJwt(key1, claims()), keys);
    published = jwksOf(key1, key2);
    const { payload } = await verifyWith(source, await signJwt(key2, claims()), keys);
    expect(payload.sub).toBe('alice');
    expect(server.requests).toBe(2);
  });

  it('does not refetch on an unknown kid during the cooldown, and refuses the token', async () => {
    const server = await jwksServer(json(jwksOf(key1)));
    const keys = loopbackKeys({ cooldownMs: 60_000 });
    const rec = record({ jwksUri: server.url });
    await verifyTrustedIssuerToken(await signJwt(key1, claims()), depsWith(keys, rec), NOW);
    for (let i = 0; i < 5; i += 1) {
      const error = await oauthRejection(verifyTrustedIssuerToken(await signJwt(key2, claims()), depsWith(keys, rec), NOW));
      expect(error.code).toBe('invalid_request');
    }
    expect(server.requests).toBe(1);
  });

  const failures: Array<[string, (req: IncomingMessage, res: ServerResponse) => void]> = [
    ['answers 500', (_req, res) => {
      res.writeHead(500);
      res.end('boom');
    }],
    ['redirects', (_req, res) => {
      res.writeHead(302, { location: 'https://attacker.example/jwks' });
      res.end();
    }],
    ['serves garbage', (_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"keys": [');
    }],
    ['serves JSON that is not a key set', json({ keys: 'none' })],
    ['hangs', () => {
      /* never answers */
    }],
  ];

  it.each(failures)('fails closed (503) when the server %s', async (_name, handler) => {
    const server = await jwksServer(handler);
    const keys = loopbackKeys({ timeoutMs: 200 });
    const started = Date.now();
    const error = await oauthRejection(
      verifyTrustedIssuerToken(await signJwt(key1, claims()), depsWith(keys, record({ jwksUri: server.url })), NOW),
    );
    expect(error.code).toBe('temporarily_unavailable');
    expect(error.status).toBe(503);
    expect(error.description).not.toContain('127.0.0.1');
    expect(Date.now() - started).toBeLessThan(2000);
    expect(server.requests).toBe(1);
  });

  it('fails closed (503) when nothing listens', async () => {
    const server = await jwksServer(json(jwksOf(key1)));
    await server.close();
    const keys = loopbackKeys({ timeoutMs: 500 });
    const error = await oauthRejection(
      verifyTrustedIssuerToken(await signJwt(key1, claims()), depsWith(keys, record({ jwksUri: server.url })), NOW),
    );
    expect(error.code).toBe('temporarily_unavailable');
  });

  it('recovers once the issuer answers again', async () => {
    let healthy = false;
    const server = await jwksServer((req, res) => {
      if (healthy) return json(jwksOf(key1))(req, res);
      res.writeHead(503);
      res.end();
    });
    // No cooldown: a failed fetch is remembered for the cooldown (tested below), here for no time.
    const keys = loopbackKeys({ cooldownMs: 0 });
    const source = { issuer: ISSUER, jwksUri: server.url };
    await expect(verifyWith(source, await signJwt(key1, claims()), keys)).rejects.toBeInstanceOf(OAuthError);
    healthy = true;
    expect((await verifyWith(source, await signJwt(key1, claims()), keys)).payload.sub).toBe('alice');
  });

  it('fails closed on a jwks_uri that is not a URL', () => {
    expect(() => loopbackKeys().keysFor({ issuer: ISSUER, jwksUri: 'not a url' })).toThrow(OAuthError);
  });
});

describe('issuer keys: a failed fetch is remembered for the cooldown', () => {
  const failing = (_req: IncomingMessage, res: ServerResponse) => {
    res.writeHead(500);
    res.end('boom');
  };

  it('refuses at once (503) without fetching again, whatever key the token names, until the cooldown ends', async () => {
    let healthy = false;
    const server = await jwksServer((req, res) => (healthy ? json(jwksOf(key1))(req, res) : failing(req, res)));
    const keys = loopbackKeys({ cooldownMs: 300 });
    const rec = record({ jwksUri: server.url });
    for (const key of [key1, key2, key1, key2, key1]) {
      const error = await oauthRejection(verifyTrustedIssuerToken(await signJwt(key, claims()), depsWith(keys, rec), NOW));
      expect(error.code).toBe('temporarily_unavailable');
    }
    expect(server.requests).toBe(1);
    healthy = true;
    await new Promise((resolve) => setTimeout(resolve, 350)); // past the cooldown
    expect((await verifyTrustedIssuerToken(await signJwt(key1, claims()), depsWith(keys, rec), NOW)).subjectId).toBe('alice');
    expect(server.requests).toBe(2);
  });

  it('keeps verifying with the keys fetched before when a refetch for an unknown kid fails', async () => {
    let healthy = true;
    const server = await jwksServer((req, res) => (healthy ? json(jwksOf(key1))(req, res) : failing(req, res)));
    const keys = loopbackKeys({ cooldownMs: 100 });
    const rec = record({ jwksUri: server.url });
    await verifyTrustedIssuerToken(await signJwt(key1, claims()), depsWith(keys, rec), NOW);
    healthy = false;
    await new Promise((resolve) => setTimeout(resolve, 150)); // an unknown kid may refetch again
    const failed = await oauthRejection(verifyTrustedIssuerToken(await signJwt(key2, claims()), depsWith(keys, rec), NOW));
    expect(failed.code).toBe('temporarily_unavailable');
    expect(server.requests).toBe(2);
    // Within the cooldown of that failure: known keys still verify, unknown ones are refused, no fetch.
    expect((await verifyTrustedIssuerToken(await signJwt(key1, claims()), depsWith(keys, rec), NOW)).subjectId).toBe('alice');
    const unknown = await oauthRejection(verifyTrustedIssuerToken(await signJwt(key2, claims()), depsWith(keys, rec), NOW));
    expect(unknown.code).toBe('invalid_request');
    expect(server.requests).toBe(2);
  });
});

describe('issuer keys: dropping and refreshing an issuer’s keys', () => {
  it('drop(issuer) forgets its fetched keys: a key the IdP removed is refused at the next token', async () => {
    let published = jwksOf(key1, key2);
    const server = await jwksServer((req, res) => json(published)(req, res));
    const keys = loopbackKeys({ cooldownMs: 60_000 });
    const rec = record({ jwksUri: server.url });
    await verifyTrustedIssuerToken(await signJwt(key2, claims()), depsWith(keys, rec), NOW);
    published = jwksOf(key1); // the IdP drops key2
    // Cached: still accepted (this is what an issuer change must end).
    await verifyTrustedIssuerToken(await signJwt(key2, claims()), depsWith(keys, rec), NOW);
    keys.drop(ISSUER);
    const error = await oauthRejection(verifyTrustedIssuerToken(await signJwt(key2, claims()), depsWith(keys, rec), NOW));
    expect(error.code).toBe('invalid_request');
    expect((await verifyTrustedIssuerToken(await signJwt(key1, claims()), depsWith(keys, rec), NOW)).subjectId).toBe('alice');
    expect(server.requests).toBe(2);
  });

  it('drop(issuer) also forgets a remembered failure; dropAll forgets everything', async () => {
    let healthy = false;
    const server = await jwksServer((req, res) => {
      if (healthy) return json(jwksOf(key1))(req, res);
      res.writeHead(503);
      res.end();
    });
    const keys = loopbackKeys({ cooldownMs: 60_000 });
    const rec = record({ jwksUri: server.url });
    expect((await oauthRejection(verifyTrustedIssuerToken(await signJwt(key1, claims()), depsWith(keys, rec), NOW))).code).toBe('temporarily_unavailable');
    healthy = true;
    keys.drop(ISSUER);
    await verifyTrustedIssuerToken(await signJwt(key1, claims()), depsWith(keys, rec), NOW);
    keys.dropAll();
    await verifyTrustedIssuerToken(await signJwt(key1, claims()), depsWith(keys, rec), NOW);
    expect(server.requests).toBe(3);
  });

  it('refresh(source) drops and refetches now, answering the published key ids', async () => {
    let published = jwksOf(key1, key2);
    const server = await jwksServer((req, res) => json(published)(req, res));
    const keys = loopbackKeys({ cooldownMs: 60_000 });
    const rec = record({ jwksUri: server.url });
    expect(await keys.refresh(rec)).toEqual(['rot-1', 'rot-2']);
    await verifyTrustedIssuerToken(await signJwt(key2, claims()), depsWith(keys, rec), NOW);
    published = jwksOf(key1);
    expect(await keys.refresh(rec)).toEqual(['rot-1']);
    expect((await oauthRejection(verifyTrustedIssuerToken(await signJwt(key2, claims()), depsWith(keys, rec), NOW))).code).toBe('invalid_request');
    expect(server.requests).toBe(2);
    expect(await keys.refresh(record({ jwks: jwksOf(key2) }))).toEqual(['rot-2']);
  });
});
