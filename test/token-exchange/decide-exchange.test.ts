/**
 * decideExchange: the rules that run before `decide` (which client may present which actor,
 * which parent token is live) and how they hand over to it. One negative test per rule.
 */
import { describe, expect, it } from '@jest/globals';
import { decide, decideExchange, type ExchangeDecisionInput, type LiveActor, type LiveGrant, type ParentTokenRecord } from '../../src/token-exchange/decide.js';

const NOW = 1_700_000_000;
const API = 'https://api.example.com';

function actorRow(id: string, mayDelegateTo: string[] = []): LiveActor {
  return { id, status: 'active', disabledAt: null, expiresAt: null, scopeCeiling: ['read', 'write'], resources: [API], maxTokenTtl: null, mayDelegateTo };
}

function grantRow(actorId: string): LiveGrant {
  return { id: `g-${actorId}`, actorId, scopes: ['read', 'write'], expiresAt: null, revokedAt: null };
}

function parentRecord(overrides: Partial<ParentTokenRecord> = {}): ParentTokenRecord {
  return {
    jti: 'parent-jti',
    ancestorJtis: ['grandparent-jti'],
    subjectId: 'alice',
    actorIds: ['agent:a'],
    grantIds: ['g-agent:a'],
    resource: API,
    scope: 'read write',
    expiresAt: NOW + 200,
    issuedAt: NOW - 10.5,
    dpopJkt: null,
    digest: null,
    revoked: false,
    revokedAncestorJtis: [],
    subjectTokenDigest: null,
    ...overrides,
  };
}

/** alice's IdP token, exchanged by app-a presenting its own actor agent:a. */
function external(edit?: (input: ExchangeDecisionInput) => void): ExchangeDecisionInput {
  const input: ExchangeDecisionInput = {
    now: NOW,
    limits: { tokenTtl: 300, maxDelegationDepth: 3 },
    requestedResource: API,
    requestedScopes: ['read'],
    subjectToken: {
      subjectId: 'alice',
      exp: NOW + 3600,
      scopes: null,
      chain: [],
      chainGrantIds: [],
      audience: null,
      mayActSub: null,
      issuedAt: null,
      externalIssuedAt: NOW - 60,
      boundJkt: null,
    },
    parentJti: null,
    dpopJkt: null,
    actorId: 'agent:a',
    live: {
      subject: { id: 'alice', status: 'active', disabledAt: null },
      actor: actorRow('agent:a', ['agent:b']),
      resource: { uri: API, scopes: ['read', 'write'] },
      entitlements: [
        { scope: 'read', expiresAt: null },
        { scope: 'write', expiresAt: null },
      ],
      grants: [grantRow('agent:a')],
      chainActors: [],
      chainGrants: [],
      client: { actorId: 'agent:a', allowedActors: [] },
      parent: null,
      subjectTokenRevoked: false,
    },
  };
  edit?.(input);
  return input;
}

/** agent:a's Deputy token for alice, exchanged by app-b presenting agent:b. */
function chained(edit?: (input: ExchangeDecisionInput) => void): ExchangeDecisionInput {
  return external((input) => {
    // What the Deputy token itself says; its record (`parent`) says the rest.
    input.subjectToken = { ...input.subjectToken, scopes: ['read', 'write'], audience: API, issuedAt: NOW - 10, externalIssuedAt: null, exp: NOW + 250 };
    input.parentJti = 'parent-jti';
    input.actorId = 'agent:b';
    input.live = {
      ...input.live,
      actor: actorRow('agent:b'),
      grants: [grantRow('agent:b')],
      chainActors: [actorRow('agent:a', ['agent:b'])],
      chainGrants: [grantRow('agent:a')],
      client: { actorId: 'agent:b', allowedActors: [] },
      parent: parentRecord(),
    };
    edit?.(input);
  });
}

describe('decideExchange: baselines', () => {
  it('grants an external token to the client’s own actor, as decide does', () => {
    const input = external();
    const decision = decideExchange(input);
    expect(decision).toEqual({ ...decide({ ...input, actorId: 'agent:a' }), actorId: 'agent:a' });
    expect(decision).toMatchObject({ granted: true, actorIds: ['agent:a'], scopes: ['read'] });
  });

  it('grants a chain with the chain, audience, scopes, issue time, expiry and binding taken from the parent’s record', () => {
    const decision = decideExchange(chained((input) => (input.live.parent = parentRecord({ scope: 'read', expiresAt: NOW + 100 }))));
    expect(decision).toMatchObject({ granted: true, actorId: 'agent:b', actorIds: ['agent:a', 'agent:b'], grantIds: ['g-agent:a', 'g-agent:b'], scopes: ['read'] });
    // The record's expiry is earlier than the token's own exp: it bounds the child.
    expect(decision.granted && decision.exp).toBe(NOW + 100);
  });

  it('takes the parent’s DPoP binding from its record, not from the token', () => {
    const bound = chained((input) => (input.live.parent = parentRecord({ dpopJkt: 'jkt-1' })));
    expect(decideExchange(bound)).toMatchObject({ granted: false, stage: 'decision', reason: 'dpop_proof_required' });
    expect(decideExchange({ ...bound, dpopJkt: 'jkt-1' })).toMatchObject({ granted: true });
  });

  it('judges a kill switch against the record’s issue time (milliseconds), not the token’s iat', () => {
    const input = chained((i) => {
      i.live.subject = { id: 'alice', status: 'active', disabledAt: NOW - 10.2 };
    });
    // The record says the parent was issued at NOW - 10.5, before the disable at NOW - 10.2.
    expect(decideExchange(input)).toMatchObject({ granted: false, reason: 'subject_disabled_since_issued' });
  });

  it('lets a client present an actor it is allowed to, besides its own', () => {
    const decision = decideExchange(external((input) => (input.live.client = { actorId: 'agent:z', allowedActors: ['agent:a'] })));
    expect(decision).toMatchObject({ granted: true, actorId: 'agent:a' });
  });
});

