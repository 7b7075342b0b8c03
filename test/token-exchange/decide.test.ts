import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import {
  decide,
  type Decision,
  type DecisionInput,
  type DroppedReason,
  type GrantedDecision,
  type LiveActor,
  type LiveGrant,
  type RefusalError,
  type RefusalReason,
} from '../../src/token-exchange/decide.js';
import { mintedFacts } from '../support/decide-fixtures.js';

const NOW = 1_700_000_000;
const API = 'https://api.example.com';
const OTHER_API = 'https://other.example.com';

// Each actor may delegate to the next one: a -> b -> c -> d.
const NEXT_ACTOR: Record<string, string[]> = { 'agent:a': ['agent:b'], 'agent:b': ['agent:c'], 'agent:c': ['agent:d'] };

function actorRow(id: string): LiveActor {
  return {
    id,
    status: 'active',
    disabledAt: null,
    expiresAt: null,
    scopeCeiling: ['read', 'write', 'delete'],
    resources: [API, OTHER_API],
    maxTokenTtl: null,
    mayDelegateTo: NEXT_ACTOR[id] ?? [],
  };
}

function grantRow(actorId: string, overrides: Partial<LiveGrant> = {}): LiveGrant {
  return {
    id: `g-${actorId.slice('agent:'.length)}`,
    actorId,
    scopes: ['read', 'write', 'delete'],
    expiresAt: null,
    revokedAt: null,
    ...overrides,
  };
}

/**
 * A valid exchange: alice's token, passed along `chain` (empty = alice's own IdP token), for
 * `actorId`. Every test changes one thing with `edit`.
 */
function build(chain: string[], actorId: string, edit?: (input: DecisionInput) => void): DecisionInput {
  const isChain = chain.length > 0;
  const input: DecisionInput = {
    now: NOW,
    limits: { tokenTtl: 300, maxDelegationDepth: 3 },
    requestedResource: API,
    requestedScopes: ['read', 'write'],
    subjectToken: {
      subjectId: 'alice',
      exp: NOW + 3600,
      scopes: isChain ? ['read', 'write'] : null,
      chain,
      chainGrantIds: chain.map((id) => grantRow(id).id),
      audience: isChain ? API : null,
      mayActSub: null,
      issuedAt: isChain ? NOW - 60 : null,
      externalIssuedAt: isChain ? null : NOW - 60,
      boundJkt: null,
    },
    dpopJkt: null,
    actorId,
    live: {
      subject: { id: 'alice', status: 'active', disabledAt: null },
      actor: actorRow(actorId),
      resource: { uri: API, scopes: ['read', 'write', 'delete', 'admin'] },
      entitlements: [
        { scope: 'read', expiresAt: null },
        { scope: 'write', expiresAt: null },
        { scope: 'delete', expiresAt: null },
      ],
      grants: [grantRow(actorId)],
      chainActors: chain.map(actorRow),
      chainGrants: chain.map((id) => grantRow(id)),
    },
  };
  edit?.(input);
  return input;
}

/** alice's IdP token exchanged by agent:a. */
const external = (edit?: (input: DecisionInput) => void) => build([], 'agent:a', edit);
/** agent:a's delegated token exchanged by agent:b. */
const twoHops = (edit?: (input: DecisionInput) => void) => build(['agent:a'], 'agent:b', edit);
/** agent:b's delegated token (a -> b) exchanged by agent:c. */
const threeHops = (edit?: (input: DecisionInput) => void) => build(['agent:a', 'agent:b'], 'agent:c', edit);

function granted(decision: Decision): GrantedDecision {
  if (!decision.granted) throw new Error(`expected a grant, got ${decision.error}/${decision.reason}`);
  return decision;
}

