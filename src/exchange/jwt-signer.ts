/**
 * Signs and verifies Deputy's own compact JWTs with node:crypto directly: jose's WebCrypto path
 * costs 2-3x more per signature, and these are the hottest operations of an exchange. Only the
 * algorithms Deputy itself uses (ES256, EdDSA) are handled here; foreign tokens: jwt-verify.ts.
 */
import { sign, verify, type KeyObject } from 'node:crypto';
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

export interface DecodedJwt {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
  signingInput: string;
  signature: Buffer;
}

/**
 * One non-empty JWS segment in the base64url alphabet, unpadded (RFC 7515 §2). Node's decoder
 * also takes '+', '/' and '=' (and skips other characters), so a token could otherwise be
 * spelled several ways.
 */
export const BASE64URL = /^[A-Za-z0-9_-]+$/;

/** Splits and decodes a compact JWS; null when it is not one. Does not verify anything. */
export function decodeJwt(token: string): DecodedJwt | null {
  const parts = token.split('.');
  if (parts.length !== 3 || !parts.every((part) => BASE64URL.test(part))) return null;
  try {
    const header = JSON.parse(Buffer.from(parts[0]!, 'base64url').toString('utf8')) as unknown;
    const claims = JSON.parse(Buffer.from(parts[1]!, 'base64url').toString('utf8')) as unknown;
    if (!header || typeof header !== 'object' || Array.isArray(header)) return null;
    if (!claims || typeof claims !== 'object' || Array.isArray(claims)) return null;
    return {
      header: header as Record<string, unknown>,
      claims: claims as Record<string, unknown>,
      signingInput: `${parts[0]}.${parts[1]}`,
      signature: Buffer.from(parts[2]!, 'base64url'),
    };
  } catch {
    return null;
  }
}

export function signatureValid(key: SigningKey, decoded: DecodedJwt): boolean {
  if (decoded.header.alg !== key.alg) return false;
  return verify(
    key.alg === 'ES256' ? 'sha256' : null,
    Buffer.from(decoded.signingInput),
    signatureOptions(key.alg, key.publicKey),
    decoded.signature,
  );
}
