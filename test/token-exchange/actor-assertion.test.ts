import { beforeAll, describe, expect, it } from '@jest/globals';
import { OAuthError } from '../../src/errors.js';
import {
  verifyActorAssertion,
  verifyWorkloadToken,
  type ActorAssertionDeps,
  type ActorKeys,
  type WorkloadTokenDeps,
} from '../../src/token-exchange/actor-assertion.js';
import { createLocalKeySets, localKeySet } from '../../src/trust/issuer-keys.js';
import { MAX_JWT_LENGTH } from '../../src/jose/jwt-guard.js';
import type { TrustedIssuerRecord } from '../../src/trust/trusted-issuer-token.js';
import {
  NOW,
  NOW_S,
  b64url,
  flipSignatureBit,
  hs256WithPublicKey,
  jwksOf,
  makeKey,
  oauthRejection,
  rawJwt,
  signJwt,
  withRawHeader,
  type Claims,
  type TestKey,
} from '../support/jwt-fixtures.js';

const DEPUTY = 'https://deputy.example.com';
const TOKEN_ENDPOINT = 'https://deputy.example.com/token';
const SKEW = 30;
const ACTOR = 'agent-1';

let actorKey: TestKey;
let otherActorKey: TestKey;
let rs384Key: TestKey;
const extraKeys: Record<string, TestKey> = {};

beforeAll(async () => {
  actorKey = await makeKey('ES256', 'agent-1-key');
  otherActorKey = await makeKey('ES256', 'agent-2-key');
  rs384Key = await makeKey('RS384', 'agent-1-rs384');
  for (const alg of ['ES384', 'ES512', 'EdDSA', 'RS256', 'PS256']) extraKeys[alg] = await makeKey(alg);
});

interface Harness {
  deps: ActorAssertionDeps;
  findActorCalls: string[];
  markCalls: Array<[string, string, number]>;
}

/** A fake jti store: check-and-add with no await in between is atomic in one event loop. */
function harness(actors?: ActorKeys[]): Harness {
  const used = new Set<string>();
  const registered = actors ?? [
    { id: ACTOR, jwks: jwksOf(actorKey, rs384Key, ...Object.values(extraKeys)) },
    { id: 'agent-2', jwks: jwksOf(otherActorKey) },
    { id: 'agent-keyless', jwks: null },
    { id: 'agent-empty', jwks: { keys: [] } },
  ];
  const h: Harness = {
    findActorCalls: [],
    markCalls: [],
    deps: {
      acceptedAudiences: [DEPUTY, TOKEN_ENDPOINT],
      clockSkewSeconds: SKEW,
      keySetFor: createLocalKeySets(),
      findActor: async (id) => {
        h.findActorCalls.push(id);
        return registered.find((a) => a.id === id) ?? null;
      },
      markJtiUsed: async (issuer, jti, expiresAt) => {
        h.markCalls.push([issuer, jti, expiresAt]);
        await Promise.resolve();
        const key = `${issuer}\u0000${jti}`;
        if (used.has(key)) return false;
        used.add(key);
        return true;
      },
    },
  };
  return h;
}

let jtiCounter = 0;
const claims = (overrides: Claims = {}): Claims =>
  Object.fromEntries(
    Object.entries({
      iss: ACTOR,
      sub: ACTOR,
      aud: DEPUTY,
      iat: NOW_S - 5,
      exp: NOW_S + 120,
      jti: `jti-${++jtiCounter}`,
      ...overrides,
    }).filter(([, v]) => v !== undefined),
  );


describe('verifyActorAssertion: accepted assertions', () => {
  it('verifies an assertion and consumes its jti after verification', async () => {
    const h = harness();
    const c = claims();
    const result = await verifyActorAssertion(await signJwt(actorKey, c), h.deps, NOW);
    expect(result).toEqual({ actorId: ACTOR, jti: c.jti, exp: c.exp });
    expect(h.markCalls).toEqual([[ACTOR, c.jti, c.exp]]);
  });

  it.each([
    ['the token endpoint URL as aud', { aud: TOKEN_ENDPOINT }],
    ['an aud array', { aud: ['https://elsewhere.example', DEPUTY] }],
    ['exp exactly 5 minutes ahead', { exp: NOW_S + 300 }],
    ['exp 5 minutes plus the skew ahead', { exp: NOW_S + 300 + SKEW }],
    ['exp just inside the skew in the past', { exp: NOW_S - SKEW + 1 }],
    ['iat just inside the skew in the future', { iat: NOW_S + SKEW }],
    ['nbf just inside the skew in the future', { nbf: NOW_S + SKEW }],
    ['a 256-character jti', { jti: 'j'.repeat(256) }],
  ])('accepts %s', async (_name, overrides) => {
    const h = harness();
    expect((await verifyActorAssertion(await signJwt(actorKey, claims(overrides)), h.deps, NOW)).actorId).toBe(ACTOR);
  });

  it.each(['ES384', 'ES512', 'EdDSA', 'RS256', 'PS256'])('accepts %s', async (alg) => {
    const h = harness();
    const token = await signJwt(extraKeys[alg]!, claims());
    expect((await verifyActorAssertion(token, h.deps, NOW)).actorId).toBe(ACTOR);
  });

  it('accepts a typ other than at+jwt', async () => {
    const h = harness();
    const token = await signJwt(actorKey, claims(), { typ: 'application/jwt' });
    expect((await verifyActorAssertion(token, h.deps, NOW)).actorId).toBe(ACTOR);
  });
});

