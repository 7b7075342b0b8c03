/**
 * What an upstream Security Event Token (from a trusted issuer Deputy receives from) asks Deputy
 * to do: pure decisions over the verified claims, no I/O.
 *
 * - CAEP session-revoked: the subject's Deputy tokens issued at or before the event are revoked.
 * - RISC account-disabled: the subject is disabled (its tokens become inactive, final).
 * - SSF verification and anything else: acknowledged, nothing changes.
 *
 * The subject is named by `sub_id` (SSF 1.0 §3: `iss_sub`, `email`, `opaque`), top level or in
 * the event (CAEP's older `subject`). Only identifiers that name a Deputy subject the way the
 * trusted issuer's tokens do count: `iss_sub` with the issuer's own `iss` and `opaque` when the
 * issuer's subject claim is `sub`, `email` when it is `email` (or by the subjects' email).
 */
import { ACCOUNT_DISABLED, SESSION_REVOKED, VERIFICATION } from './events.js';

export type SubjectReference = { kind: 'id'; value: string } | { kind: 'email'; value: string };

export type UpstreamAction =
  | { action: 'revoke_sessions'; subject: SubjectReference; before: number; eventType: string }
  | { action: 'disable_subject'; subject: SubjectReference; eventType: string }
  | { action: 'none'; eventType: string; why: string };

export interface UpstreamIssuer {
  issuer: string;
  subjectClaim: string;
}

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);
const nonEmpty = (value: unknown): value is string => typeof value === 'string' && value.length > 0 && value.length <= 2048;

export function subjectReference(subId: unknown, issuer: UpstreamIssuer): SubjectReference | null {
  if (!isObject(subId)) return null;
  const claim = issuer.subjectClaim || 'sub';
  switch (subId.format) {
    case 'iss_sub':
      return subId.iss === issuer.issuer && nonEmpty(subId.sub) && claim === 'sub' ? { kind: 'id', value: subId.sub } : null;
    case 'opaque':
      return nonEmpty(subId.id) && claim === 'sub' ? { kind: 'id', value: subId.id } : null;
    case 'email':
      if (!nonEmpty(subId.email)) return null;
      return claim === 'email' ? { kind: 'id', value: subId.email } : { kind: 'email', value: subId.email.toLowerCase() };
    default:
      return null;
  }
}

/** The one action of a verified SET (RFC 8417 §2.2 lets a SET carry one event in practice; the first recognised one is taken). */
export function upstreamAction(claims: Record<string, unknown>, issuer: UpstreamIssuer): UpstreamAction {
  const events = claims.events;
  if (!isObject(events) || Object.keys(events).length === 0) return { action: 'none', eventType: '', why: 'no events' };
  for (const [eventType, body] of Object.entries(events)) {
    if (eventType !== SESSION_REVOKED && eventType !== ACCOUNT_DISABLED) continue;
    const event = isObject(body) ? body : {};
    const subject = subjectReference(claims.sub_id ?? event.subject ?? event.sub_id, issuer);
    if (!subject) return { action: 'none', eventType, why: 'subject not recognised' };
    if (eventType === ACCOUNT_DISABLED) return { action: 'disable_subject', subject, eventType };
    const at = typeof event.event_timestamp === 'number' ? event.event_timestamp : typeof claims.iat === 'number' ? claims.iat : null;
    if (at === null || !Number.isFinite(at)) return { action: 'none', eventType, why: 'no event time' };
    return { action: 'revoke_sessions', subject, before: Math.floor(at), eventType };
  }
  const first = Object.keys(events)[0]!;
  return { action: 'none', eventType: first, why: first === VERIFICATION ? 'verification' : 'event type not acted on' };
}
