import { describe, expect, it } from '@jest/globals';
import { OAuthError, temporarilyUnavailable } from '../../src/errors.js';
import { describedAs, refusalReason } from '../../src/token-exchange/refusal-reason.js';

describe('refusal reasons', () => {
  it('uses the decision’s own reason code when the decision refused', () => {
    expect(refusalReason('decision', new OAuthError('invalid_scope', 'None of the requested scopes can be granted.'), 'empty_scope')).toBe('decision.empty_scope');
  });

  it('otherwise names the stage and the fixed description, without the stage’s own words', () => {
    expect(refusalReason('subject_token', new OAuthError('invalid_request', 'subject token is expired'))).toBe('subject_token.expired');
    expect(refusalReason('actor_token', new OAuthError('invalid_request', 'actor assertion was already used'))).toBe('actor_token.actor_assertion_was_already_used');
    expect(refusalReason('request', new OAuthError('invalid_request', 'subject_token is required'))).toBe('request.subject_token_is_required');
    expect(refusalReason('actor', new OAuthError('temporarily_unavailable', 'too many requests for this actor; retry later', undefined, 429))).toBe('actor.rate_limited');
  });

  it('names an unreachable dependency (a trusted issuer\'s JWKS) with a stable code, not its message', () => {
    expect(refusalReason('subject_token', temporarilyUnavailable('jwks fetch failed'))).toBe('subject_token.unavailable');
  });

  it('is bounded and made only of lowercase words', () => {
    const what = describedAs('request', `${'x'.repeat(200)} "quoted" <tag>`);
    expect(what.length).toBeLessThanOrEqual(64);
    expect(what).toMatch(/^[a-z0-9_]+$/);
    expect(describedAs('request', '!!!')).toBe('refused');
  });
});
