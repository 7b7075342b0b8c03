/**
 * The act chain and the policies an API states on it (pure): the order of the chain
 * (outermost = current actor), each rule refusing on its own, and properties over random chains.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { chainOf, checkChain, type ActClaim, type ChainPolicy } from '../../src/resource-server/act-chain.js';

const nest = (chain: string[]): ActClaim | undefined =>
  chain.reduceRight<ActClaim | undefined>((inner, sub) => (inner ? { sub, act: inner } : { sub }), undefined);

describe('chainOf', () => {
  it('reads the outermost act as the current actor, then the ones before it', () => {
    expect(chainOf({ sub: 'agent:c', act: { sub: 'agent:b', act: { sub: 'agent:a' } } })).toEqual(['agent:c', 'agent:b', 'agent:a']);
    expect(chainOf(undefined)).toEqual([]);
  });

  it.each([
    ['a string', 'agent:a'],
    ['an array', [{ sub: 'agent:a' }]],
    ['no sub', { act: { sub: 'x' } }],
    ['an empty sub', { sub: '' }],
    ['a numeric sub', { sub: 7 }],
    ['a malformed nested act', { sub: 'agent:a', act: 'agent:b' }],
    ['null', null],
  ])('refuses %s', (_name, act) => {
    expect(chainOf(act)).toBeNull();
  });

  it('refuses a chain deeper than any Deputy mints', () => {
    expect(chainOf(nest(Array.from({ length: 33 }, (_, i) => `a${i}`)))).toBeNull();
    expect(chainOf(nest(Array.from({ length: 32 }, (_, i) => `a${i}`)))).toHaveLength(32);
  });

  it('property: nesting then reading gives the chain back', () => {
    fc.assert(fc.property(fc.array(fc.string({ minLength: 1 }), { maxLength: 32 }), (chain) => {
      expect(chainOf(nest(chain))).toEqual(chain);
    }));
  });
});

describe('checkChain', () => {
  const facts = { subject: 'alice', chain: ['agent:b', 'agent:a'], scopes: ['read', 'write'] };
  const allowed = (policy: ChainPolicy, over = {}) => checkChain({ ...facts, ...over }, policy).allowed;

  it('allows what every rule allows', () => {
    expect(allowed({ maxHops: 2, requireActor: true, allowedActors: ['agent:b'], allowedInChain: ['agent:a', 'agent:b'], forbiddenActors: ['agent:x'], allowedSubjects: ['alice'], scopes: ['write'] })).toBe(true);
    expect(allowed({})).toBe(true);
  });

  it.each<[string, ChainPolicy, object]>([
    ['maxHops', { maxHops: 1 }, {}],
    ['requireActor', { requireActor: true }, { chain: [] }],
    ['allowedActors (current actor)', { allowedActors: ['agent:a'] }, {}],
    ['allowedActors without any actor', { allowedActors: ['agent:a'] }, { chain: [] }],
    ['allowedInChain', { allowedInChain: ['agent:b'] }, {}],
    ['forbiddenActors (anywhere in the chain)', { forbiddenActors: ['agent:a'] }, {}],
    ['allowedSubjects', { allowedSubjects: ['bob'] }, {}],
    ['scopes', { scopes: ['delete'] }, {}],
  ])('%s refuses as insufficient_scope', (_rule, policy, over) => {
    const verdict = checkChain({ ...facts, ...over }, policy);
    expect(verdict).toMatchObject({ allowed: false, error: 'insufficient_scope' });
  });

  it('names the needed scopes on a missing scope', () => {
    expect(checkChain(facts, { scopes: ['read', 'delete'] })).toMatchObject({ allowed: false, scope: ['read', 'delete'] });
  });

  const actor = fc.constantFrom('agent:a', 'agent:b', 'agent:c', 'agent:d');
  const arbitraryFacts = fc.record({ subject: fc.constantFrom('alice', 'bob'), chain: fc.array(actor, { maxLength: 5 }), scopes: fc.subarray(['read', 'write', 'delete']) });

  it('property: maxHops allows exactly the chains no longer than it', () => {
    fc.assert(fc.property(arbitraryFacts, fc.nat(6), (f, maxHops) => {
      expect(checkChain(f, { maxHops }).allowed).toBe(f.chain.length <= maxHops);
    }));
  });

  it('property: allowedActors judges the outermost actor only; allowedInChain and forbiddenActors every actor', () => {
    fc.assert(fc.property(arbitraryFacts, fc.subarray(['agent:a', 'agent:b', 'agent:c', 'agent:d']), (f, listed) => {
      expect(checkChain(f, { allowedActors: listed }).allowed).toBe(f.chain.length > 0 && listed.includes(f.chain[0]!));
      expect(checkChain(f, { allowedInChain: listed }).allowed).toBe(f.chain.every((a) => listed.includes(a)));
      expect(checkChain(f, { forbiddenActors: listed }).allowed).toBe(!f.chain.some((a) => listed.includes(a)));
    }));
  });

  it('property: adding rules never turns a refusal into an allowance (policies only narrow)', () => {
    const policy = fc.record(
      { maxHops: fc.nat(5), requireActor: fc.boolean(), allowedActors: fc.subarray(['agent:a', 'agent:b']), forbiddenActors: fc.subarray(['agent:c']), scopes: fc.subarray(['read', 'write']) },
      { requiredKeys: [] },
    );
    fc.assert(fc.property(arbitraryFacts, policy, policy, (f, first, second) => {
      if (!checkChain(f, first).allowed) expect(checkChain(f, { ...second, ...first }).allowed).toBe(false);
    }));
  });
});