type Stage = 'guard' | 'lookup' | 'verify';
interface Case {
  name: string;
  build: () => Promise<string>;
  description: RegExp;
  /** guard: nothing looked up; lookup: actor looked up, no key work; verify: refused at or after verification. */
  stage: Stage;
}

const cases: Case[] = [
  { name: 'alg none', stage: 'guard', description: /algorithm is not accepted/,
    build: async () => rawJwt({ alg: 'none' }, claims(), '') },
  { name: 'HS256 signed with the public key bytes', stage: 'guard', description: /algorithm is not accepted/,
    build: () => hs256WithPublicKey(actorKey, claims()) },
  { name: 'an algorithm outside the allow-list (RS384)', stage: 'guard', description: /algorithm is not accepted/,
    build: () => signJwt(rs384Key, claims()) },
  { name: 'a flipped signature bit', stage: 'verify', description: /signature is invalid/,
    build: async () => flipSignatureBit(await signJwt(actorKey, claims())) },
  { name: 'an unknown kid', stage: 'verify', description: /unknown key/,
    build: () => signJwt(actorKey, claims(), { kid: 'not-registered' }) },
  { name: 'a very long kid', stage: 'guard', description: /header is not accepted/,
    build: () => signJwt(actorKey, claims(), { kid: 'k'.repeat(1000) }) },
  { name: 'a path-like kid', stage: 'verify', description: /unknown key/,
    build: () => signJwt(actorKey, claims(), { kid: '../../keys/agent-2' }) },
  { name: 'an embedded jwk', stage: 'guard', description: /header is not accepted/,
    build: () => signJwt(otherActorKey, claims(), { kid: undefined, jwk: otherActorKey.publicJwk }) },
  { name: 'a jku', stage: 'guard', description: /header is not accepted/,
    build: () => signJwt(actorKey, claims(), { jku: 'https://attacker.example/jwks' }) },
  { name: 'an x5u', stage: 'guard', description: /header is not accepted/,
    build: () => signJwt(actorKey, claims(), { x5u: 'https://attacker.example/cert' }) },
  { name: 'an x5c', stage: 'guard', description: /header is not accepted/,
    build: () => signJwt(actorKey, claims(), { x5c: ['MIIB'] }) },
  { name: 'crit', stage: 'guard', description: /header is not accepted/,
    build: () => signJwt(actorKey, claims(), { crit: ['exp'], exp: NOW_S + 60 }) },
  { name: "another actor's key under this actor's kid", stage: 'verify', description: /signature is invalid/,
    build: () => signJwt(otherActorKey, claims(), { kid: actorKey.kid }) },
  { name: "another actor's key under its own kid", stage: 'verify', description: /unknown key/,
    build: () => signJwt(otherActorKey, claims()) },
  { name: 'iss different from sub', stage: 'guard', description: /iss equal to sub/,
    build: () => signJwt(actorKey, claims({ sub: 'agent-2' })) },
  { name: 'no iss', stage: 'guard', description: /iss equal to sub/,
    build: () => signJwt(actorKey, claims({ iss: undefined })) },
  { name: 'a wrong aud', stage: 'verify', description: /not acceptable/,
    build: () => signJwt(actorKey, claims({ aud: 'https://resource.example.com' })) },
  { name: 'expired beyond the skew', stage: 'verify', description: /^actor assertion is expired$/,
    build: () => signJwt(actorKey, claims({ exp: NOW_S - SKEW })) },
  { name: 'nbf in the future beyond the skew', stage: 'verify', description: /not yet valid/,
    build: () => signJwt(actorKey, claims({ nbf: NOW_S + SKEW + 1 })) },
  { name: 'iat in the future beyond the skew', stage: 'verify', description: /not yet valid/,
    build: () => signJwt(actorKey, claims({ iat: NOW_S + SKEW + 1 })) },
  { name: 'exp more than 5 minutes (plus skew) ahead', stage: 'verify', description: /lives too long/,
    build: () => signJwt(actorKey, claims({ exp: NOW_S + 300 + SKEW + 1 })) },
  { name: 'no jti', stage: 'verify', description: /missing a required claim/,
    build: () => signJwt(actorKey, claims({ jti: undefined })) },
  { name: 'a non-string jti', stage: 'verify', description: /jti/,
    build: () => signJwt(actorKey, claims({ jti: 42 })) },
  { name: 'a jti longer than 256 characters', stage: 'verify', description: /jti/,
    build: () => signJwt(actorKey, claims({ jti: 'j'.repeat(257) })) },
  { name: 'a jti with a NUL', stage: 'verify', description: /jti/,
    build: () => signJwt(actorKey, claims({ jti: 'x\u0000' })) },
  { name: 'a jti with a line feed', stage: 'verify', description: /jti/,
    build: () => signJwt(actorKey, claims({ jti: 'x\ny' })) },
  { name: 'no exp', stage: 'verify', description: /missing a required claim/,
    build: () => signJwt(actorKey, claims({ exp: undefined })) },
  { name: 'no iat', stage: 'verify', description: /missing a required claim/,
    build: () => signJwt(actorKey, claims({ iat: undefined })) },
  { name: 'a Deputy access token (typ at+jwt)', stage: 'guard', description: /access token is not an actor assertion/,
    build: () => signJwt(actorKey, claims(), { typ: 'at+jwt' }) },
  { name: 'a Deputy access token (typ application/at+JWT)', stage: 'guard', description: /access token is not an actor assertion/,
    build: () => signJwt(actorKey, claims(), { typ: 'application/at+JWT' }) },
  { name: "a token issued by Deputy itself", stage: 'guard', description: /Deputy token is not an actor assertion/,
    build: () => signJwt(actorKey, claims({ iss: DEPUTY, sub: DEPUTY })) },
  { name: 'an unknown actor', stage: 'lookup', description: /^unknown actor$/,
    build: () => signJwt(actorKey, claims({ iss: 'agent-404', sub: 'agent-404' })) },
  { name: 'an actor without keys (null)', stage: 'lookup', description: /no registered keys/,
    build: () => signJwt(actorKey, claims({ iss: 'agent-keyless', sub: 'agent-keyless' })) },
  { name: 'an actor without keys (empty set)', stage: 'lookup', description: /no registered keys/,
    build: () => signJwt(actorKey, claims({ iss: 'agent-empty', sub: 'agent-empty' })) },
  { name: 'two segments', stage: 'guard', description: /malformed/,
    build: async () => (await signJwt(actorKey, claims())).split('.').slice(0, 2).join('.') },
  { name: 'bad base64', stage: 'guard', description: /malformed/,
    build: async () => `${await signJwt(actorKey, claims())}=` },
  { name: 'a header that is not JSON', stage: 'guard', description: /malformed/,
    build: async () => withRawHeader(await signJwt(actorKey, claims()), 'ES256') },
  { name: 'a JWE (5 segments)', stage: 'guard', description: /^encrypted tokens are not accepted$/,
    build: async () => `${b64url('{"alg":"ECDH-ES","enc":"A128GCM"}')}..iv.ct.tag` },
  { name: 'an oversized token', stage: 'guard', description: /too large/,
    build: () => signJwt(actorKey, claims({ padding: 'x'.repeat(MAX_JWT_LENGTH) })) },
];

