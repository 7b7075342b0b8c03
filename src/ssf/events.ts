/**
 * The Security Event Tokens Deputy transmits (RFC 8417, OpenID SSF 1.0, CAEP 1.0): built from an
 * outbox row and signed with Deputy's current signing key at delivery time.
 */
import type { SigningKey } from '../keys/key-ring.js';
import { signJwt } from '../jose/jwt-signer.js';

export const SESSION_REVOKED = 'https://schemas.openid.net/secevent/caep/event-type/session-revoked';
export const VERIFICATION = 'https://schemas.openid.net/secevent/ssf/event-type/verification';
export const ACCOUNT_DISABLED = 'https://schemas.openid.net/secevent/risc/event-type/account-disabled';
export const CREDENTIAL_CHANGE = 'https://schemas.openid.net/secevent/caep/event-type/credential-change';

/** The event types a receiver may request (verification events are always delivered). */
export const EVENTS_SUPPORTED = [SESSION_REVOKED] as const;

export const PUSH_METHOD = 'urn:ietf:rfc:8935';
export const POLL_METHOD = 'urn:ietf:rfc:8936';

export type InitiatingEntity = 'admin' | 'user' | 'policy' | 'system';

/** Who caused a revocation, by its reason (CAEP `initiating_entity`). */
export function initiatingEntity(reason: string): InitiatingEntity {
  switch (reason) {
    case 'rfc7009':
    case 'idp_token_revoked':
      return 'user';
    case 'admin':
    case 'grant_revoked':
    case 'actor_disabled':
    case 'subject_disabled':
      return 'admin';
    case 'entitlement_withdrawn':
    case 'ancestor_revoked':
      return 'policy';
    default:
      return 'system';
  }
}

export interface OutboxEvent {
  jti: string;
  eventType: string;
  subject: Record<string, unknown>;
  payload: Record<string, unknown>;
  createdAt: Date;
}

/** The SET's claims: `aud` is a string when the stream has one audience. */
export function setClaims(event: OutboxEvent, issuer: string, audience: string[]): Record<string, unknown> {
  const subId = event.subject.format === 'jwt_id' ? { format: 'jwt_id', iss: issuer, jti: event.subject.jti } : event.subject;
  let body: Record<string, unknown>;
  if (event.eventType === SESSION_REVOKED) {
    const reason = String(event.payload.reason ?? 'revoked');
    body = {
      event_timestamp: event.payload.event_timestamp,
      reason_admin: { en: reason },
      initiating_entity: initiatingEntity(reason),
      token_exp: event.payload.token_exp,
    };
  } else {
    body = { ...event.payload };
  }
  return {
    iss: issuer,
    aud: audience.length === 1 ? audience[0] : audience,
    jti: event.jti,
    iat: Math.floor(event.createdAt.getTime() / 1000),
    sub_id: subId,
    events: { [event.eventType]: body },
  };
}

export function signSet(key: SigningKey, event: OutboxEvent, issuer: string, audience: string[]): string {
  return signJwt(key, { typ: 'secevent+jwt' }, setClaims(event, issuer, audience));
}
