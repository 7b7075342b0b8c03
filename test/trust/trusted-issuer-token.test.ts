import { beforeAll, describe, expect, it } from '@jest/globals';
import { errors as joseErrors, type JWTVerifyGetKey } from 'jose';
import { OAuthError } from '../../src/errors.js';
import { localKeySet } from '../../src/trust/issuer-keys.js';
import { MAX_JWT_LENGTH } from '../../src/jose/jwt-guard.js';
import {
  verifyTrustedIssuerToken,
  type IssuerKind,
  type TrustedIssuerDeps,
  type TrustedIssuerRecord,
} from '../../src/trust/trusted-issuer-token.js';
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

const ISSUER = 'https://idp.example.com';
const AUDIENCE = 'https://deputy.example.com';
const SKEW = 30;

let issuerKey: TestKey;
let es384Key: TestKey;
let strangerKey: TestKey;

beforeAll(async () => {
  issuerKey = await makeKey('ES256', 'idp-1');
  es384Key = await makeKey('ES384', 'idp-384');
  strangerKey = await makeKey('ES256', 'stranger');
});

function record(overrides: Partial<TrustedIssuerRecord> = {}): TrustedIssuerRecord {
  return {
    issuer: ISSUER,
    jwksUri: null,
    jwks: jwksOf(issuerKey, es384Key),
    audience: AUDIENCE,
    kind: 'user',
    subjectClaim: 'sub',
    // HS256 listed on purpose: it must be ignored whatever the issuer row says.
    algorithms: ['ES256', 'RS256', 'HS256', 'none'],
    subjects: { allowed: [], prefix: null },
    ...overrides,
  };
}

interface Harness {
  deps: TrustedIssuerDeps;
  findIssuerCalls: Array<[string, IssuerKind]>;
  keysForCalls: number;
  keyResolutions: number;
}

function harness(records: TrustedIssuerRecord[] = [record()], resolver?: JWTVerifyGetKey): Harness {
  const h: Harness = {
    findIssuerCalls: [],
    keysForCalls: 0,
    keyResolutions: 0,
    deps: {
      clockSkewSeconds: SKEW,
      ownIssuer: AUDIENCE,
      findIssuer: async (iss, kind) => {
        h.findIssuerCalls.push([iss, kind]);
        return records.find((r) => r.issuer === iss && r.kind === kind) ?? null;
      },
      keysFor: (issuer) => {
        h.keysForCalls += 1;
        const resolve = resolver ?? localKeySet(issuer.jwks);
        return async (header, token) => {
          h.keyResolutions += 1;
          return resolve(header, token);
        };
      },
    },
  };
  return h;
}

const claims = (overrides: Claims = {}): Claims =>
  Object.fromEntries(
    Object.entries({ iss: ISSUER, aud: AUDIENCE, sub: 'alice', iat: NOW_S - 10, exp: NOW_S + 600, ...overrides }).filter(
      ([, v]) => v !== undefined,
    ),
  );


