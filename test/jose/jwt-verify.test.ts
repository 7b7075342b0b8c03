/**
 * verifyJwt: jose's jwtVerify contract with the signature checked by node:crypto. Every
 * algorithm it accepts, every refusal, and (property) the same verdict as jose's jwtVerify on
 * arbitrarily altered tokens.
 */
import { describe, expect, it, jest } from '@jest/globals';
import { generateKeyPairSync, sign } from 'node:crypto';
import fc from 'fast-check';
import { createLocalJWKSet, errors, jwtVerify, type JWK, type JWTVerifyGetKey } from 'jose';
import { decodeSignedJwt } from '../../src/jose/compact.js';
import { verifyJwt, type JwtVerifyOptions } from '../../src/jose/jwt-verify.js';
import { NOW, NOW_S, b64url, flipSignatureBit, jwksOf, makeKey, rejectionOf, signJwt, withRawHeader, type TestKey } from '../support/jwt-fixtures.js';

const ALGORITHMS = ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA'] as const;
type Alg = (typeof ALGORITHMS)[number];

const OPTIONS = { issuer: 'https://idp.test', audience: 'deputy', algorithms: [...ALGORITHMS], currentDate: NOW, requiredClaims: ['exp', 'iat'] } satisfies JwtVerifyOptions;

// One key per algorithm for the whole file (RSA key generation is slow).
const keysByAlg = new Map<Alg, Promise<TestKey>>();
function keyFor(alg: Alg): Promise<TestKey> {
  let key = keysByAlg.get(alg);
  if (!key) {
    key = makeKey(alg, `key-${alg}`);
    keysByAlg.set(alg, key);
  }
  return key;
}

async function token(alg: Alg, claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}): Promise<{ jwt: string; keys: JWTVerifyGetKey }> {
  const key = await keyFor(alg);
  const jwt = await signJwt(key, { iss: 'https://idp.test', aud: 'deputy', sub: 'alice', iat: NOW_S - 10, exp: NOW_S + 300, ...claims }, header);
  return { jwt, keys: createLocalJWKSet(jwksOf(key)) };
}

