/**
 * jose's jwtVerify for tokens other parties signed, with only the signature check moved to
 * node:crypto. jose 6 verifies through WebCrypto: a whole ES256 verification costs about 177 µs
 * of CPU through jose's jwtVerify against about 129 µs here (scripts/bench/verify-cost.ts, a
 * loaded 2-core machine), and an exchange verifies one or two such tokens. The differential
 * property test (test/jose/jwt-verify.test.ts) holds it to jose's verdicts. Everything else
 * stays jose's: the key comes from the same JWKS sets (fetching, caching, kid and alg matching),
 * and the claims are checked by jose's own claims-set validation, so a refusal raises the same
 * jose error as before.
 */
import { KeyObject, constants, verify, type webcrypto } from 'node:crypto';
import { types } from 'node:util';
import { UnsecuredJWT, errors, type JWTClaimVerificationOptions, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { decodeSignedJwt } from './compact.js';

/** jwtVerify's options, less `typ` (a header check this module does not carry over). */
export interface JwtVerifyOptions extends Omit<JWTClaimVerificationOptions, 'typ'> {
  algorithms: readonly string[];
}

interface SignatureAlgorithm {
  /** node:crypto's digest; null for EdDSA, which hashes internally. */
  digest: string | null;
  /** The WebCrypto algorithm jose imports the key for, checked against the resolved key. */
  keyAlgorithm: 'ECDSA' | 'RSASSA-PKCS1-v1_5' | 'RSA-PSS' | 'Ed25519';
  curve?: 'P-256' | 'P-384' | 'P-521';
  rsaHash?: 'SHA-256' | 'SHA-384' | 'SHA-512';
}

const ecdsa = (digest: string, curve: SignatureAlgorithm['curve']): SignatureAlgorithm => ({ digest, keyAlgorithm: 'ECDSA', curve });
const rsa = (keyAlgorithm: 'RSASSA-PKCS1-v1_5' | 'RSA-PSS', bits: 256 | 384 | 512): SignatureAlgorithm => ({
  digest: `sha${bits}`,
  keyAlgorithm,
  rsaHash: `SHA-${bits}`,
});

const SIGNATURE_ALGORITHMS: Readonly<Record<string, SignatureAlgorithm>> = {
  ES256: ecdsa('sha256', 'P-256'),
  ES384: ecdsa('sha384', 'P-384'),
  ES512: ecdsa('sha512', 'P-521'),
  RS256: rsa('RSASSA-PKCS1-v1_5', 256),
  RS384: rsa('RSASSA-PKCS1-v1_5', 384),
  RS512: rsa('RSASSA-PKCS1-v1_5', 512),
  PS256: rsa('RSA-PSS', 256),
  PS384: rsa('RSA-PSS', 384),
  PS512: rsa('RSA-PSS', 512),
  EdDSA: { digest: null, keyAlgorithm: 'Ed25519' },
  Ed25519: { digest: null, keyAlgorithm: 'Ed25519' },
};

const MIN_RSA_BITS = 2048;
const UNSECURED_HEADER = Buffer.from(JSON.stringify({ alg: 'none' })).toString('base64url');

// jose's key sets hand out the same CryptoKey for the same JWK, so the conversion is done once.
const keyObjects = new WeakMap<webcrypto.CryptoKey, KeyObject>();

const isCryptoKey = (value: unknown): value is webcrypto.CryptoKey => types.isCryptoKey(value);

/** The resolved key as a KeyObject, provided it is a public key imported for exactly `alg`. */
function verificationKey(resolved: unknown, alg: string, expected: SignatureAlgorithm): KeyObject {
  if (!isCryptoKey(resolved)) throw new errors.JOSENotSupported('unsupported key type');
  const algorithm = resolved.algorithm as webcrypto.KeyAlgorithm & { namedCurve?: string; hash?: { name: string }; modulusLength?: number };
  const matches =
    resolved.type === 'public' &&
    resolved.usages.includes('verify') &&
    algorithm.name === expected.keyAlgorithm &&
    (expected.curve === undefined || algorithm.namedCurve === expected.curve) &&
    (expected.rsaHash === undefined || algorithm.hash?.name === expected.rsaHash);
  if (!matches) throw new errors.JOSENotSupported(`the key is not a ${alg} verification key`);
  if (expected.rsaHash !== undefined && (algorithm.modulusLength ?? 0) < MIN_RSA_BITS) {
    throw new errors.JOSENotSupported(`${alg} keys must be ${MIN_RSA_BITS} bits or larger`);
  }
  let key = keyObjects.get(resolved);
  if (!key) {
    key = KeyObject.from(resolved);
    keyObjects.set(resolved, key);
  }
  return key;
}

function signatureValid(algorithm: SignatureAlgorithm, key: KeyObject, signingInput: string, signature: Buffer): boolean {
  const keyOptions =
    algorithm.keyAlgorithm === 'ECDSA'
      ? { key, dsaEncoding: 'ieee-p1363' as const }
      : algorithm.keyAlgorithm === 'RSA-PSS'
        ? { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: constants.RSA_PSS_SALTLEN_DIGEST }
        : key;
  try {
    return verify(algorithm.digest, Buffer.from(signingInput), keyOptions, signature);
  } catch {
    return false; // a signature of the wrong length or encoding
  }
}

export async function verifyJwt(token: string, keys: JWTVerifyGetKey, options: JwtVerifyOptions): Promise<{ payload: JWTPayload }> {
  const decoded = decodeSignedJwt(token);
  if (!decoded) throw new errors.JWSInvalid('JWS is malformed');
  const { alg } = decoded.header;
  if (typeof alg !== 'string') throw new errors.JWSInvalid('JWS "alg" (Algorithm) Header Parameter missing or invalid');
  const algorithm = SIGNATURE_ALGORITHMS[alg];
  if (!options.algorithms.includes(alg) || !algorithm) throw new errors.JOSEAlgNotAllowed('"alg" (Algorithm) Header Parameter value not allowed');

  const [protectedHeader, payloadSegment, signatureSegment] = decoded.segments;
  const resolved = await keys(decoded.header as Parameters<JWTVerifyGetKey>[0], {
    protected: protectedHeader,
    payload: payloadSegment,
    signature: signatureSegment,
  });
  const key = verificationKey(resolved, alg, algorithm);
  if (!signatureValid(algorithm, key, decoded.signingInput, decoded.signature)) throw new errors.JWSSignatureVerificationFailed();

  // The signature holds: jose checks the claims exactly as jwtVerify would (the unsecured
  // wrapper only carries the verified payload to jose's claims-set validation).
  const { algorithms: _algorithms, ...claimOptions } = options;
  return { payload: UnsecuredJWT.decode(`${UNSECURED_HEADER}.${payloadSegment}.`, claimOptions).payload };
}