describe('rule: the client may present the actor', () => {
  it('refuses a client that has no actor and sent no actor token', () => {
    expect(decideExchange(external((input) => (input.actorId = null)))).toEqual({
      granted: false,
      stage: 'actor',
      reason: 'client_not_an_actor',
      error: 'invalid_request',
      description: 'the client is not registered as an actor; send an actor_token',
      dropped: [],
      actorId: null,
      actorIds: null,
    });
  });

  it('refuses an actor that is neither the client’s own nor one it may present', () => {
    const decision = decideExchange(external((input) => (input.live.client = { actorId: 'agent:z', allowedActors: ['agent:y'] })));
    expect(decision).toEqual({
      granted: false,
      stage: 'actor',
      reason: 'actor_not_bound_to_client',
      error: 'invalid_request',
      description: 'the client may not act as this actor',
      dropped: [],
      actorId: null,
      actorIds: null,
    });
  });

  it('refuses when the client’s row is gone', () => {
    expect(decideExchange(external((input) => (input.live.client = null)))).toMatchObject({ granted: false, stage: 'actor', reason: 'actor_not_bound_to_client' });
  });

  it('comes first: a client-refused actor learns nothing about the subject or the parent', () => {
    const decision = decideExchange(
      chained((input) => {
        input.live.client = { actorId: 'agent:z', allowedActors: [] };
        input.live.parent = parentRecord({ revoked: true });
        input.live.subject = null;
      }),
    );
    expect(decision).toMatchObject({ stage: 'actor', reason: 'actor_not_bound_to_client' });
  });
});

describe('rule: a parent token counts only through its live record', () => {
  const notActive = { granted: false, stage: 'live_facts', error: 'invalid_request', description: 'subject token is not active', dropped: [], actorId: 'agent:b', actorIds: ['agent:a', 'agent:b'] };

  it('refuses a Deputy token without an issued-token record', () => {
    expect(decideExchange(chained((input) => (input.live.parent = null)))).toEqual({ ...notActive, reason: 'parent_token_unknown', actorIds: ['agent:b'] });
  });

  it('refuses a revoked parent', () => {
    expect(decideExchange(chained((input) => (input.live.parent = parentRecord({ revoked: true }))))).toEqual({ ...notActive, reason: 'parent_token_revoked' });
  });

  it('refuses a parent one of whose ancestors was revoked', () => {
    const decision = decideExchange(chained((input) => (input.live.parent = parentRecord({ revokedAncestorJtis: ['grandparent-jti'] }))));
    expect(decision).toEqual({ ...notActive, reason: 'ancestor_token_revoked' });
  });

  it('refuses a record of another subject', () => {
    expect(decideExchange(chained((input) => (input.live.parent = parentRecord({ subjectId: 'bob' }))))).toEqual({ ...notActive, reason: 'parent_token_mismatch' });
  });

  it('refuses a record of another token', () => {
    expect(decideExchange(chained((input) => (input.live.parent = parentRecord({ jti: 'other-jti' }))))).toEqual({ ...notActive, reason: 'parent_token_mismatch' });
  });

  it('refuses a record when the subject token is external (facts about another token)', () => {
    expect(decideExchange(external((input) => (input.live.parent = parentRecord())))).toMatchObject({ granted: false, stage: 'live_facts', reason: 'parent_token_mismatch' });
  });

  it('comes before decide’s rules', () => {
    const decision = decideExchange(
      chained((input) => {
        input.live.parent = parentRecord({ revoked: true });
        input.live.grants = [];
      }),
    );
    expect(decision).toMatchObject({ stage: 'live_facts', reason: 'parent_token_revoked' });
  });
});

describe('rule: an IdP token revoked at Deputy is not exchanged', () => {
  const notActive = { granted: false, stage: 'live_facts', error: 'invalid_request', description: 'subject token is not active', dropped: [], reason: 'subject_token_revoked' };

  it('refuses the revoked IdP token itself', () => {
    expect(decideExchange(external((input) => (input.live.subjectTokenRevoked = true)))).toEqual({ ...notActive, actorId: 'agent:a', actorIds: ['agent:a'] });
  });

  it('refuses a chain whose root IdP token was revoked, even with a live parent record', () => {
    expect(decideExchange(chained((input) => (input.live.subjectTokenRevoked = true)))).toEqual({ ...notActive, actorId: 'agent:b', actorIds: ['agent:a', 'agent:b'] });
  });

  it('grants the same exchanges when it was not revoked', () => {
    expect(decideExchange(external()).granted).toBe(true);
    expect(decideExchange(chained()).granted).toBe(true);
  });
});

describe('decideExchange hands the rest to decide', () => {
  it('labels decide’s refusals with their step and the chain with the new actor', () => {
    const decision = decideExchange(chained((input) => (input.live.grants = [])));
    expect(decision).toEqual({
      granted: false,
      stage: 'decision',
      reason: 'no_active_grant',
      error: 'invalid_request',
      description: 'There is no active delegation grant from the subject to the actor for this resource.',
      dropped: [],
      actorId: 'agent:b',
      actorIds: ['agent:a', 'agent:b'],
    });
  });

  it('does not modify its input', () => {
    const input = chained();
    const copy = structuredClone(input);
    decideExchange(input);
    expect(input).toEqual(copy);
  });
});
