import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  decide,
  type Decision,
  type DecisionInput,
  type DroppedReason,
  type GrantedDecision,
  type LiveActor,
  type LiveGrant,
  type SubjectTokenFacts,
} from '../../src/token-exchange/decide.js';
import { mintedFacts } from '../support/decide-fixtures.js';

const NOW = 1_700_000_000;
const API = 'https://api.example.com';
const OTHER_API = 'https://other.example.com';
const ACTOR = 'agent:x';
const UNIVERSE = ['a', 'b', 'c', 'd', 'e', 'f'];
const RUNS = { numRuns: 300 };
// Properties about a narrow slice of inputs (a parent disabled since issue, a DPoP-bound parent):
// at 300 runs the DPoP one saw about 13 granted inputs and once fell below its vacuity floor of
// 10; at 1,000 runs it sees 39-50 (measured), far above it.
const SLICE_RUNS = { numRuns: 1000 };

// ---- Arbitraries: small universes, so that sets overlap often and both outcomes are common.
//
// Every knob that can make an exchange fail is healthy with probability `odds`:(odds + 1). With
// some twenty such knobs, "rough" inputs explore refusals and "calm" ones mostly get a token,
// which the properties about granted tokens need.

// Mostly wide sets: the effective scope is an intersection of five of them.
const scopeSet = fc.oneof(
  { arbitrary: fc.subarray(UNIVERSE, { minLength: 4 }), weight: 3 },
  { arbitrary: fc.subarray(UNIVERSE), weight: 1 },
);

function knobs(odds: number) {
  const mostly = <T>(usual: T, other: fc.Arbitrary<T>) =>
    fc.oneof({ arbitrary: fc.constant(usual), weight: odds }, { arbitrary: other, weight: 1 });
  // Comfortably later than now, or right around it (fractions, equality, just past).
  const instant = fc
    .oneof(
      { arbitrary: fc.integer({ min: 1, max: 3000 }), weight: odds },
      { arbitrary: fc.integer({ min: -300, max: 300 }), weight: 1 },
      { arbitrary: fc.double({ min: -300, max: 300, noNaN: true }), weight: 1 },
    )
    .map((offset) => NOW + offset);
  const expiry = fc.option(instant, { nil: null, freq: 2 });
  const status = mostly('active', fc.constantFrom('disabled', 'locked'));
  const minLength = odds > 10 ? 1 : 0;

  const actor = (id: string, mayDelegateTo: fc.Arbitrary<string[]> = fc.constant([])): fc.Arbitrary<LiveActor> =>
    fc.record({
      id: fc.constant(id),
      status,
      disabledAt: mostly<number | null>(null, instant),
      expiresAt: expiry,
      scopeCeiling: scopeSet,
      resources: mostly([API], fc.constantFrom<string[]>([OTHER_API], [API, OTHER_API], [])),
      maxTokenTtl: mostly<number | null>(null, fc.integer({ min: 0, max: 900 })),
      mayDelegateTo,
    });
  const grant = (id: fc.Arbitrary<string>, actorId: fc.Arbitrary<string>): fc.Arbitrary<LiveGrant> =>
    fc.record({ id, actorId, scopes: scopeSet, expiresAt: expiry, revokedAt: mostly<number | null>(null, instant) });
  const grantsFor = (actorId: string) =>
    fc.uniqueArray(grant(fc.constantFrom(1, 2, 3, 4).map((n) => `${actorId}/g${n}`), mostly(actorId, fc.constant('agent:other'))), {
      selector: (g) => g.id,
      minLength,
      maxLength: 4,
    });
  const entitlements = fc.array(fc.record({ scope: fc.constantFrom(...UNIVERSE), expiresAt: expiry }), {
    minLength: 3 * minLength,
    maxLength: 9,
  });
  const requestedScopes = fc.option(fc.array(fc.constantFrom(...UNIVERSE), { minLength, maxLength: 8 }), { nil: null, freq: 3 });
  // Half the chains are DPoP-bound (to jkt-1); a request carries no proof, a proof of that key,
  // or one of another key.
  const boundJkt = fc.constantFrom<string | null>(null, 'jkt-1');
  const dpopJkt = fc.constantFrom<string | null>(null, 'jkt-1', 'jkt-1', 'jkt-2');
  return { mostly, instant, status, actor, grant, grantsFor, entitlements, requestedScopes, boundJkt, dpopJkt };
}

