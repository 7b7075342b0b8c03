/**
 * What `deputy tokens inspect` concludes about a token, as pure functions of what it fetched:
 * the `act` chain (RFC 8693 §4.1: the current actor outermost) and, from the admin API's
 * records, every reason the token is no longer active — the rules introspection applies
 * (src/oauth/token-status.ts), except ancestor tokens, which the admin API does not expose.
 */
import type { components } from './generated/admin-api.js';

type Schemas = components['schemas'];

const MAX_CHAIN = 32;

/** The actors of a token's `act` claim, oldest first (the one acting now last). */
export function actChain(claims: Record<string, unknown>): string[] {
  const newestFirst: string[] = [];
  let act = claims.act;
  while (act && typeof act === 'object' && newestFirst.length < MAX_CHAIN) {
    const { sub, act: inner } = act as { sub?: unknown; act?: unknown };
    newestFirst.push(typeof sub === 'string' ? sub : '?');
    act = inner;
  }
  return newestFirst.reverse();
}

/** person → actor → … as an indented tree; the actor acting now is marked. */
export function drawChain(subject: string, actors: string[]): string[] {
  const lines = [`${subject} (subject)`];
  actors.forEach((actor, index) => {
    const marker = index === actors.length - 1 ? '  ← acting' : '';
    lines.push(`${'   '.repeat(index)}└─ ${actor}${marker}`);
  });
  return lines;
}

export interface RecordFacts {
  token: Schemas['Token'];
  grants: Schemas['Grant'][];
  subject?: Schemas['Subject'];
  actors: Schemas['Actor'][];
}

const passed = (time: string | null | undefined, now: Date) => time !== null && time !== undefined && Date.parse(time) <= now.getTime();

/** Every reason, found in the records, that the token is not active now (empty: none found). */
export function inactiveReasons(facts: RecordFacts, now: Date): string[] {
  const reasons: string[] = [];
  const { token } = facts;
  if (token.revoked_at) reasons.push(`the token was revoked at ${token.revoked_at}`);
  if (passed(token.expires_at, now)) reasons.push(`the token expired at ${token.expires_at}`);
  for (const grant of facts.grants) {
    if (grant.revoked_at) reasons.push(`grant ${grant.id} (${grant.subject} → ${grant.actor}) was revoked at ${grant.revoked_at}${grant.revoked_by ? ` by ${grant.revoked_by}` : ''}`);
    else if (passed(grant.expires_at, now)) reasons.push(`grant ${grant.id} expired at ${grant.expires_at}`);
  }
  if (facts.subject?.status === 'disabled') reasons.push(`subject ${facts.subject.id} is disabled`);
  for (const actor of facts.actors) {
    if (actor.status === 'disabled') reasons.push(`actor ${actor.id} is disabled`);
    else if (passed(actor.expires_at, now)) reasons.push(`actor ${actor.id} expired at ${actor.expires_at}`);
  }
  return reasons;
}
