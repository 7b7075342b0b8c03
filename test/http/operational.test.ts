import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createLocalJWKSet } from 'jose';
import { startTestDeputy, type TestDeputy } from '../support/deputy.js';


describe('operational and discovery endpoints', () => {
  let deputy: TestDeputy;
  beforeAll(async () => {
    deputy = await startTestDeputy();
  });
  afterAll(async () => {
    await deputy.stop();
  });

  it('answers /healthz', async () => {
    const response = await fetch(`${deputy.url}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: 'ok' });
  });

  it('answers /readyz when the database is reachable and keys are loaded', async () => {
    const response = await fetch(`${deputy.url}/readyz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toMatchObject({ status: 'ready', checks: { database: true, signing_keys: true } });
  });

  it('echoes a well-formed X-Request-Id and mints one otherwise', async () => {
    const echoed = await fetch(`${deputy.url}/healthz`, { headers: { 'x-request-id': 'req-123' } });
    expect(echoed.headers.get('x-request-id')).toBe('req-123');
    const minted = await fetch(`${deputy.url}/healthz`, { headers: { 'x-request-id': 'bad id\twith tabs' } });
    expect(minted.headers.get('x-request-id')).toMatch(/^[0-9a-f-]{36}$/);
  });

  it.each(['/.well-known/openid-configuration', '/.well-known/oauth-authorization-server'])(
    'publishes server metadata at %s',
    async (path) => {
      const response = await fetch(`${deputy.url}${path}`);
      expect(response.status).toBe(200);
      const metadata = (await response.json()) as Record<string, unknown>;
      expect(metadata.issuer).toBe(deputy.config.ISSUER);
      expect(metadata.token_endpoint).toBe(`${deputy.config.ISSUER}/token`);
      expect(metadata.jwks_uri).toBe(`${deputy.config.ISSUER}/jwks`);
      expect(metadata.introspection_endpoint).toBe(`${deputy.config.ISSUER}/token/introspection`);
      expect(metadata.revocation_endpoint).toBe(`${deputy.config.ISSUER}/token/revocation`);
      expect(metadata.token_endpoint_auth_methods_supported).toEqual(
        expect.arrayContaining(['client_secret_basic', 'client_secret_post', 'private_key_jwt']),
      );
      expect(metadata.grant_types_supported).toEqual(
        expect.arrayContaining(['urn:ietf:params:oauth:grant-type:token-exchange', 'client_credentials']),
      );
    },
  );

  it('publishes the ES256 signing key at /jwks, usable by jose', async () => {
    const response = await fetch(`${deputy.url}/jwks`);
    expect(response.status).toBe(200);
    const jwks = (await response.json()) as { keys: Array<Record<string, unknown>> };
    expect(jwks.keys).toHaveLength(1);
    expect(jwks.keys[0]).toMatchObject({ kty: 'EC', crv: 'P-256', alg: 'ES256', use: 'sig', kid: deputy.keyRing.active.kid });
    expect(jwks.keys[0]).not.toHaveProperty('d');
    expect(() => createLocalJWKSet(jwks as never)).not.toThrow();
  });

  it('exposes Prometheus metrics', async () => {
    const response = await fetch(`${deputy.url}/metrics`);
    expect(response.status).toBe(200);
    const text = await response.text();
    expect(text).toContain('deputy_http_request_duration_seconds');
    expect(text).toContain('deputy_token_exchanges_total');
  });

  it('answers unknown token-endpoint grant types with an RFC 6749 JSON error, no-store', async () => {
    const response = await fetch(`${deputy.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', accept: 'text/html' },
      body: 'grant_type=password&client_id=nobody&client_secret=x',
    });
    expect(response.status).toBe(401);
    expect(response.headers.get('content-type')).toMatch(/application\/json/);
    expect(response.headers.get('cache-control')).toBe('no-store');
    expect(await response.json()).toMatchObject({ error: 'invalid_client' });
  });
});

describe('signing keys', () => {
  it('survive a restart on the same database', async () => {
    const first = await startTestDeputy();
    const kid = first.keyRing.active.kid;
    await first.close();
    const second = await startTestDeputy({}, first.database);
    try {
      expect(second.keyRing.active.kid).toBe(kid);
    } finally {
      await second.close();
      await first.database.drop();
    }
  });

  it('keep the retired key published after a rotation', async () => {
    const deputy = await startTestDeputy();
    try {
      const old = deputy.keyRing.active.kid;
      const rotated = await deputy.keyRing.rotate();
      expect(rotated.kid).not.toBe(old);
      const jwks = (await (await fetch(`${deputy.url}/jwks`)).json()) as { keys: Array<{ kid: string }> };
      expect(jwks.keys.map((key) => key.kid).sort()).toEqual([old, rotated.kid].sort());
    } finally {
      await deputy.stop();
    }
  });
});
