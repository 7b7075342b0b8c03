/**
 * The pure parts of the person's approval pages: where sign-in may return to, whom a sign-in
 * names, the webhook's body and network rules, and the pages' escaping of an agent's text.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { notificationBody, webhookRefusal } from '../../src/approval/web/notify.js';
import { requestBody, pendingListBody } from '../../src/approval/web/pages.js';
import { safeReturnPath } from '../../src/approval/web/router.js';
import type { ApprovalRequest } from '../../src/approval/store.js';
import { loginSettingsOf, signedInSubjectOf } from '../../src/approval/web/login.js';
import type { TrustedIssuerRecord } from '../../src/trust/trusted-issuer-token.js';
import { loadConfig } from '../../src/config.js';
import { escapeHtml } from '../../src/console/html.js';

const request = (overrides: Partial<ApprovalRequest> = {}): ApprovalRequest => ({
  id: '00000000-0000-4000-8000-000000000001',
  clientId: 'app-a',
  subjectId: 'alice',
  actorId: 'agent:a',
  resource: 'https://api.test/tickets',
  scopes: ['read', 'write'],
  durationSeconds: 3600,
  purpose: 'triage',
  bindingMessage: 'W4SCT',
  status: 'pending',
  requestedAt: new Date('2026-01-01T00:00:00Z'),
  expiresAt: new Date('2026-01-01T00:10:00Z'),
  decidedAt: null,
  decidedBy: null,
  approvedScopes: [],
  approvedDurationSeconds: null,
  grantId: null,
  cancelReason: null,
  tokenIssued: false,
  ...overrides,
});

describe('safeReturnPath', () => {
  it('keeps paths under /approve', () => {
    expect(safeReturnPath('/approve')).toBe('/approve');
    expect(safeReturnPath('/approve/requests/00000000-0000-4000-8000-000000000001')).toBe('/approve/requests/00000000-0000-4000-8000-000000000001');
  });
  it('sends anything else to /approve (no open redirect)', () => {
    for (const bad of ['', 'https://evil.test/approve', '//evil.test/approve', '/approve/../console', '/approve?x=https://evil', '/approvex', '/approve\\evil', '/console']) {
      expect(safeReturnPath(bad)).toBe('/approve');
    }
  });
  it('property: the result is always a path under /approve on this origin', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        const out = safeReturnPath(s);
        expect(out === '/approve' || out.startsWith('/approve/')).toBe(true);
        expect(new URL(out, 'https://deputy.test').origin).toBe('https://deputy.test');
        expect(out).not.toContain('..');
      }),
    );
  });
});

describe('notification', () => {
  it('carries the request facts and the link', () => {
    expect(notificationBody(request(), 'https://deputy.test/approve/link/x')).toEqual({
      approval_request_id: '00000000-0000-4000-8000-000000000001',
      subject: 'alice',
      actor: 'agent:a',
      client_id: 'app-a',
      binding_message: 'W4SCT',
      approve_url: 'https://deputy.test/approve/link/x',
      expires_at: '2026-01-01T00:10:00.000Z',
    });
  });
  it('refuses plain http, private and loopback targets unless allowed', async () => {
    await expect(webhookRefusal('http://hooks.example.com/x', false)).resolves.toMatch(/https/);
    await expect(webhookRefusal('https://10.0.0.1/x', false)).resolves.toMatch(/private-network/);
    await expect(webhookRefusal('https://127.0.0.1/x', false)).resolves.toMatch(/APPROVAL_ALLOW_PRIVATE_NETWORK/);
    await expect(webhookRefusal('https://localhost/x', false)).resolves.toMatch(/localhost/);
    await expect(webhookRefusal('https://169.254.169.254/latest', true)).resolves.toMatch(/link-local/);
    await expect(webhookRefusal('http://127.0.0.1:9/x', true)).resolves.toBeNull();
  });
});

describe('pages', () => {
  const viewer = { subjectId: 'alice', csrf: 'tok' };
  it('show scopes the person is not entitled to as such, without a checkbox to grant them', () => {
    const page = requestBody(request(), new Set(['read']), viewer).value;
    expect(page).toContain('<input type="checkbox" name="scope" value="read" checked>');
    expect(page).not.toContain('value="write"');
    expect(page).toMatch(/write <span class="badge bad">you are not entitled to this<\/span>/);
    expect(page).toContain('name="_csrf" value="tok"');
  });
  it('property: an agent-chosen text never becomes markup', () => {
    fc.assert(
      fc.property(fc.string(), fc.string(), fc.string(), (b, p, a) => {
        // Each text opens a tag no page uses ('<x-'): its raw form must not appear, its escaped form must.
        const [binding, purpose, actor] = [`<x-b${b}`, `<x-p${p}`, `<x-a${a}`];
        const out = requestBody(request({ bindingMessage: binding, purpose, actorId: actor }), new Set(), viewer).value + pendingListBody([request({ actorId: actor })]).value;
        expect(out).not.toContain('<x-');
        for (const text of [binding, purpose, actor]) expect(out).toContain(escapeHtml(text));
      }),
    );
  });
});

describe('loginSettingsOf', () => {
  const base = { ISSUER: 'https://deputy.test', DATABASE_URL: 'postgres://x', KEY_ENCRYPTION_KEY: Buffer.alloc(32, 7).toString('base64url') };
  it('is null unless issuer, client id and secret are all set', () => {
    expect(loginSettingsOf(loadConfig({ ...base }))).toBeNull();
    expect(loginSettingsOf(loadConfig({ ...base, APPROVAL_LOGIN_ISSUER: 'https://idp.test', APPROVAL_LOGIN_CLIENT_ID: 'c' }))).toBeNull();
    expect(loginSettingsOf(loadConfig({ ...base, APPROVAL_LOGIN_ISSUER: 'https://idp.test', APPROVAL_LOGIN_CLIENT_ID: 'c', APPROVAL_LOGIN_CLIENT_SECRET: 's' }))).toEqual({
      issuer: 'https://idp.test',
      clientId: 'c',
      clientSecret: 's',
      allowInsecure: false,
    });
  });
  it('allows plain http only for a loopback IdP with the private-network opt-in', () => {
    const login = { APPROVAL_LOGIN_CLIENT_ID: 'c', APPROVAL_LOGIN_CLIENT_SECRET: 's' };
    expect(loginSettingsOf(loadConfig({ ...base, ...login, APPROVAL_LOGIN_ISSUER: 'http://127.0.0.1:4000' }))!.allowInsecure).toBe(false);
    expect(loginSettingsOf(loadConfig({ ...base, ...login, APPROVAL_LOGIN_ISSUER: 'http://127.0.0.1:4000', APPROVAL_ALLOW_PRIVATE_NETWORK: 'true' }))!.allowInsecure).toBe(true);
    expect(loginSettingsOf(loadConfig({ ...base, ...login, APPROVAL_LOGIN_ISSUER: 'http://idp.example.com', APPROVAL_ALLOW_PRIVATE_NETWORK: 'true' }))!.allowInsecure).toBe(false);
  });
});

describe('signedInSubjectOf: the sign-in obeys the IdP’s trusted-issuer record', () => {
  const issuer = (overrides: Partial<TrustedIssuerRecord> = {}): TrustedIssuerRecord => ({
    issuer: 'https://idp.test',
    jwksUri: null,
    jwks: { keys: [] },
    audience: 'deputy',
    kind: 'user',
    subjectClaim: 'sub',
    algorithms: ['ES256'],
    subjects: { allowed: [], prefix: null },
    ...overrides,
  });

  it('an IdP that is not a trusted issuer of people signs nobody in', () => {
    expect(signedInSubjectOf(null, { sub: 'alice' })).toEqual({ refused: 'issuer_not_trusted' });
  });
  it('reads the subject from the issuer’s subject claim, which must be a non-empty string', () => {
    expect(signedInSubjectOf(issuer(), { sub: 'alice' })).toEqual({ subjectId: 'alice' });
    expect(signedInSubjectOf(issuer({ subjectClaim: 'employee_id' }), { sub: 'x', employee_id: 'alice' })).toEqual({ subjectId: 'alice' });
    expect(signedInSubjectOf(issuer({ subjectClaim: 'employee_id' }), { sub: 'alice' })).toEqual({ refused: 'no_subject' });
    for (const sub of ['', 7, null, ['alice'], { id: 'alice' }]) expect(signedInSubjectOf(issuer(), { sub })).toEqual({ refused: 'no_subject' });
  });
  it('only subjects the issuer may speak for', () => {
    const listed = issuer({ subjects: { allowed: ['alice', 'bob'], prefix: null } });
    expect(signedInSubjectOf(listed, { sub: 'bob' })).toEqual({ subjectId: 'bob' });
    expect(signedInSubjectOf(listed, { sub: 'mallory' })).toEqual({ refused: 'issuer_subject_not_allowed' });
    const prefixed = issuer({ subjects: { allowed: [], prefix: 'acme:' } });
    expect(signedInSubjectOf(prefixed, { sub: 'acme:alice' })).toEqual({ subjectId: 'acme:alice' });
    expect(signedInSubjectOf(prefixed, { sub: 'other:alice' })).toEqual({ refused: 'issuer_subject_not_allowed' });
  });
  it('never signs in anyone the issuer may not speak for (property)', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ minLength: 1, maxLength: 8 }), { maxLength: 4 }), fc.option(fc.string({ minLength: 1, maxLength: 4 })), fc.string({ maxLength: 10 }), (allowed, prefix, sub) => {
        const result = signedInSubjectOf(issuer({ subjects: { allowed, prefix } }), { sub });
        const mayBe = allowed.length === 0 && prefix === null ? sub !== '' : sub !== '' && (allowed.includes(sub) || (prefix !== null && sub.startsWith(prefix)));
        expect('subjectId' in result).toBe(mayBe);
      }),
    );
  });
});