function inputs(odds: number): fc.Arbitrary<DecisionInput> {
  const k = knobs(odds);
  return fc
    .constantFrom<string[]>([], [], ['agent:p'], ['agent:p', 'agent:q'], ['agent:p', ACTOR], ['agent:q', 'agent:p', 'agent:r'])
    .chain((chain) => {
      const isChain = chain.length > 0;
      const mayDelegate = k.mostly([ACTOR], fc.constantFrom<string[]>([], ['agent:other']));
      return fc.record({
        now: fc.oneof(fc.constant(NOW), fc.double({ min: NOW, max: NOW + 1, noNaN: true })),
        limits: fc.record({
          tokenTtl: k.mostly(300, fc.integer({ min: 0, max: 900 })),
          maxDelegationDepth: k.mostly(4, fc.integer({ min: 0, max: 4 })),
        }),
        requestedResource: k.mostly(API, fc.constant(OTHER_API)),
        requestedScopes: k.requestedScopes,
        subjectToken: fc.record({
          subjectId: k.mostly('alice', fc.constant('bob')),
          exp: k.instant,
          scopes: isChain ? scopeSet : k.mostly<string[] | null>(null, scopeSet),
          chain: fc.constant(chain),
          chainGrantIds: fc.constant(chain.map((_, hop) => `cg${hop}`)),
          audience: isChain ? k.mostly<string | null>(API, fc.constant(OTHER_API)) : fc.constant(null),
          mayActSub: k.mostly<string | null>(null, fc.constantFrom(ACTOR, 'agent:other')),
          issuedAt: isChain ? k.mostly<number | null>(NOW - 30, k.instant) : fc.constant(null),
          // Whole seconds (an IdP's iat), a fraction, or none at all.
          externalIssuedAt: isChain
            ? fc.constant(null)
            : k.mostly<number | null>(NOW - 30, fc.option(fc.oneof(k.instant.map(Math.floor), k.instant), { nil: null })),
          boundJkt: isChain ? k.boundJkt : fc.constant(null),
        }),
        dpopJkt: k.dpopJkt,
        actorId: fc.constant(ACTOR),
        live: fc.record({
          subject: k.mostly(
            { id: 'alice', status: 'active', disabledAt: null },
            fc.option(fc.record({ id: fc.constant('alice'), status: k.status, disabledAt: fc.option(k.instant, { nil: null }) }), { nil: null }),
          ),
          actor: fc.option(k.actor(ACTOR), { nil: null, freq: odds }),
          resource: k.mostly({ uri: API, scopes: UNIVERSE }, fc.option(fc.record({ uri: fc.constant(API), scopes: scopeSet }), { nil: null })),
          entitlements: k.entitlements,
          grants: k.grantsFor(ACTOR),
          // Rows may be missing (subarray) or belong to another hop.
          chainActors: fc.tuple(...chain.map((id) => k.actor(id, mayDelegate))).chain((rows) => k.mostly(rows, fc.subarray(rows))),
          chainGrants: fc
            .tuple(...chain.map((id, hop) => k.grant(fc.constant(`cg${hop}`), k.mostly(id, fc.constant('agent:other')))))
            .chain((rows) => k.mostly(rows, fc.subarray(rows))),
        }),
      });
    });
}

/** Any input at all, including broken chains, unknown rows and refusals of every kind. */
const anyInput = fc.oneof({ arbitrary: inputs(4), weight: 1 }, { arbitrary: inputs(100), weight: 2 });

// External tokens whose subject was disabled once and is active again, their iat (whole seconds,
// a fraction, or none) and the disable both within the same few minutes, often the same second.
const around = (min: number, max: number) => fc.oneof(fc.integer({ min, max }), fc.double({ min, max, noNaN: true }));
const killSwitchedExternal = fc
  .tuple(inputs(100), around(NOW - 120, NOW), fc.option(around(NOW - 150, NOW), { nil: null, freq: 8 }))
  .filter(([input]) => input.subjectToken.chain.length === 0)
  .map(([input, disabledAt, iat]) => ({
    ...input,
    subjectToken: { ...input.subjectToken, externalIssuedAt: iat },
    live: { ...input.live, subject: { id: 'alice', status: 'active', disabledAt } },
  }));
const externalInput = fc.oneof(anyInput, killSwitchedExternal);

// ---- A small model of the rules, written independently of the implementation.

const dedupe = (xs: readonly string[]) => [...new Set(xs)];
const isLive = (expiresAt: number | null, now: number) => expiresAt === null || expiresAt > now;
const activeGrants = (input: DecisionInput) =>
  input.live.grants.filter((g) => g.actorId === input.actorId && g.revokedAt === null && isLive(g.expiresAt, input.now));
