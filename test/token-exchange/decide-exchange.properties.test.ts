/**
 * Properties of decideExchange over generated clients, actors and parent records: it grants
 * only to an actor the client may present and only on a live parent record, and otherwise it
 * is exactly `decide` on the chain the record gives.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import {
  decide,
  decideExchange,
  type ExchangeDecision,
  type ExchangeDecisionInput,
  type LiveActor,
  type LiveGrant,
  type ParentTokenRecord,
} from '../../src/token-exchange/decide.js';

const NOW = 1_700_000_000;
const API = 'https://api.example.com';
const ACTORS = ['agent:a', 'agent:b', 'agent:c'] as const;
const RUNS = { numRuns: 500 };

const actorRow = (id: string): LiveActor => ({
  id,
  status: 'active',
  disabledAt: null,
  expiresAt: null,
  scopeCeiling: ['read', 'write'],
  resources: [API],
  maxTokenTtl: null,
  mayDelegateTo: [...ACTORS],
});
const grantRow = (actorId: string): LiveGrant => ({ id: `g-${actorId}`, actorId, scopes: ['read', 'write'], expiresAt: null, revokedAt: null });

/** true once in `odds` draws. */
const rarely = (odds: number) => fc.integer({ min: 1, max: odds }).map((n) => n === 1);

const actorId = fc.option(fc.constantFrom(...ACTORS), { nil: null, freq: 6 });
const client = fc.option(
  fc.record({ actorId: fc.option(fc.constantFrom(...ACTORS), { nil: null }), allowedActors: fc.subarray([...ACTORS]) }),
  { nil: null, freq: 8 },
);
const parent: fc.Arbitrary<ParentTokenRecord> = fc.record({
  jti: fc.constantFrom('parent-jti', 'parent-jti', 'parent-jti', 'other-jti'),
  ancestorJtis: fc.constantFrom<string[]>([], ['j1'], ['j1', 'j2']),
  subjectId: fc.constantFrom('alice', 'alice', 'alice', 'bob'),
  actorIds: fc.constantFrom<string[]>(['agent:a'], ['agent:c']),
  grantIds: fc.constant(['g-agent:a']),
  resource: fc.constant(API),
  scope: fc.constantFrom('read', 'read write', ''),
  digest: fc.constant(null),
  expiresAt: fc.integer({ min: NOW - 10, max: NOW + 500 }),
  issuedAt: fc.double({ min: NOW - 100, max: NOW, noNaN: true }),
  dpopJkt: fc.constantFrom<string | null>(null, null, 'jkt'),
  revoked: rarely(4),
  revokedAncestorJtis: fc.constantFrom<string[]>([], [], [], ['j1']),
  subjectTokenDigest: fc.constant(null),
}).map((record) => ({ ...record, grantIds: record.actorIds.map((id) => `g-${id}`) }));

const inputs: fc.Arbitrary<ExchangeDecisionInput> = fc
  .record({
    chain: fc.boolean(),
    actorId,
    client,
    parent: fc.option(parent, { nil: null, freq: 6 }),
    strayParent: rarely(10),
    subjectTokenRevoked: rarely(6),
    dpopJkt: fc.constantFrom<string | null>(null, 'jkt'),
    requestedScopes: fc.constantFrom<string[] | null>(null, ['read'], ['write', 'read']),
  })
  .map(({ chain, actorId, client, parent, strayParent, subjectTokenRevoked, dpopJkt, requestedScopes }) => {
    const chainActors = (parent?.actorIds ?? []).map(actorRow);
    return {
      now: NOW,
      limits: { tokenTtl: 300, maxDelegationDepth: 3 },
      requestedResource: API,
      requestedScopes,
      subjectToken: {
        subjectId: 'alice',
        exp: NOW + 3600,
        scopes: chain ? ['read', 'write'] : null,
        chain: [],
        chainGrantIds: [],
        audience: chain ? API : null,
        mayActSub: null,
        issuedAt: chain ? NOW - 10 : null,
        externalIssuedAt: chain ? null : NOW - 60,
        boundJkt: null,
      },
      parentJti: chain ? 'parent-jti' : null,
      dpopJkt,
      actorId,
      live: {
        subject: { id: 'alice', status: 'active', disabledAt: null },
        actor: actorId === null ? null : actorRow(actorId),
        resource: { uri: API, scopes: ['read', 'write'] },
        entitlements: [
          { scope: 'read', expiresAt: null },
          { scope: 'write', expiresAt: null },
        ],
        grants: actorId === null ? [] : [grantRow(actorId)],
        chainActors,
        chainGrants: chainActors.map((actor) => grantRow(actor.id)),
        client,
        // An external token has no record, except in the rare malformed case.
        parent: chain || strayParent ? parent : null,
        subjectTokenRevoked,
      },
    } satisfies ExchangeDecisionInput;
  });

