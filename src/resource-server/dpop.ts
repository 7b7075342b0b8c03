/**
 * The DPoP proof check of a protected-resource request (RFC 9449 §4.3 and §7.1), for a token
 * whose `cnf.jkt` binds it to a key.
 */
import { createHash } from 'node:crypto';
import { EmbeddedJWK, calculateJwkThumbprint, decodeProtectedHeader, jwtVerify, type JWK } from 'jose';
import { AccessError } from './errors.js';
import type { JtiStore } from './expiring-set.js';

export const DEFAULT_DPOP_ALGORITHMS = ['ES256', 'EdDSA', 'Ed25519', 'PS256', 'RS256'] as const;

export interface DpopOptions {
  algorithms: readonly string[];
  /** How old a proof's iat may be, in seconds (RFC 9449 §11.1: "relatively short"). */
  maxAgeSeconds: number;
  /** How far in the future a proof's iat may be, in seconds (clock skew). */
  clockToleranceSeconds: number;
  replay: JtiStore;
  /** Unix seconds. */
  now: () => number;
}

const proofError = (description: string) => new AccessError('invalid_dpop_proof', description, { scheme: 'DPoP' });

/** RFC 9449 §4.3 item 9: htu compared without query and fragment; scheme and host case-insensitive, default port dropped. */
export function normalizeHtu(value: string): string | null {
  try {
    const url = new URL(value);
    return `${url.protocol}//${url.host}${url.pathname}`;
  } catch {
    return null;
  }
}

export function accessTokenHash(token: string): string {
  return createHash('sha256').update(token, 'ascii').digest('base64url');
}

export interface ProofRequest {
  proof: string;
  method: string;
  url: string;
  accessToken: string;
  /** The token's cnf.jkt. */
  jkt: string;
}

/** Throws invalid_dpop_proof unless the proof binds this request to the token's key. */
export async function verifyDpopProof(request: ProofRequest, options: DpopOptions): Promise<void> {
  let header;
  try {
    header = decodeProtectedHeader(request.proof);
  } catch {
    throw proofError('the DPoP proof is not a JWT');
  }
  if (header.typ !== 'dpop+jwt') throw proofError('the DPoP proof must have typ dpop+jwt');
  if (typeof header.alg !== 'string' || !options.algorithms.includes(header.alg)) throw proofError('the DPoP proof algorithm is not accepted');
  const jwk = header.jwk as JWK | undefined;
  if (!jwk || typeof jwk !== 'object') throw proofError('the DPoP proof must carry its public key (jwk)');
  if ('d' in jwk || 'p' in jwk || 'k' in jwk) throw proofError('the DPoP proof key must be a public asymmetric key');

  let payload;
  try {
    ({ payload } = await jwtVerify(request.proof, EmbeddedJWK, { typ: 'dpop+jwt', algorithms: [...options.algorithms] }));
  } catch {
    throw proofError('the DPoP proof signature does not verify');
  }
  if (typeof payload.jti !== 'string' || payload.jti.length === 0) throw proofError('the DPoP proof has no jti');
  if (payload.htm !== request.method.toUpperCase()) throw proofError('the DPoP proof is for another HTTP method');
  const htu = typeof payload.htu === 'string' ? normalizeHtu(payload.htu) : null;
  if (htu === null || htu !== normalizeHtu(request.url)) throw proofError('the DPoP proof is for another URL');
  if (typeof payload.iat !== 'number') throw proofError('the DPoP proof has no iat');
  const now = options.now();
  if (payload.iat > now + options.clockToleranceSeconds) throw proofError('the DPoP proof is issued in the future');
  if (payload.iat < now - options.maxAgeSeconds) throw proofError('the DPoP proof is too old');
  if (payload.ath !== accessTokenHash(request.accessToken)) throw proofError('the DPoP proof is not for this access token (ath)');
  if ((await calculateJwkThumbprint(jwk, 'sha256')) !== request.jkt) {
    throw new AccessError('invalid_token', 'the access token is bound to another key', { scheme: 'DPoP' });
  }
  // Last, so a proof refused for another reason does not burn its jti.
  const fresh = await options.replay.add(`${request.jkt}:${payload.jti}`, payload.iat + options.maxAgeSeconds + options.clockToleranceSeconds);
  if (!fresh) throw proofError('the DPoP proof was already used');
}
