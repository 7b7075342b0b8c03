/**
 * The local check of a Deputy access token (RFC 9068 JWT profile): signature against Deputy's
 * /jwks (jose's remote key set: cached, refetched on an unknown kid, rate-limited), `typ`
 * at+jwt, iss, aud, exp (and iat) with a clock tolerance, and the claims Deputy always sets.
 */
import { errors, jwtVerify, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { chainOf, type ActClaim } from './act-chain.js';
import { AccessError, type Scheme } from './errors.js';

export interface VerifiedToken {
  /** The token as presented (for introspection and DPoP's ath). */
  token: string;
  claims: JWTPayload & { act?: ActClaim; scope?: string; client_id?: string; cnf?: { jkt?: string } };
  subject: string;
  /** Outermost (current actor) first; [] for a token without delegation. */
  chain: string[];
  /** The current actor: chain[0], or null. */
  actor: string | null;
  scopes: string[];
  clientId: string | null;
  jti: string;
  issuedAt: number;
  expiresAt: number;
  /** cnf.jkt: the token is DPoP-bound to this key thumbprint. */
  dpopJkt: string | null;
}

export interface AccessTokenOptions {
  issuer: string;
  audience: string | readonly string[];
  keys: JWTVerifyGetKey;
  algorithms: readonly string[];
  clockToleranceSeconds: number;
  /** Unix seconds. */
  now: () => number;
}

// RFC 9068 §4: "at+jwt"; "application/at+jwt" is the same media type written in full.
const ACCESS_TOKEN_TYPES = new Set(['at+jwt', 'application/at+jwt']);

function describe(error: unknown): string {
  if (error instanceof errors.JWTExpired) return 'the access token has expired';
  if (error instanceof errors.JWTClaimValidationFailed) {
    if (error.claim === 'iss') return 'the access token is from another issuer';
    if (error.claim === 'aud') return 'the access token is for another audience';
    if (error.claim === 'iat' || error.claim === 'nbf') return 'the access token is not valid yet';
    if (error.claim === 'typ') return 'the access token must have typ at+jwt';
    return `the access token claim ${error.claim} is invalid`;
  }
  if (error instanceof errors.JWKSNoMatchingKey) return 'the access token is signed with an unknown key';
  if (error instanceof errors.JOSEAlgNotAllowed) return 'the access token algorithm is not accepted';
  if (error instanceof errors.JWSSignatureVerificationFailed) return 'the access token signature does not verify';
  return 'the access token is malformed';
}

/**
 * The key set could not be fetched (network, timeout, non-200, not JSON): not the token's fault.
 * Anything jose throws that is not one of its own errors comes from fetching the keys (checked
 * without instanceof Error: fetch's errors may come from another realm).
 */
function isJwksUnavailable(error: unknown): boolean {
  if (!(error instanceof errors.JOSEError)) return true;
  return error instanceof errors.JWKSTimeout || error instanceof errors.JWKSInvalid || error.constructor === errors.JOSEError;
}

export async function verifyAccessToken(token: string, scheme: Scheme, options: AccessTokenOptions): Promise<VerifiedToken> {
  const invalid = (description: string) => new AccessError('invalid_token', description, { scheme });
  let payload: VerifiedToken['claims'];
  let typ: unknown;
  try {
    const result = await jwtVerify(token, options.keys, {
      issuer: options.issuer,
      audience: typeof options.audience === 'string' ? options.audience : [...options.audience],
      algorithms: [...options.algorithms],
      clockTolerance: options.clockToleranceSeconds,
      currentDate: new Date(options.now() * 1000),
      requiredClaims: ['exp', 'iat', 'sub', 'jti'],
    });
    payload = result.payload;
    typ = result.protectedHeader.typ;
  } catch (error) {
    if (isJwksUnavailable(error)) {
      throw new AccessError('temporarily_unavailable', "the issuer's keys could not be fetched", { scheme });
    }
    throw invalid(describe(error));
  }
  if (typeof typ !== 'string' || !ACCESS_TOKEN_TYPES.has(typ.toLowerCase())) throw invalid('the access token must have typ at+jwt');
  if (payload.iat! > options.now() + options.clockToleranceSeconds) throw invalid('the access token is not valid yet');
  const chain = payload.act === undefined ? [] : chainOf(payload.act);
  if (chain === null) throw invalid('the access token act claim is malformed');
  if (payload.scope !== undefined && typeof payload.scope !== 'string') throw invalid('the access token scope claim is malformed');
  const jkt = payload.cnf?.jkt;
  if (payload.cnf !== undefined && (typeof jkt !== 'string' || jkt.length === 0)) throw invalid('the access token cnf claim is malformed');
  return {
    token,
    claims: payload,
    subject: payload.sub!,
    chain,
    actor: chain[0] ?? null,
    scopes: (payload.scope ?? '').split(' ').filter(Boolean),
    clientId: typeof payload.client_id === 'string' ? payload.client_id : null,
    jti: payload.jti!,
    issuedAt: payload.iat!,
    expiresAt: payload.exp!,
    dpopJkt: typeof jkt === 'string' ? jkt : null,
  };
}
