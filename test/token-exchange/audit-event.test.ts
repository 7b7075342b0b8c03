/**
 * The exchange's audit event, from what the exchange learnt and how it ended: one test per way
 * an exchange ends, with the exact event.
 */
import { describe, expect, it } from '@jest/globals';
import { OAuthError, invalidRequest, temporarilyUnavailable } from '../../src/errors.js';
import type { ExchangeDecision } from '../../src/token-exchange/decision-types.js';
import { exchangeAuditEvent, type ExchangeTrail } from '../../src/token-exchange/audit-event.js';
import type { ExchangeRequest } from '../../src/token-exchange/request.js';

const AT = new Date('2026-01-02T03:04:05.678Z');
const REQUEST: ExchangeRequest = { subjectToken: 'eyJ.secret.token', subjectTokenKind: 'external', actorToken: null, resource: 'https://api.test', scopes: ['read', 'admin'] };

const started = (): ExchangeTrail => ({ at: AT, requestId: 'req-1', clientId: 'app-a', request: null, subjectId: null, decision: null });
const parsed = (request: ExchangeRequest = REQUEST): ExchangeTrail => ({ ...started(), request });
const verified = (): ExchangeTrail => ({ ...parsed(), subjectId: 'alice' });

const GRANTED: ExchangeDecision = {
  granted: true,
  scopes: ['read'],
  exp: 1_800_000_000,
  act: { sub: 'agent:b', act: { sub: 'agent:a' } },
  actorIds: ['agent:a', 'agent:b'],
  actorId: 'agent:b',
  grantId: 'g-b',
  grantIds: ['g-a', 'g-b'],
  dropped: [{ scope: 'admin', reason: 'not_delegated' }],
};

const base = { at: AT, requestId: 'req-1', clientId: 'app-a' };

