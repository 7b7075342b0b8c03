/**
 * What an approval creates (pure, `now` is an input): the delegation grant a person's "yes"
 * turns into. The person may narrow the request (fewer scopes, a shorter time), never widen it;
 * the grant carries only scopes the person is entitled to right now; a grant that carries a
 * scope the resource marks as requiring approval is just-in-time: it lives at most
 * APPROVAL_GRANT_TTL and cannot be chained beyond its actor (src/token-exchange/decide.ts).
 */

export interface ApprovalAnswer {
  /** The scopes the person approves; must be a subset of the requested ones. */
  scopes: readonly string[];
  /** Seconds; at most the requested duration. */
  durationSeconds: number;
}

export interface ApprovalContext {
  now: number;
  requestedScopes: readonly string[];
  requestedDurationSeconds: number;
  /** The person's live entitlements on the resource (scopes that are unexpired now). */
  entitledScopes: readonly string[];
  /** The resource's scopes that only a just-in-time grant carries. */
  approvalScopes: readonly string[];
  /** APPROVAL_GRANT_TTL, seconds. */
  justInTimeTtl: number;
}

export type GrantPlan =
  | { ok: true; scopes: string[]; justInTime: boolean; expiresAt: number; notEntitled: string[] }
  | { ok: false; reason: 'scope_not_requested' | 'duration_not_allowed' | 'nothing_to_grant'; notEntitled: string[] };

export function planApprovedGrant(answer: ApprovalAnswer, context: ApprovalContext): GrantPlan {
  const scopes = [...new Set(answer.scopes)];
  const entitled = new Set(context.entitledScopes);
  const notEntitled = scopes.filter((scope) => !entitled.has(scope));
  if (!scopes.every((scope) => context.requestedScopes.includes(scope))) return { ok: false, reason: 'scope_not_requested', notEntitled };
  const duration = answer.durationSeconds;
  if (!Number.isSafeInteger(duration) || !(duration > 0) || !(duration <= context.requestedDurationSeconds)) {
    return { ok: false, reason: 'duration_not_allowed', notEntitled };
  }
  const granted = scopes.filter((scope) => entitled.has(scope));
  if (granted.length === 0) return { ok: false, reason: 'nothing_to_grant', notEntitled };
  const justInTime = granted.some((scope) => context.approvalScopes.includes(scope));
  const lifetime = justInTime ? Math.min(duration, context.justInTimeTtl) : duration;
  return { ok: true, scopes: granted, justInTime, expiresAt: context.now + lifetime, notEntitled };
}
