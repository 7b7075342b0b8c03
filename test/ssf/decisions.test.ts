/** The pure decisions of src/ssf: retry schedule, push outcomes, upstream event actions, SET claims. */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { backoffMs, pushOutcome } from '../../src/ssf/delivery.js';
import { ACCOUNT_DISABLED, initiatingEntity, SESSION_REVOKED, setClaims, VERIFICATION } from '../../src/ssf/events.js';
import { upstreamAction, subjectReference } from '../../src/ssf/upstream-events.js';
import { eventsDelivered } from '../../src/ssf/streams.js';
import { targetUrlRefusal } from '../../src/ssf/http-target.js';

const IDP = { issuer: 'https://idp.test', subjectClaim: 'sub' };

describe('retry schedule', () => {
  it('doubles from the base, never exceeds the maximum, never decreases', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 1, max: 10_000_000 }), fc.integer({ min: 1, max: 200 }), (base, max, failures) => {
        const delay = backoffMs(failures, base, max);
        expect(delay).toBeLessThanOrEqual(Math.max(max, 0));
        expect(delay).toBeGreaterThanOrEqual(Math.min(base, max));
        expect(backoffMs(failures + 1, base, max)).toBeGreaterThanOrEqual(delay);
      }),
    );
    expect([1, 2, 3, 4].map((n) => backoffMs(n, 1000, 5000))).toEqual([1000, 2000, 4000, 5000]);
  });
});

describe('push outcome (RFC 8935 §2.2-2.3)', () => {
  it('2xx delivered, 400 a final refusal, anything else retried', () => {
    expect([200, 202, 204].map(pushOutcome)).toEqual(['delivered', 'delivered', 'delivered']);
    expect(pushOutcome(400)).toBe('rejected');
    for (const status of [0, 301, 401, 403, 404, 413, 429, 500, 502, 503]) expect(pushOutcome(status)).toBe('failed');
  });
});

describe('upstream event actions', () => {
  it('session-revoked by iss_sub of the issuer revokes sessions before the event time', () => {
    expect(upstreamAction({ sub_id: { format: 'iss_sub', iss: IDP.issuer, sub: 'alice' }, events: { [SESSION_REVOKED]: { event_timestamp: 1000 } } }, IDP)).toEqual({
      action: 'revoke_sessions',
      subject: { kind: 'id', value: 'alice' },
      before: 1000,
      eventType: SESSION_REVOKED,
    });
  });

  it('account-disabled disables; verification and unknown events do nothing', () => {
    expect(upstreamAction({ sub_id: { format: 'opaque', id: 'bob' }, events: { [ACCOUNT_DISABLED]: {} } }, IDP)).toMatchObject({ action: 'disable_subject' });
    expect(upstreamAction({ sub_id: { format: 'opaque', id: 'x' }, events: { [VERIFICATION]: { state: 's' } } }, IDP)).toMatchObject({ action: 'none', why: 'verification' });
    expect(upstreamAction({ events: { 'urn:x': {} } }, IDP)).toMatchObject({ action: 'none' });
    expect(upstreamAction({}, IDP)).toMatchObject({ action: 'none' });
  });

  it('never acts on a subject named by another issuer, or by an identifier the issuer’s tokens do not use', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string().map((host) => `https://${host}`)), fc.string({ minLength: 1 }), fc.constantFrom(SESSION_REVOKED, ACCOUNT_DISABLED), (iss, sub, type) => {
        fc.pre(iss !== IDP.issuer);
        expect(upstreamAction({ sub_id: { format: 'iss_sub', iss, sub }, events: { [type]: { event_timestamp: 1 } } }, IDP).action).toBe('none');
      }),
    );
    // An issuer whose tokens name subjects by email: an opaque or iss_sub identifier is not a subject id.
    const byEmail = { issuer: IDP.issuer, subjectClaim: 'email' };
    expect(subjectReference({ format: 'opaque', id: 'alice' }, byEmail)).toBeNull();
    expect(subjectReference({ format: 'iss_sub', iss: IDP.issuer, sub: 'alice' }, byEmail)).toBeNull();
    expect(subjectReference({ format: 'email', email: 'A@x.test' }, byEmail)).toEqual({ kind: 'id', value: 'A@x.test' });
    expect(subjectReference({ format: 'email', email: 'A@x.test' }, IDP)).toEqual({ kind: 'email', value: 'a@x.test' });
  });

  it('takes any JSON without throwing', () => {
    fc.assert(fc.property(fc.jsonValue(), (value) => void upstreamAction({ sub_id: value, events: { [SESSION_REVOKED]: value } } as Record<string, unknown>, IDP)));
  });
});

describe('SET claims', () => {
  const event = { jti: 'j', eventType: SESSION_REVOKED, subject: { format: 'jwt_id', jti: 't' }, payload: { event_timestamp: 5, reason: 'grant_revoked', token_exp: 9 }, createdAt: new Date(7000) };
  it('name the revoked token by jwt_id with Deputy as its issuer; aud a string for one audience', () => {
    expect(setClaims(event, 'https://deputy', ['https://rs'])).toEqual({
      iss: 'https://deputy',
      aud: 'https://rs',
      jti: 'j',
      iat: 7,
      sub_id: { format: 'jwt_id', iss: 'https://deputy', jti: 't' },
      events: { [SESSION_REVOKED]: { event_timestamp: 5, reason_admin: { en: 'grant_revoked' }, initiating_entity: 'admin', token_exp: 9 } },
    });
    expect(setClaims(event, 'https://deputy', ['https://a', 'https://b']).aud).toEqual(['https://a', 'https://b']);
  });

  it('map every reason to a CAEP initiating entity', () => {
    expect(['rfc7009', 'admin', 'entitlement_withdrawn', 'upstream_session_revoked', 'anything'].map(initiatingEntity)).toEqual(['user', 'admin', 'policy', 'system', 'system']);
  });
});

describe('streams', () => {
  it('deliver what was requested and is supported; everything supported when nothing was requested', () => {
    expect(eventsDelivered(undefined)).toEqual([SESSION_REVOKED]);
    expect(eventsDelivered([])).toEqual([]);
    expect(eventsDelivered(['urn:x', SESSION_REVOKED])).toEqual([SESSION_REVOKED]);
  });

  it('refuse push endpoints Deputy must not reach', () => {
    for (const url of ['http://rs.example/ssf', 'https://10.0.0.1/ssf', 'https://127.0.0.1/ssf', 'https://169.254.169.254/', 'https://localhost/ssf', 'https://u:p@rs.example/', 'nope']) {
      expect(targetUrlRefusal(url, false)).not.toBeNull();
    }
    expect(targetUrlRefusal('https://rs.example/ssf', false)).toBeNull();
    expect(targetUrlRefusal('http://127.0.0.1:8080/ssf', true)).toBeNull();
    expect(targetUrlRefusal('https://169.254.169.254/', true)).not.toBeNull();
  });
});
