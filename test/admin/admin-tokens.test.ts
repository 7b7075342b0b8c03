/**
 * Admin tokens (client credentials with deputy:admin), issue 11 item 11: issuing one writes an
 * audit event in the same transaction as the token (no token without its event), and changing
 * the client's credentials, or taking deputy:admin away, makes its outstanding admin tokens
 * unusable at once.
 */
import { createHash, generateKeyPairSync } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { TestDeputy } from '../support/deputy.js';
import { adminClient, clientCredentialsToken, startAdminDeputy, type Admin } from './support.js';

describe('admin tokens', () => {
  let deputy: TestDeputy;
  let admin: Admin;

  beforeAll(async () => {
    ({ deputy, admin } = await startAdminDeputy());
  });
  afterAll(async () => {
    await deputy.stop();
  });

  async function adminClientWithSecret(clientId: string): Promise<string> {
    const reply = await admin.post('/clients', { client_id: clientId, scope: 'deputy:admin' });
    expect(reply.status).toBe(201);
    return reply.body.client_secret as string;
  }

  const usable = async (token: string) => (await adminClient(deputy.url, token).get('/subjects')).status;

  describe('issuing one writes an audit event', () => {
    it('names the client, the scope and the token’s digest, never the token', async () => {
      const secret = await adminClientWithSecret('ops-audited');
      const response = await fetch(`${deputy.url}/token`, {
        method: 'POST',
        headers: {
          'x-request-id': 'admin-token-request-1',
          authorization: `Basic ${Buffer.from(`ops-audited:${secret}`).toString('base64')}`,
        },
        body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'deputy:admin' }),
      });
      expect(response.status).toBe(200);
      const token = ((await response.json()) as { access_token: string }).access_token;

      const { rows } = await deputy.pool.query(`SELECT * FROM audit_events WHERE type = 'admin_token.issued' AND client_id = 'ops-audited'`);
      expect(rows).toHaveLength(1);
      expect(rows[0]).toMatchObject({
        request_id: 'admin-token-request-1',
        scope_granted: ['deputy:admin'],
        details: { token_sha256: createHash('sha256').update(token).digest('hex'), expires_at: expect.any(String) },
      });
      expect(JSON.stringify(rows[0])).not.toContain(token);
    });

    it('fails closed: when the event cannot be written, no token is issued or stored', async () => {
      const secret = await adminClientWithSecret('ops-unaudited');
      const stored = async () =>
        (await deputy.pool.query(`SELECT count(*)::int AS n FROM oidc_payloads WHERE type = 'ClientCredentials' AND payload->>'clientId' = 'ops-unaudited'`)).rows[0].n as number;
      await deputy.pool.query(`
        CREATE FUNCTION test_admin_audit_down() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
          IF NEW.type = 'admin_token.issued' THEN RAISE EXCEPTION 'audit store unavailable'; END IF;
          RETURN NEW;
        END $$;
        CREATE TRIGGER test_admin_audit_down BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION test_admin_audit_down();`);
      try {
        const response = await fetch(`${deputy.url}/token`, {
          method: 'POST',
          headers: { authorization: `Basic ${Buffer.from(`ops-unaudited:${secret}`).toString('base64')}` },
          body: new URLSearchParams({ grant_type: 'client_credentials', scope: 'deputy:admin' }),
        });
        const text = await response.text();
        expect(response.status).toBeGreaterThanOrEqual(500);
        expect(text).not.toContain('access_token');
        expect(text).not.toContain('audit store');
        expect(await stored()).toBe(0);
      } finally {
        await deputy.pool.query('DROP TRIGGER test_admin_audit_down ON audit_events; DROP FUNCTION test_admin_audit_down()');
      }
      expect(await usable(await clientCredentialsToken(deputy, 'ops-unaudited', secret, 'deputy:admin'))).toBe(200);
    });
  });

  describe('stored by digest', () => {
    const digest = (token: string) => createHash('sha256').update(token).digest('base64url');
    const basic = (clientId: string, secret: string) => `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`;
    const form = (path: string, clientId: string, secret: string, token: string) =>
      fetch(`${deputy.url}${path}`, { method: 'POST', headers: { authorization: basic(clientId, secret) }, body: new URLSearchParams({ token }) });

    it('the row id is not the token and no column carries it; the admin API, introspection and revocation still accept it', async () => {
      const secret = await adminClientWithSecret('ops-digest');
      const token = await clientCredentialsToken(deputy, 'ops-digest', secret, 'deputy:admin');

      const { rows } = await deputy.pool.query(`SELECT * FROM oidc_payloads WHERE type = 'ClientCredentials' AND payload->>'clientId' = 'ops-digest'`);
      expect(rows).toHaveLength(1);
      expect(rows[0].id).toBe(digest(token));
      expect(JSON.stringify(rows[0])).not.toContain(token);
      const anywhere = await deputy.pool.query(`SELECT count(*)::int AS n FROM oidc_payloads WHERE id = $1 OR payload::text LIKE '%' || $1 || '%'`, [token]);
      expect(anywhere.rows[0].n).toBe(0);

      expect(await usable(token)).toBe(200);
      const introspected = await form('/token/introspection', 'ops-digest', secret, token);
      expect(introspected.status).toBe(200);
      expect(await introspected.json()).toMatchObject({ active: true, client_id: 'ops-digest', scope: 'deputy:admin' });

      expect((await form('/token/revocation', 'ops-digest', secret, token)).status).toBe(200);
      expect(await usable(token)).toBe(401);
      expect((await deputy.pool.query(`SELECT id FROM oidc_payloads WHERE id = $1`, [digest(token)])).rows).toEqual([]);
    });

    it('a row id read from the database is not a usable token', async () => {
      const secret = await adminClientWithSecret('ops-digest-replay');
      await clientCredentialsToken(deputy, 'ops-digest-replay', secret, 'deputy:admin');
      const { rows } = await deputy.pool.query<{ id: string }>(`SELECT id FROM oidc_payloads WHERE type = 'ClientCredentials' AND payload->>'clientId' = 'ops-digest-replay'`);
      expect(rows).toHaveLength(1);
      expect(await usable(rows[0]!.id)).toBe(401);
    });
  });

  describe('changing the client’s credentials revokes its outstanding admin tokens', () => {
    it('rotating the secret', async () => {
      const secret = await adminClientWithSecret('ops-rotated');
      const first = await clientCredentialsToken(deputy, 'ops-rotated', secret, 'deputy:admin');
      const second = await clientCredentialsToken(deputy, 'ops-rotated', secret, 'deputy:admin');
      const bystander = await clientCredentialsToken(deputy, 'ops-audited-bystander', await adminClientWithSecret('ops-audited-bystander'), 'deputy:admin');
      expect([await usable(first), await usable(second)]).toEqual([200, 200]);

      const rotated = await admin.post('/clients/ops-rotated/secret');
      expect(rotated.status).toBe(200);
      expect([await usable(first), await usable(second)]).toEqual([401, 401]);
      expect(await usable(bystander)).toBe(200);
      const event = (await admin.get('/audit?type=client.secret_rotated&client=ops-rotated')).body.items[0];
      expect(event.details).toEqual({ admin_tokens_revoked: 2 });

      const fresh = await clientCredentialsToken(deputy, 'ops-rotated', rotated.body.client_secret, 'deputy:admin');
      expect(await usable(fresh)).toBe(200);
    });

    it('switching to private_key_jwt (the secret is discarded)', async () => {
      const secret = await adminClientWithSecret('ops-switched');
      const token = await clientCredentialsToken(deputy, 'ops-switched', secret, 'deputy:admin');
      expect(await usable(token)).toBe(200);
      const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const jwk = { ...publicKey.export({ format: 'jwk' }), kid: 'k1', alg: 'ES256', use: 'sig' };
      const switched = await admin.patch('/clients/ops-switched', { token_endpoint_auth_method: 'private_key_jwt', jwks: { keys: [jwk] } });
      expect(switched.status).toBe(200);
      expect(await usable(token)).toBe(401);
    });
  });

  it('taking deputy:admin away revokes its outstanding admin tokens: giving it back does not revive them', async () => {
    const secret = await adminClientWithSecret('ops-demoted');
    const token = await clientCredentialsToken(deputy, 'ops-demoted', secret, 'deputy:admin');
    expect(await usable(token)).toBe(200);

    expect((await admin.patch('/clients/ops-demoted', { scope: '' })).status).toBe(200);
    expect(await usable(token)).toBe(401); // deleted, not merely forbidden while the scope is away
    const event = (await admin.get('/audit?type=client.updated&client=ops-demoted')).body.items[0];
    expect(event.details).toMatchObject({ admin_tokens_revoked: 1 });

    expect((await admin.patch('/clients/ops-demoted', { scope: 'deputy:admin' })).status).toBe(200);
    expect(await usable(token)).toBe(401);
    const fresh = await clientCredentialsToken(deputy, 'ops-demoted', secret, 'deputy:admin');
    expect(await usable(fresh)).toBe(200);
  });
});