describe('exchangeAuditEvent', () => {
  it('a granted exchange: the token’s jti, scopes granted and dropped, the chain and the grant', () => {
    expect(exchangeAuditEvent({ ...verified(), decision: GRANTED }, { granted: true, jti: 'jti-1' })).toEqual({
      ...base,
      type: 'token.exchanged',
      resourceUri: 'https://api.test',
      subjectId: 'alice',
      actorIds: ['agent:a', 'agent:b'],
      scopeRequested: ['read', 'admin'],
      scopeGranted: ['read'],
      scopeDenied: [{ scope: 'admin', reason: 'not_delegated' }],
      jti: 'jti-1',
      grantId: 'g-b',
    });
  });

  it('without a scope parameter, the scopes requested are those granted and dropped', () => {
    const event = exchangeAuditEvent({ ...parsed({ ...REQUEST, scopes: null }), subjectId: 'alice', decision: GRANTED }, { granted: true, jti: 'jti-1' });
    expect(event.scopeRequested).toEqual(['read', 'admin']);
  });

  it('a request that did not parse: who asked, and why not', () => {
    const error = invalidRequest('unsupported requested_token_type');
    expect(exchangeAuditEvent(started(), { granted: false, stage: 'request', error })).toEqual({
      ...base,
      type: 'token.exchange_denied',
      error: 'invalid_request',
      jti: null,
      scopeGranted: [],
      details: { reason: 'request.unsupported_requested_token_type' },
    });
  });

  it('a subject token refused: the request’s resource and scopes, no subject', () => {
    const event = exchangeAuditEvent(parsed({ ...REQUEST, scopes: null }), { granted: false, stage: 'subject_token', error: invalidRequest('subject token signature is invalid') });
    expect(event).toEqual({
      ...base,
      type: 'token.exchange_denied',
      resourceUri: 'https://api.test',
      scopeRequested: [],
      error: 'invalid_request',
      jti: null,
      scopeGranted: [],
      details: { reason: 'subject_token.signature_is_invalid' },
    });
  });

  it('an actor the client may not present: the subject, but no actor', () => {
    const decision: ExchangeDecision = {
      granted: false,
      stage: 'actor',
      reason: 'actor_not_bound_to_client',
      error: 'invalid_request',
      description: 'the client may not act as this actor',
      dropped: [],
      actorId: null,
      actorIds: null,
    };
    const error = new OAuthError(decision.error, decision.description, decision.reason);
    const event = exchangeAuditEvent({ ...verified(), decision }, { granted: false, stage: 'actor', error });
    expect(event).toEqual({
      ...base,
      type: 'token.exchange_denied',
      resourceUri: 'https://api.test',
      scopeRequested: ['read', 'admin'],
      subjectId: 'alice',
      scopeDenied: [],
      error: 'invalid_request',
      jti: null,
      scopeGranted: [],
      details: { reason: 'actor.the_client_may_not_act_as_this_actor' },
    });
    expect(event.actorIds).toBeUndefined();
  });

  it('a parent token that is not live: the chain with the new actor, the reason of its step', () => {
    const decision: ExchangeDecision = {
      granted: false,
      stage: 'live_facts',
      reason: 'parent_token_revoked',
      error: 'invalid_request',
      description: 'subject token is not active',
      dropped: [],
      actorId: 'agent:b',
      actorIds: ['agent:a', 'agent:b'],
    };
    const event = exchangeAuditEvent({ ...verified(), decision }, { granted: false, stage: 'live_facts', error: new OAuthError('invalid_request', decision.description, decision.reason) });
    expect(event).toMatchObject({ actorIds: ['agent:a', 'agent:b'], error: 'invalid_request', details: { reason: 'live_facts.subject_token_is_not_active' } });
  });

  it('a refusal of the decision: its own reason code and the scopes it dropped', () => {
    const decision: ExchangeDecision = {
      granted: false,
      stage: 'decision',
      reason: 'empty_scope',
      error: 'invalid_scope',
      description: 'None of the requested scopes can be granted.',
      dropped: [{ scope: 'admin', reason: 'no_entitlement' }],
      actorId: 'agent:a',
      actorIds: ['agent:a'],
    };
    const event = exchangeAuditEvent({ ...verified(), decision }, { granted: false, stage: 'decision', error: new OAuthError('invalid_scope', decision.description, decision.reason) });
    expect(event).toEqual({
      ...base,
      type: 'token.exchange_denied',
      resourceUri: 'https://api.test',
      scopeRequested: ['read', 'admin'],
      subjectId: 'alice',
      actorIds: ['agent:a'],
      scopeDenied: [{ scope: 'admin', reason: 'no_entitlement' }],
      error: 'invalid_scope',
      jti: null,
      scopeGranted: [],
      details: { reason: 'decision.empty_scope' },
    });
  });

  it('a failure while issuing a granted decision: the grant’s facts, no token', () => {
    const event = exchangeAuditEvent({ ...verified(), decision: GRANTED }, { granted: false, stage: 'issue', error: temporarilyUnavailable('signing key rotated twice') });
    expect(event).toEqual({
      ...base,
      type: 'token.exchange_denied',
      resourceUri: 'https://api.test',
      subjectId: 'alice',
      actorIds: ['agent:a', 'agent:b'],
      scopeRequested: ['read', 'admin'],
      scopeDenied: [{ scope: 'admin', reason: 'not_delegated' }],
      grantId: 'g-b',
      error: 'temporarily_unavailable',
      jti: null,
      scopeGranted: [],
      details: { reason: 'issue.unavailable' },
    });
  });

  it('never carries the tokens of the request', () => {
    const request = { ...REQUEST, actorToken: 'eyJ.actor.token' };
    for (const end of [{ granted: true, jti: 'j' }, { granted: false, stage: 'subject_token', error: invalidRequest('x') }] as const) {
      const text = JSON.stringify(exchangeAuditEvent({ ...parsed(request), subjectId: 'alice', decision: GRANTED }, end));
      expect(text).not.toContain('secret');
      expect(text).not.toContain('actor.token');
    }
  });

  it('refuses to describe a grant without a granted decision', () => {
    expect(() => exchangeAuditEvent(verified(), { granted: true, jti: 'j' })).toThrow();
  });
});
