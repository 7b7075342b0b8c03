/**
 * Cheap structural checks on an external compact JWT, run before any key lookup, key fetch or
 * signature work, plus the one mapping of jose failures to safe OAuth errors.
 *
 * Nothing returned here is verified: the payload is for routing (by `iss`) only.
 */
import { errors as joseErrors } from 'jose';
import { OAuthError, invalidRequest, temporarilyUnavailable } from '../errors.js';
import { readCompactJws } from './compact.js';

/** Longest compact JWT we look at; anything longer is refused before it is parsed. */
export const MAX_JWT_LENGTH = 8 * 1024;
export const MAX_KID_LENGTH = 256;

/** Header parameters that would let the token choose its own verification key. */
const KEY_CARRYING_HEADERS = ['jwk', 'jku', 'x5u', 'x5c'] as const;

// Visible ASCII only: a kid is an opaque label, never whitespace or control characters.
const KID_CHARS = /^[\x21-\x7e]+$/;

export interface JwtHeader {
  alg: string;
  kid?: string;
  typ?: string;
  [parameter: string]: unknown;
}

/** Claims read from a JWT whose signature has not been checked yet. */
export type UnverifiedClaims = Record<string, unknown>;

export interface InspectedJwt {
  header: JwtHeader;
  payload: UnverifiedClaims;
}

/** RFC 9068's `typ` for JWT access tokens, with or without `application/`, in any case. */
export function isAccessTokenTyp(typ: unknown): boolean {
  if (typeof typ !== 'string') return false;
  const lower = typ.toLowerCase();
  return (lower.startsWith('application/') ? lower.slice('application/'.length) : lower) === 'at+jwt';
}

/** Never acceptable for a token signed by someone else: no signature, or a shared secret. */
export function isForbiddenAlgorithm(alg: string): boolean {
  return alg.toLowerCase() === 'none' || /^HS/i.test(alg);
}

/**
 * Structural checks that need no knowledge of the issuer. Refuses `none` and HMAC algorithms
 * whatever the caller's list says; the allow-list itself is applied by {@link assertAlgorithmAllowed}.
 */
export function inspectJwt(token: unknown, label: string): InspectedJwt {
  if (typeof token !== 'string' || token.length === 0) throw invalidRequest(`${label} is missing`);
  if (token.length > MAX_JWT_LENGTH) {
    throw invalidRequest(`${label} is too large`, `length ${token.length} > ${MAX_JWT_LENGTH}`);
  }
  const reading = readCompactJws(token);
  if (!reading.ok) {
    if (reading.failure === 'encrypted') throw invalidRequest('encrypted tokens are not accepted');
    throw invalidRequest(`${label} is malformed`, reading.failure);
  }
  const { header, claims: payload, signature } = reading.jws;

  const { alg } = header;
  if (typeof alg !== 'string' || alg.length === 0) throw invalidRequest(`${label} is malformed`, 'no alg');
  if (isForbiddenAlgorithm(alg)) {
    throw invalidRequest(`${label} algorithm is not accepted`, `alg ${alg.slice(0, 16)}`);
  }
  for (const name of KEY_CARRYING_HEADERS) {
    if (name in header) throw invalidRequest(`${label} header is not accepted`, `header carries ${name}`);
  }
  if ('crit' in header) throw invalidRequest(`${label} header is not accepted`, 'crit present');
  if ('kid' in header) {
    const { kid } = header;
    if (typeof kid !== 'string' || kid.length === 0 || kid.length > MAX_KID_LENGTH || !KID_CHARS.test(kid)) {
      throw invalidRequest(`${label} header is not accepted`, 'unacceptable kid');
    }
  }
  if ('typ' in header && typeof header.typ !== 'string') {
    throw invalidRequest(`${label} header is not accepted`, 'typ is not a string');
  }
  if (signature.length === 0) throw invalidRequest(`${label} is malformed`, 'empty signature');
  return { header: header as JwtHeader, payload };
}

export function assertAlgorithmAllowed(header: JwtHeader, algorithms: readonly string[], label: string): void {
  if (isForbiddenAlgorithm(header.alg) || !algorithms.includes(header.alg)) {
    throw invalidRequest(`${label} algorithm is not accepted`, `alg ${header.alg.slice(0, 16)}`);
  }
}

/** {@link inspectJwt} followed by the allow-list check. */
export function guardJwt(token: unknown, algorithms: readonly string[], label: string): InspectedJwt {
  const inspected = inspectJwt(token, label);
  assertAlgorithmAllowed(inspected.header, algorithms, label);
  return inspected;
}

/**
 * Maps a failure from jose's verification to a safe OAuthError. OAuthErrors (from our key
 * resolvers) pass through; errors that are not jose's are rethrown unchanged (a bug, a 500).
 */
export function verificationError(error: unknown, label: string): unknown {
  if (error instanceof OAuthError) return error;
  if (!(error instanceof joseErrors.JOSEError)) return error;
  const detail = `${error.code}: ${error.message}`;
  switch (error.code) {
    case 'ERR_JWT_EXPIRED':
      return invalidRequest(`${label} is expired`, detail);
    case 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED':
      return invalidRequest(`${label} signature is invalid`, detail);
    case 'ERR_JWKS_NO_MATCHING_KEY':
      return invalidRequest(`${label} is signed with an unknown key`, detail);
    case 'ERR_JWKS_MULTIPLE_MATCHING_KEYS':
      return invalidRequest(`${label} must name its key with kid`, detail);
    case 'ERR_JOSE_ALG_NOT_ALLOWED':
      return invalidRequest(`${label} algorithm is not accepted`, detail);
    case 'ERR_JWKS_TIMEOUT':
      return temporarilyUnavailable(detail);
    case 'ERR_JWT_CLAIM_VALIDATION_FAILED': {
      const { claim, reason } = error as joseErrors.JWTClaimValidationFailed;
      if (reason === 'missing') return invalidRequest(`${label} is missing a required claim`, detail);
      if (claim === 'nbf' || claim === 'iat') return invalidRequest(`${label} is not yet valid`, detail);
      return invalidRequest(`${label} is not acceptable`, detail);
    }
    case 'ERR_JWS_INVALID':
    case 'ERR_JWT_INVALID':
      return invalidRequest(`${label} is malformed`, detail);
    default:
      return invalidRequest(`${label} is not acceptable`, detail);
  }
}

/** `iat` later than now + skew: jose only checks this when maxTokenAge is set. */
export function assertIssuedInPast(iat: unknown, nowSeconds: number, skewSeconds: number, label: string): void {
  if (typeof iat !== 'number' || !Number.isFinite(iat)) throw invalidRequest(`${label} is missing a required claim`, 'iat');
  if (iat > nowSeconds + skewSeconds) throw invalidRequest(`${label} is not yet valid`, `iat ${iat} in the future`);
}

export const epochSeconds = (now: Date): number => Math.floor(now.getTime() / 1000);
