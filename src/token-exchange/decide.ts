/**
 * The exchange decision (docs/token-endpoint.md, "The decision"): given the verified tokens and
 * the live rows, may this actor get a token for this subject on this resource, with which
 * scopes, until when?
 *
 * Pure: no I/O, no clock (`now` is an input). Checks run in a fixed order and the first failure
 * wins. Every time comparison is written so that a NaN fails closed (`!(exp > now)`).
 */
import type {
  ActClaim,
  Decision,
  DecisionInput,
  DroppedReason,
  DroppedScope,
  ExchangeDecision,
  ExchangeDecisionInput,
  LiveActor,
  LiveGrant,
  ParentTokenRefusal,
  PresentedActorRefusal,
  RefusalError,
  RefusalReason,
  RefusedExchange,
  SubjectTokenFacts,
} from './decision-types.js';

export type * from './decision-types.js';

const REFUSALS: Record<RefusalReason, { error: RefusalError; description: string }> = {
  unknown_resource: { error: 'invalid_target', description: 'The requested resource is not registered.' },
  chain_resource_mismatch: {
    error: 'invalid_target',
    description: 'A delegated token can only be exchanged for the same resource.',
  },
  resource_not_allowed_for_actor: {
    error: 'invalid_target',
    description: 'The actor is not allowed to target the requested resource.',
  },
  // RFC 8693 §2.2.2: the subject token is unacceptable without proof of its key (as oidc-provider
  // refuses a DPoP-bound refresh token, RFC 9449 §5, with invalid_grant). Not invalid_dpop_proof:
  // the proof, when there is one, is valid — it is just not the key the token is bound to.
  dpop_proof_required: {
    error: 'invalid_request',
    description: 'The subject token is DPoP-bound: send a DPoP proof of its key.',
  },
  dpop_key_mismatch: {
    error: 'invalid_request',
    description: 'The subject token is DPoP-bound to another key.',
  },
  subject_token_expired: { error: 'invalid_request', description: 'The subject token has expired.' },
  subject_unknown: { error: 'invalid_request', description: 'The subject is unknown.' },
  subject_mismatch: { error: 'invalid_request', description: 'The subject is unknown.' },
  subject_disabled: { error: 'invalid_request', description: 'The subject is not active.' },
  subject_disabled_since_issued: {
    error: 'invalid_request',
    description: 'The subject token is no longer active.',
  },
  actor_unknown: { error: 'invalid_request', description: 'The actor is unknown.' },
  actor_mismatch: { error: 'invalid_request', description: 'The actor is unknown.' },
  actor_disabled: { error: 'invalid_request', description: 'The actor is not active.' },
  actor_expired: { error: 'invalid_request', description: 'The actor has expired.' },
  may_act_mismatch: {
    error: 'invalid_request',
    description: 'The subject token does not allow this actor to act for it.',
  },
  chain_malformed: { error: 'invalid_request', description: 'The subject token describes an invalid delegation chain.' },
  chain_actor_inactive: {
    error: 'invalid_request',
    description: 'An actor in the delegation chain is no longer active.',
  },
  chain_grant_inactive: {
    error: 'invalid_request',
    description: 'A delegation grant in the chain is no longer active.',
  },
  chain_too_deep: { error: 'invalid_request', description: 'The delegation chain would be too deep.' },
  chain_cycle: { error: 'invalid_request', description: 'An actor may appear only once in a delegation chain.' },
  delegation_not_allowed: {
    error: 'invalid_request',
    description: 'The previous actor may not delegate to this actor.',
  },
  no_active_grant: {
    error: 'invalid_request',
    description: 'There is no active delegation grant from the subject to the actor for this resource.',
  },
  lifetime_exhausted: {
    error: 'invalid_request',
    description: 'No token can be issued: something it depends on expires now.',
  },
  empty_scope: { error: 'invalid_scope', description: 'None of the requested scopes can be granted.' },
};

function refuse(reason: RefusalReason, dropped: DroppedScope[] = []): Decision {
  return { granted: false, reason, ...REFUSALS[reason], dropped };
}

/** True when `expiresAt` is absent or still ahead of `now`. */
function unexpired(expiresAt: number | null, now: number): boolean {
  return expiresAt === null || expiresAt > now;
}

function isActiveActor(actor: LiveActor, now: number): boolean {
  return actor.status === 'active' && unexpired(actor.expiresAt, now);
}

/**
 * A kill switch is final for the tokens issued before it: true when the row was disabled at or
 * after a Deputy token's `issuedAt`, even if it is active again.
 */
