/**
 * Client authentication on /token, introspection and revocation (issue 11, items 3, 7 and 21):
 * requests whose client does not authenticate write nothing and are counted in metrics; a
 * request with no client authentication at all is 401 invalid_client with a Basic challenge;
 * requests oidc-provider refuses after client authentication (a duplicated parameter, bad
 * scope syntax) spend the client's rate limit like any other; so do approval requests at
 * /backchannel, which write a request and its audit event each.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as oidc from 'openid-client';
import request from 'supertest';
import { GRANT_TYPE, RESOURCE, SECRETS, TT, startExchangeWorld, type HttpResult, type World } from '../support/exchange-world.js';

const RATE_LIMIT = 3;

describe('client authentication', () => {
  let w: World;
  beforeAll(async () => {
    w = await startExchangeWorld({ RATE_LIMIT_CLIENT_PER_SECOND: String(RATE_LIMIT) });
  });
  afterAll(async () => {
    await w.stop();
  });

  const count = async (table: 'audit_events' | 'oidc_payloads') => (await w.sql<{ n: number }>(`SELECT count(*)::int AS n FROM ${table}`))[0]!.n;

  async function failures(): Promise<number> {
    const text = await (await fetch(`${w.deputy.url}/metrics`)).text();
    return text
      .split('\n')
      .filter((line) => line.startsWith('deputy_client_authentication_failures_total{'))
      .reduce((sum, line) => sum + Number(line.split(' ').at(-1)), 0);
  }

  describe('a request whose client does not authenticate writes nothing (item 3)', () => {
    it('a known client_id with a wrong or no secret: 401, no audit event, nothing stored, counted', async () => {
      const before = { events: await count('audit_events'), payloads: await count('oidc_payloads'), failures: await failures() };
      const params = { subject_token: await w.userToken('alice'), subject_token_type: TT.jwt, resource: RESOURCE };
      const attempts: Array<() => Promise<HttpResult>> = [];
      for (let i = 0; i < 8; i++) {
        attempts.push(() => w.exchange(params, { clientId: 'app-a', secret: `wrong-${i}` }));
        attempts.push(() => w.exchange(params, { clientId: 'app-b', method: 'post', secret: `wrong-${i}` }));
        attempts.push(() => w.exchange({ ...params, client_id: 'app-a' }, { method: 'none' }));
        attempts.push(() => w.exchange({ ...params, scope: 'bad"scope', client_id: 'app-c' }, { method: 'none' }));
        attempts.push(() => w.introspect('whatever', { clientId: 'app-a', secret: `wrong-${i}` }));
      }
      const results = await Promise.all(attempts.map((attempt) => attempt()));
      for (const result of results) {
        expect(result.status).toBe(401);
        expect(result.json.error).toBe('invalid_client');
      }
      expect(await count('audit_events')).toBe(before.events);
      expect(await count('oidc_payloads')).toBe(before.payloads);
      expect(await failures()).toBe(before.failures + attempts.length);
    });

    it('the counter names the reason', async () => {
      await w.exchange({ subject_token: 'x', subject_token_type: TT.jwt, resource: RESOURCE }, { clientId: 'app-a', secret: 'wrong' });
      const text = await (await fetch(`${w.deputy.url}/metrics`)).text();
      expect(text).toMatch(/^deputy_client_authentication_failures_total\{reason="invalid_secret"\} [1-9]\d*$/m);
    });
  });

  describe('no client authentication at all → 401 invalid_client with a Basic challenge (item 21)', () => {
    const form = (fields: Record<string, string>) => new URLSearchParams(fields).toString();

    it.each([
      ['token exchange', '/token', { grant_type: GRANT_TYPE, subject_token: 'x', subject_token_type: TT.jwt, resource: RESOURCE }],
      ['client credentials', '/token', { grant_type: 'client_credentials', scope: 'deputy:admin' }],
      ['an unknown grant type', '/token', { grant_type: 'urn:example:none' }],
      ['introspection', '/token/introspection', { token: 'x' }],
      ['revocation', '/token/revocation', { token: 'x' }],
    ])('%s', async (_name, path, fields) => {
      const before = await count('audit_events');
      const response = await request(w.deputy.url).post(path).type('form').set('accept', 'application/json').send(form(fields));
      expect(response.status).toBe(401);
      expect(response.body).toEqual({ error: 'invalid_client', error_description: 'client authentication failed' });
      expect(response.headers['www-authenticate']).toBe(`Basic realm="${w.issuer}"`);
      expect(await count('audit_events')).toBe(before);
    });

    it('an RFC 8693 client library (openid-client) with no client authentication sees 401 invalid_client and the challenge', async () => {
      const config = await oidc.discovery(new URL(w.issuer), 'app-a', undefined, oidc.None(), { execute: [oidc.allowInsecureRequests] });
      const refusal = await oidc
        .genericGrantRequest(config, GRANT_TYPE, { subject_token: await w.userToken('alice'), subject_token_type: TT.jwt, resource: RESOURCE })
        .then(
          () => null,
          (error: unknown) => error,
        );
      expect(refusal).toBeInstanceOf(oidc.WWWAuthenticateChallengeError);
      const challenge = refusal as oidc.WWWAuthenticateChallengeError;
      expect(challenge.status).toBe(401);
      expect(challenge.cause).toEqual([expect.objectContaining({ scheme: 'basic', parameters: expect.objectContaining({ realm: w.issuer }) })]);
      expect(await challenge.response.json()).toEqual({ error: 'invalid_client', error_description: 'client authentication failed' });
    });

    it('a wrong secret sent in the body is challenged too', async () => {
      const result = await w.exchange({ subject_token: 'x', subject_token_type: TT.jwt, resource: RESOURCE }, { clientId: 'app-a', method: 'post', secret: 'wrong' });
      expect(result.status).toBe(401);
      expect(result.headers.get('www-authenticate')).toBe(`Basic realm="${w.issuer}"`);
    });
  });

  describe('refusals by oidc-provider before the grant handler (item 7)', () => {
    it('spend the client’s rate limit: beyond it 429 and no audit event', async () => {
      const token = await w.userToken('alice');
      const duplicated = { subject_token: [token, token], subject_token_type: TT.jwt, resource: RESOURCE };
      const before = await w.auditCount({ client_id: 'app-b' });
      const results = await Promise.all(Array.from({ length: 20 }, () => w.exchange(duplicated, { clientId: 'app-b' })));
      const refused = results.filter((result) => result.status === 400);
      const limited = results.filter((result) => result.status === 429);
      expect(refused.length + limited.length).toBe(results.length);
      expect(limited.length).toBeGreaterThan(0);
      for (const result of limited) {
        expect(result.json).toEqual({ error: 'temporarily_unavailable', error_description: 'too many requests for this client; retry later' });
        expect(result.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
      }
      for (const result of refused) expect(result.json.error).toBe('invalid_request');
      const written = (await w.auditCount({ client_id: 'app-b' })) - before;
      expect(written).toBe(refused.length);
      expect(written).toBeLessThan(results.length);
    });

    it('are audited once the client authenticated, with the reason', async () => {
      const before = await w.auditCount({ client_id: 'app-c', type: 'token.exchange_denied' });
      const result = await w.exchange({ subject_token: await w.userToken('alice'), subject_token_type: TT.jwt, resource: RESOURCE, scope: 'read "write' }, { clientId: 'app-c' });
      expect(result.status).toBe(400);
      expect(result.json.error).toBe('invalid_scope');
      expect(await w.auditCount({ client_id: 'app-c', type: 'token.exchange_denied' })).toBe(before + 1);
      const event = await w.lastEvent('token.exchange_denied');
      expect(event).toMatchObject({ client_id: 'app-c', error: 'invalid_scope', details: { reason: 'request.scope_contains_invalid_characters' } });
    });
  });

  describe('approval requests at /backchannel', () => {
    const ask = (clientId: string) =>
      request(w.deputy.url)
        .post('/backchannel')
        .auth(clientId, SECRETS[clientId]!)
        .type('form')
        .send(
          new URLSearchParams({
            scope: 'openid',
            login_hint: 'bob',
            authorization_details: JSON.stringify([{ type: 'delegation', resource: RESOURCE, scopes: ['read'], duration: 600 }]),
          }).toString(),
        );

    it('spend the client’s rate limit: beyond it 429, no request stored and no audit event', async () => {
      const countOf = async (sql: string) => (await w.sql<{ n: number }>(sql, ['app-b']))[0]!.n;
      const before = {
        requests: await countOf(`SELECT count(*)::int AS n FROM approval_requests WHERE client_id = $1`),
        events: await countOf(`SELECT count(*)::int AS n FROM audit_events WHERE client_id = $1`),
      };
      const results = await Promise.all(Array.from({ length: 12 }, () => ask('app-b')));
      const accepted = results.filter((result) => result.status === 200);
      const limited = results.filter((result) => result.status === 429);
      expect(accepted.length + limited.length).toBe(results.length);
      expect(limited.length).toBeGreaterThan(0);
      for (const result of accepted) expect(result.body.auth_req_id).toEqual(expect.any(String));
      for (const result of limited) {
        expect(result.body).toEqual({ error: 'temporarily_unavailable', error_description: 'too many requests for this client; retry later' });
        expect(result.headers['retry-after']).toMatch(/^[1-9]\d*$/);
      }
      expect(await countOf(`SELECT count(*)::int AS n FROM approval_requests WHERE client_id = $1`)).toBe(before.requests + accepted.length);
      // One approval.requested per accepted request; the refused ones write nothing.
      expect(await countOf(`SELECT count(*)::int AS n FROM audit_events WHERE client_id = $1`)).toBe(before.events + accepted.length);
    });

    it('each client has its own budget', async () => {
      await Promise.all(Array.from({ length: 12 }, () => ask('app-b')));
      const other = await ask('app-c');
      expect(other.status).toBe(200);
    });
  });
});
