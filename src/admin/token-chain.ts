/**
 * Why an issued token is inactive: whether it is active is introspection's own answer, the SQL
 * predicate deputy_token_is_live (migrations/functions/liveness.sql); this spells out its
 * conditions one by one so an admin sees which link of the chain broke. Pure: the caller reads
 * the facts.
 */

export interface ChainFacts {
  revokedAt: Date | null;
  expiresAt: Date;
  /** `disabledSinceIssued`: disabled at or after the token was issued, even if active again (a kill switch is final). */
  subject: { id: string; status: string; disabledSinceIssued: boolean } | null;
  subjectId: string;
  /** The chain's actors in order, as recorded on the token. */
  actorIds: string[];
  actors: Array<{ id: string; status: string; expiresAt: Date | null; disabledSinceIssued: boolean }>;
  grantIds: string[];
  grants: Array<{ id: string; actorId: string; scopes: string[]; expiresAt: Date | null; revokedAt: Date | null }>;
  ancestors: Array<{ jti: string; revokedAt: Date | null }>;
}

export type InactiveCode =
  | 'token_revoked'
  | 'token_expired'
  | 'grant_revoked'
  | 'grant_expired'
  | 'grant_missing'
  | 'subject_disabled'
  | 'subject_disabled_since_issued'
  | 'actor_disabled'
  | 'actor_disabled_since_issued'
  | 'actor_expired'
  | 'ancestor_revoked';

export interface InactiveReason {
  code: InactiveCode;
  message: string;
}

const passed = (at: Date | null, now: Date) => at !== null && at.getTime() <= now.getTime();

export function inactiveReasons(facts: ChainFacts, now: Date): InactiveReason[] {
  const reasons: InactiveReason[] = [];
  if (facts.revokedAt) reasons.push({ code: 'token_revoked', message: 'the token was revoked' });
  if (passed(facts.expiresAt, now)) reasons.push({ code: 'token_expired', message: 'the token has expired' });
  for (const ancestor of facts.ancestors) {
    if (ancestor.revokedAt) reasons.push({ code: 'ancestor_revoked', message: `the token it was exchanged from (${ancestor.jti}) was revoked` });
  }
  if (facts.subject?.status !== 'active') reasons.push({ code: 'subject_disabled', message: `the subject ${facts.subjectId} is disabled or deleted` });
  else if (facts.subject.disabledSinceIssued) {
    reasons.push({ code: 'subject_disabled_since_issued', message: `the subject ${facts.subjectId} was disabled after this token was issued (re-enabling does not revive it)` });
  }
  const actors = new Map(facts.actors.map((actor) => [actor.id, actor]));
  for (const id of facts.actorIds) {
    const actor = actors.get(id);
    if (!actor || actor.status !== 'active') reasons.push({ code: 'actor_disabled', message: `the actor ${id} is disabled` });
    else if (actor.disabledSinceIssued) {
      reasons.push({ code: 'actor_disabled_since_issued', message: `the actor ${id} was disabled after this token was issued (re-enabling does not revive it)` });
    } else if (passed(actor.expiresAt, now)) reasons.push({ code: 'actor_expired', message: `the actor ${id} has expired` });
  }
  const grants = new Map(facts.grants.map((grant) => [grant.id, grant]));
  for (const id of facts.grantIds) {
    const grant = grants.get(id);
    if (!grant) reasons.push({ code: 'grant_missing', message: `the grant ${id} no longer exists` });
    else if (grant.revokedAt) reasons.push({ code: 'grant_revoked', message: `the grant ${id} (${grant.actorId}) was revoked` });
    else if (passed(grant.expiresAt, now)) reasons.push({ code: 'grant_expired', message: `the grant ${id} (${grant.actorId}) has expired` });
  }
  return reasons;
}
