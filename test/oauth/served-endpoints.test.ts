/**
 * Deputy serves token, introspection, revocation, jwks, discovery and (approval requests, issue
 * 15) the CIBA backchannel authentication endpoint. Every other endpoint oidc-provider knows
 * (authorization, end-session, userinfo, pushed authorization requests, device flow,
 * registration, interactions) answers 404, sets no cookie and writes nothing; the
 * discovery documents list none of them.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestDeputy, type TestDeputy } from '../support/deputy.js';

const UNSERVED: Array<[string, string]> = [
  ['GET', '/session/end'],
  ['POST', '/session/end'],
  ['GET', '/SESSION/END/'],
  ['POST', '/session/end/confirm'],
  ['GET', '/session/end/success'],
  ['GET', '/auth'],
  ['GET', '/auth?client_id=app&response_type=none&scope=openid&redirect_uri=https%3A%2F%2Fapp.example%2Fcb'],
  ['POST', '/auth'],
  ['GET', '/Auth/'],
  ['GET', '/auth/some-uid'],
  ['GET', '/me'],
  ['POST', '/me'],
  ['POST', '/request'],
  ['POST', '/device/auth'],
  ['GET', '/device'],
  ['POST', '/reg'],
  ['GET', '/interaction/some-uid'],
  ['GET', '/backchannel'],
];

const UNSERVED_METADATA = [
  'authorization_endpoint',
  'end_session_endpoint',
  'userinfo_endpoint',
  'pushed_authorization_request_endpoint',
  'device_authorization_endpoint',
  'registration_endpoint',
  'response_modes_supported',
  'code_challenge_methods_supported',
];

describe('endpoints Deputy does not serve', () => {
  let deputy: TestDeputy;
  beforeAll(async () => {
    deputy = await startTestDeputy();
  });
  afterAll(async () => {
    await deputy.stop();
  });

  const storedPayloads = async () => Number((await deputy.pool.query<{ n: string }>('SELECT count(*) AS n FROM oidc_payloads')).rows[0]!.n);

  it.each(UNSERVED)('%s %s → 404, no cookie, nothing stored', async (method, path) => {
    const before = await storedPayloads();
    const response = await fetch(`${deputy.url}${path}`, {
      method,
      redirect: 'manual',
      headers: method === 'POST' ? { 'content-type': 'application/x-www-form-urlencoded' } : {},
      body: method === 'POST' ? 'client_id=app&xsrf=x&logout=yes' : null,
    });
    expect(response.status).toBe(404);
    expect(response.headers.get('set-cookie')).toBeNull();
    await response.arrayBuffer();
    expect(await storedPayloads()).toBe(before);
  });

  it('POST /backchannel without client authentication → 401, no cookie, nothing stored', async () => {
    const before = await storedPayloads();
    const response = await fetch(`${deputy.url}/backchannel`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'client_id=app&scope=openid&login_hint=alice',
    });
    expect(response.status).toBe(401);
    expect(response.headers.get('set-cookie')).toBeNull();
    await response.arrayBuffer();
    expect(await storedPayloads()).toBe(before);
  });

  it('a thousand GET /session/end store no row', async () => {
    for (let i = 0; i < 10; i += 1) {
      await Promise.all(Array.from({ length: 100 }, async () => (await fetch(`${deputy.url}/session/end`)).arrayBuffer()));
    }
    expect(await storedPayloads()).toBe(0);
  });

  it.each(['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server'])(
    '%s lists only the endpoints Deputy serves',
    async (path) => {
      const metadata = (await (await fetch(`${deputy.url}${path}`)).json()) as Record<string, unknown>;
      for (const field of UNSERVED_METADATA) expect(metadata).not.toHaveProperty(field);
      const endpoints = Object.keys(metadata).filter((key) => key.endsWith('_endpoint')).sort();
      expect(endpoints).toEqual(['backchannel_authentication_endpoint', 'introspection_endpoint', 'revocation_endpoint', 'token_endpoint']);
      expect(metadata.jwks_uri).toBe(`${deputy.config.ISSUER}/jwks`);
    },
  );
});
