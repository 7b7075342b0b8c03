/**
 * Verifies a JWT from a trusted issuer (a subject token from an identity provider, or a
 * workload token). No database access here: the issuer lookup and key source are ports.
 */
import type { JWTVerifyGetKey } from 'jose';
import { invalidRequest } from '../errors.js';
import { verifyJwt } from '../jose/jwt-verify.js';
import {
  assertAlgorithmAllowed,
  assertIssuedInPast,
  epochSeconds,
  inspectJwt,
  isAccessTokenTyp,
  isForbiddenAlgorithm,
  verificationError,
} from '../jose/jwt-guard.js';
import { isOwnIssuer } from './own-issuer.js';

export type IssuerKind = 'user' | 'workload';

/**
 * Whom an issuer may speak for: a subject passes if it is listed or starts with the prefix.
 * No list and no prefix: any subject.
 */
export interface SubjectLimit {
  allowed: readonly string[];
  prefix: string | null;
}

export const ANY_SUBJECT: SubjectLimit = { allowed: [], prefix: null };

export function issuerMaySpeakFor(limit: SubjectLimit, subjectId: string): boolean {
  if (limit.allowed.length === 0 && limit.prefix === null) return true;
  return limit.allowed.includes(subjectId) || (limit.prefix !== null && subjectId.startsWith(limit.prefix));
}

export interface TrustedIssuerRecord {
  issuer: string;
  jwksUri: string | null;
  jwks: { keys: unknown[] } | null;
  audience: string;
  kind: IssuerKind;
  subjectClaim: string;
  algorithms: string[];
  subjects: SubjectLimit;
}

/** The audit reason of a token whose issuer may not speak for the subject it names. */
export const ISSUER_SUBJECT_NOT_ALLOWED = 'issuer_subject_not_allowed';

export interface TrustedIssuerDeps {
  findIssuer(iss: string, kind: IssuerKind): Promise<TrustedIssuerRecord | null>;
  keysFor(issuer: TrustedIssuerRecord): JWTVerifyGetKey;
  clockSkewSeconds: number;
  /** Deputy's ISSUER: its tokens are never accepted on this path, whatever issuer rows exist. */
  ownIssuer: string;
}

export interface TrustedIssuerToken {
  subjectId: string;
  exp: number;
  /** `iat`, required and checked to be in the past (whole seconds). */
  iat: number;
  issuer: string;
  /** `may_act.sub` (RFC 8693 §4.4): the only actor this token may be exchanged for, if set. */
  mayActSub: string | null;
  /** The verified claims, without `act`: an external token's `act` is never a Deputy chain. */
  claims: Record<string, unknown>;
}

const LABEL: Record<IssuerKind, string> = { user: 'subject token', workload: 'actor token' };

export async function verifyTrustedIssuerToken(
  token: string,
  deps: TrustedIssuerDeps,
  now: Date,
  kind: IssuerKind = 'user',
): Promise<TrustedIssuerToken> {
  const label = LABEL[kind];
  const { header, payload } = inspectJwt(token, label);

  const iss = payload.iss;
  if (typeof iss !== 'string' || iss.length === 0) throw invalidRequest(`${label} has no issuer`);
  // Before any lookup or key work: an access token (Deputy's or anyone's, RFC 9068) is not an
  // identity assertion, and a Deputy token here would shed its chain and kill switches.
  if (isAccessTokenTyp(header.typ)) throw invalidRequest(`an access token is not accepted as ${label}`, 'typ at+jwt');
  if (isOwnIssuer(iss, deps.ownIssuer)) throw invalidRequest(`a Deputy token is not accepted as ${label}`, 'iss is Deputy');
  const record = await deps.findIssuer(iss, kind);
  if (!record || record.kind !== kind || record.issuer !== iss) {
    throw invalidRequest('untrusted issuer', `no trusted ${kind} issuer for the token's iss`);
  }
  const algorithms = record.algorithms.filter((alg) => !isForbiddenAlgorithm(alg));
  assertAlgorithmAllowed(header, algorithms, label);

  let claims: Record<string, unknown>;
  try {
    ({ payload: claims } = await verifyJwt(token, deps.keysFor(record), {
      issuer: record.issuer,
      audience: record.audience,
      algorithms,
      clockTolerance: deps.clockSkewSeconds,
      currentDate: now,
      requiredClaims: ['exp', 'iat'],
    }));
  } catch (error) {
    throw verificationError(error, label);
  }
  assertIssuedInPast(claims.iat, epochSeconds(now), deps.clockSkewSeconds, label);

  const subjectId = claims[record.subjectClaim || 'sub'];
  if (typeof subjectId !== 'string' || subjectId.length === 0) {
    throw invalidRequest(`${label} has no usable subject`, `claim ${record.subjectClaim} missing or not a string`);
  }
  if (!issuerMaySpeakFor(record.subjects, subjectId)) {
    throw invalidRequest(`the ${label}'s issuer may not speak for this subject`, ISSUER_SUBJECT_NOT_ALLOWED);
  }
  const { act: _ignoredAct, ...withoutAct } = claims;
  return {
    subjectId,
    exp: claims.exp as number,
    iat: claims.iat as number,
    issuer: record.issuer,
    mayActSub: mayActSubject(claims.may_act, label),
    claims: withoutAct,
  };
}

/** A malformed `may_act` is refused rather than ignored: ignoring it would widen who may act. */
function mayActSubject(mayAct: unknown, label: string): string | null {
  if (mayAct === undefined) return null;
  if (typeof mayAct === 'object' && mayAct !== null && !Array.isArray(mayAct)) {
    const sub = (mayAct as Record<string, unknown>).sub;
    if (typeof sub === 'string' && sub.length > 0) return sub;
  }
  throw invalidRequest(`${label} has an unusable may_act claim`);
}