function disabledSince(disabledAt: number | null, issuedAt: number | null): boolean {
  return issuedAt !== null && disabledAt !== null && !(disabledAt < issuedAt);
}

/**
 * The subject's kill switch for the token in hand. A Deputy token is judged by its record's
 * millisecond issue time. An external token only has its `iat` in whole seconds: one issued in
 * the very second of the disable cannot be told apart from one issued just after it, and is
 * accepted (a one-second window); one without an issue time is refused (fail closed).
 */
function subjectDisabledSinceIssued(disabledAt: number | null, token: SubjectTokenFacts): boolean {
  if (disabledAt === null) return false;
  if (token.issuedAt !== null) return disabledSince(disabledAt, token.issuedAt);
  const iat = token.externalIssuedAt;
  return !(iat !== null && iat >= Math.floor(disabledAt));
}

function isActiveGrant(grant: LiveGrant, now: number): boolean {
  return grant.revokedAt === null && unexpired(grant.expiresAt, now);
}

function dedupe(values: readonly string[]): string[] {
  return [...new Set(values)];
}

interface LiveChain {
  actors: LiveActor[];
  grants: LiveGrant[];
}

/** Rule 5: the parent chain re-checked live, and the new hop checked against it. */
function checkChain(input: DecisionInput): RefusalReason | LiveChain {
  const { now, actorId, subjectToken: token, live } = input;
  const { chain, chainGrantIds } = token;

  // A Deputy token always names its chain, its grants (one per hop), its audience and its
  // scopes; an external token names none of these. Anything in between cannot be trusted, and
  // a chain without parent scopes would escape the "a chain only narrows" rule.
  const isChain = chain.length > 0;
  if (isChain !== (token.audience !== null) || (isChain && token.scopes === null) || chainGrantIds.length !== chain.length) {
    return 'chain_malformed';
  }

  const actors: LiveActor[] = [];
  for (const id of chain) {
    const rows = live.chainActors.filter((a) => a.id === id);
    if (rows.length === 0 || !rows.every((a) => isActiveActor(a, now) && !disabledSince(a.disabledAt, token.issuedAt))) {
      return 'chain_actor_inactive';
    }
    actors.push(...rows);
  }
  const grants: LiveGrant[] = [];
  for (const [hop, id] of chainGrantIds.entries()) {
    const rows = live.chainGrants.filter((g) => g.id === id);
    if (rows.length === 0 || !rows.every((g) => isActiveGrant(g, now))) return 'chain_grant_inactive';
    // Hop n relied on the subject's grant to the n-th actor.
    if (!rows.every((g) => g.actorId === chain[hop])) return 'chain_malformed';
    grants.push(...rows);
  }
  // A just-in-time grant was approved for its actor only: its tokens are not delegated further.
  if (grants.some((g) => g.justInTime === true)) return 'delegation_not_allowed';

  const newChain = [...chain, actorId];
  if (!(newChain.length <= input.limits.maxDelegationDepth)) return 'chain_too_deep';
  if (new Set(newChain).size !== newChain.length) return 'chain_cycle';
  const previous = chain.at(-1);
  if (previous !== undefined) {
    const previousRows = actors.filter((a) => a.id === previous);
    if (!previousRows.every((a) => a.mayDelegateTo.includes(actorId))) return 'delegation_not_allowed';
  }
  return { actors, grants };
}

interface ScopeOutcome {
  kept: string[];
  dropped: DroppedScope[];
}

/** Rule 7: the effective scope under one grant; each dropped scope gets its first failing set. */
function effectiveScope(input: DecisionInput, actor: LiveActor, grant: LiveGrant): ScopeOutcome {
  const { now, live, subjectToken } = input;
  const resourceScopes = live.resource?.scopes ?? [];
  const approvalScopes = live.resource?.approvalScopes ?? [];
  const entitled = new Set(live.entitlements.filter((e) => unexpired(e.expiresAt, now)).map((e) => e.scope));
  const parentScopes = subjectToken.scopes;
  const checks: ReadonlyArray<readonly [DroppedReason, (scope: string) => boolean]> = [
    ['unknown_to_resource', (s) => resourceScopes.includes(s)],
    ['no_entitlement', (s) => entitled.has(s)],
    // Step-up: only a just-in-time grant from an approval carries a scope requiring approval.
    ['approval_required', (s) => grant.justInTime === true || !approvalScopes.includes(s)],
    ['not_delegated', (s) => grant.scopes.includes(s)],
    ['above_actor_ceiling', (s) => actor.scopeCeiling.includes(s)],
    ['not_in_parent_token', (s) => parentScopes === null || parentScopes.includes(s)],
  ];

  const kept: string[] = [];
  const dropped: DroppedScope[] = [];
  for (const scope of dedupe(input.requestedScopes ?? grant.scopes)) {
    const failed = checks.find(([, holds]) => !holds(scope));
    if (failed) dropped.push({ scope, reason: failed[0] });
    else kept.push(scope);
  }
  return { kept, dropped };
}

