/**
 * Verifies a token Deputy itself minted (signature, header, issuer, expiry). Whether it is
 * still live (unrevoked, grant active, chain active) is a database question, asked elsewhere.
 */
import { invalidRequest } from '../errors.js';
import type { KeyRing } from '../keys/key-ring.js';
import { MAX_JWT_LENGTH } from './jwt-guard.js';
import { decodeJwt, signatureValid } from './jwt-signer.js';

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

export async function checkDeputyToken(token: string, keyRing: KeyRing, issuer: string, nowSeconds: number): Promise<DeputyTokenCheck> {
  if (token.length > MAX_JWT_LENGTH) return { valid: false, reason: 'oversized' };
  const decoded = decodeJwt(token);
  if (!decoded) return { valid: false, reason: 'malformed' };
  const { header, claims } = decoded;
  if (header.typ !== 'at+jwt' || typeof header.kid !== 'string' || header.crit !== undefined) {
    return { valid: false, reason: 'not a Deputy access token' };
  }
  const key = await keyRing.verificationKey(header.kid, nowSeconds);
  if (!key || !signatureValid(key, decoded)) return { valid: false, reason: 'bad signature or unknown key' };
  if (claims.iss !== issuer) return { valid: false, reason: 'foreign issuer' };
  const { jti, sub, exp, iat, aud, scope, client_id: clientId } = claims;
  if (typeof jti !== 'string' || typeof sub !== 'string' || typeof exp !== 'number' || typeof iat !== 'number') {
    return { valid: false, reason: 'missing claims' };
  }
  if (typeof aud !== 'string' || typeof scope !== 'string' || typeof clientId !== 'string') {
    return { valid: false, reason: 'missing claims' };
  }
  if (exp <= nowSeconds) return { valid: false, reason: 'expired' };
  return { valid: true, claims: { jti, sub, exp, iat, aud, scope, client_id: clientId, act: claims.act } };
}

/** For the token endpoint: a Deputy subject token that does not verify is invalid_request. */
export async function verifyDeputySubjectToken(token: string, keyRing: KeyRing, issuer: string, nowSeconds: number): Promise<DeputyTokenClaims> {
  const check = await checkDeputyToken(token, keyRing, issuer, nowSeconds);
  if (!check.valid) {
    throw invalidRequest(check.reason === 'expired' ? 'subject token is expired' : 'subject token is not a valid Deputy access token', check.reason);
  }
  return check.claims;
}
