/**
 * The resource-server library against tokens minted by a real Deputy (signature against its
 * /jwks, subject and act chain, introspection fallback, DPoP-bound tokens), and against
 * hand-made tokens for each validation rule it must refuse on its own.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SignJWT, calculateJwkThumbprint, createLocalJWKSet, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { freePort } from '../../src/db/embedded.js';
import { AccessError, accessTokenHash, createResourceServer, type ChainPolicy, type RequestLike, type ResourceServer, type ResourceServerOptions } from '../../src/resource-server/index.js';
import { RESOURCE, SECRETS, TT, makeKeyPair, startExchangeWorld, type KeyPair, type World } from '../support/exchange-world.js';

const API_URL = 'https://api.test/tickets/42';

function bearer(token: string, url = API_URL, method = 'GET'): RequestLike {
  return { method, url, headers: { authorization: `Bearer ${token}` } };
}

async function refusalOf(run: Promise<unknown>): Promise<AccessError> {
  try {
    await run;
  } catch (error) {
    if (error instanceof AccessError) return error;
    throw error;
  }
  throw new Error('expected a refusal, the request was accepted');
}

describe('resource-server library with a real Deputy', () => {
  let w: World;
  let rs: ResourceServer;
  const tokenOf = (result: { status: number; json: Record<string, unknown>; text: string }) => {
    if (result.status !== 200) throw new Error(`exchange failed: ${result.status} ${result.text}`);
    return result.json.access_token as string;
  };

  beforeAll(async () => {
    w = await startExchangeWorld();
    rs = createResourceServer({ issuer: w.issuer, audience: RESOURCE });
  });
  afterAll(async () => {
    await rs?.close();
    await w?.stop();
  });

  it('accepts a Deputy token: subject, the act chain (current actor first), scopes, client', async () => {
    const token = tokenOf(await w.exchangeAs('alice', { scope: 'read write' }));
    const caller = await rs.verify(bearer(token));
    expect(caller).toMatchObject({ subject: 'alice', chain: ['agent:a'], actor: 'agent:a', scopes: ['read', 'write'], clientId: 'app-a', dpopJkt: null });
  });

  it('a chained token: the outermost act is the current actor; a policy on the chain refuses it as insufficient_scope', async () => {
    const first = tokenOf(await w.exchangeAs('alice', { scope: 'read' }));
    const second = tokenOf(await w.exchange({ subject_token: first, subject_token_type: TT.accessToken, resource: RESOURCE }, { clientId: 'app-b' }));
    const caller = await rs.verify(bearer(second));
    expect(caller.chain).toEqual(['agent:b', 'agent:a']);
    expect(caller.actor).toBe('agent:b');

    const policies: ChainPolicy[] = [{ maxHops: 1 }, { allowedActors: ['agent:a'] }, { forbiddenActors: ['agent:a'] }, { scopes: ['write'] }];
    for (const policy of policies) {
      const error = await refusalOf(rs.verify(bearer(second), policy));
      expect([error.code, error.status]).toEqual(['insufficient_scope', 403]);
    }
    await expect(rs.verify(bearer(second), { maxHops: 2, allowedActors: ['agent:b'], allowedInChain: ['agent:a', 'agent:b'], scopes: ['read'] })).resolves.toBeDefined();
  });

  it('refuses a Deputy token for another audience', async () => {
    const token = tokenOf(await w.exchangeAs('alice', { scope: 'read' }));
    const other = createResourceServer({ issuer: w.issuer, audience: 'https://api.test/billing' });
    expect((await refusalOf(other.verify(bearer(token)))).description).toBe('the access token is for another audience');
  });

  it("refuses a Deputy token verified against another issuer's name", async () => {
    const token = tokenOf(await w.exchangeAs('alice', { scope: 'read' }));
    const other = createResourceServer({ issuer: w.issuer, audience: RESOURCE, jwksUri: `${w.issuer}/jwks` });
    await expect(other.verify(bearer(token))).resolves.toBeDefined();
    const wrongIssuer = createResourceServer({ issuer: 'https://elsewhere.test', audience: RESOURCE, jwksUri: `${w.issuer}/jwks` });
    expect((await refusalOf(wrongIssuer.verify(bearer(token)))).description).toBe('the access token is from another issuer');
  });

  it("Deputy's keys unreachable: 503 temporarily_unavailable, never an acceptance", async () => {
    const token = tokenOf(await w.exchangeAs('alice', { scope: 'read' }));
    const port = await freePort();
    const offline = createResourceServer({ issuer: w.issuer, audience: RESOURCE, jwksUri: `http://127.0.0.1:${port}/jwks` });
    const error = await refusalOf(offline.verify(bearer(token)));
    expect([error.code, error.status]).toEqual(['temporarily_unavailable', 503]);
  });

  describe('introspection fallback (RFC 7662)', () => {
    it('refuses a token revoked by RFC 7009 once the cached answer runs out', async () => {
      let now = Date.now();
      const introspecting = createResourceServer({
        issuer: w.issuer,
        audience: RESOURCE,
        introspection: { clientId: 'resource-server', clientSecret: SECRETS['resource-server']!, cacheSeconds: 5 },
        clock: () => now,
      });
      const token = tokenOf(await w.exchangeAs('alice', { scope: 'read' }));
      await expect(introspecting.verify(bearer(token))).resolves.toMatchObject({ subject: 'alice' });
      expect((await w.revoke(token)).status).toBe(200);
      // Within the cache: the answer Deputy gave 0 s ago still stands.
      await expect(introspecting.verify(bearer(token))).resolves.toBeDefined();
      now += 6000;
      const error = await refusalOf(introspecting.verify(bearer(token)));
      expect([error.code, error.description]).toEqual(['invalid_token', 'the access token is not active']);
    });

    it('a client that is not a resource server of the audience learns nothing: every token refused', async () => {
      const notAllowed = createResourceServer({ issuer: w.issuer, audience: RESOURCE, introspection: { clientId: 'app-none', clientSecret: SECRETS['app-none']! } });
      const token = tokenOf(await w.exchangeAs('alice', { scope: 'read' }));
      expect((await refusalOf(notAllowed.verify(bearer(token)))).code).toBe('invalid_token');
    });

    it('wrong client credentials or introspection down: 503, never an acceptance', async () => {
      const token = tokenOf(await w.exchangeAs('alice', { scope: 'read' }));
      const wrongSecret = createResourceServer({ issuer: w.issuer, audience: RESOURCE, introspection: { clientId: 'resource-server', clientSecret: 'wrong' } });
      expect((await refusalOf(wrongSecret.verify(bearer(token)))).status).toBe(503);
      const port = await freePort();
      const down = createResourceServer({
        issuer: w.issuer,
        audience: RESOURCE,
        introspection: { clientId: 'resource-server', clientSecret: SECRETS['resource-server']!, endpoint: `http://127.0.0.1:${port}/introspect` },
      });
      expect((await refusalOf(down.verify(bearer(token)))).code).toBe('temporarily_unavailable');
    });
  });

  describe('DPoP-bound tokens (RFC 9449)', () => {
    let holder: { privateKey: CryptoKey; publicJwk: JWK; jkt: string };
    let token: string;

    async function keyPair() {
      const pair = await generateKeyPair('ES256', { extractable: true });
      const publicJwk = await exportJWK(pair.publicKey);
      return { privateKey: pair.privateKey, publicJwk, jkt: await calculateJwkThumbprint(publicJwk) };
    }

    function proof(claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}, key = holder, accessToken = token): Promise<string> {
      return new SignJWT({ htm: 'GET', htu: API_URL, jti: randomUUID(), iat: Math.floor(Date.now() / 1000), ath: accessTokenHash(accessToken), ...claims })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.publicJwk, ...header })
        .sign(key.privateKey);
    }

    const dpopRequest = (dpop: string | null, scheme = 'DPoP', url = API_URL, method = 'GET'): RequestLike => ({
      method,
      url,
      headers: { authorization: `${scheme} ${token}`, ...(dpop ? { dpop } : {}) },
    });

    beforeAll(async () => {
      holder = await keyPair();
      const tokenProof = await new SignJWT({ htm: 'POST', htu: `${w.issuer}/token`, jti: randomUUID(), iat: Math.floor(Date.now() / 1000) })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: holder.publicJwk })
        .sign(holder.privateKey);
      const response = await fetch(`${w.deputy.url}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`app-a:${SECRETS['app-a']}`).toString('base64')}`, dpop: tokenProof },
        body: new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: await w.userToken('alice'), subject_token_type: TT.jwt, resource: RESOURCE, scope: 'read' }),
      });
      const body = (await response.json()) as { access_token: string; token_type: string };
      expect(body.token_type).toBe('DPoP');
      token = body.access_token;
    });

    it('accepts the token with a proof of its key for this request (the query is not part of htu)', async () => {
      const caller = await rs.verify(dpopRequest(await proof()));
      expect(caller.dpopJkt).toBe(holder.jkt);
      await expect(rs.verify(dpopRequest(await proof(), 'DPoP', `${API_URL}?page=2`))).resolves.toBeDefined();
    });

    const refusals: Array<[string, () => Promise<RequestLike>, string]> = [
      ['a bound token sent as Bearer (a downgrade)', async () => dpopRequest(await proof(), 'Bearer'), 'invalid_token'],
      ['no proof', async () => dpopRequest(null), 'invalid_dpop_proof'],
      ['a proof that is not a JWT', async () => dpopRequest('not-a-jwt'), 'invalid_dpop_proof'],
      ['another HTTP method (htm)', async () => dpopRequest(await proof({ htm: 'POST' })), 'invalid_dpop_proof'],
      ['another URL (htu)', async () => dpopRequest(await proof({ htu: 'https://api.test/tickets/43' })), 'invalid_dpop_proof'],
      ['a proof too old (iat)', async () => dpopRequest(await proof({ iat: Math.floor(Date.now() / 1000) - 300 })), 'invalid_dpop_proof'],
      ['a proof from the future (iat)', async () => dpopRequest(await proof({ iat: Math.floor(Date.now() / 1000) + 300 })), 'invalid_dpop_proof'],
      ['a proof without iat', async () => dpopRequest(await proof({ iat: undefined })), 'invalid_dpop_proof'],
      ['a proof without jti', async () => dpopRequest(await proof({ jti: undefined })), 'invalid_dpop_proof'],
      ['a proof for another access token (ath)', async () => dpopRequest(await proof({ ath: accessTokenHash('another-token') })), 'invalid_dpop_proof'],
      ['a proof without ath', async () => dpopRequest(await proof({ ath: undefined })), 'invalid_dpop_proof'],
      ['a proof with typ JWT', async () => dpopRequest(await proof({}, { typ: 'JWT' })), 'invalid_dpop_proof'],
      ['a proof by another key (jkt mismatch)', async () => dpopRequest(await proof({}, {}, await keyPair())), 'invalid_token'],
      [
        'a proof whose jwk carries a private key',
        async () => {
          const privateJwk = await exportJWK(holder.privateKey);
          return dpopRequest(await proof({}, { jwk: { ...holder.publicJwk, d: privateJwk.d } }));
        },
        'invalid_dpop_proof',
      ],
      [
        'a proof signed with a key other than its jwk',
        async () => {
          const other = await keyPair();
          return dpopRequest(await proof({}, { jwk: holder.publicJwk }, { ...other, publicJwk: holder.publicJwk }));
        },
        'invalid_dpop_proof',
      ],
      [
        'a proof with a symmetric algorithm',
        async () => {
          const hs = await new SignJWT({ htm: 'GET', htu: API_URL, jti: randomUUID(), iat: Math.floor(Date.now() / 1000), ath: accessTokenHash(token) })
            .setProtectedHeader({ alg: 'HS256', typ: 'dpop+jwt', jwk: { kty: "oct", k: "c2VjcmV0" } as never })
            .sign(new TextEncoder().encode('secret-secret-secret-secret-1234'));
          return dpopRequest(hs);
        },
        'invalid_dpop_proof',
      ],
    ];

    it.each(refusals)('refuses %s', async (_name, build, code) => {
      const error = await refusalOf(rs.verify(await build()));
      expect([error.code, error.status, error.scheme]).toEqual([code, 401, 'DPoP']);
      expect(rs.refusalFor(error)!.headers['www-authenticate']).toMatch(new RegExp(`^DPoP error="${code}"`));
    });

    it('refuses a replayed proof', async () => {
      const once = await proof();
      await expect(rs.verify(dpopRequest(once))).resolves.toBeDefined();
      expect((await refusalOf(rs.verify(dpopRequest(once)))).description).toBe('the DPoP proof was already used');
    });

    it('refuses an unbound token sent with the DPoP scheme', async () => {
      const plain = tokenOf(await w.exchangeAs('alice', { scope: 'read' }));
      const error = await refusalOf(rs.verify({ method: 'GET', url: API_URL, headers: { authorization: `DPoP ${plain}`, dpop: await proof({}, {}, holder, plain) } }));
      expect([error.code, error.description]).toEqual(['invalid_token', 'the access token is not DPoP-bound']);
    });
  });
});

describe('each access-token rule, on hand-made tokens', () => {
  const ISSUER = 'https://deputy.test';
  let key: KeyPair;
  let stranger: KeyPair;
  let options: ResourceServerOptions;
  let rs: ResourceServer;

  beforeAll(async () => {
    key = await makeKeyPair('deputy-key');
    stranger = await makeKeyPair('deputy-key');
    options = { issuer: ISSUER, audience: RESOURCE, keys: createLocalJWKSet({ keys: [key.publicJwk] }) };
    rs = createResourceServer(options);
  });

  function mint(claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}, signer = key.privateKey): Promise<string> {
    const now = Math.floor(Date.now() / 1000);
    const payload: Record<string, unknown> = { iss: ISSUER, sub: 'alice', aud: RESOURCE, iat: now, exp: now + 300, jti: randomUUID(), scope: 'read', client_id: 'app-a', act: { sub: 'agent:a' }, ...claims };
    for (const [name, value] of Object.entries(payload)) if (value === undefined) delete payload[name];
    return new SignJWT(payload).setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'at+jwt', ...header } as { alg: string }).sign(signer);
  }

  it('accepts typ at+jwt and application/at+jwt, an audience list that names it, exp within the clock tolerance', async () => {
    const now = Math.floor(Date.now() / 1000);
    await expect(rs.verify(bearer(await mint()))).resolves.toMatchObject({ subject: 'alice', chain: ['agent:a'] });
    await expect(rs.verify(bearer(await mint({}, { typ: 'application/at+jwt' })))).resolves.toBeDefined();
    await expect(rs.verify(bearer(await mint({ aud: ['https://other.test', RESOURCE] })))).resolves.toBeDefined();
    await expect(rs.verify(bearer(await mint({ exp: now - 2 })))).resolves.toBeDefined();
    await expect(rs.verify(bearer(await mint({ act: undefined })))).resolves.toMatchObject({ chain: [], actor: null });
  });

  const now = () => Math.floor(Date.now() / 1000);
  const rules: Array<[string, () => Promise<string>, string]> = [
    ['typ JWT', () => mint({}, { typ: 'JWT' }), 'the access token must have typ at+jwt'],
    ['no typ', () => mint({}, { typ: undefined }), 'the access token must have typ at+jwt'],
    ['another issuer', () => mint({ iss: 'https://evil.test' }), 'the access token is from another issuer'],
    ['another audience', () => mint({ aud: 'https://api.test/billing' }), 'the access token is for another audience'],
    ['expired beyond the tolerance', () => mint({ exp: now() - 60 }), 'the access token has expired'],
    ['issued in the future', () => mint({ iat: now() + 60 }), 'the access token is not valid yet'],
    ['no exp', () => mint({ exp: undefined }), 'the access token claim exp is invalid'],
    ['no jti', () => mint({ jti: undefined }), 'the access token claim jti is invalid'],
    ['no sub', () => mint({ sub: undefined }), 'the access token claim sub is invalid'],
    ['a malformed act', () => mint({ act: { actor: 'agent:a' } }), 'the access token act claim is malformed'],
    ['a malformed scope', () => mint({ scope: ['read'] }), 'the access token scope claim is malformed'],
    ['a malformed cnf', () => mint({ cnf: { jkt: 7 } }), 'the access token cnf claim is malformed'],
    ['a signature by another key under the same kid', () => mint({}, {}, stranger.privateKey), 'the access token signature does not verify'],
    ['an unknown kid', () => mint({}, { kid: 'other-kid' }), 'the access token is signed with an unknown key'],
    [
      'alg none',
      async () => {
        const [, payload] = (await mint()).split('.');
        return `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt' })).toString('base64url')}.${payload}.`;
      },
      'the access token algorithm is not accepted',
    ],
    ['garbage', async () => 'abc.def.ghi', 'the access token is malformed'],
  ];

  it.each(rules)('refuses %s as invalid_token (401, Bearer challenge)', async (_name, build, description) => {
    const error = await refusalOf(rs.verify(bearer(await build())));
    expect([error.code, error.status, error.description]).toEqual(['invalid_token', 401, description]);
    expect(rs.refusalFor(error)!.headers['www-authenticate']).toBe(`Bearer error="invalid_token", error_description="${description}"`);
  });

  it('refuses a request without a token with a challenge that names no error', async () => {
    const error = await refusalOf(rs.verify({ method: 'GET', url: API_URL, headers: {} }));
    const answer = rs.refusalFor(error)!;
    expect(answer.status).toBe(401);
    expect(answer.headers['www-authenticate']).toMatch(/^Bearer, DPoP algs="ES256 /);
  });

  it('an algorithm outside the allowed list is refused even with a valid signature', async () => {
    const strict = createResourceServer({ ...options, algorithms: ['EdDSA'] });
    expect((await refusalOf(strict.verify(bearer(await mint())))).description).toBe('the access token algorithm is not accepted');
  });

  it('a larger clock tolerance accepts what the default refuses', async () => {
    const lenient = createResourceServer({ ...options, clockToleranceSeconds: 120 });
    const token = await mint({ exp: now() - 60 });
    await expect(lenient.verify(bearer(token))).resolves.toBeDefined();
    expect((await refusalOf(rs.verify(bearer(token)))).description).toBe('the access token has expired');
  });
});
