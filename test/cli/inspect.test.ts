/** The pure conclusions of `deputy tokens inspect`: the act chain and the reasons a token is inactive. */
import { describe, expect, it } from '@jest/globals';
import { actChain, drawChain, inactiveReasons, type RecordFacts } from '../../src/cli/inspect.js';

const NOW = new Date('2030-06-01T00:00:00Z');

const token: RecordFacts['token'] = {
  jti: 'j', subject: 'alice', actors: ['agent:a', 'agent:b'], client_id: 'app', resource: 'https://api', scope: 'read',
  grant_id: 'g2', grant_ids: ['g1', 'g2'], issued_at: '2030-05-31T23:59:00.000Z', expires_at: '2030-06-01T00:04:00.000Z', revoked_at: null,
};
const grant = (id: string, actor: string) => ({
  id, subject: 'alice', actor, resource: 'https://api', scopes: ['read'], expires_at: null, revoked_at: null, revoked_by: null, created_at: '2030-01-01T00:00:00.000Z',
  approved_by: null, approval_request_id: null, just_in_time: false,
});
const actor = (id: string) => ({
  id, kind: 'agent' as const, owner: 'alice', purpose: '', status: 'active' as const, expires_at: null, jwks: null, workload: null,
  scope_ceiling: [], resources: [], max_token_ttl: null, may_delegate_to: [], last_used_at: null, created_at: '2030-01-01T00:00:00.000Z',
});
const live = (): RecordFacts => ({
  token,
  grants: [grant('g1', 'agent:a'), grant('g2', 'agent:b')],
  subject: { id: 'alice', email: null, status: 'active', created_at: '2030-01-01T00:00:00.000Z' },
  actors: [actor('agent:a'), actor('agent:b')],
});

describe('actChain and drawChain', () => {
  it('reads the nested act claim oldest actor first (the acting one is outermost)', () => {
    expect(actChain({ act: { sub: 'agent:c', act: { sub: 'agent:b', act: { sub: 'agent:a' } } } })).toEqual(['agent:a', 'agent:b', 'agent:c']);
    expect(actChain({ sub: 'alice' })).toEqual([]);
    expect(actChain({ act: { act: { sub: 'agent:a' } } })).toEqual(['agent:a', '?']);
  });

  it('stops at 32 levels of nesting', () => {
    let act: Record<string, unknown> = { sub: 'x' };
    for (let i = 0; i < 100; i++) act = { sub: `a${i}`, act };
    expect(actChain({ act })).toHaveLength(32);
  });

  it('draws person → actor → … with the acting actor marked', () => {
    expect(drawChain('alice', ['agent:a', 'agent:b'])).toEqual(['alice (subject)', '└─ agent:a', '   └─ agent:b  ← acting']);
  });
});

describe('inactiveReasons', () => {
  it('finds nothing while every source is live', () => {
    expect(inactiveReasons(live(), NOW)).toEqual([]);
  });

  it('names each reason the introspection rules would apply', () => {
    const facts = live();
    facts.token = { ...token, revoked_at: '2030-05-31T23:59:30.000Z', expires_at: '2030-05-31T23:59:59.000Z' };
    facts.grants = [{ ...grant('g1', 'agent:a'), revoked_at: '2030-05-31T23:59:40.000Z', revoked_by: 'bootstrap' }, { ...grant('g2', 'agent:b'), expires_at: '2030-05-31T00:00:00.000Z' }];
    facts.subject = { ...facts.subject!, status: 'disabled' };
    facts.actors = [{ ...actor('agent:a'), status: 'disabled' }, { ...actor('agent:b'), expires_at: '2030-05-01T00:00:00.000Z' }];
    expect(inactiveReasons(facts, NOW)).toEqual([
      'the token was revoked at 2030-05-31T23:59:30.000Z',
      'the token expired at 2030-05-31T23:59:59.000Z',
      'grant g1 (alice → agent:a) was revoked at 2030-05-31T23:59:40.000Z by bootstrap',
      'grant g2 expired at 2030-05-31T00:00:00.000Z',
      'subject alice is disabled',
      'actor agent:a is disabled',
      'actor agent:b expired at 2030-05-01T00:00:00.000Z',
    ]);
  });
});