describe('verifyTrustedIssuerToken: accepted tokens', () => {
  it('verifies a subject token and maps its subject', async () => {
    const h = harness();
    const result = await verifyTrustedIssuerToken(await signJwt(issuerKey, claims()), h.deps, NOW);
    expect(result).toEqual({
      subjectId: 'alice',
      exp: NOW_S + 600,
      iat: claims().iat,
      issuer: ISSUER,
      mayActSub: null,
      claims: claims(),
    });
    expect(h.findIssuerCalls).toEqual([[ISSUER, 'user']]);
  });

  it('uses the issuer-specific subject claim', async () => {
    const h = harness([record({ subjectClaim: 'oid' })]);
    const token = await signJwt(issuerKey, claims({ sub: 'ignored', oid: 'object-42' }));
    expect((await verifyTrustedIssuerToken(token, h.deps, NOW)).subjectId).toBe('object-42');
  });

  it('accepts an audience array containing the expected audience', async () => {
    const h = harness();
    const token = await signJwt(issuerKey, claims({ aud: ['other', AUDIENCE] }));
    expect((await verifyTrustedIssuerToken(token, h.deps, NOW)).subjectId).toBe('alice');
  });

  it('accepts another listed algorithm', async () => {
    const h = harness([record({ algorithms: ['ES256', 'ES384'] })]);
    const token = await signJwt(es384Key, claims());
    expect((await verifyTrustedIssuerToken(token, h.deps, NOW)).subjectId).toBe('alice');
  });

  it('returns may_act.sub', async () => {
    const h = harness();
    const token = await signJwt(issuerKey, claims({ may_act: { sub: 'agent-7' } }));
    expect((await verifyTrustedIssuerToken(token, h.deps, NOW)).mayActSub).toBe('agent-7');
  });

  it.each([
    ['exp just inside the skew', { exp: NOW_S - SKEW + 1 }],
    ['nbf just inside the skew', { nbf: NOW_S + SKEW }],
    ['iat just inside the skew', { iat: NOW_S + SKEW }],
  ])('accepts %s', async (_name, overrides) => {
    const h = harness();
    const token = await signJwt(issuerKey, claims(overrides));
    expect((await verifyTrustedIssuerToken(token, h.deps, NOW)).subjectId).toBe('alice');
  });

  it('ignores an act claim from an external token: no chain is returned', async () => {
    const h = harness();
    const act = { sub: 'agent-9', act: { sub: 'agent-8' } };
    const result = await verifyTrustedIssuerToken(await signJwt(issuerKey, claims({ act })), h.deps, NOW);
    expect(Object.keys(result).sort()).toEqual(['claims', 'exp', 'iat', 'issuer', 'mayActSub', 'subjectId']);
    expect(result.claims).not.toHaveProperty('act');
    expect(JSON.stringify(result)).not.toContain('agent-9');
    expect(result.subjectId).toBe('alice');
  });

  it('verifies a workload token when asked for kind workload', async () => {
    const h = harness([record({ kind: 'workload' })]);
    const result = await verifyTrustedIssuerToken(await signJwt(issuerKey, claims()), h.deps, NOW, 'workload');
    expect(result.subjectId).toBe('alice');
    expect(h.findIssuerCalls).toEqual([[ISSUER, 'workload']]);
  });
});

type Build = () => Promise<string>;
interface Case {
  name: string;
  build: Build;
  description: RegExp;
  /** Where the refusal happens: 'guard' (nothing looked up), 'issuer' (looked up, no key work), 'keys' (after). */
  stage: 'guard' | 'issuer' | 'keys';
  records?: () => TrustedIssuerRecord[];
}

const bigClaim = 'x'.repeat(MAX_JWT_LENGTH);

