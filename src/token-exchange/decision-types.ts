/**
 * Inputs and outputs of the pure exchange decision (`decide`). The I/O layer builds a
 * DecisionInput from the verified tokens and the live database rows; `decide` does the rest.
 * All times are epoch seconds.
 */

export interface LiveSubject {
  id: string;
  status: 'active' | 'disabled' | string;
  /** The last time the status went to disabled (a kill switch is final for older tokens). */
  disabledAt: number | null;
}

export interface LiveActor {
  id: string;
  status: string;
  /** The last time the status went to disabled (a kill switch is final for older tokens). */
  disabledAt: number | null;
  expiresAt: number | null;
  scopeCeiling: readonly string[];
  /** Resource URIs the actor may target. */
  resources: readonly string[];
  /** Seconds. */
  maxTokenTtl: number | null;
  mayDelegateTo: readonly string[];
}

export interface LiveResource {
  uri: string;
  scopes: readonly string[];
  /** Scopes only a just-in-time grant (from an approval) carries; absent = none. */
  approvalScopes?: readonly string[];
}

export interface LiveEntitlement {
  scope: string;
  expiresAt: number | null;
}

export interface LiveGrant {
  id: string;
  actorId: string;
  scopes: readonly string[];
  expiresAt: number | null;
  revokedAt: number | null;
  /** Created by an approval of a scope requiring approval: carries such scopes, never chained further. */
  justInTime?: boolean;
}

/** What the verified subject token says. */
export interface SubjectTokenFacts {
  subjectId: string;
  exp: number;
  /** Scopes of a Deputy-issued parent token (a chain); null for an external user token. */
  scopes: readonly string[] | null;
  /** Actor ids of the parent token's chain, oldest first; [] for an external token. */
  chain: readonly string[];
  /** Grant ids the parent token relied on (one per hop, oldest first); [] for external. */
  chainGrantIds: readonly string[];
  /** The parent Deputy token's audience (resource URI); null for external tokens. */
  audience: string | null;
  /** RFC 8693 §4.4 may_act claim's `sub`, when present. */
  mayActSub: string | null;
  /** When a Deputy parent token was issued (its record, millisecond precision); null for external tokens. */
  issuedAt: number | null;
  /** An external token's `iat` claim (whole seconds); null for a Deputy token or when absent. */
  externalIssuedAt: number | null;
  /** A Deputy parent token's DPoP binding (`cnf.jkt`); null when it is a Bearer token or external. */
  boundJkt: string | null;
}

export interface DecisionInput {
  now: number;
  limits: { tokenTtl: number; maxDelegationDepth: number };
  requestedResource: string;
  /** null = the `scope` parameter was absent. */
  requestedScopes: readonly string[] | null;
  subjectToken: SubjectTokenFacts;
  /** The JWK thumbprint of the request's valid DPoP proof; null without one. */
  dpopJkt: string | null;
  /** The verified actor. */
  actorId: string;
  live: {
    /** null = unknown subject. */
    subject: LiveSubject | null;
    /** null = unknown actor. */
    actor: LiveActor | null;
    /** null = unregistered resource. */
    resource: LiveResource | null;
    /** The subject's rows on that resource (may include expired ones). */
    entitlements: readonly LiveEntitlement[];
    /** Subject -> actor on that resource (may include revoked/expired ones). */
    grants: readonly LiveGrant[];
    /** Live rows of every actor in subjectToken.chain (missing = unknown). */
    chainActors: readonly LiveActor[];
    /** Live rows of subjectToken.chainGrantIds (missing = gone). */
    chainGrants: readonly LiveGrant[];
  };
}

export type DroppedReason =
  | 'no_entitlement'
  | 'not_delegated'
  | 'above_actor_ceiling'
  | 'not_in_parent_token'
  | 'unknown_to_resource'
  /** The resource requires a fresh approval for the scope and the grant is a standing one. */
  | 'approval_required';

export interface DroppedScope {
  scope: string;
  reason: DroppedReason;
}

export type ActClaim = { sub: string; act?: ActClaim };

export type RefusalError = 'invalid_request' | 'invalid_scope' | 'invalid_target';

export type RefusalReason =
  // invalid_target
  | 'unknown_resource'
  | 'chain_resource_mismatch'
  | 'resource_not_allowed_for_actor'
  // invalid_request
  | 'dpop_proof_required'
  | 'dpop_key_mismatch'
  | 'subject_token_expired'
  | 'subject_unknown'
  | 'subject_mismatch'
  | 'subject_disabled'
  | 'subject_disabled_since_issued'
  | 'actor_unknown'
  | 'actor_mismatch'
  | 'actor_disabled'
  | 'actor_expired'
  | 'may_act_mismatch'
  | 'chain_malformed'
  | 'chain_actor_inactive'
  | 'chain_grant_inactive'
  | 'chain_too_deep'
  | 'chain_cycle'
  | 'delegation_not_allowed'
  | 'no_active_grant'
  | 'lifetime_exhausted'
  // invalid_scope
  | 'empty_scope';

