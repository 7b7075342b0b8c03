/**
 * The quickstart's demo identity provider at ISSUER/demo-idp (the sign-in flow itself is driven
 * in a browser by test/approval/approve-browser.test.ts and over HTTP by test/main.test.ts):
 * what it publishes, and that an operator's own APPROVAL_LOGIN_* replaces it entirely.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { exportJWK, generateKeyPair, type JWK } from 'jose';
import { DEMO_IDP_PATH } from '../../src/demo/identity-provider.js';
import { startTestDeputy, type TestDeputy } from '../support/deputy.js';

describe('the demo identity provider', () => {
  let signingKey: JWK;
  let served: TestDeputy;
  let replaced: TestDeputy;
  const passwords = { alice: 'alice-password-0123456789abcdefghij', bob: 'bob-password-0123456789abcdefghijkl' };

  beforeAll(async () => {
    signingKey = { ...(await exportJWK((await generateKeyPair('ES256', { extractable: true })).privateKey)), kid: 'demo-idp-test', alg: 'ES256' };
    served = await startTestDeputy({}, undefined, undefined, { demoPeople: { passwords, signingKey } });
    replaced = await startTestDeputy(
      { APPROVAL_LOGIN_ISSUER: 'https://idp.example.com', APPROVAL_LOGIN_CLIENT_ID: 'deputy', APPROVAL_LOGIN_CLIENT_SECRET: 'operator-secret' },
      undefined,
      undefined,
      { demoPeople: { passwords, signingKey } },
    );
  });
  afterAll(async () => {
    await served?.stop();
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
