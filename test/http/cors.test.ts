/**
 * CORS: the token, introspection, revocation and admin endpoints answer a browser only from an
 * origin listed in CORS_ORIGINS; by default from none. Discovery and /jwks stay public.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startTestDeputy, type TestDeputy } from '../support/deputy.js';
import { corsHeaders, httpRequest } from './support.js';

const CREDENTIALED = ['/token', '/token/introspection', '/token/revocation', '/admin/v1/subjects'];
const LISTED = 'https://console.example.com';
const ADMIN_TOKEN = 'cors-test-admin-token-0123456789abcdef';

const preflight = (url: string, origin: string, method = 'POST') =>
  httpRequest(url, {
    method: 'OPTIONS',
    headers: { origin, 'access-control-request-method': method, 'access-control-request-headers': 'authorization, content-type' },
  });

const tokenPost = (url: string, origin: string) =>
  httpRequest(`${url}/token`, {
    method: 'POST',
    headers: { origin, 'content-type': 'application/x-www-form-urlencoded' },
    body: 'grant_type=client_credentials&client_id=nobody&client_secret=wrong',
  });

describe('CORS by default: none on credentialed endpoints', () => {
  let deputy: TestDeputy;
  beforeAll(async () => {
    deputy = await startTestDeputy({ DEPUTY_ADMIN_TOKEN: ADMIN_TOKEN });
  });
  afterAll(async () => {
    await deputy.stop();
  });

  it.each(CREDENTIALED)('a preflight to %s from any origin gets no Access-Control-* header', async (path) => {
    for (const origin of ['https://evil.example', LISTED, 'null']) {
      const response = await preflight(`${deputy.url}${path}`, origin);
      expect(response.status).toBeLessThan(500);
      expect(corsHeaders(response)).toEqual([]);
    }
  });

  it('a cross-origin POST /token gets no Access-Control-* header', async () => {
    const response = await tokenPost(deputy.url, 'https://evil.example');
    expect(response.status).toBeGreaterThanOrEqual(400);
    expect(response.status).toBeLessThan(500);
    expect(corsHeaders(response)).toEqual([]);
  });

  it('a POST /token without an Origin gets no Access-Control-Allow-Origin: * either', async () => {
    const response = await httpRequest(`${deputy.url}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'grant_type=client_credentials&client_id=nobody&client_secret=wrong',
    });
    expect(response.status).toBe(401);
    expect(corsHeaders(response)).toEqual([]);
  });

  it('an admin call with an Origin gets no Access-Control-* header (and still works without CORS)', async () => {
    const response = await httpRequest(`${deputy.url}/admin/v1/subjects`, { headers: { origin: 'https://evil.example', authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(response.status).toBe(200);
    expect(corsHeaders(response)).toEqual([]);
  });

  it('discovery stays readable from any origin (public metadata, no credentials)', async () => {
    const response = await httpRequest(`${deputy.url}/.well-known/openid-configuration`, { headers: { origin: 'https://evil.example' } });
    expect(response.status).toBe(200);
    expect(response.headers['access-control-allow-credentials']).toBeUndefined();
  });
});

describe('CORS_ORIGINS lists exact origins', () => {
  let deputy: TestDeputy;
  beforeAll(async () => {
    deputy = await startTestDeputy({ CORS_ORIGINS: `${LISTED},http://localhost:5173`, DEPUTY_ADMIN_TOKEN: ADMIN_TOKEN });
  });
  afterAll(async () => {
    await deputy.stop();
  });

  it.each(CREDENTIALED)('a preflight to %s from a listed origin is allowed, from others not', async (path) => {
    const allowed = await preflight(`${deputy.url}${path}`, LISTED, path.startsWith('/admin') ? 'GET' : 'POST');
    expect(allowed.status).toBe(204);
    expect(allowed.headers['access-control-allow-origin']).toBe(LISTED);
    expect(String(allowed.headers['access-control-allow-headers'])).toMatch(/Authorization/);
    expect(String(allowed.headers.vary)).toMatch(/Origin/);
    expect(allowed.headers['access-control-allow-credentials']).toBeUndefined();

    for (const origin of ['https://evil.example', 'https://console.example.com.evil.example', 'http://console.example.com', 'null']) {
      const refused = await preflight(`${deputy.url}${path}`, origin);
      expect(corsHeaders(refused)).toEqual([]);
    }
  });

  it('a POST /token from a listed origin carries Access-Control-Allow-Origin; from another origin none', async () => {
    const listed = await tokenPost(deputy.url, LISTED);
    expect(listed.status).toBe(401);
    expect(listed.headers['access-control-allow-origin']).toBe(LISTED);
    expect(String(listed.headers['access-control-expose-headers'])).toMatch(/WWW-Authenticate/);

    const other = await tokenPost(deputy.url, 'https://evil.example');
    expect(corsHeaders(other)).toEqual([]);
  });

  it('an admin call from a listed origin carries Access-Control-Allow-Origin', async () => {
    const response = await httpRequest(`${deputy.url}/admin/v1/subjects`, { headers: { origin: LISTED, authorization: `Bearer ${ADMIN_TOKEN}` } });
    expect(response.status).toBe(200);
    expect(response.headers['access-control-allow-origin']).toBe(LISTED);
  });
});
