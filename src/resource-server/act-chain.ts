/**
 * The delegation chain of a Deputy token and the policies an API states on it. Pure: no I/O.
 *
 * RFC 8693 §4.1: the outermost `act` is the current actor, each nested `act` the one before it.
 * `chainOf` returns the actor ids in that order: chain[0] is the actor calling now, the last is
 * the first actor the subject delegated to.
 */

export interface ActClaim {
  sub: string;
  act?: ActClaim;
  [claim: string]: unknown;
}

/** Deeper than any chain Deputy mints; bounds the walk of a hostile claim. */
const MAX_DEPTH = 32;

/** The actor ids of an `act` claim, outermost (current actor) first; null when the claim is malformed. */
export function chainOf(act: unknown): string[] | null {
  const chain: string[] = [];
  let node = act;
  while (node !== undefined) {
    if (typeof node !== 'object' || node === null || Array.isArray(node)) return null;
    const { sub, act: inner } = node as { sub?: unknown; act?: unknown };
    if (typeof sub !== 'string' || sub.length === 0) return null;
    chain.push(sub);
    if (chain.length > MAX_DEPTH) return null;
    node = inner;
  }
  return chain;
}

export interface ChainPolicy {
  /** The most actors the chain may have (1 = the subject delegated straight to the caller). */
  maxHops?: number;
  /** Whether a token without `act` (no delegation) is refused. */
  requireActor?: boolean;
  /** The current actor (outermost) must be one of these. */
  allowedActors?: readonly string[];
  /** Every actor of the chain must be one of these. */
  allowedInChain?: readonly string[];
  /** No actor of the chain may be one of these. */
  forbiddenActors?: readonly string[];
  /** The subject must be one of these. */
  allowedSubjects?: readonly string[];
  /** The token must carry every one of these scopes (refused as insufficient_scope). */
  scopes?: readonly string[];
}

export type ChainVerdict =
  | { allowed: true }
  | { allowed: false; error: 'insufficient_scope'; description: string; scope: readonly string[] };

export interface ChainFacts {
  subject: string;
  /** Outermost first. */
  chain: readonly string[];
  scopes: readonly string[];
}

const refuse = (description: string, scope: readonly string[] = []): ChainVerdict => ({ allowed: false, error: 'insufficient_scope', description, scope });

/**
 * Whether a token's facts satisfy a policy. A refusal is `insufficient_scope` (RFC 6750 §3.1:
 * the token is valid but does not grant this operation); the description names the rule.
 */
export function checkChain(facts: ChainFacts, policy: ChainPolicy): ChainVerdict {
  const missing = (policy.scopes ?? []).filter((scope) => !facts.scopes.includes(scope));
  if (missing.length) return refuse(`the token lacks the scope ${missing.join(' ')}`, policy.scopes);
  if (policy.allowedSubjects && !policy.allowedSubjects.includes(facts.subject)) return refuse('this subject may not perform this operation');
  if (policy.requireActor && facts.chain.length === 0) return refuse('this operation requires a delegated token (act)');
  if (policy.maxHops !== undefined && facts.chain.length > policy.maxHops) {
    return refuse(`the delegation chain has ${facts.chain.length} actors, more than ${policy.maxHops}`);
  }
  if (policy.allowedActors && (facts.chain.length === 0 || !policy.allowedActors.includes(facts.chain[0]!))) {
    return refuse('the current actor may not perform this operation');
  }
  if (policy.allowedInChain && !facts.chain.every((actor) => policy.allowedInChain!.includes(actor))) {
    return refuse('an actor of the delegation chain may not perform this operation');
  }
  if (policy.forbiddenActors && facts.chain.some((actor) => policy.forbiddenActors!.includes(actor))) {
    return refuse('an actor of the delegation chain may not perform this operation');
  }
  return { allowed: true };
}