export type GrantedDecision = {
  granted: true;
  scopes: string[];
  exp: number;
  act: ActClaim;
  /** Oldest first, the new actor last. */
  actorIds: string[];
  grantId: string;
  /** The chain's grant ids, then this hop's. */
  grantIds: string[];
  dropped: DroppedScope[];
};

export type RefusedDecision = {
  granted: false;
  error: RefusalError;
  reason: RefusalReason;
  /** Safe to send to the client. */
  description: string;
  dropped: DroppedScope[];
};

export type Decision = GrantedDecision | RefusedDecision;

/** The client's actor bindings: its own actor (clients.actor_id) and the others it may present. */
export interface ClientActorBinding {
  actorId: string | null;
  allowedActors: readonly string[];
}

/** The issued-token record of a Deputy subject token (the parent of the token being minted). */
export interface ParentTokenRecord {
  jti: string;
  /** The tokens the parent was itself derived from, nearest first. */
  ancestorJtis: string[];
  subjectId: string;
  actorIds: string[];
  grantIds: string[];
  resource: string;
  scope: string;
  expiresAt: number;
  /** Epoch seconds with milliseconds. */
  issuedAt: number;
  /** The parent's DPoP binding (cnf.jkt), if any. */
  dpopJkt: string | null;
  /** SHA-256 (hex) of the parent token as minted; null for tokens recorded before migration 0006. */
  digest: string | null;
  /** The parent itself was revoked. */
  revoked: boolean;
  /** Those of `ancestorJtis` whose records say they were revoked. */
  revokedAncestorJtis: string[];
  /** Provenance: SHA-256 (hex) of the IdP subject token its chain started from; null without one. */
  subjectTokenDigest: string | null;
}

/** The live rows of an exchange: those `decide` reads, plus the client's bindings and the parent's record. */
export interface LiveExchangeFacts extends LiveRows {
  /** null = unknown client. */
  client: ClientActorBinding | null;
  /** The record of the Deputy subject token (`parentJti`); null when there is none. */
  parent: ParentTokenRecord | null;
  /**
   * The IdP token the exchange rests on (the external subject token, or the one its chain
   * started from) was revoked at Deputy's RFC 7009 endpoint (revoked_subject_tokens).
   */
  subjectTokenRevoked: boolean;
}

export type LiveRows = DecisionInput['live'];

/** What `decideExchange` is given: the verified tokens as they came, and the live rows. */
export interface ExchangeDecisionInput {
  now: number;
  limits: DecisionInput['limits'];
  requestedResource: string;
  requestedScopes: readonly string[] | null;
  /** What the subject token itself says; a Deputy token's chain comes from its record. */
  subjectToken: SubjectTokenFacts;
  /** The jti of a Deputy subject token; null for an external token. */
  parentJti: string | null;
  dpopJkt: string | null;
  /** The actor the actor token proved or, without one, the client's own; null when there is neither. */
  actorId: string | null;
  live: LiveExchangeFacts;
}

/** Refusals before the decision proper: whether the client may present the actor, whether the parent token is live. */
export type PresentedActorRefusal = 'client_not_an_actor' | 'actor_not_bound_to_client';
export type ParentTokenRefusal = 'parent_token_unknown' | 'parent_token_mismatch' | 'parent_token_revoked' | 'ancestor_token_revoked' | 'subject_token_revoked';
export type ExchangeRefusalReason = RefusalReason | PresentedActorRefusal | ParentTokenRefusal;

/** The step of the exchange a refusal belongs to (a subset of refusal-reason.ts's ExchangeStage). */
export type DecisionStage = 'actor' | 'live_facts' | 'decision';

export type GrantedExchange = GrantedDecision & {
  /** The actor the client presented (the last of `actorIds`). */
  actorId: string;
};

export type RefusedExchange = {
  granted: false;
  stage: DecisionStage;
  reason: ExchangeRefusalReason;
  error: RefusalError;
  /** Safe to send to the client. */
  description: string;
  dropped: DroppedScope[];
  /** The actor the client may present; null when it may not (refused at stage 'actor'). */
  actorId: string | null;
  /** The chain with the new actor, once the client may present it; null before. */
  actorIds: string[] | null;
};

export type ExchangeDecision = GrantedExchange | RefusedExchange;
