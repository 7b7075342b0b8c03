/**
 * Security Event Tokens (RFC 8417) from Deputy's SSF transmitter: the signature against
 * Deputy's /jwks, `typ` secevent+jwt, iss and aud; then what the event says, as data.
 */
import { jwtVerify, type JWTVerifyGetKey } from 'jose';

export const SESSION_REVOKED = 'https://schemas.openid.net/secevent/caep/event-type/session-revoked';
export const VERIFICATION = 'https://schemas.openid.net/secevent/ssf/event-type/verification';

export type SecurityEvent =
  /** An access token revoked: refuse `jti` until `tokenExp` (unix s; null when the SET does not say). */
  | { kind: 'token-revoked'; setJti: string; jti: string; tokenExp: number | null; reason: string | null }
  | { kind: 'verification'; setJti: string; streamId: string | null; state: string | null }
  /** Any other event type: acknowledged, ignored. */
  | { kind: 'other'; setJti: string; types: string[] };

/** A SET refused, with the RFC 8935 §2.4 error code to answer. */
export class SetError extends Error {
  constructor(readonly err: 'invalid_request' | 'invalid_key' | 'invalid_issuer' | 'invalid_audience', readonly description: string) {
    super(description);
    this.name = 'SetError';
  }
}

export interface SetOptions {
  issuer: string;
  audience: string | readonly string[];
  keys: JWTVerifyGetKey;
  algorithms: readonly string[];
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

export async function verifySecurityEvent(set: string, options: SetOptions): Promise<SecurityEvent> {
  let payload;
  try {
    ({ payload } = await jwtVerify(set, options.keys, {
      issuer: options.issuer,
      audience: typeof options.audience === 'string' ? options.audience : [...options.audience],
      algorithms: [...options.algorithms],
      typ: 'secevent+jwt',
      requiredClaims: ['jti', 'iat'],
    }));
  } catch (error) {
    const claim = (error as { claim?: string }).claim;
    if (claim === 'iss') throw new SetError('invalid_issuer', 'the SET is from another issuer');
    if (claim === 'aud') throw new SetError('invalid_audience', 'the SET is for another audience');
    const code = (error as { code?: string }).code;
    if (code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' || code === 'ERR_JWKS_NO_MATCHING_KEY') throw new SetError('invalid_key', 'the SET signature does not verify');
    throw new SetError('invalid_request', 'the SET is malformed or not a secevent+jwt');
  }
  const setJti = payload.jti!;
  const events = payload.events;
  if (!isObject(events) || Object.keys(events).length === 0) throw new SetError('invalid_request', 'the SET has no events');
  const subId = payload.sub_id;

  const revoked = events[SESSION_REVOKED];
  if (revoked !== undefined) {
    if (!isObject(revoked) || !isObject(subId) || subId.format !== 'jwt_id' || typeof subId.jti !== 'string' || !subId.jti) {
      throw new SetError('invalid_request', 'a session-revoked SET must name the token by sub_id {format: jwt_id}');
    }
    if (subId.iss !== undefined && subId.iss !== options.issuer) throw new SetError('invalid_request', "the revoked token is not this issuer's");
    const tokenExp = typeof revoked.token_exp === 'number' && Number.isFinite(revoked.token_exp) ? revoked.token_exp : null;
    const reasonAdmin = isObject(revoked.reason_admin) && typeof revoked.reason_admin.en === 'string' ? revoked.reason_admin.en : null;
    return { kind: 'token-revoked', setJti, jti: subId.jti, tokenExp, reason: reasonAdmin };
  }
  const verification = events[VERIFICATION];
  if (verification !== undefined) {
    const state = isObject(verification) && typeof verification.state === 'string' ? verification.state : null;
    const streamId = isObject(subId) && typeof subId.id === 'string' ? subId.id : null;
    return { kind: 'verification', setJti, streamId, state };
  }
  return { kind: 'other', setJti, types: Object.keys(events) };
}