/** null (never expires) sorts as the latest. */
function laterExpiry(a: number | null, b: number | null): number {
  if (a === b) return 0;
  if (a === null) return -1;
  if (b === null) return 1;
  return b - a;
}

/** Rule 6 tie-break: largest effective scope, then latest expiry, then smallest id. */
function compareCandidates(a: { grant: LiveGrant; outcome: ScopeOutcome }, b: typeof a): number {
  return (
    b.outcome.kept.length - a.outcome.kept.length ||
    laterExpiry(a.grant.expiresAt, b.grant.expiresAt) ||
    // Code-unit order, not localeCompare: the choice must not depend on the host's locale.
    (a.grant.id < b.grant.id ? -1 : a.grant.id > b.grant.id ? 1 : 0)
  );
}

/**
 * When a scope is backed by several live entitlement rows, the subject holds it until the
 * last of them expires; null means one of them never does.
 */
function entitlementExpiry(input: DecisionInput, scope: string): number | null {
  const rows = input.live.entitlements.filter((e) => e.scope === scope && unexpired(e.expiresAt, input.now));
  if (rows.some((e) => e.expiresAt === null)) return null;
  return Math.max(...rows.map((e) => e.expiresAt as number));
}

function nestedAct(actorIds: readonly string[]): ActClaim {
  const [first, ...rest] = actorIds as [string, ...string[]];
  return rest.reduce<ActClaim>((inner, sub) => ({ sub, act: inner }), { sub: first });
}

export function decide(input: DecisionInput): Decision {
  const { now, actorId, subjectToken: token, live } = input;

  // 0. Proof of possession: a DPoP-bound subject token is usable only with a proof of its key,
  // so its child stays bound to that key (RFC 9449; SECURITY.md, review item 2).
  if (token.boundJkt !== null) {
    if (input.dpopJkt === null) return refuse('dpop_proof_required');
    if (input.dpopJkt !== token.boundJkt) return refuse('dpop_key_mismatch');
  }

  // 1. The target.
  const resource = live.resource;
  if (resource === null || resource.uri !== input.requestedResource) return refuse('unknown_resource');
  if (token.audience !== null && token.audience !== input.requestedResource) return refuse('chain_resource_mismatch');

  // 2. The subject.
  if (!(token.exp > now)) return refuse('subject_token_expired');
  if (live.subject === null) return refuse('subject_unknown');
  if (live.subject.id !== token.subjectId) return refuse('subject_mismatch');
  if (live.subject.status !== 'active') return refuse('subject_disabled');
  if (subjectDisabledSinceIssued(live.subject.disabledAt, token)) return refuse('subject_disabled_since_issued');

  // 3. The actor.
  const actor = live.actor;
  if (actor === null) return refuse('actor_unknown');
  if (actor.id !== actorId) return refuse('actor_mismatch');
  if (actor.status !== 'active') return refuse('actor_disabled');
  if (!unexpired(actor.expiresAt, now)) return refuse('actor_expired');
  if (!actor.resources.includes(input.requestedResource)) return refuse('resource_not_allowed_for_actor');

  // 4. may_act.
  if (token.mayActSub !== null && token.mayActSub !== actorId) return refuse('may_act_mismatch');

  // 5. The chain.
  const chain = checkChain(input);
  if (typeof chain === 'string') return refuse(chain);

  // 6. The grant.
  const candidates = live.grants
    .filter((g) => g.actorId === actorId && isActiveGrant(g, now))
    .map((grant) => ({ grant, outcome: effectiveScope(input, actor, grant) }))
    .sort(compareCandidates);
  const chosen = candidates[0];
  if (chosen === undefined) return refuse('no_active_grant');
  const { grant, outcome } = chosen;

  // 7. The effective scope.
  if (outcome.kept.length === 0) return refuse('empty_scope', outcome.dropped);

  // 8. The lifetime.
  const bounds = [
    now + input.limits.tokenTtl,
    actor.maxTokenTtl === null ? null : now + actor.maxTokenTtl,
    grant.expiresAt,
    token.exp,
    actor.expiresAt,
    ...outcome.kept.map((scope) => entitlementExpiry(input, scope)),
    ...chain.actors.map((a) => a.expiresAt),
    ...chain.grants.map((g) => g.expiresAt),
  ].filter((bound): bound is number => bound !== null);
  const exp = Math.floor(Math.min(...bounds));
  if (!Number.isSafeInteger(exp) || !(exp > now)) return refuse('lifetime_exhausted', outcome.dropped);

  // 9-10. The token's claims.
  const actorIds = [...token.chain, actorId];
  return {
    granted: true,
    scopes: outcome.kept,
    exp,
    act: nestedAct(actorIds),
    actorIds,
    grantId: grant.id,
    grantIds: [...token.chainGrantIds, grant.id],
    dropped: outcome.dropped,
  };
}

