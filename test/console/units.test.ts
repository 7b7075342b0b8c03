/**
 * The console's pure pieces: escaping, grant warnings, and why a token is inactive.
 */
import { describe, expect, it } from '@jest/globals';
import { inactiveReasons, type ChainFacts } from '../../src/admin/token-chain.js';
import { grantWarnings } from '../../src/console/grant-warnings.js';
import { html } from '../../src/console/html.js';

describe('html', () => {
  it('escapes every interpolated string, in text and in attributes', () => {
    const hostile = `<script>alert("x")</script>' onload='x`;
    expect(html`<p title="${hostile}">${hostile}</p>`.value).toBe(
      '<p title="&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39; onload=&#39;x">&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&#39; onload=&#39;x</p>',
    );
  });

  it('keeps nested templates as markup, joins arrays, and drops null, undefined and booleans', () => {
    const items = ['a&b', 'c'].map((x) => html`<li>${x}</li>`);
    expect(html`<ul>${items}</ul>${null}${undefined}${false}${true}${0}`.value).toBe('<ul><li>a&amp;b</li><li>c</li></ul>0');
  });
});

describe('grantWarnings', () => {
  it('warns about scopes beyond the subject\'s entitlements or the actor\'s ceiling', () => {
    const warnings = grantWarnings(['read', 'write', 'admin'], { subject: 'alice', actor: 'agent:x', entitled: ['read', 'write'], ceiling: ['read', 'admin'] });
    expect(warnings.map((w) => [w.scope, w.reason])).toEqual([
      ['write', 'above_actor_ceiling'],
      ['admin', 'not_entitled'],
    ]);
    expect(grantWarnings(['read'], { subject: 'alice', actor: 'agent:x', entitled: ['read'], ceiling: ['read'] })).toEqual([]);
  });
});

describe('inactiveReasons', () => {
  const now = new Date('2030-01-01T00:00:00Z');
  const past = new Date('2029-12-31T00:00:00Z');
  const future = new Date('2030-01-02T00:00:00Z');
  const live: ChainFacts = {
    revokedAt: null,
    expiresAt: future,
    subject: { id: 'alice', status: 'active', disabledSinceIssued: false },
    subjectId: 'alice',
    actorIds: ['agent:a', 'agent:b'],
    actors: [
      { id: 'agent:a', status: 'active', expiresAt: null, disabledSinceIssued: false },
      { id: 'agent:b', status: 'active', expiresAt: future, disabledSinceIssued: false },
    ],
    grantIds: ['g1', 'g2'],
    grants: [
      { id: 'g1', actorId: 'agent:a', scopes: ['read'], expiresAt: null, revokedAt: null },
      { id: 'g2', actorId: 'agent:b', scopes: ['read'], expiresAt: future, revokedAt: null },
    ],
    ancestors: [{ jti: 'parent', revokedAt: null }],
  };

  it('finds nothing wrong with a live chain', () => {
    expect(inactiveReasons(live, now)).toEqual([]);
  });

  it('names every broken link', () => {
    const codes = (facts: Partial<ChainFacts>) => inactiveReasons({ ...live, ...facts }, now).map((r) => r.code);
    expect(codes({ revokedAt: past })).toEqual(['token_revoked']);
    expect(codes({ expiresAt: now })).toEqual(['token_expired']);
    expect(codes({ ancestors: [{ jti: 'parent', revokedAt: past }] })).toEqual(['ancestor_revoked']);
    expect(codes({ subject: { id: 'alice', status: 'disabled', disabledSinceIssued: true } })).toEqual(['subject_disabled']);
    expect(codes({ subject: null })).toEqual(['subject_disabled']);
    expect(codes({ actors: [live.actors[0]!, { id: 'agent:b', status: 'disabled', expiresAt: null, disabledSinceIssued: true }] })).toEqual(['actor_disabled']);
    expect(codes({ actors: [live.actors[0]!, { id: 'agent:b', status: 'active', expiresAt: past, disabledSinceIssued: false }] })).toEqual(['actor_expired']);
    // A kill switch is final: re-enabled since, the token stays inactive.
    expect(codes({ subject: { id: 'alice', status: 'active', disabledSinceIssued: true } })).toEqual(['subject_disabled_since_issued']);
    expect(codes({ actors: [live.actors[0]!, { id: 'agent:b', status: 'active', expiresAt: null, disabledSinceIssued: true }] })).toEqual([
      'actor_disabled_since_issued',
    ]);
    expect(codes({ actors: [live.actors[0]!] })).toEqual(['actor_disabled']);
    expect(codes({ grants: [live.grants[0]!, { ...live.grants[1]!, revokedAt: past }] })).toEqual(['grant_revoked']);
    expect(codes({ grants: [live.grants[0]!, { ...live.grants[1]!, expiresAt: past }] })).toEqual(['grant_expired']);
    expect(codes({ grants: [live.grants[0]!] })).toEqual(['grant_missing']);
  });
});
