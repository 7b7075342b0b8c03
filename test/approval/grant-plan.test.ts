/**
 * What an approval creates: never more than was asked, never more than the person holds, and a
 * grant carrying an approval scope is just-in-time and short-lived.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { planApprovedGrant, type ApprovalContext } from '../../src/approval/grant-plan.js';

const context: ApprovalContext = {
  now: 1_000_000,
  requestedScopes: ['read', 'write', 'deploy'],
  requestedDurationSeconds: 3600,
  entitledScopes: ['read', 'deploy'],
  approvalScopes: ['deploy'],
  justInTimeTtl: 900,
};

describe('planApprovedGrant', () => {
  it('grants the approved scopes the person is entitled to, for the approved time', () => {
    expect(planApprovedGrant({ scopes: ['read'], durationSeconds: 600 }, context)).toEqual({
      ok: true,
      scopes: ['read'],
      justInTime: false,
      expiresAt: 1_000_600,
      notEntitled: [],
    });
  });

  it('leaves out the scopes the person is not entitled to, and names them', () => {
    const plan = planApprovedGrant({ scopes: ['read', 'write'], durationSeconds: 600 }, context);
    expect(plan).toMatchObject({ ok: true, scopes: ['read'], notEntitled: ['write'] });
  });

  it('refuses a scope that was not requested', () => {
    expect(planApprovedGrant({ scopes: ['admin'], durationSeconds: 60 }, context)).toMatchObject({ ok: false, reason: 'scope_not_requested' });
  });

  it('refuses a longer time than requested, and a non-positive or fractional one', () => {
    for (const durationSeconds of [3601, 0, -5, 1.5, Number.NaN]) {
      expect(planApprovedGrant({ scopes: ['read'], durationSeconds }, context)).toMatchObject({ ok: false, reason: 'duration_not_allowed' });
    }
  });

  it('refuses when nothing approved is held by the person', () => {
    expect(planApprovedGrant({ scopes: ['write'], durationSeconds: 60 }, context)).toMatchObject({ ok: false, reason: 'nothing_to_grant', notEntitled: ['write'] });
  });

  it('makes a grant carrying an approval scope just-in-time, capped at the TTL', () => {
    expect(planApprovedGrant({ scopes: ['deploy', 'read'], durationSeconds: 3600 }, context)).toMatchObject({
      ok: true,
      justInTime: true,
      expiresAt: 1_000_900,
    });
    expect(planApprovedGrant({ scopes: ['deploy'], durationSeconds: 60 }, context)).toMatchObject({ ok: true, justInTime: true, expiresAt: 1_000_060 });
  });

  it('property: the plan is within the request, the entitlements and the lifetime bounds', () => {
    const scope = fc.constantFrom<string>('a', 'b', 'c', 'd', 'e');
    fc.assert(
      fc.property(
        fc.array(scope),
        fc.array(scope),
        fc.array(scope),
        fc.array(scope),
        fc.integer({ min: -10, max: 10_000 }),
        fc.integer({ min: 1, max: 10_000 }),
        fc.integer({ min: 1, max: 2_000 }),
        (requested, entitled, approvalScopes, answer, duration, requestedDuration, ttl) => {
          const ctx = { now: 5_000, requestedScopes: requested, requestedDurationSeconds: requestedDuration, entitledScopes: entitled, approvalScopes, justInTimeTtl: ttl };
          const plan = planApprovedGrant({ scopes: answer, durationSeconds: duration }, ctx);
          if (!plan.ok) return;
          expect(plan.scopes.length).toBeGreaterThan(0);
          for (const s of plan.scopes) {
            expect(requested).toContain(s);
            expect(entitled).toContain(s);
            expect(answer).toContain(s);
          }
          expect(plan.expiresAt).toBeGreaterThan(ctx.now);
          expect(plan.expiresAt - ctx.now).toBeLessThanOrEqual(Math.min(duration, requestedDuration));
          const carriesApprovalScope = plan.scopes.some((s) => approvalScopes.includes(s));
          expect(plan.justInTime).toBe(carriesApprovalScope);
          if (carriesApprovalScope) expect(plan.expiresAt - ctx.now).toBeLessThanOrEqual(ttl);
        },
      ),
    );
  });
});