const cases: Case[] = [
  { name: 'alg none', stage: 'guard', description: /algorithm is not accepted/,
    build: async () => rawJwt({ alg: 'none', typ: 'JWT' }, claims(), '') },
  { name: 'alg none with a signature segment', stage: 'guard', description: /algorithm is not accepted/,
    build: async () => rawJwt({ alg: 'none' }, claims()) },
  { name: 'HS256 signed with the public key bytes', stage: 'guard', description: /algorithm is not accepted/,
    build: () => hs256WithPublicKey(issuerKey, claims()) },
  { name: 'an algorithm not in the issuer list', stage: 'issuer', description: /algorithm is not accepted/,
    build: () => signJwt(es384Key, claims()) },
  { name: 'a flipped signature bit', stage: 'keys', description: /signature is invalid/,
    build: async () => flipSignatureBit(await signJwt(issuerKey, claims())) },
  { name: 'a key the issuer does not publish (unknown kid)', stage: 'keys', description: /unknown key/,
    build: () => signJwt(strangerKey, claims()) },
  { name: 'a stranger key claiming the issuer kid', stage: 'keys', description: /signature is invalid/,
    build: () => signJwt(strangerKey, claims(), { kid: issuerKey.kid }) },
  { name: 'a very long kid', stage: 'guard', description: /header is not accepted/,
    build: () => signJwt(issuerKey, claims(), { kid: 'k'.repeat(257) }) },
  { name: 'a kid with control characters', stage: 'guard', description: /header is not accepted/,
    build: () => signJwt(issuerKey, claims(), { kid: 'idp-1\n' }) },
  { name: 'a non-string kid', stage: 'guard', description: /header is not accepted/,
    build: () => signJwt(issuerKey, claims(), { kid: 1 }) },
  { name: 'a path-like kid', stage: 'keys', description: /unknown key/,
    build: () => signJwt(issuerKey, claims(), { kid: '../../../etc/passwd' }) },
  { name: 'an embedded jwk', stage: 'guard', description: /header is not accepted/,
    build: async () => signJwt(strangerKey, claims(), { kid: undefined, jwk: strangerKey.publicJwk }) },
  { name: 'a jku', stage: 'guard', description: /header is not accepted/,
    build: () => signJwt(issuerKey, claims(), { jku: 'https://attacker.example/jwks' }) },
  { name: 'an x5u', stage: 'guard', description: /header is not accepted/,
    build: () => signJwt(issuerKey, claims(), { x5u: 'https://attacker.example/cert' }) },
  { name: 'an x5c', stage: 'guard', description: /header is not accepted/,
    build: () => signJwt(issuerKey, claims(), { x5c: ['MIIB'] }) },
  { name: 'crit', stage: 'guard', description: /header is not accepted/,
    build: () => signJwt(issuerKey, claims(), { crit: ['exp'], exp: NOW_S + 60 }) },
  { name: 'an untrusted iss', stage: 'issuer', description: /^untrusted issuer$/,
    build: () => signJwt(issuerKey, claims({ iss: 'https://evil.example.com' })) },
  { name: 'an issuer trusted only for workloads', stage: 'issuer', description: /^untrusted issuer$/,
    records: () => [record({ kind: 'workload' })],
    build: () => signJwt(issuerKey, claims()) },
  { name: 'no iss', stage: 'guard', description: /has no issuer/,
    build: () => signJwt(issuerKey, claims({ iss: undefined })) },
  { name: 'a non-string iss', stage: 'guard', description: /has no issuer/,
    build: () => signJwt(issuerKey, claims({ iss: [ISSUER] })) },
  { name: 'a wrong aud', stage: 'keys', description: /is not acceptable/,
    build: () => signJwt(issuerKey, claims({ aud: 'https://other.example.com' })) },
  { name: 'expired beyond the skew', stage: 'keys', description: /^subject token is expired$/,
    build: () => signJwt(issuerKey, claims({ exp: NOW_S - SKEW })) },
  { name: 'nbf in the future beyond the skew', stage: 'keys', description: /not yet valid/,
    build: () => signJwt(issuerKey, claims({ nbf: NOW_S + SKEW + 1 })) },
  { name: 'iat in the future beyond the skew', stage: 'keys', description: /not yet valid/,
    build: () => signJwt(issuerKey, claims({ iat: NOW_S + SKEW + 1 })) },
  { name: 'no exp', stage: 'keys', description: /missing a required claim/,
    build: () => signJwt(issuerKey, claims({ exp: undefined })) },
  { name: 'no iat', stage: 'keys', description: /missing a required claim/,
    build: () => signJwt(issuerKey, claims({ iat: undefined })) },
  { name: 'no subject', stage: 'keys', description: /no usable subject/,
    build: () => signJwt(issuerKey, claims({ sub: undefined })) },
  { name: 'an empty subject', stage: 'keys', description: /no usable subject/,
    build: () => signJwt(issuerKey, claims({ sub: '' })) },
  { name: 'a malformed may_act', stage: 'keys', description: /may_act/,
    build: () => signJwt(issuerKey, claims({ may_act: 'agent-7' })) },
  { name: 'two segments', stage: 'guard', description: /is malformed/,
    build: async () => (await signJwt(issuerKey, claims())).split('.').slice(0, 2).join('.') },
  { name: 'bad base64', stage: 'guard', description: /is malformed/,
    build: async () => `*${await signJwt(issuerKey, claims())}` },
  { name: 'a header that is not JSON', stage: 'guard', description: /is malformed/,
    build: async () => withRawHeader(await signJwt(issuerKey, claims()), '{"alg":"ES256"') },
  { name: 'a header that is a JSON array', stage: 'guard', description: /is malformed/,
    build: async () => withRawHeader(await signJwt(issuerKey, claims()), '["ES256"]') },
  { name: 'a payload that is not JSON', stage: 'guard', description: /is malformed/,
    build: async () => `${b64url('{"alg":"ES256"}')}.${b64url('nope')}.${b64url('sig')}` },
  { name: 'a JWE (5 segments)', stage: 'guard', description: /^encrypted tokens are not accepted$/,
    build: async () => `${b64url('{"alg":"RSA-OAEP","enc":"A256GCM"}')}.a.b.c.d` },
  { name: 'an oversized token', stage: 'guard', description: /too large/,
    build: () => signJwt(issuerKey, claims({ padding: bigClaim })) },
  { name: 'an empty signature', stage: 'guard', description: /is malformed/,
    build: async () => `${(await signJwt(issuerKey, claims())).split('.').slice(0, 2).join('.')}.` },
  { name: 'an empty string', stage: 'guard', description: /missing/,
    build: async () => '' },
];