function expectRefused(decision: Decision, error: RefusalError, reason: RefusalReason): void {
  expect(decision).toMatchObject({ granted: false, error, reason });
  if (decision.granted) return;
  // The description goes to the client: generic English, no identifiers from the request.
  expect(decision.description).toMatch(/^[A-Z][\w ,.:'-]+\.$/);
  for (const secret of ['alice', 'agent:', 'g-', 'example.com']) expect(decision.description).not.toContain(secret);
}

describe('decide: baselines', () => {
  it('grants the external baseline', () => {
    expect(decide(external())).toEqual({
      granted: true,
      scopes: ['read', 'write'],
      exp: NOW + 300,
      act: { sub: 'agent:a' },
      actorIds: ['agent:a'],
      grantId: 'g-a',
      grantIds: ['g-a'],
      dropped: [],
    });
  });

  it('grants the two-hop baseline with a nested act', () => {
    expect(decide(twoHops())).toEqual({
      granted: true,
      scopes: ['read', 'write'],
      exp: NOW + 300,
      act: { sub: 'agent:b', act: { sub: 'agent:a' } },
      actorIds: ['agent:a', 'agent:b'],
      grantId: 'g-b',
      grantIds: ['g-a', 'g-b'],
      dropped: [],
    });
  });

  it('grants the three-hop baseline with a doubly nested act', () => {
    const decision = granted(decide(threeHops()));
    expect(decision.act).toEqual({ sub: 'agent:c', act: { sub: 'agent:b', act: { sub: 'agent:a' } } });
    expect(decision.actorIds).toEqual(['agent:a', 'agent:b', 'agent:c']);
    expect(decision.grantIds).toEqual(['g-a', 'g-b', 'g-c']);
    expect(decision.grantId).toBe('g-c');
  });

  it('chains its own decisions: each hop feeds the next', () => {
    const first = external();
    const a = granted(decide(first));
    const second = twoHops((i) => { i.subjectToken = mintedFacts(first, a); });
    const b = granted(decide(second));
    const third = threeHops((i) => { i.subjectToken = mintedFacts(second, b); });
    const c = granted(decide(third));
    expect(c.act).toEqual({ sub: 'agent:c', act: { sub: 'agent:b', act: { sub: 'agent:a' } } });
    expect(c.grantIds).toEqual(['g-a', 'g-b', 'g-c']);
  });

  it('does not modify its input', () => {
    const input = twoHops();
    const copy = structuredClone(input);
    decide(input);
    expect(input).toEqual(copy);
  });

  it('imports nothing but its own types, and reads no clock', () => {
    const source = readFileSync(new URL('../../src/token-exchange/decide.ts', import.meta.url), 'utf8');
    const imports = [...source.matchAll(/from '([^']+)'/g)].map((m) => m[1]);
    expect(imports).toEqual(['./decision-types.js', './decision-types.js']);
    expect(source).not.toMatch(/Date\.now|new Date|Math\.random|process\./);
  });
});

describe('rule 0: proof of possession of a DPoP-bound subject token', () => {
  const bound = (dpopJkt: string | null, edit?: (input: DecisionInput) => void) =>
    twoHops((i) => {
      i.subjectToken.boundJkt = 'jkt-of-the-holder';
      i.dpopJkt = dpopJkt;
      edit?.(i);
    });

  it('refuses a bound subject token without a proof', () => {
    expectRefused(decide(bound(null)), 'invalid_request', 'dpop_proof_required');
  });

  it('refuses a bound subject token with a proof of another key', () => {
    expectRefused(decide(bound('jkt-of-an-attacker')), 'invalid_request', 'dpop_key_mismatch');
  });

  it('grants a bound subject token with a proof of its key', () => {
    expect(granted(decide(bound('jkt-of-the-holder'))).actorIds).toEqual(['agent:a', 'agent:b']);
  });

  it('checks the binding before anything else (no other fact leaks to a non-holder)', () => {
    const decision = decide(bound(null, (i) => { i.live.resource = null; i.live.subject = null; }));
    expect(decision).toMatchObject({ granted: false, reason: 'dpop_proof_required' });
  });

  it('lets a proof bind a Bearer or external subject token', () => {
    expect(decide(twoHops((i) => { i.dpopJkt = 'any-key'; })).granted).toBe(true);
    expect(decide(external((i) => { i.dpopJkt = 'any-key'; })).granted).toBe(true);
  });
});

describe('kill switches are final for the tokens issued before them', () => {
  // twoHops' parent token was issued at NOW - 60.
  it('refuses a parent token whose subject was disabled at or after its issue, even if active again', () => {
    for (const disabledAt of [NOW - 60, NOW - 30]) {
      expectRefused(decide(twoHops((i) => { i.live.subject!.disabledAt = disabledAt; })), 'invalid_request', 'subject_disabled_since_issued');
    }
  });

  it('refuses a parent token whose chain actor was disabled at or after its issue, even if active again', () => {
    for (const disabledAt of [NOW - 60, NOW - 59.999]) {
      const input = threeHops((i) => { i.live.chainActors = [actorRow('agent:a'), { ...actorRow('agent:b'), disabledAt }]; });
      expectRefused(decide(input), 'invalid_request', 'chain_actor_inactive');
    }
  });

  it('grants when every kill switch was pulled before the parent was issued', () => {
    const input = threeHops((i) => {
      i.live.subject!.disabledAt = NOW - 60.001;
      i.live.chainActors = i.live.chainActors.map((a) => ({ ...a, disabledAt: NOW - 3600 }));
    });
    expect(decide(input).granted).toBe(true);
  });

  it('does not apply to the new actor (it is judged by its status now)', () => {
    expect(decide(twoHops((i) => { i.live.actor!.disabledAt = NOW - 1; })).granted).toBe(true);
  });

  // external()'s IdP token says iat = NOW - 60, in whole seconds.
  it('refuses an external token issued (iat) before the second its subject was last disabled, even if active again', () => {
    for (const disabledAt of [NOW - 59, NOW - 58.5, NOW - 1]) {
      expectRefused(decide(external((i) => { i.live.subject!.disabledAt = disabledAt; })), 'invalid_request', 'subject_disabled_since_issued');
    }
  });

  it('accepts an external token issued in the very second of the disable, or after it (iat is whole seconds)', () => {
    for (const disabledAt of [NOW - 60, NOW - 59.999, NOW - 60.5, NOW - 3600]) {
      expect(decide(external((i) => { i.live.subject!.disabledAt = disabledAt; })).granted).toBe(true);
    }
  });

  it('refuses an external token without an issue time once its subject has been disabled (fail closed)', () => {
    expectRefused(
      decide(external((i) => { i.subjectToken.externalIssuedAt = null; i.live.subject!.disabledAt = NOW - 3600; })),
      'invalid_request',
      'subject_disabled_since_issued',
    );
    expect(decide(external((i) => { i.subjectToken.externalIssuedAt = null; })).granted).toBe(true);
    expectRefused(
      decide(external((i) => { i.subjectToken.externalIssuedAt = Number.NaN; i.live.subject!.disabledAt = NOW - 3600; })),
      'invalid_request',
      'subject_disabled_since_issued',
    );
  });

  it('fails closed on an unusable issue time', () => {
    expectRefused(decide(twoHops((i) => { i.subjectToken.issuedAt = Number.NaN; i.live.subject!.disabledAt = 0; })), 'invalid_request', 'subject_disabled_since_issued');
  });
});

describe('rule 1: the target resource', () => {
  it('refuses an unregistered resource', () => {
    expectRefused(decide(external((i) => { i.live.resource = null; })), 'invalid_target', 'unknown_resource');
  });

  it('refuses when the resource row is not the requested one', () => {
    expectRefused(
      decide(external((i) => { i.requestedResource = OTHER_API; })),
      'invalid_target',
      'unknown_resource',
    );
  });

  it('refuses a chain that switches resource', () => {
    const input = twoHops((i) => {
      i.requestedResource = OTHER_API;
      i.live.resource = { uri: OTHER_API, scopes: ['read', 'write'] };
    });
    expectRefused(decide(input), 'invalid_target', 'chain_resource_mismatch');
  });
});

describe('rule 2: the subject', () => {
  it('refuses a subject token that expires now', () => {
    expectRefused(
      decide(external((i) => { i.subjectToken.exp = NOW; })),
      'invalid_request',
      'subject_token_expired',
    );
  });

  it('refuses a subject token that has expired', () => {
    expectRefused(
      decide(external((i) => { i.subjectToken.exp = NOW - 1; })),
      'invalid_request',
      'subject_token_expired',
    );
  });

  it('refuses an unknown subject', () => {
    expectRefused(decide(external((i) => { i.live.subject = null; })), 'invalid_request', 'subject_unknown');
  });

  it.each(['disabled', 'locked', ''])('refuses a subject with status %j', (status) => {
    expectRefused(
      decide(external((i) => { i.live.subject!.status = status; })),
      'invalid_request',
      'subject_disabled',
    );
  });

  it('refuses when the live subject is not the token subject', () => {
    expectRefused(
      decide(external((i) => { i.live.subject!.id = 'bob'; })),
      'invalid_request',
      'subject_mismatch',
    );
  });
});

describe('rule 3: the actor', () => {
  it('refuses an unknown actor', () => {
    expectRefused(decide(external((i) => { i.live.actor = null; })), 'invalid_request', 'actor_unknown');
  });

  it('refuses when the live actor is not the verified actor', () => {
    expectRefused(
      decide(external((i) => { i.live.actor!.id = 'agent:z'; })),
      'invalid_request',
      'actor_mismatch',
    );
  });

  it.each(['disabled', 'suspended'])('refuses an actor with status %j', (status) => {
    expectRefused(
      decide(external((i) => { i.live.actor!.status = status; })),
      'invalid_request',
      'actor_disabled',
    );
  });

  it.each([NOW, NOW - 60])('refuses an actor that expired at %d', (expiresAt) => {
    expectRefused(
      decide(external((i) => { i.live.actor!.expiresAt = expiresAt; })),
      'invalid_request',
      'actor_expired',
    );
  });

  it('accepts an actor that expires later', () => {
    expect(decide(external((i) => { i.live.actor!.expiresAt = NOW + 1; })).granted).toBe(true);
  });

  it('refuses a resource the actor may not target', () => {
    expectRefused(
      decide(external((i) => { i.live.actor!.resources = [OTHER_API]; })),
      'invalid_target',
      'resource_not_allowed_for_actor',
    );
  });
});

describe('rule 4: may_act', () => {
  it('refuses when may_act names another actor', () => {
    expectRefused(
      decide(external((i) => { i.subjectToken.mayActSub = 'agent:z'; })),
      'invalid_request',
      'may_act_mismatch',
    );
  });

  it('accepts when may_act names this actor', () => {
    expect(decide(external((i) => { i.subjectToken.mayActSub = 'agent:a'; })).granted).toBe(true);
  });
});

describe('rule 5: the chain', () => {
  it('refuses when a chain actor is disabled', () => {
    expectRefused(
      decide(threeHops((i) => { i.live.chainActors = [actorRow('agent:a'), { ...actorRow('agent:b'), status: 'disabled' }]; })),
      'invalid_request',
      'chain_actor_inactive',
    );
  });

  it('refuses when the oldest chain actor is disabled', () => {
    expectRefused(
      decide(threeHops((i) => { i.live.chainActors = [{ ...actorRow('agent:a'), status: 'disabled' }, actorRow('agent:b')]; })),
      'invalid_request',
      'chain_actor_inactive',
    );
  });

  it('refuses when a chain actor has expired', () => {
    expectRefused(
      decide(twoHops((i) => { i.live.chainActors = [{ ...actorRow('agent:a'), expiresAt: NOW }]; })),
      'invalid_request',
      'chain_actor_inactive',
    );
  });

  it('refuses when a chain actor is gone', () => {
    expectRefused(
      decide(threeHops((i) => { i.live.chainActors = [actorRow('agent:b')]; })),
      'invalid_request',
      'chain_actor_inactive',
    );
  });

  it('refuses when a chain grant is revoked', () => {
    expectRefused(
      decide(threeHops((i) => { i.live.chainGrants = [grantRow('agent:a', { revokedAt: NOW - 5 }), grantRow('agent:b')]; })),
      'invalid_request',
      'chain_grant_inactive',
    );
  });

  it('refuses when a chain grant has expired', () => {
    expectRefused(
      decide(twoHops((i) => { i.live.chainGrants = [grantRow('agent:a', { expiresAt: NOW })]; })),
      'invalid_request',
      'chain_grant_inactive',
    );
  });

  it('refuses when a chain grant is gone', () => {
    expectRefused(
      decide(threeHops((i) => { i.live.chainGrants = [grantRow('agent:a')]; })),
      'invalid_request',
      'chain_grant_inactive',
    );
  });

  it('refuses a chain grant that belongs to another hop', () => {
    expectRefused(
      decide(twoHops((i) => { i.live.chainGrants = [grantRow('agent:z', { id: 'g-a' })]; })),
      'invalid_request',
      'chain_malformed',
    );
  });

  it.each<[string, (i: DecisionInput) => void]>([
    ['a chain without parent scopes', (i) => { i.subjectToken.scopes = null; }],
    ['a chain without an audience', (i) => { i.subjectToken.audience = null; }],
    ['a chain with a grant id missing', (i) => { i.subjectToken.chainGrantIds = []; }],
  ])('refuses %s', (_name, edit) => {
    expectRefused(decide(twoHops(edit)), 'invalid_request', 'chain_malformed');
  });

  it('refuses an audience on a token without a chain', () => {
    expectRefused(decide(external((i) => { i.subjectToken.audience = API; })), 'invalid_request', 'chain_malformed');
  });

  it('refuses a chain deeper than the limit', () => {
    const fourHops = build(['agent:a', 'agent:b', 'agent:c'], 'agent:d');
    expectRefused(decide(fourHops), 'invalid_request', 'chain_too_deep');
    fourHops.limits.maxDelegationDepth = 4;
    expect(granted(decide(fourHops)).actorIds).toHaveLength(4);
  });

  it('counts an external token as a depth-1 chain', () => {
    expect(decide(external((i) => { i.limits.maxDelegationDepth = 1; })).granted).toBe(true);
    expectRefused(decide(external((i) => { i.limits.maxDelegationDepth = 0; })), 'invalid_request', 'chain_too_deep');
    expectRefused(decide(twoHops((i) => { i.limits.maxDelegationDepth = 1; })), 'invalid_request', 'chain_too_deep');
  });

  it('refuses an actor appearing twice in the chain', () => {
    const input = build(['agent:a', 'agent:b'], 'agent:a', (i) => {
      i.live.chainActors = [actorRow('agent:a'), { ...actorRow('agent:b'), mayDelegateTo: ['agent:a'] }];
    });
    expectRefused(decide(input), 'invalid_request', 'chain_cycle');
  });

  it('refuses an actor delegating to itself', () => {
    const input = build(['agent:a'], 'agent:a', (i) => {
      i.live.chainActors = [{ ...actorRow('agent:a'), mayDelegateTo: ['agent:a'] }];
    });
    expectRefused(decide(input), 'invalid_request', 'chain_cycle');
  });

  it('refuses when the previous actor may not delegate to the new one', () => {
    expectRefused(
      decide(twoHops((i) => { i.live.chainActors = [{ ...actorRow('agent:a'), mayDelegateTo: ['agent:c'] }]; })),
      'invalid_request',
      'delegation_not_allowed',
    );
  });

  it('checks may_delegate_to on the last actor of the chain, not the first', () => {
    const input = build(['agent:a', 'agent:b'], 'agent:d', (i) => {
      i.live.chainActors = [{ ...actorRow('agent:a'), mayDelegateTo: ['agent:b', 'agent:d'] }, actorRow('agent:b')];
    });
    expectRefused(decide(input), 'invalid_request', 'delegation_not_allowed');
  });

  it('narrows by the parent token scopes', () => {
    const decision = granted(decide(twoHops((i) => {
      i.subjectToken.scopes = ['read'];
      i.requestedScopes = ['read', 'write', 'delete'];
    })));
    expect(decision.scopes).toEqual(['read']);
    expect(decision.dropped).toEqual([
      { scope: 'write', reason: 'not_in_parent_token' },
      { scope: 'delete', reason: 'not_in_parent_token' },
    ]);
  });

  it('refuses with invalid_scope when the parent token shares no scope', () => {
    expectRefused(
      decide(twoHops((i) => { i.subjectToken.scopes = ['delete']; })),
      'invalid_scope',
      'empty_scope',
    );
  });
});

describe('rule 6: the delegation grant', () => {
  it('refuses without any grant', () => {
    expectRefused(decide(external((i) => { i.live.grants = []; })), 'invalid_request', 'no_active_grant');
  });

  it.each<[string, LiveGrant]>([
    ['revoked', grantRow('agent:a', { revokedAt: NOW - 10 })],
    ['expiring now', grantRow('agent:a', { expiresAt: NOW })],
    ['expired', grantRow('agent:a', { expiresAt: NOW - 10 })],
    ['to another actor', grantRow('agent:z')],
  ])('refuses when the only grant is %s', (_name, grant) => {
    expectRefused(decide(external((i) => { i.live.grants = [grant]; })), 'invalid_request', 'no_active_grant');
  });

  it('picks the grant with the largest effective scope, not the largest raw scope', () => {
    const decision = granted(decide(external((i) => {
      i.requestedScopes = ['read', 'write', 'admin', 'ghost'];
      i.live.grants = [
        grantRow('agent:a', { id: 'g-raw', scopes: ['read', 'admin', 'ghost'] }),
        grantRow('agent:a', { id: 'g-eff', scopes: ['read', 'write'] }),
      ];
    })));
    expect(decision.grantId).toBe('g-eff');
    expect(decision.scopes).toEqual(['read', 'write']);
  });

  it('with no scope parameter, picks the grant whose own scopes go furthest', () => {
    const decision = granted(decide(external((i) => {
      i.requestedScopes = null;
      i.live.grants = [
        grantRow('agent:a', { id: 'g-1', scopes: ['read'] }),
        grantRow('agent:a', { id: 'g-2', scopes: ['read', 'write'] }),
      ];
    })));
    expect(decision.grantId).toBe('g-2');
    expect(decision.scopes).toEqual(['read', 'write']);
  });

  it('on a scope tie, picks the latest expiry', () => {
    const decision = granted(decide(external((i) => {
      i.live.grants = [
        grantRow('agent:a', { id: 'g-1', expiresAt: NOW + 100 }),
        grantRow('agent:a', { id: 'g-2', expiresAt: NOW + 200 }),
        grantRow('agent:a', { id: 'g-0', expiresAt: NOW + 150 }),
      ];
    })));
    expect(decision.grantId).toBe('g-2');
  });

  it('on a scope tie, a grant that never expires beats one that does', () => {
    const decision = granted(decide(external((i) => {
      i.live.grants = [
        grantRow('agent:a', { id: 'g-1', expiresAt: NOW + 1_000_000 }),
        grantRow('agent:a', { id: 'g-2', expiresAt: null }),
      ];
    })));
    expect(decision.grantId).toBe('g-2');
  });

  it('on a full tie, picks the smallest id', () => {
    const decision = granted(decide(external((i) => {
      i.live.grants = [grantRow('agent:a', { id: 'g-b' }), grantRow('agent:a', { id: 'g-a' }), grantRow('agent:a', { id: 'g-c' })];
    })));
    expect(decision.grantId).toBe('g-a');
  });

  it('ignores inactive or foreign grants, however wide', () => {
    const wide = ['read', 'write', 'delete'];
    const decision = granted(decide(external((i) => {
      i.requestedScopes = wide;
      i.live.grants = [
        grantRow('agent:a', { id: 'g-revoked', scopes: wide, revokedAt: NOW - 1 }),
        grantRow('agent:a', { id: 'g-expired', scopes: wide, expiresAt: NOW }),
        grantRow('agent:z', { id: 'g-foreign', scopes: wide }),
        grantRow('agent:a', { id: 'g-narrow', scopes: ['read'] }),
      ];
    })));
    expect(decision.grantId).toBe('g-narrow');
    expect(decision.scopes).toEqual(['read']);
  });

  it('relies on the chosen grant only, for scopes and lifetime', () => {
    const decision = granted(decide(external((i) => {
      i.live.grants = [
        grantRow('agent:a', { id: 'g-short', scopes: ['read'], expiresAt: NOW + 10 }),
        grantRow('agent:a', { id: 'g-long', scopes: ['read', 'write'], expiresAt: null }),
      ];
    })));
    expect(decision).toMatchObject({ grantId: 'g-long', grantIds: ['g-long'], exp: NOW + 300 });
  });
});

describe('rule 7: the effective scope', () => {
  const cutsWrite: Array<[DroppedReason, () => DecisionInput]> = [
    ['unknown_to_resource', () => external((i) => { i.live.resource!.scopes = ['read', 'delete']; })],
    ['no_entitlement', () => external((i) => { i.live.entitlements = i.live.entitlements.filter((e) => e.scope !== 'write'); })],
    ['not_delegated', () => external((i) => { i.live.grants = [grantRow('agent:a', { scopes: ['read', 'delete'] })]; })],
    ['above_actor_ceiling', () => external((i) => { i.live.actor!.scopeCeiling = ['read', 'delete']; })],
    ['not_in_parent_token', () => twoHops((i) => { i.subjectToken.scopes = ['read', 'delete']; })],
  ];

  it.each(cutsWrite)('%s alone cuts a scope', (reason, input) => {
    const decision = granted(decide(input()));
    expect(decision.scopes).toEqual(['read']);
    expect(decision.dropped).toEqual([{ scope: 'write', reason }]);
  });

  it('names the first failing set, in the documented order', () => {
    const decision = granted(decide(twoHops((i) => {
      i.requestedScopes = ['ghost', 'admin', 'extra', 'wide', 'narrow', 'read'];
      i.live.resource!.scopes = ['read', 'admin', 'extra', 'wide', 'narrow'];
      i.live.entitlements = ['read', 'extra', 'wide', 'narrow'].map((scope) => ({ scope, expiresAt: null }));
      i.live.grants = [grantRow('agent:b', { scopes: ['read', 'wide', 'narrow'] })];
      i.live.actor!.scopeCeiling = ['read', 'narrow'];
      i.subjectToken.scopes = ['read'];
    })));
    expect(decision.scopes).toEqual(['read']);
    expect(decision.dropped).toEqual([
      { scope: 'ghost', reason: 'unknown_to_resource' },
      { scope: 'admin', reason: 'no_entitlement' },
      { scope: 'extra', reason: 'not_delegated' },
      { scope: 'wide', reason: 'above_actor_ceiling' },
      { scope: 'narrow', reason: 'not_in_parent_token' },
    ]);
  });

  it('ignores expired entitlements', () => {
    const decision = granted(decide(external((i) => {
      i.live.entitlements = [{ scope: 'read', expiresAt: null }, { scope: 'write', expiresAt: NOW }];
    })));
    expect(decision.dropped).toEqual([{ scope: 'write', reason: 'no_entitlement' }]);
  });

  it('without a scope parameter, requests the grant scopes', () => {
    const decision = granted(decide(external((i) => {
      i.requestedScopes = null;
      i.live.grants = [grantRow('agent:a', { scopes: ['delete', 'read', 'admin'] })];
    })));
    expect(decision.scopes).toEqual(['delete', 'read']);
    expect(decision.dropped).toEqual([{ scope: 'admin', reason: 'no_entitlement' }]);
  });

  it('keeps the requested order and drops duplicates', () => {
    const decision = granted(decide(external((i) => {
      i.requestedScopes = ['write', 'read', 'write', 'admin', 'admin', 'delete'];
    })));
    expect(decision.scopes).toEqual(['write', 'read', 'delete']);
    expect(decision.dropped).toEqual([{ scope: 'admin', reason: 'no_entitlement' }]);
  });

  it('refuses with invalid_scope and the dropped list when nothing is left', () => {
    const decision = decide(external((i) => { i.requestedScopes = ['admin', 'ghost']; }));
    expectRefused(decision, 'invalid_scope', 'empty_scope');
    expect(decision.dropped).toEqual([
      { scope: 'admin', reason: 'no_entitlement' },
      { scope: 'ghost', reason: 'unknown_to_resource' },
    ]);
  });

  it('refuses an empty scope request with invalid_scope', () => {
    expectRefused(decide(external((i) => { i.requestedScopes = []; })), 'invalid_scope', 'empty_scope');
  });
});

describe('rule 8: the lifetime', () => {
  const caps: Array<[string, () => DecisionInput, number]> = [
    ['TOKEN_TTL', () => external((i) => { i.limits.tokenTtl = 120; }), NOW + 120],
    ['the actor max_token_ttl', () => external((i) => { i.live.actor!.maxTokenTtl = 60; }), NOW + 60],
    ['the grant expires_at', () => external((i) => { i.live.grants = [grantRow('agent:a', { expiresAt: NOW + 50 })]; }), NOW + 50],
    ['the subject token exp', () => external((i) => { i.subjectToken.exp = NOW + 40; }), NOW + 40],
    [
      'a granted scope entitlement expires_at',
      () => external((i) => { i.live.entitlements = [{ scope: 'read', expiresAt: null }, { scope: 'write', expiresAt: NOW + 30 }]; }),
      NOW + 30,
    ],
    ['the actor expires_at', () => external((i) => { i.live.actor!.expiresAt = NOW + 20; }), NOW + 20],
    ['a chain actor expires_at', () => threeHops((i) => { i.live.chainActors = [{ ...actorRow('agent:a'), expiresAt: NOW + 25 }, actorRow('agent:b')]; }), NOW + 25],
    ['a chain grant expires_at', () => threeHops((i) => { i.live.chainGrants = [grantRow('agent:a'), grantRow('agent:b', { expiresAt: NOW + 15 })]; }), NOW + 15],
  ];

  it.each(caps)('%s alone caps exp', (_name, input, exp) => {
    expect(granted(decide(input())).exp).toBe(exp);
  });

  it('is not capped by the entitlement of a scope it does not carry', () => {
    const decision = granted(decide(external((i) => {
      i.live.entitlements = [...i.live.entitlements, { scope: 'admin', expiresAt: NOW + 5 }];
      i.live.entitlements = i.live.entitlements.map((e) => (e.scope === 'delete' ? { ...e, expiresAt: NOW + 5 } : e));
    })));
    expect(decision.exp).toBe(NOW + 300);
  });

  it('takes the longest-lasting live row when a scope has several entitlements', () => {
    const rows = (...expiries: Array<number | null>) =>
      external((i) => {
        i.live.entitlements = [{ scope: 'read', expiresAt: null }, ...expiries.map((expiresAt) => ({ scope: 'write', expiresAt }))];
      });
    expect(granted(decide(rows(NOW + 30, NOW + 90))).exp).toBe(NOW + 90);
    expect(granted(decide(rows(NOW + 30, null))).exp).toBe(NOW + 300);
    expect(granted(decide(rows(NOW - 10, NOW + 90))).exp).toBe(NOW + 90);
  });

  it('is an integer, rounded down', () => {
    expect(granted(decide(external((i) => { i.limits.tokenTtl = 100.9; }))).exp).toBe(NOW + 100);
    expect(granted(decide(external((i) => { i.now = NOW + 0.5; }))).exp).toBe(NOW + 300);
  });

  it.each<[string, (i: DecisionInput) => void]>([
    ['TOKEN_TTL is 0', (i) => { i.limits.tokenTtl = 0; }],
    ['max_token_ttl is 0', (i) => { i.live.actor!.maxTokenTtl = 0; }],
    ['rounding down reaches now', (i) => { i.now = NOW + 0.2; i.subjectToken.exp = NOW + 0.9; }],
  ])('refuses when %s', (_name, edit) => {
    const decision = decide(external(edit));
    expectRefused(decision, 'invalid_request', 'lifetime_exhausted');
  });

  it('a chained token never outlives its parent', () => {
    const first = external((i) => { i.live.grants = [grantRow('agent:a', { expiresAt: NOW + 100 })]; });
    const parent = granted(decide(first));
    const child = granted(decide(twoHops((i) => {
      i.now = NOW + 30;
      i.subjectToken = mintedFacts(first, parent);
      i.live.chainGrants = first.live.grants;
    })));
    expect(parent.exp).toBe(NOW + 100);
    expect(child.exp).toBe(NOW + 100);
  });
});

describe('rules 9 and 10: the claims', () => {
  it('names a single actor without nesting', () => {
    const decision = granted(decide(external()));
    expect(decision.act).toEqual({ sub: 'agent:a' });
    expect(decision.act).not.toHaveProperty('act');
  });

  it('lists the chain grants, then this hop', () => {
    expect(granted(decide(threeHops())).grantIds).toEqual(['g-a', 'g-b', 'g-c']);
  });
});

describe('rule order: the first failure wins', () => {
  it.each<[string, (i: DecisionInput) => void, RefusalReason]>([
    ['resource before subject', (i) => { i.live.resource = null; i.live.subject = null; }, 'unknown_resource'],
    ['resource switch before expired token', (i) => { i.requestedResource = OTHER_API; i.live.resource!.uri = OTHER_API; i.subjectToken.exp = NOW; }, 'chain_resource_mismatch'],
    ['expired token before unknown subject', (i) => { i.subjectToken.exp = NOW; i.live.subject = null; }, 'subject_token_expired'],
    ['DPoP binding before resource', (i) => { i.subjectToken.boundJkt = 'k'; i.live.resource = null; }, 'dpop_proof_required'],
    ['subject before actor', (i) => { i.live.subject!.status = 'disabled'; i.live.actor = null; }, 'subject_disabled'],
    ['subject kill switch before actor', (i) => { i.live.subject!.disabledAt = NOW - 1; i.live.actor = null; }, 'subject_disabled_since_issued'],
    ['actor before may_act', (i) => { i.live.actor!.status = 'disabled'; i.subjectToken.mayActSub = 'agent:z'; }, 'actor_disabled'],
    ['actor resources before may_act', (i) => { i.live.actor!.resources = []; i.subjectToken.mayActSub = 'agent:z'; }, 'resource_not_allowed_for_actor'],
    ['may_act before chain', (i) => { i.subjectToken.mayActSub = 'agent:z'; i.live.chainActors = []; }, 'may_act_mismatch'],
    ['chain liveness before depth', (i) => { i.live.chainGrants = []; i.limits.maxDelegationDepth = 1; }, 'chain_grant_inactive'],
    ['depth before may_delegate_to', (i) => { i.limits.maxDelegationDepth = 1; i.live.chainActors = [{ ...actorRow('agent:a'), mayDelegateTo: [] }]; }, 'chain_too_deep'],
    ['chain before grant', (i) => { i.live.chainActors = [{ ...actorRow('agent:a'), mayDelegateTo: [] }]; i.live.grants = []; }, 'delegation_not_allowed'],
    ['grant before scope', (i) => { i.live.grants = []; i.requestedScopes = ['ghost']; }, 'no_active_grant'],
    ['scope before lifetime', (i) => { i.requestedScopes = ['ghost']; i.limits.tokenTtl = 0; }, 'empty_scope'],
  ])('%s', (_name, edit, reason) => {
    expect(decide(twoHops(edit))).toMatchObject({ granted: false, reason });
  });
});