describe('verifyActorAssertion: refused assertions (each differs from a valid one in one field)', () => {
  it.each(cases.map((c) => [c.name, c] as const))('refuses %s', async (_name, c) => {
    const h = harness();
    const token = await c.build();
    const error = await oauthRejection(verifyActorAssertion(token, h.deps, NOW));
    expect(error.code).toBe('invalid_request');
    expect(error.description).toMatch(c.description);
    if (token.length > 20) expect(error.description).not.toContain(token.slice(0, 20));
    expect(h.markCalls).toHaveLength(0);
    if (c.stage === 'guard') expect(h.findActorCalls).toHaveLength(0);
  });
});

describe('verifyActorAssertion: single use', () => {
  it('refuses a replayed jti', async () => {
    const h = harness();
    const token = await signJwt(actorKey, claims());
    await verifyActorAssertion(token, h.deps, NOW);
    const error = await oauthRejection(verifyActorAssertion(token, h.deps, NOW));
    expect(error.code).toBe('invalid_request');
    expect(error.description).toBe('actor assertion was already used');
  });

  it('lets exactly one of 50 concurrent presentations through', async () => {
    const h = harness();
    const token = await signJwt(actorKey, claims());
    const results = await Promise.allSettled(Array.from({ length: 50 }, () => verifyActorAssertion(token, h.deps, NOW)));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    const rejected = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(rejected).toHaveLength(49);
    for (const r of rejected) expect((r.reason as OAuthError).description).toBe('actor assertion was already used');
  });

  it('scopes jtis per actor', async () => {
    const h = harness();
    await verifyActorAssertion(await signJwt(actorKey, claims({ jti: 'shared' })), h.deps, NOW);
    const other = await verifyActorAssertion(
      await signJwt(otherActorKey, claims({ iss: 'agent-2', sub: 'agent-2', jti: 'shared' })),
      h.deps,
      NOW,
    );
    expect(other.actorId).toBe('agent-2');
  });

  it('does not burn the jti of a forged assertion', async () => {
    const h = harness();
    const c = claims();
    await oauthRejection(verifyActorAssertion(await signJwt(otherActorKey, c, { kid: actorKey.kid }), h.deps, NOW));
    expect((await verifyActorAssertion(await signJwt(actorKey, c), h.deps, NOW)).jti).toBe(c.jti);
  });

  it('propagates a failure of the jti store unchanged', async () => {
    const h = harness();
    h.deps.markJtiUsed = async () => {
      throw new OAuthError('temporarily_unavailable', 'db down');
    };
    const error = await oauthRejection(verifyActorAssertion(await signJwt(actorKey, claims()), h.deps, NOW));
    expect(error.code).toBe('temporarily_unavailable');
  });
});

