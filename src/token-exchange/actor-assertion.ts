/**
 * Verifies the actor_token: an assertion the actor signed with one of its registered keys
 * (RFC 7523 style, single use), or a workload token from a trusted workload issuer bound to an
 * actor. No database access here: lookups and the jti store are ports.
 */
import { invalidRequest } from '../errors.js';
import type { LocalKeySets } from '../trust/issuer-keys.js';
import { assertIssuedInPast, epochSeconds, guardJwt, isAccessTokenTyp, verificationError } from '../jose/jwt-guard.js';
import { verifyJwt } from '../jose/jwt-verify.js';
import { verifyTrustedIssuerToken, type TrustedIssuerDeps } from '../trust/trusted-issuer-token.js';

export const ACTOR_ASSERTION_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'EdDSA', 'RS256', 'PS256'] as const;
/** An assertion may live at most this long (seconds) beyond now, plus clock skew. */
export const MAX_ASSERTION_LIFETIME_SECONDS = 300;
export const MAX_JTI_LENGTH = 256;
const CONTROL_CHARS = /[\u0000-\u001f\u007f]/;

const LABEL = 'actor assertion';

export interface ActorKeys {
  id: string;
  jwks: { keys: unknown[] } | null;
}

export interface ActorAssertionDeps {
  findActor(id: string): Promise<ActorKeys | null>;
  /** Key sets of registered JWKSs (cached by the composition root's IssuerKeys). */
  keySetFor: LocalKeySets;
  /** Records the jti atomically; false when it was seen before. */
  markJtiUsed(issuer: string, jti: string, expiresAt: number): Promise<boolean>;
  /** Deputy's issuer and its token endpoint URL. */
  acceptedAudiences: string[];
  clockSkewSeconds: number;
}

export interface ActorAssertion {
  actorId: string;
  jti: string;
  exp: number;
}

export async function verifyActorAssertion(token: string, deps: ActorAssertionDeps, now: Date): Promise<ActorAssertion> {
  const { header, payload } = guardJwt(token, ACTOR_ASSERTION_ALGORITHMS, LABEL);
  if (isAccessTokenTyp(header.typ)) {
    throw invalidRequest('an access token is not an actor assertion', 'typ at+jwt');
  }
  const { iss, sub } = payload;
  if (typeof iss === 'string' && deps.acceptedAudiences.includes(iss)) {
    throw invalidRequest('a Deputy token is not an actor assertion', 'iss is Deputy');
  }
  if (typeof iss !== 'string' || iss.length === 0 || iss !== sub) {
    throw invalidRequest(`${LABEL} must have iss equal to sub`);
  }

  const actor = await deps.findActor(iss);
  if (!actor || actor.id !== iss) throw invalidRequest('unknown actor');
  if (!actor.jwks || !Array.isArray(actor.jwks.keys) || actor.jwks.keys.length === 0) {
    throw invalidRequest('actor has no registered keys');
  }
  let keys;
  try {
    keys = deps.keySetFor(actor.jwks);
  } catch (error) {
    throw invalidRequest('actor has no usable keys', error instanceof Error ? error.message : undefined);
  }

  let claims: Record<string, unknown>;
  try {
    ({ payload: claims } = await verifyJwt(token, keys, {
      issuer: actor.id,
      subject: actor.id,
      audience: deps.acceptedAudiences,
      algorithms: [...ACTOR_ASSERTION_ALGORITHMS],
      clockTolerance: deps.clockSkewSeconds,
      currentDate: now,
      requiredClaims: ['exp', 'iat', 'jti'],
    }));
  } catch (error) {
    throw verificationError(error, LABEL);
  }

  const nowSeconds = epochSeconds(now);
  assertIssuedInPast(claims.iat, nowSeconds, deps.clockSkewSeconds, LABEL);
  const exp = claims.exp as number;
  if (exp > nowSeconds + MAX_ASSERTION_LIFETIME_SECONDS + deps.clockSkewSeconds) {
    throw invalidRequest(`${LABEL} lives too long`, `exp more than ${MAX_ASSERTION_LIFETIME_SECONDS}s ahead`);
  }
  const { jti } = claims;
  // Control characters are refused outright: a jti is an opaque label, and the store keeps
  // only its digest, so nothing downstream would refuse a NUL for us.
  if (typeof jti !== 'string' || jti.length === 0 || jti.length > MAX_JTI_LENGTH || CONTROL_CHARS.test(jti)) {
    throw invalidRequest(`${LABEL} has an unusable jti`);
  }
  // Only after the signature: an unauthenticated request must not be able to burn a jti.
  if (!(await deps.markJtiUsed(actor.id, jti, exp))) {
    throw invalidRequest('actor assertion was already used');
  }
  return { actorId: actor.id, jti, exp };
}

export interface WorkloadTokenDeps extends TrustedIssuerDeps {
  /** The actor bound to this workload identity, if any. */
  findActorByWorkload(issuer: string, subject: string): Promise<string | null>;
}

export interface WorkloadActor {
  actorId: string;
  exp: number;
  issuer: string;
  workloadSubject: string;
}

export async function verifyWorkloadToken(token: string, deps: WorkloadTokenDeps, now: Date): Promise<WorkloadActor> {
  const verified = await verifyTrustedIssuerToken(token, deps, now, 'workload');
  const actorId = await deps.findActorByWorkload(verified.issuer, verified.subjectId);
  if (!actorId) throw invalidRequest('no actor is bound to this workload');
  return { actorId, exp: verified.exp, issuer: verified.issuer, workloadSubject: verified.subjectId };
}