/** Refusals before the decision proper. Their descriptions are the client's, as they always were. */
const EARLY_REFUSALS: Record<PresentedActorRefusal | ParentTokenRefusal, { stage: 'actor' | 'live_facts'; description: string }> = {
  client_not_an_actor: { stage: 'actor', description: 'the client is not registered as an actor; send an actor_token' },
  actor_not_bound_to_client: { stage: 'actor', description: 'the client may not act as this actor' },
  parent_token_unknown: { stage: 'live_facts', description: 'subject token is not active' },
  parent_token_mismatch: { stage: 'live_facts', description: 'subject token is not active' },
  parent_token_revoked: { stage: 'live_facts', description: 'subject token is not active' },
  ancestor_token_revoked: { stage: 'live_facts', description: 'subject token is not active' },
  subject_token_revoked: { stage: 'live_facts', description: 'subject token is not active' },
};

function refuseEarly(reason: keyof typeof EARLY_REFUSALS, actorId: string | null, actorIds: string[] | null): RefusedExchange {
  const { stage, description } = EARLY_REFUSALS[reason];
  return { granted: false, stage, reason, error: 'invalid_request', description, dropped: [], actorId, actorIds };
}

/** The client presents its own actor, or one of the actors it is allowed to present. */
function presentedActorRefusal(input: ExchangeDecisionInput): PresentedActorRefusal | null {
  const { actorId, live } = input;
  if (actorId === null) return 'client_not_an_actor';
  const client = live.client;
  if (client === null || (client.actorId !== actorId && !client.allowedActors.includes(actorId))) return 'actor_not_bound_to_client';
  return null;
}

/**
 * A Deputy subject token counts only through its live record: it must exist, be this token's,
 * name the same subject, and neither it nor any token it was derived from may be revoked. The
 * record, not the token, then says the chain, its grants, audience, scopes, issue time and binding.
 */
function chainedSubject(input: ExchangeDecisionInput): SubjectTokenFacts | ParentTokenRefusal {
  const { subjectToken: subject, parentJti } = input;
  const parent = input.live.parent;
  // The person's IdP token (presented, or the root of the chain) was revoked at Deputy.
  if (input.live.subjectTokenRevoked) return 'subject_token_revoked';
  if (parentJti === null) return parent === null ? subject : 'parent_token_mismatch';
  if (parent === null) return 'parent_token_unknown';
  if (parent.jti !== parentJti || parent.subjectId !== subject.subjectId) return 'parent_token_mismatch';
  if (parent.revoked) return 'parent_token_revoked';
  if (parent.revokedAncestorJtis.length > 0) return 'ancestor_token_revoked';
  return {
    ...subject,
    scopes: parent.scope.split(' ').filter(Boolean),
    chain: parent.actorIds,
    chainGrantIds: parent.grantIds,
    audience: parent.resource,
    exp: Math.min(subject.exp, parent.expiresAt),
    issuedAt: parent.issuedAt,
    boundJkt: parent.dpopJkt,
  };
}

/**
 * The whole exchange decision, in order: may the client present this actor; is the parent token
 * (for a chain) live; then `decide`. Pure, like `decide`.
 */
export function decideExchange(input: ExchangeDecisionInput): ExchangeDecision {
  const presented = presentedActorRefusal(input);
  if (presented !== null) return refuseEarly(presented, null, null);
  const actorId = input.actorId as string;
  const actorIds = [...(input.live.parent?.actorIds ?? []), actorId];

  const subjectToken = chainedSubject(input);
  if (typeof subjectToken === 'string') return refuseEarly(subjectToken, actorId, actorIds);

  const decision = decide({
    now: input.now,
    limits: input.limits,
    requestedResource: input.requestedResource,
    requestedScopes: input.requestedScopes,
    subjectToken,
    dpopJkt: input.dpopJkt,
    actorId,
    live: input.live,
  });
  if (decision.granted) return { ...decision, actorId };
  return { ...decision, stage: 'decision', actorId, actorIds };
}
