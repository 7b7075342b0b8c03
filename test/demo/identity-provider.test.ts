/**
 * The quickstart's demo identity provider at ISSUER/demo-idp (the sign-in flow itself is driven
 * in a browser by test/approval/approve-browser.test.ts and over HTTP by test/main.test.ts):
 * what it publishes; that the sign-in accepts only what its trusted-issuer record allows (a
 * subject the issuer may speak for, active; an issuer that is not a trusted issuer of people
 * signs nobody in); and that an operator's own APPROVAL_LOGIN_* replaces it entirely.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pino from 'pino';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { DEMO_IDP_PATH } from '../../src/demo/identity-provider.js';
import { trustDemoIssuer } from '../../src/demo/seed.js';
import { startTestDeputy, type TestDeputy } from '../support/deputy.js';
import { signInAtDemoIdentityProvider } from '../support/demo-sign-in.js';

describe('the demo identity provider', () => {
  let signingKey: JWK;
  let served: TestDeputy;
  let untrusted: TestDeputy;
  const untrustedLog: Array<Record<string, unknown>> = [];
  let replaced: TestDeputy;
  // mallory has a password at this IdP, but the trusted issuer may speak only for alice and bob.
  const passwords = { alice: 'alice-password-0123456789abcdefghij', bob: 'bob-password-0123456789abcdefghijkl', mallory: 'mallory-password-0123456789abcdefg' };

  beforeAll(async () => {
    signingKey = { ...(await exportJWK((await generateKeyPair('ES256', { extractable: true })).privateKey)), kid: 'demo-idp-test', alg: 'ES256' };
    served = await startTestDeputy({}, undefined, undefined, { demoPeople: { passwords, signingKey } });
    untrusted = await startTestDeputy({ LOG_LEVEL: 'warn' }, undefined, pino({ level: 'warn' }, { write: (line: string) => void untrustedLog.push(JSON.parse(line) as Record<string, unknown>) }), {
      demoPeople: { passwords, signingKey },
    });
    for (const deputy of [served, untrusted]) {
      await deputy.pool.query(`INSERT INTO subjects (id, status) VALUES ('alice', 'active'), ('bob', 'disabled'), ('mallory', 'active')`);
    }
    // Only `served` trusts its demo IdP as an issuer of people (what the quickstart seeds).
    await trustDemoIssuer(served.pool, served.config.ISSUER, { issuerPrivateJwk: signingKey });
    replaced = await startTestDeputy(
      { APPROVAL_LOGIN_ISSUER: 'https://idp.example.com', APPROVAL_LOGIN_CLIENT_ID: 'deputy', APPROVAL_LOGIN_CLIENT_SECRET: 'operator-secret' },
      undefined,
      undefined,
      { demoPeople: { passwords, signingKey } },
    );
  });
  afterAll(async () => {
    await served?.stop();
    await untrusted?.stop();
    await replaced?.stop();
  });

  it('publishes an OpenID Provider under ISSUER/demo-idp: code flow with PKCE only, the demo issuer\'s public key only', async () => {
    const issuer = `${served.config.ISSUER}${DEMO_IDP_PATH}`;
    const metadata = (await (await fetch(`${issuer}/.well-known/openid-configuration`)).json()) as Record<string, unknown>;
    expect(metadata).toMatchObject({
      issuer,
      authorization_endpoint: `${issuer}/auth`,
      token_endpoint: `${issuer}/token`,
      jwks_uri: `${issuer}/jwks`,
      response_types_supported: ['code'],
      code_challenge_methods_supported: ['S256'],
    });
    const jwks = (await (await fetch(String(metadata.jwks_uri))).json()) as { keys: JWK[] };
    expect(jwks.keys).toEqual([expect.objectContaining({ kid: signingKey.kid, kty: 'EC', crv: 'P-256', x: signingKey.x, y: signingKey.y })]);
    expect(jwks.keys[0]).not.toHaveProperty('d');
  });

  it('is where /approve sends the person to sign in, with PKCE', async () => {
    const start = await fetch(`${served.config.ISSUER}/approve/sign-in`, { redirect: 'manual' });
    expect(start.status).toBe(303);
    const location = new URL(start.headers.get('location')!);
    expect(location.href.startsWith(`${served.config.ISSUER}${DEMO_IDP_PATH}/auth?`)).toBe(true);
    expect(location.searchParams.get('client_id')).toBe('deputy-approvals');
    expect(location.searchParams.get('code_challenge_method')).toBe('S256');
  });

  it('signs in a subject its trusted-issuer record allows', async () => {
    const outcome = await signInAtDemoIdentityProvider(served.config.ISSUER, 'alice', passwords.alice);
    expect(outcome).toMatchObject({ status: 200, url: `${served.config.ISSUER}/approve` });
    expect(outcome.body).toContain('Signed in as <strong>alice</strong>');
  });

  it('refuses a subject the issuer may not speak for, and a disabled subject, though the IdP signed them in', async () => {
    for (const [who, password] of [
      ['mallory', passwords.mallory],
      ['bob', passwords.bob],
    ] as const) {
      const outcome = await signInAtDemoIdentityProvider(served.config.ISSUER, who, password);
      expect(outcome.status).toBe(401);
      expect(outcome.url).toMatch(new RegExp(`^${served.config.ISSUER}/approve/callback\\?`));
      expect(outcome.body).toContain('The sign-in did not succeed.');
      expect(outcome.body).not.toContain('Signed in as');
    }
  });

  it('an IdP that is not a trusted issuer of people signs nobody in', async () => {
    const outcome = await signInAtDemoIdentityProvider(untrusted.config.ISSUER, 'alice', passwords.alice);
    expect(outcome.status).toBe(401);
    expect(outcome.body).toContain('The sign-in did not succeed.');
    // The operator learns why from the log, and which issuer to register.
    expect(untrustedLog).toContainEqual(
      expect.objectContaining({ msg: 'approval sign-in refused', detail: 'issuer_not_trusted', issuer: `${untrusted.config.ISSUER}${DEMO_IDP_PATH}` }),
    );
  });

  it('an unknown interaction gets a clear page, not an error', async () => {
    const response = await fetch(`${served.config.ISSUER}${DEMO_IDP_PATH}/interaction/not-a-real-one`);
    expect(response.status).toBe(400);
    expect(await response.text()).toContain('This sign-in has expired');
  });

  it('is not served when the operator configured APPROVAL_LOGIN_*: /approve signs in there', async () => {
    expect((await fetch(`${replaced.config.ISSUER}${DEMO_IDP_PATH}/.well-known/openid-configuration`)).status).toBe(404);
    // The configured IdP is unreachable here (idp.example.com): the sign-in fails closed, with a page.
    const start = await fetch(`${replaced.config.ISSUER}/approve/sign-in`, { redirect: 'manual' });
    expect(start.status).toBe(503);
    expect(start.headers.get('location')).toBeNull();
    expect(await start.text()).toContain('The sign-in service cannot be reached right now.');
  });
});