describe('verifyTrustedIssuerToken: refused tokens (each differs from a valid one in one field)', () => {
  it.each(cases.map((c) => [c.name, c] as const))('refuses %s', async (_name, c) => {
    const h = harness(c.records?.() ?? [record()]);
    const token = await c.build();
    const error = await oauthRejection(verifyTrustedIssuerToken(token, h.deps, NOW));
    expect(error.code).toBe('invalid_request');
    expect(error.status).toBe(400);
    expect(error.description).toMatch(c.description);
    expect(error.description).not.toContain('alice');
    if (token.length > 20) expect(error.description).not.toContain(token.slice(0, 20));
    if (c.stage === 'guard') expect(h.findIssuerCalls).toHaveLength(0);
    if (c.stage !== 'keys') {
      expect(h.keysForCalls).toBe(0);
      expect(h.keyResolutions).toBe(0);
    }
  });
});

describe('verifyTrustedIssuerToken: key source failures', () => {
  it('passes temporarily_unavailable from the key resolver through (fail closed)', async () => {
    const h = harness([record()], async () => {
      throw new OAuthError('temporarily_unavailable', 'down');
    });
    const error = await oauthRejection(verifyTrustedIssuerToken(await signJwt(issuerKey, claims()), h.deps, NOW));
    expect(error.code).toBe('temporarily_unavailable');
    expect(error.status).toBe(503);
  });

  it('maps a raw jose JWKS timeout to temporarily_unavailable', async () => {
    const h = harness([record()], async () => {
      throw new joseErrors.JWKSTimeout();
    });
    const error = await oauthRejection(verifyTrustedIssuerToken(await signJwt(issuerKey, claims()), h.deps, NOW));
    expect(error.code).toBe('temporarily_unavailable');
  });

  it('does not turn an unexpected bug into a token verdict', async () => {
    const h = harness([record()], async () => {
      throw new RangeError('bug');
    });
    await expect(verifyTrustedIssuerToken(await signJwt(issuerKey, claims()), h.deps, NOW)).rejects.toBeInstanceOf(RangeError);
  });
});

