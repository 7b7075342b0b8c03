/**
 * Signs and verifies Deputy's own compact JWTs with node:crypto directly: jose's WebCrypto path
 * costs more per signature (verification: about 158 µs of CPU through jose's compactVerify
 * against about 106 µs here, scripts/bench/verify-cost.ts), and these are the hottest
 * operations of an exchange. Tokens are read by src/jose/compact.ts. Only the
 * algorithms Deputy itself uses (ES256, EdDSA) are handled here; foreign tokens: jwt-verify.ts.
 */
import { sign, verify, type KeyObject } from 'node:crypto';
import type { CompactJws } from './compact.js';
import type { SigningAlg, SigningKey } from '../keys/key-ring.js';

const encode = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

function signatureOptions(alg: SigningAlg, key: KeyObject) {
  return alg === 'ES256' ? { key, dsaEncoding: 'ieee-p1363' as const } : key;
}

export function signJwt(key: SigningKey, header: Record<string, unknown>, claims: Record<string, unknown>): string {
  const input = `${encode({ ...header, alg: key.alg, kid: key.kid })}.${encode(claims)}`;
  const signature = sign(key.alg === 'ES256' ? 'sha256' : null, Buffer.from(input), signatureOptions(key.alg, key.privateKey));
  return `${input}.${signature.toString('base64url')}`;
}

/** Whether `decoded` (from src/jose/compact.ts) carries a valid signature by `key`. */
export function signatureValid(key: SigningKey, decoded: CompactJws): boolean {
  if (decoded.header.alg !== key.alg) return false;
  return verify(
    key.alg === 'ES256' ? 'sha256' : null,
    Buffer.from(decoded.signingInput),
    signatureOptions(key.alg, key.publicKey),
    decoded.signature,
  );
}