describe('verifyWorkloadToken', () => {
  const WORKLOAD_ISSUER = 'https://k8s.example.com';
  let workloadKey: TestKey;
  beforeAll(async () => {
    workloadKey = await makeKey('ES256', 'k8s-1');
  });

  function workloadDeps(bindings: Record<string, string> = { 'system:serviceaccount:ai:agent': ACTOR }) {
    const issuers: TrustedIssuerRecord[] = [
      { issuer: WORKLOAD_ISSUER, jwksUri: null, jwks: jwksOf(workloadKey), audience: DEPUTY, kind: 'workload', subjectClaim: 'sub', algorithms: ['ES256'], subjects: { allowed: [], prefix: null } },
      { issuer: 'https://idp.example.com', jwksUri: null, jwks: jwksOf(workloadKey), audience: DEPUTY, kind: 'user', subjectClaim: 'sub', algorithms: ['ES256'], subjects: { allowed: [], prefix: null } },
    ];
    const lookups: Array<[string, string]> = [];
    const deps: WorkloadTokenDeps = {
      clockSkewSeconds: SKEW,
      ownIssuer: DEPUTY,
      findIssuer: async (iss, kind) => issuers.find((r) => r.issuer === iss && r.kind === kind) ?? null,
      keysFor: (issuer) => localKeySet(issuer.jwks),
      findActorByWorkload: async (issuer, subject) => {
        lookups.push([issuer, subject]);
        return bindings[subject] ?? null;
      },
    };
    return { deps, lookups };
  }

  const workloadClaims = (overrides: Claims = {}): Claims => ({
    iss: WORKLOAD_ISSUER,
    sub: 'system:serviceaccount:ai:agent',
    aud: DEPUTY,
    iat: NOW_S - 5,
    exp: NOW_S + 600,
    ...overrides,
  });

  it('maps a workload token to the bound actor', async () => {
    const { deps, lookups } = workloadDeps();
    const result = await verifyWorkloadToken(await signJwt(workloadKey, workloadClaims()), deps, NOW);
    expect(result).toEqual({ actorId: ACTOR, exp: NOW_S + 600, issuer: WORKLOAD_ISSUER, workloadSubject: 'system:serviceaccount:ai:agent' });
    expect(lookups).toEqual([[WORKLOAD_ISSUER, 'system:serviceaccount:ai:agent']]);
  });

  it('refuses a workload bound to no actor', async () => {
    const { deps } = workloadDeps({});
    const error = await oauthRejection(verifyWorkloadToken(await signJwt(workloadKey, workloadClaims()), deps, NOW));
    expect(error.code).toBe('invalid_request');
  });

  it('refuses a token from an issuer trusted only for users', async () => {
    const { deps, lookups } = workloadDeps();
    const token = await signJwt(workloadKey, workloadClaims({ iss: 'https://idp.example.com' }));
    const error = await oauthRejection(verifyWorkloadToken(token, deps, NOW));
    expect(error.description).toBe('untrusted issuer');
    expect(lookups).toHaveLength(0);
  });

  it('refuses an expired workload token before looking up a binding', async () => {
    const { deps, lookups } = workloadDeps();
    const error = await oauthRejection(verifyWorkloadToken(await signJwt(workloadKey, workloadClaims({ exp: NOW_S - 60 })), deps, NOW));
    expect(error.description).toBe('actor token is expired');
    expect(lookups).toHaveLength(0);
  });
});