describe('verifyTrustedIssuerToken: an issuer limited to some subjects', () => {
  it.each([
    ['a listed subject', { allowed: ['alice', 'bob'], prefix: null }, 'alice'],
    ['a subject with the prefix', { allowed: [], prefix: 'demo-' }, 'demo-carol'],
    ['a listed subject when a prefix is also set', { allowed: ['alice'], prefix: 'demo-' }, 'alice'],
  ])('accepts %s', async (_name, subjects, sub) => {
    const h = harness([record({ subjects })]);
    const token = await signJwt(issuerKey, claims({ sub }));
    expect((await verifyTrustedIssuerToken(token, h.deps, NOW)).subjectId).toBe(sub);
  });

  it.each([
    ['an unlisted subject', { allowed: ['alice', 'bob'], prefix: null }, 'mallory'],
    ['a subject that only contains a listed one', { allowed: ['alice'], prefix: null }, 'alice2'],
    ['a subject without the prefix', { allowed: [], prefix: 'demo-' }, 'ceo'],
    ['a subject matching neither', { allowed: ['alice'], prefix: 'demo-' }, 'xdemo-eve'],
  ])('refuses %s with invalid_request and a machine-readable reason', async (_name, subjects, sub) => {
    const h = harness([record({ subjects })]);
    const token = await signJwt(issuerKey, claims({ sub }));
    const error = await oauthRejection(verifyTrustedIssuerToken(token, h.deps, NOW));
    expect(error.code).toBe('invalid_request');
    expect(error.detail).toBe('issuer_subject_not_allowed');
    expect(error.description).not.toContain(sub);
  });

  it('limits a workload issuer on the workload subject it names', async () => {
    const h = harness([record({ kind: 'workload', subjects: { allowed: [], prefix: 'spiffe://prod.example/' } })]);
    const allowed = await signJwt(issuerKey, claims({ sub: 'spiffe://prod.example/ns/a/sa/b' }));
    expect((await verifyTrustedIssuerToken(allowed, h.deps, NOW, 'workload')).subjectId).toBe('spiffe://prod.example/ns/a/sa/b');
    const other = await signJwt(issuerKey, claims({ sub: 'spiffe://dev.example/ns/a/sa/b' }));
    expect((await oauthRejection(verifyTrustedIssuerToken(other, h.deps, NOW, 'workload'))).detail).toBe('issuer_subject_not_allowed');
  });
});

describe("verifyTrustedIssuerToken: never Deputy's own tokens (review item 10)", () => {
  // Even when an issuer row names Deputy itself (inserted before the admin API refused it).

  it.each([
    ['its exact ISSUER', AUDIENCE],
    ['with a trailing slash', `${AUDIENCE}/`],
    ['with another case of scheme and host', 'HTTPS://Deputy.Example.COM'],
    ['with the default port', 'https://deputy.example.com:443'],
  ])('refuses a token whose iss is Deputy (%s), before any lookup or key work', async (_name, iss) => {
    const h = harness([record({ issuer: AUDIENCE }), record({ issuer: iss })]);
    const error = await oauthRejection(verifyTrustedIssuerToken(await signJwt(issuerKey, claims({ iss })), h.deps, NOW));
    expect(error.code).toBe('invalid_request');
    expect(error.description).toBe('a Deputy token is not accepted as subject token');
    expect(h.findIssuerCalls).toEqual([]);
    expect(h.keysForCalls).toBe(0);
  });

  it.each(['at+jwt', 'AT+JWT', 'application/at+jwt', 'Application/AT+jwt'])(
    'refuses a token with typ %s from a trusted issuer, before any lookup or key work',
    async (typ) => {
      const h = harness();
      const error = await oauthRejection(verifyTrustedIssuerToken(await signJwt(issuerKey, claims(), { typ }), h.deps, NOW));
      expect(error.code).toBe('invalid_request');
      expect(error.description).toBe('an access token is not accepted as subject token');
      expect(h.findIssuerCalls).toEqual([]);
      expect(h.keysForCalls).toBe(0);
    },
  );

  it('applies to workload tokens (the actor path) too', async () => {
    const h = harness([record({ issuer: AUDIENCE, kind: 'workload' })]);
    const error = await oauthRejection(verifyTrustedIssuerToken(await signJwt(issuerKey, claims({ iss: AUDIENCE })), h.deps, NOW, 'workload'));
    expect(error.description).toBe('a Deputy token is not accepted as actor token');
    expect(h.keysForCalls).toBe(0);
  });

  it('still accepts typ JWT and other issuers', async () => {
    const h = harness();
    expect((await verifyTrustedIssuerToken(await signJwt(issuerKey, claims(), { typ: 'JWT' }), h.deps, NOW)).subjectId).toBe('alice');
  });
});