const entitledNow = (input: DecisionInput) =>
  new Set(input.live.entitlements.filter((e) => isLive(e.expiresAt, input.now)).map((e) => e.scope));

/** The five sets a scope must be in, in the order their reasons are checked. */
function scopeSets(input: DecisionInput, grant: LiveGrant): Array<[DroppedReason, (s: string) => boolean]> {
  const entitled = entitledNow(input);
  const parent = input.subjectToken.scopes;
  return [
    ['unknown_to_resource', (s) => input.live.resource!.scopes.includes(s)],
    ['no_entitlement', (s) => entitled.has(s)],
    ['not_delegated', (s) => grant.scopes.includes(s)],
    ['above_actor_ceiling', (s) => input.live.actor!.scopeCeiling.includes(s)],
    ['not_in_parent_token', (s) => parent === null || parent.includes(s)],
  ];
}

const requestedUnder = (input: DecisionInput, grant: LiveGrant) => dedupe(input.requestedScopes ?? grant.scopes);

/** Every upper bound the minted exp must respect (SPEC §3 "Lifetime"). */
function lifetimeBounds(input: DecisionInput, decision: GrantedDecision, grant: LiveGrant): number[] {
  const { now, live } = input;
  const bounds: Array<number | null> = [
    now + input.limits.tokenTtl,
    live.actor!.maxTokenTtl === null ? null : now + live.actor!.maxTokenTtl,
    grant.expiresAt,
    input.subjectToken.exp,
    live.actor!.expiresAt,
    ...live.chainActors.filter((a) => input.subjectToken.chain.includes(a.id)).map((a) => a.expiresAt),
    ...live.chainGrants.filter((g) => input.subjectToken.chainGrantIds.includes(g.id)).map((g) => g.expiresAt),
  ];
  for (const scope of decision.scopes) {
    // The scope is held until its longest-lasting live entitlement row expires.
    const rows = live.entitlements.filter((e) => e.scope === scope && isLive(e.expiresAt, now));
    bounds.push(rows.some((e) => e.expiresAt === null) ? null : Math.max(...rows.map((e) => e.expiresAt!)));
  }
  return bounds.filter((b): b is number => b !== null);
}

