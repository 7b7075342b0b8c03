/**
 * Every URL Deputy publishes or accepts as its own derives from ISSUER: a forged Host header
 * (or X-Forwarded-Host / -Proto, here with TRUST_PROXY on) changes neither the discovery
 * documents nor the audience a private_key_jwt client assertion must name.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { GRANT_TYPE, RESOURCE, SECRETS, TT, startExchangeWorld, type World } from '../support/exchange-world.js';
import { httpRequest } from './support.js';

const FORGED_HOSTS: Array<[string, Record<string, string>]> = [
  ['a forged Host', { host: 'evil.example' }],
  ['X-Forwarded-Host and -Proto', { 'x-forwarded-host': 'evil.example', 'x-forwarded-proto': 'https' }],
];

describe('URLs come from ISSUER, never from the request', () => {
  let w: World;

  beforeAll(async () => {
    w = await startExchangeWorld({ TRUST_PROXY: 'true' });
  });
  afterAll(async () => {
    await w.stop();
  });

  describe.each(FORGED_HOSTS)('%s', (_label, forged) => {
    it.each(['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server'])('does not change the URLs in %s', async (path) => {
      const response = await httpRequest(`${w.deputy.url}${path}`, { headers: forged });
      expect(response.status).toBe(200);
      expect(response.text).not.toContain('evil.example');
      const metadata = JSON.parse(response.text) as Record<string, unknown>;
      expect(metadata).toMatchObject({
        issuer: w.issuer,
        token_endpoint: `${w.issuer}/token`,
        jwks_uri: `${w.issuer}/jwks`,
        introspection_endpoint: `${w.issuer}/token/introspection`,
        revocation_endpoint: `${w.issuer}/token/revocation`,
      });
      for (const [name, value] of Object.entries(metadata)) {
        if (name.endsWith('_endpoint') || name.endsWith('_uri')) expect(String(value).startsWith(`${w.issuer}/`)).toBe(true);
      }
    });

    async function exchangeWithAssertionFor(aud: string) {
      const now = Math.floor(Date.now() / 1000);
      const assertion = await new SignJWT({ iss: 'app-jwt', sub: 'app-jwt', aud, iat: now, exp: now + 60, jti: randomUUID() })
        .setProtectedHeader({ alg: 'ES256', kid: w.clientJwtKey.kid })
        .sign(w.clientJwtKey.privateKey);
      const body = new URLSearchParams({
        grant_type: GRANT_TYPE,
        subject_token: await w.userToken('alice'),
        subject_token_type: TT.jwt,
        resource: RESOURCE,
        scope: 'read',
        client_id: 'app-jwt',
        client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
        client_assertion: assertion,
      });
      const response = await httpRequest(`${w.deputy.url}/token`, {
        method: 'POST',
        headers: { ...forged, 'content-type': 'application/x-www-form-urlencoded' },
        body: body.toString(),
      });
      return { status: response.status, json: JSON.parse(response.text) as Record<string, unknown> };
    }

    it.each(['http://evil.example/token', 'https://evil.example/token', 'https://evil.example'])(
      'refuses a private_key_jwt client assertion whose aud is %s',
      async (aud) => {
        const before = await w.issuedCount();
        const result = await exchangeWithAssertionFor(aud);
        expect(result.status).toBe(401);
        expect(result.json.error).toBe('invalid_client');
        expect(result.json.access_token).toBeUndefined();
        expect(await w.issuedCount()).toBe(before);
      },
    );

    it('accepts the same assertion naming ISSUER’s token endpoint (control)', async () => {
      const result = await exchangeWithAssertionFor(`${w.issuer}/token`);
      expect(result.status).toBe(200);
      expect(typeof result.json.access_token).toBe('string');
    });

    async function exchangeWithDpopFor(htu: string) {
      const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
      const proof = await new SignJWT({ htm: 'POST', htu, jti: randomUUID(), iat: Math.floor(Date.now() / 1000) })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: await exportJWK(publicKey) })
        .sign(privateKey);
      const body = new URLSearchParams({ grant_type: GRANT_TYPE, subject_token: await w.userToken('alice'), subject_token_type: TT.jwt, resource: RESOURCE, scope: 'read' });
      const response = await httpRequest(`${w.deputy.url}/token`, {
        method: 'POST',
        headers: {
          ...forged,
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`app-a:${SECRETS['app-a']}`).toString('base64')}`,
          dpop: proof,
        },
        body: body.toString(),
      });
      return { status: response.status, json: JSON.parse(response.text) as Record<string, unknown> };
    }

    it('refuses a DPoP proof whose htu is the forged host’s token endpoint, and accepts ISSUER’s', async () => {
      const forgedHtu = `${forged['x-forwarded-proto'] ?? 'http'}://evil.example/token`;
      const refused = await exchangeWithDpopFor(forgedHtu);
      expect(refused.status).toBe(400);
      expect(refused.json.error).toBe('invalid_dpop_proof');
      expect(refused.json.access_token).toBeUndefined();
      const accepted = await exchangeWithDpopFor(`${w.issuer}/token`);
      expect(accepted.status).toBe(200);
      expect(accepted.json.token_type).toBe('DPoP');
    });
  });
});
