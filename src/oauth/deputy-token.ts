/**
 * Verifies a token Deputy itself minted (signature, header, issuer, expiry). Whether it is
 * still live (unrevoked, grant active, chain active) is a database question, asked elsewhere.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { invalidRequest } from '../errors.js';
import type { KeyRing } from '../keys/key-ring.js';
import { MAX_JWT_LENGTH } from '../jose/jwt-guard.js';
import { decodeSignedJwt, type CompactJws } from '../jose/compact.js';
import { signatureValid } from '../jose/jwt-signer.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export interface DeputyTokenClaims {
  jti: string;
  sub: string;
  exp: number;
  iat: number;
  aud: string;
  scope: string;
  client_id: string;
  act: unknown;
}

export type DeputyTokenCheck = { valid: true; claims: DeputyTokenClaims } | { valid: false; reason: string };

/** A Deputy token's claims and header checked, its signature NOT: see {@link checkDeputyToken}. */
export type DeputyTokenReading = { valid: true; claims: DeputyTokenClaims; decoded: CompactJws } | { valid: false; reason: string };

/** The digest Deputy records for every token it issues (issued_tokens.token_sha256). */
export function deputyTokenDigest(token: string): Buffer {
  return createHash('sha256').update(token).digest();
}

/** The header and claims of a token that claims to be Deputy's, signature unchecked. */
export function readDeputyToken(token: string, issuer: string, nowSeconds: number): DeputyTokenReading {
  if (token.length > MAX_JWT_LENGTH) return { valid: false, reason: 'oversized' };
  const decoded = decodeSignedJwt(token);
  if (!decoded) return { valid: false, reason: 'malformed' };
  const { header, claims } = decoded;
  if (header.typ !== 'at+jwt' || typeof header.kid !== 'string' || header.crit !== undefined) {
    return { valid: false, reason: 'not a Deputy access token' };
  }
  if (claims.iss !== issuer) return { valid: false, reason: 'foreign issuer' };
  const { jti, sub, exp, iat, aud, scope, client_id: clientId } = claims;
  if (typeof jti !== 'string' || typeof sub !== 'string' || typeof exp !== 'number' || typeof iat !== 'number') {
    return { valid: false, reason: 'missing claims' };
  }
  if (typeof aud !== 'string' || typeof scope !== 'string' || typeof clientId !== 'string') {
    return { valid: false, reason: 'missing claims' };
  }
  // Deputy's jtis are UUIDs: anything else is not its token, and is never looked up.
  if (!UUID.test(jti)) return { valid: false, reason: 'not a Deputy jti' };
  if (exp <= nowSeconds) return { valid: false, reason: 'expired' };
  return { valid: true, claims: { jti, sub, exp, iat, aud, scope, client_id: clientId, act: claims.act }, decoded };
}

/**
 * Whether a read token was signed by a key of Deputy's ring that is still published. With a
 * `recordedDigest` (the token's issued-token record), a digest match proves the signature was
 * Deputy's without verifying it again; without one, the signature is verified.
 */
export async function deputyTokenAuthentic(
  token: string,
  reading: Extract<DeputyTokenReading, { valid: true }>,
  keyRing: KeyRing,
  nowSeconds: number,
  recordedDigest: Buffer | null = null,
): Promise<boolean> {
  const key = await keyRing.verificationKey(reading.decoded.header.kid as string, nowSeconds);
  if (!key) return false;
  if (recordedDigest) {
    const digest = deputyTokenDigest(token);
    return recordedDigest.length === digest.length && timingSafeEqual(recordedDigest, digest);
  }
  return signatureValid(key, reading.decoded);
}

export async function checkDeputyToken(token: string, keyRing: KeyRing, issuer: string, nowSeconds: number): Promise<DeputyTokenCheck> {
  const reading = readDeputyToken(token, issuer, nowSeconds);
  if (!reading.valid) return reading;
  if (!(await deputyTokenAuthentic(token, reading, keyRing, nowSeconds))) return { valid: false, reason: 'bad signature or unknown key' };
  return { valid: true, claims: reading.claims };
}

/** A Deputy subject token's claims and header, its authenticity left to its record (see below). */
export function readDeputySubjectToken(token: string, issuer: string, nowSeconds: number): Extract<DeputyTokenReading, { valid: true }> {
  const reading = readDeputyToken(token, issuer, nowSeconds);
  if (!reading.valid) throw subjectTokenRefused(reading.reason);
  return reading;
}

/**
 * A Deputy subject token is authentic when its digest is the one recorded when Deputy issued it
 * (the record the chain is read from anyway), under a key still published; a token without a
 * record, or recorded without a digest, is authentic only if its signature verifies.
 */
export async function authenticateDeputySubjectToken(
  token: string,
  reading: Extract<DeputyTokenReading, { valid: true }>,
  keyRing: KeyRing,
  nowSeconds: number,
  recordedDigestHex: string | null,
): Promise<void> {
  const recorded = recordedDigestHex === null ? null : Buffer.from(recordedDigestHex, 'hex');
  if (!(await deputyTokenAuthentic(token, reading, keyRing, nowSeconds, recorded))) throw subjectTokenRefused('bad signature or unknown key');
}

function subjectTokenRefused(reason: string) {
  return invalidRequest(reason === 'expired' ? 'subject token is expired' : 'subject token is not a valid Deputy access token', reason);
}