describe('verifyJwt', () => {
  it.each(ALGORITHMS)('accepts a valid %s token and returns its claims', async (alg) => {
    const { jwt, keys } = await token(alg);
    const { payload } = await verifyJwt(jwt, keys, OPTIONS);
    expect(payload).toMatchObject({ sub: 'alice', iss: 'https://idp.test', aud: 'deputy' });
  });

  it.each(ALGORITHMS)('refuses a %s token whose signature was altered', async (alg) => {
    const { jwt, keys } = await token(alg);
    expect(await rejectionOf(verifyJwt(flipSignatureBit(jwt), keys, OPTIONS))).toBeInstanceOf(errors.JWSSignatureVerificationFailed);
  });

  it('refuses a token whose payload was altered after signing', async () => {
    const { jwt, keys } = await token('ES256');
    const [h, , s] = jwt.split('.');
    const forged = Buffer.from(JSON.stringify({ iss: 'https://idp.test', aud: 'deputy', sub: 'mallory', iat: NOW_S, exp: NOW_S + 300 })).toString('base64url');
    expect(await rejectionOf(verifyJwt(`${h}.${forged}.${s}`, keys, OPTIONS))).toBeInstanceOf(errors.JWSSignatureVerificationFailed);
  });

  it('refuses a token spelled outside the base64url alphabet, which Node’s decoder would read the same', async () => {
    const { jwt, keys } = await token('ES256');
    const [h, p, s] = jwt.split('.') as [string, string, string];
    // '-' and '_' have base64 twins; make sure the signature has one to respell.
    const respelled = s.includes('-') ? s.replace('-', '+') : s.includes('_') ? s.replace('_', '/') : `${s}=`;
    expect(Buffer.from(respelled, 'base64url').equals(Buffer.from(s, 'base64url'))).toBe(true);
    expect(decodeSignedJwt(`${h}.${p}.${respelled}`)).toBeNull();
    expect(await rejectionOf(verifyJwt(`${h}.${p}.${respelled}`, keys, OPTIONS))).toBeInstanceOf(errors.JWSInvalid);
    expect(await rejectionOf(jwtVerify(`${h}.${p}.${respelled}`, keys, OPTIONS))).toBeInstanceOf(errors.JOSEError);
  });

  it('refuses a signature of the wrong length', async () => {
    const { jwt, keys } = await token('ES256');
    const [h, p, s] = jwt.split('.') as [string, string, string];
    expect(await rejectionOf(verifyJwt(`${h}.${p}.${s.slice(0, 40)}`, keys, OPTIONS))).toBeInstanceOf(errors.JWSSignatureVerificationFailed);
  });

  it('refuses an algorithm outside the allow-list, before resolving any key', async () => {
    const { jwt } = await token('RS256');
    const keys = jest.fn<JWTVerifyGetKey>();
    expect(await rejectionOf(verifyJwt(jwt, keys, { ...OPTIONS, algorithms: ['ES256'] }))).toBeInstanceOf(errors.JOSEAlgNotAllowed);
    expect(keys).not.toHaveBeenCalled();
  });

  it.each(['none', 'HS256', 'RSA-OAEP', 'ES256K'])('refuses alg %s even when a caller lists it', async (alg) => {
    const { jwt, keys } = await token('ES256');
    const relabelled = withRawHeader(jwt, JSON.stringify({ alg, kid: 'key-ES256' }));
    expect(await rejectionOf(verifyJwt(relabelled, keys, { ...OPTIONS, algorithms: [alg] }))).toBeInstanceOf(errors.JOSEAlgNotAllowed);
  });

  it('refuses a key of another algorithm than the header names (no algorithm confusion)', async () => {
    const { jwt } = await token('ES256');
    const es384 = await keyFor('ES384');
    // A resolver that hands back whatever key it has, whatever the token's alg.
    const careless: JWTVerifyGetKey = async () => es384.publicKey;
    expect(await rejectionOf(verifyJwt(jwt, careless, OPTIONS))).toBeInstanceOf(errors.JOSENotSupported);
  });

  it('refuses a private or symmetric key handed back by a resolver', async () => {
    const { jwt } = await token('ES256');
    const { privateKey } = await keyFor('ES256');
    expect(await rejectionOf(verifyJwt(jwt, async () => privateKey, OPTIONS))).toBeInstanceOf(errors.JOSENotSupported);
    expect(await rejectionOf(verifyJwt(jwt, async () => new Uint8Array(32), OPTIONS))).toBeInstanceOf(errors.JOSENotSupported);
  });

  it('refuses an RSA key shorter than 2048 bits', async () => {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const jwk = { ...(publicKey.export({ format: 'jwk' }) as JWK), kid: 'small', alg: 'RS256' };
    // jose will not sign with it either: sign with node:crypto.
    const input = `${b64url(JSON.stringify({ alg: 'RS256', kid: 'small' }))}.${b64url(JSON.stringify({ iss: 'https://idp.test', aud: 'deputy', iat: NOW_S, exp: NOW_S + 60 }))}`;
    const jwt = `${input}.${sign('sha256', Buffer.from(input), privateKey).toString('base64url')}`;
    const imported = await crypto.subtle.importKey('jwk', jwk, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, true, ['verify']);
    expect(await rejectionOf(verifyJwt(jwt, async () => imported, OPTIONS))).toBeInstanceOf(errors.JOSENotSupported);
  });

  it('passes on the key set’s own refusals (unknown kid)', async () => {
    const { jwt } = await token('ES256', {}, { kid: 'nobody' });
    const keys = createLocalJWKSet(jwksOf(await keyFor('ES256')));
    expect(await rejectionOf(verifyJwt(jwt, keys, OPTIONS))).toBeInstanceOf(errors.JWKSNoMatchingKey);
  });

  it.each([
    ['expired', { exp: NOW_S - 1 }, errors.JWTExpired],
    ['not yet valid (nbf)', { nbf: NOW_S + 600 }, errors.JWTClaimValidationFailed],
    ['for another audience', { aud: 'someone-else' }, errors.JWTClaimValidationFailed],
    ['from another issuer', { iss: 'https://evil.test' }, errors.JWTClaimValidationFailed],
    ['without exp', { exp: undefined }, errors.JWTClaimValidationFailed],
    ['with a non-numeric exp', { exp: 'tomorrow' }, errors.JWTClaimValidationFailed],
  ])('refuses a correctly signed token that is %s, as jwtVerify does', async (_label, claims, expected) => {
    const { jwt, keys } = await token('ES256', claims);
    const ours = await rejectionOf(verifyJwt(jwt, keys, OPTIONS));
    const jose = await rejectionOf(jwtVerify(jwt, keys, OPTIONS));
    expect(ours).toBeInstanceOf(expected);
    expect(ours).toBeInstanceOf((jose as object).constructor as typeof Error);
    expect((ours as errors.JOSEError).code).toBe((jose as errors.JOSEError).code);
  });

  it('honours clock tolerance like jwtVerify', async () => {
    const { jwt, keys } = await token('ES256', { exp: NOW_S - 30 });
    await expect(verifyJwt(jwt, keys, { ...OPTIONS, clockTolerance: 60 })).resolves.toBeDefined();
    expect(await rejectionOf(verifyJwt(jwt, keys, { ...OPTIONS, clockTolerance: 10 }))).toBeInstanceOf(errors.JWTExpired);
  });

  it('refuses what is not a compact JWS', async () => {
    const { keys } = await token('ES256');
    for (const bad of ['', 'a.b', 'a.b.c.d', 'bm90IGpzb24.e30.c2ln', 'e30.e30.c2ln']) {
      const error = await rejectionOf(verifyJwt(bad, keys, OPTIONS));
      expect(error).toBeInstanceOf(errors.JOSEError);
    }
  });

  it('gives the same verdict as jose’s jwtVerify on altered tokens (property)', async () => {
    const originals = await Promise.all((['ES256', 'RS256', 'PS256', 'EdDSA'] as const).map((alg) => token(alg)));
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom(...originals),
        fc.nat(),
        fc.integer({ min: 1, max: 255 }),
        fc.constantFrom('xor', 'truncate', 'swap-alg'),
        async ({ jwt, keys }, position, mask, alteration) => {
          let altered: string;
          if (alteration === 'xor') {
            const index = position % jwt.length;
            altered = jwt.slice(0, index) + String.fromCharCode(jwt.charCodeAt(index) ^ (mask & 0x3f || 1)) + jwt.slice(index + 1);
          } else if (alteration === 'truncate') {
            altered = jwt.slice(0, position % jwt.length);
          } else {
            const alg = ALGORITHMS[position % ALGORITHMS.length]!;
            const { kid } = JSON.parse(Buffer.from(jwt.split('.')[0]!, 'base64url').toString()) as { kid: string };
            altered = withRawHeader(jwt, JSON.stringify({ alg, kid }));
          }
          const ours = await verifyJwt(altered, keys, OPTIONS).then(
            ({ payload }) => ({ ok: true as const, sub: payload.sub }),
            () => ({ ok: false as const }),
          );
          const reference = await jwtVerify(altered, keys, OPTIONS).then(
            ({ payload }) => ({ ok: true as const, sub: payload.sub }),
            () => ({ ok: false as const }),
          );
          expect(ours).toEqual(reference);
        },
      ),
      { numRuns: 1000 },
    );
  });
});