function deepFreeze<T>(value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** Runs decide on a frozen input: any attempt to mutate it throws. */
const run = (input: DecisionInput): Decision => decide(deepFreeze(structuredClone(input)));

/** The grant a granted decision relied on; it must be one of the input's active grants. */
function chosenGrant(input: DecisionInput, decision: GrantedDecision): LiveGrant {
  const grant = activeGrants(input).find((g) => g.id === decision.grantId);
  expect(grant).toBeDefined();
  return grant!;
}

// Counts granted outcomes so that a generator drifting into "always refused" is noticed.
function vacuityGuard() {
  let granted = 0;
  return {
    see(decision: Decision) {
      if (decision.granted) granted += 1;
    },
    check(min: number) {
      expect(granted).toBeGreaterThanOrEqual(min);
    },
  };
}

describe('decide: properties over random inputs', () => {
  it('never throws, never mutates its input, and is deterministic', () => {
    fc.assert(
      fc.property(anyInput, (input) => {
        const first = run(input);
        expect(run(input)).toEqual(first);
        expect(run(structuredClone(input))).toEqual(first);
      }),
      RUNS,
    );
  });

  it('grants only scopes inside the requested list and every one of the five sets', () => {
    const guard = vacuityGuard();
    fc.assert(
      fc.property(anyInput, (input) => {
        const decision = run(input);
        guard.see(decision);
        if (!decision.granted) return;
        const grant = chosenGrant(input, decision);
        const requested = requestedUnder(input, grant);
        for (const scope of decision.scopes) {
          expect(requested).toContain(scope);
          for (const [, holds] of scopeSets(input, grant)) expect(holds(scope)).toBe(true);
        }
        expect(decision.scopes.length).toBeGreaterThan(0);
      }),
      RUNS,
    );
    guard.check(30);
  });

  it('splits the requested scopes exactly into granted and dropped, each drop with its first failing reason', () => {
    fc.assert(
      fc.property(anyInput, (input) => {
        const decision = run(input);
        const droppedScopes = decision.dropped.map((d) => d.scope);
        expect(dedupe(droppedScopes)).toEqual(droppedScopes);
        if (!decision.granted) {
          if (decision.reason === 'empty_scope' && input.requestedScopes !== null) {
            expect(droppedScopes).toEqual(dedupe(input.requestedScopes));
          }
          return;
        }
        const grant = chosenGrant(input, decision);
        const requested = requestedUnder(input, grant);
        // Same order as requested, nothing lost, nothing twice.
        expect(requested.filter((s) => decision.scopes.includes(s))).toEqual(decision.scopes);
        expect(requested.filter((s) => droppedScopes.includes(s))).toEqual(droppedScopes);
        expect(decision.scopes.filter((s) => droppedScopes.includes(s))).toEqual([]);
        expect(decision.scopes.length + droppedScopes.length).toBe(requested.length);
        for (const { scope, reason } of decision.dropped) {
          const firstFailing = scopeSets(input, grant).find(([, holds]) => !holds(scope));
          expect(firstFailing?.[0]).toBe(reason);
        }
      }),
      RUNS,
    );
  });

  it('relies on an active grant that no other active grant beats', () => {
    fc.assert(
      fc.property(anyInput, (input) => {
        const decision = run(input);
        if (!decision.granted) return;
        chosenGrant(input, decision);
        for (const other of activeGrants(input)) {
          const sets = scopeSets(input, other);
          const effective = requestedUnder(input, other).filter((s) => sets.every(([, holds]) => holds(s)));
          expect(effective.length).toBeLessThanOrEqual(decision.scopes.length);
        }
      }),
      RUNS,
    );
  });

  it('mints an integer exp after now and within every lifetime bound', () => {
    fc.assert(
      fc.property(anyInput, (input) => {
        const decision = run(input);
        if (!decision.granted) return;
        expect(Number.isInteger(decision.exp)).toBe(true);
        expect(decision.exp).toBeGreaterThan(input.now);
        for (const bound of lifetimeBounds(input, decision, chosenGrant(input, decision))) {
          expect(decision.exp).toBeLessThanOrEqual(bound);
        }
      }),
      RUNS,
    );
  });

  it('never grants on a Deputy token issued before its subject or a chain actor was last disabled', () => {
    const guard = vacuityGuard();
    fc.assert(
      fc.property(anyInput, (input) => {
        const decision = run(input);
        const { issuedAt, chain } = input.subjectToken;
        if (issuedAt === null) return;
        guard.see(decision);
        if (!decision.granted) return;
        const disabledAts = [input.live.subject!.disabledAt, ...input.live.chainActors.filter((a) => chain.includes(a.id)).map((a) => a.disabledAt)];
        for (const disabledAt of disabledAts) if (disabledAt !== null) expect(disabledAt).toBeLessThan(issuedAt);
      }),
      SLICE_RUNS,
    );
    guard.check(10);
  });

  it('never grants on an external token issued (iat) before the second its subject was last disabled, nor on one without iat', () => {
    const guard = vacuityGuard();
    fc.assert(
      fc.property(externalInput, (input) => {
        const decision = run(input);
        const disabledAt = input.live.subject?.disabledAt ?? null;
        if (input.subjectToken.chain.length > 0 || disabledAt === null) return;
        guard.see(decision);
        if (!decision.granted) return;
        const iat = input.subjectToken.externalIssuedAt;
        expect(iat).not.toBeNull();
        expect(iat!).toBeGreaterThanOrEqual(Math.floor(disabledAt));
      }),
      SLICE_RUNS,
    );
    guard.check(10);
  });

  it('refuses an external token for its subject\'s kill switch only when it was issued before the second of the disable', () => {
    fc.assert(
      fc.property(externalInput, (input) => {
        const decision = run(input);
        if (input.subjectToken.chain.length > 0 || decision.granted || decision.reason !== 'subject_disabled_since_issued') return;
        const disabledAt = input.live.subject!.disabledAt;
        const iat = input.subjectToken.externalIssuedAt;
        expect(disabledAt).not.toBeNull();
        if (iat !== null) expect(iat).toBeLessThan(Math.floor(disabledAt!));
      }),
      SLICE_RUNS,
    );
  });

  it('exchanges a DPoP-bound subject token only with a proof of its key', () => {
    const guard = vacuityGuard();
    fc.assert(
      fc.property(anyInput, (input) => {
        const decision = run(input);
        const { boundJkt } = input.subjectToken;
        if (boundJkt === null) return;
        guard.see(decision);
        if (decision.granted) expect(input.dpopJkt).toBe(boundJkt);
        else if (input.dpopJkt !== boundJkt) expect(decision.reason).toBe(input.dpopJkt === null ? 'dpop_proof_required' : 'dpop_key_mismatch');
      }),
      SLICE_RUNS,
    );
    guard.check(10);
  });

  it('names the whole chain in actorIds, grantIds and a nested act', () => {
    fc.assert(
      fc.property(anyInput, (input) => {
        const decision = run(input);
        if (!decision.granted) return;
        expect(decision.actorIds).toEqual([...input.subjectToken.chain, ACTOR]);
        expect(decision.grantIds).toEqual([...input.subjectToken.chainGrantIds, decision.grantId]);
        expect(new Set(decision.actorIds).size).toBe(decision.actorIds.length);
        expect(decision.actorIds.length).toBeLessThanOrEqual(input.limits.maxDelegationDepth);
        let act: typeof decision.act | undefined = decision.act;
        for (const id of [...decision.actorIds].reverse()) {
          expect(act?.sub).toBe(id);
          act = act?.act;
        }
        expect(act).toBeUndefined();
      }),
      RUNS,
    );
  });
});

// ---- Chains built by decide itself: each granted token becomes the next hop's subject token.

const HOPS = ['agent:h1', 'agent:h2', 'agent:h3', 'agent:h4'];

interface HopWorld {
  actor: LiveActor;
  grants: LiveGrant[];
  requestedScopes: string[] | null;
  /** Seconds after the previous hop's `now`. */
  delay: number;
  /** Whether the request carries a DPoP proof (of key jkt-1). */
  dpop: boolean;
}

const calm = knobs(100);

const hopWorld = (id: string, next: string | undefined): fc.Arbitrary<HopWorld> =>
  fc.record({
    actor: calm.actor(id, fc.constant(next === undefined ? [] : [next])),
    grants: calm.grantsFor(id),
    requestedScopes: calm.requestedScopes,
    // Tokens live at most 300 s: mostly come back well before the parent expires.
    delay: fc.oneof({ arbitrary: fc.integer({ min: 0, max: 60 }), weight: 20 }, { arbitrary: fc.integer({ min: 0, max: 400 }), weight: 1 }),
    dpop: fc.boolean(),
  });

const chainScenario = fc.record({
  subjectExp: calm.instant,
  // The subject's entitlements do not depend on the actor.
  entitlements: calm.entitlements,
  resourceScopes: scopeSet,
  maxDelegationDepth: calm.mostly(4, fc.integer({ min: 1, max: 4 })),
  hops: fc.tuple(...HOPS.map((id, i) => hopWorld(id, HOPS[i + 1]))),
});

describe('decide: chains of its own tokens', () => {
  it('a child never carries a scope its parent lacks, nor outlives it', () => {
    const guard = vacuityGuard();
    let pairs = 0;
    fc.assert(
      fc.property(chainScenario, (scenario) => {
        let now = NOW;
        let subjectToken: SubjectTokenFacts = {
          subjectId: 'alice', exp: scenario.subjectExp, scopes: null, chain: [], chainGrantIds: [], audience: null, mayActSub: null,
          issuedAt: null, externalIssuedAt: NOW - 30, boundJkt: null,
        };
        let parent: GrantedDecision | null = null;
        const chainActors: LiveActor[] = [];
        const chainGrants: LiveGrant[] = [];
        for (const hop of scenario.hops) {
          now += hop.delay;
          const input: DecisionInput = {
            now,
            limits: { tokenTtl: 300, maxDelegationDepth: scenario.maxDelegationDepth },
            requestedResource: API,
            requestedScopes: hop.requestedScopes,
            subjectToken,
            // The first hop may be DPoP-bound; later hops prove the same key.
            dpopJkt: hop.dpop ? 'jkt-1' : subjectToken.boundJkt,
            actorId: hop.actor.id,
            live: {
              subject: { id: 'alice', status: 'active', disabledAt: null },
              actor: hop.actor,
              resource: { uri: API, scopes: scenario.resourceScopes },
              entitlements: scenario.entitlements,
              grants: hop.grants,
              chainActors: [...chainActors],
              chainGrants: [...chainGrants],
            },
          };
          const decision = run(input);
          guard.see(decision);
          if (!decision.granted) return;
          if (parent !== null) {
            pairs += 1;
            for (const scope of decision.scopes) expect(parent.scopes).toContain(scope);
            expect(decision.exp).toBeLessThanOrEqual(parent.exp);
            expect(decision.act.act).toEqual(parent.act);
            expect(decision.grantIds.slice(0, -1)).toEqual(parent.grantIds);
          }
          chainActors.push(hop.actor);
          chainGrants.push(hop.grants.find((g) => g.id === decision.grantId)!);
          subjectToken = mintedFacts(input, decision);
          parent = decision;
        }
      }),
      RUNS,
    );
    guard.check(30);
    expect(pairs).toBeGreaterThanOrEqual(20);
  });
});