const mayPresent = (input: ExchangeDecisionInput) =>
  input.actorId !== null && input.live.client !== null && (input.live.client.actorId === input.actorId || input.live.client.allowedActors.includes(input.actorId));

/** The subject token is live: its IdP token (presented, or the chain's root) was not revoked at Deputy, and a chain's parent record is live. */
const parentLive = (input: ExchangeDecisionInput) => {
  if (input.live.subjectTokenRevoked) return false;
  const record = input.live.parent;
  if (input.parentJti === null) return record === null;
  return record !== null && record.jti === input.parentJti && record.subjectId === input.subjectToken.subjectId && !record.revoked && record.revokedAncestorJtis.length === 0;
};

describe('decideExchange: properties', () => {
  it('grants only to an actor the client may present, on a live parent record', () => {
    let granted = 0;
    fc.assert(
      fc.property(inputs, (input) => {
        const decision = decideExchange(input);
        if (!decision.granted) return;
        granted += 1;
        expect(mayPresent(input)).toBe(true);
        expect(parentLive(input)).toBe(true);
        // The person's IdP token (presented or at the chain's root) was not revoked at Deputy.
        expect(input.live.subjectTokenRevoked).toBe(false);
        expect(decision.actorId).toBe(input.actorId);
      }),
      RUNS,
    );
    expect(granted).toBeGreaterThan(10);
  });

  it('refuses at the actor step exactly when the client may not present the actor, and then names no actor', () => {
    fc.assert(
      fc.property(inputs, (input) => {
        const decision = decideExchange(input);
        const atActor = !decision.granted && decision.stage === 'actor';
        expect(atActor).toBe(!mayPresent(input));
        if (atActor) expect(decision).toMatchObject({ actorId: null, actorIds: null, error: 'invalid_request' });
      }),
      RUNS,
    );
  });

  it('refuses at the live-facts step exactly when the client may present the actor but the parent record is not live', () => {
    fc.assert(
      fc.property(inputs, (input) => {
        const decision = decideExchange(input);
        const atLiveFacts = !decision.granted && decision.stage === 'live_facts';
        expect(atLiveFacts).toBe(mayPresent(input) && !parentLive(input));
        if (atLiveFacts) expect(decision).toMatchObject({ error: 'invalid_request', description: 'subject token is not active', dropped: [] });
      }),
      RUNS,
    );
  });

  it('past those two rules, is decide on the chain the parent record gives', () => {
    fc.assert(
      fc.property(inputs, (input) => {
        fc.pre(mayPresent(input) && parentLive(input));
        const record = input.live.parent;
        const subjectToken = record
          ? {
              ...input.subjectToken,
              scopes: record.scope.split(' ').filter(Boolean),
              chain: record.actorIds,
              chainGrantIds: record.grantIds,
              audience: record.resource,
              exp: Math.min(input.subjectToken.exp, record.expiresAt),
              issuedAt: record.issuedAt,
              boundJkt: record.dpopJkt,
            }
          : input.subjectToken;
        const expected = decide({ ...input, subjectToken, actorId: input.actorId! });
        const decision: ExchangeDecision = decideExchange(input);
        const actorIds = [...(record?.actorIds ?? []), input.actorId!];
        expect(decision).toEqual(expected.granted ? { ...expected, actorId: input.actorId } : { ...expected, stage: 'decision', actorId: input.actorId, actorIds });
      }),
      RUNS,
    );
  });

  it('names the chain with the new actor on every outcome past the actor step', () => {
    fc.assert(
      fc.property(inputs, (input) => {
        const decision = decideExchange(input);
        if (!decision.granted && decision.stage === 'actor') return;
        expect(decision.actorIds).toEqual([...(input.live.parent?.actorIds ?? []), input.actorId]);
      }),
      RUNS,
    );
  });
});
