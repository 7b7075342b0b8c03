/**
 * The demo identity provider's private key sits on disk (DEPUTY_HOME/demo.json): it may speak
 * only for the demo users. A token it signs for anyone else is refused, even when that person
 * has entitlements and a delegation grant, and the refusal's audit event says why.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { DEMO, ensureDemoIssuer, readDemoSecrets, seedDemoWorld, type DemoSecrets } from '../../src/demo/seed.js';
import { demoUserToken } from '../../src/demo/user-token.js';
import { startTestDeputy, type TestDeputy } from '../support/deputy.js';

const PEPPER = 'demo-issuer-test-pepper-0123456789abcdef';

describe('the demo identity provider speaks only for the demo users', () => {
  let deputy: TestDeputy;
  let home: string;
  let secrets: DemoSecrets;

  beforeAll(async () => {
    home = await mkdtemp(path.join(os.tmpdir(), 'deputy-demo-issuer-'));
    deputy = await startTestDeputy({ CLIENT_SECRET_PEPPER: PEPPER });
    expect(await seedDemoWorld(deputy.pool, home, PEPPER, deputy.config.ISSUER)).toBe(true);
    secrets = (await readDemoSecrets(home))!;
    // Everything else mallory would need is in place: only the issuer's limit stands in the way.
    await deputy.pool.query(`INSERT INTO subjects (id, email) VALUES ('mallory', 'mallory@example.com')`);
    await deputy.pool.query(`INSERT INTO entitlements (subject_id, resource_uri, scope) VALUES ('mallory', $1, 'tickets:read')`, [DEMO.resource]);
    await deputy.pool.query(
      `INSERT INTO delegation_grants (subject_id, actor_id, resource_uri, scopes, expires_at) VALUES ('mallory', $1, $2, ARRAY['tickets:read'], now() + interval '1 day')`,
      [DEMO.agent, DEMO.resource],
    );
  });
  afterAll(async () => {
    await deputy.stop();
    await rm(home, { recursive: true, force: true });
  });

  async function exchange(subject: string) {
    const response = await fetch(`${deputy.url}/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${DEMO.appClient}:${secrets.appClientSecret}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        subject_token: await demoUserToken(secrets, subject),
        subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
        resource: DEMO.resource,
        scope: 'tickets:read',
      }).toString(),
    });
    return { status: response.status, json: (await response.json()) as Record<string, unknown> };
  }

  it('is seeded limited to the demo users', async () => {
    const { rows } = await deputy.pool.query(`SELECT allowed_subjects, subject_prefix FROM trusted_issuers WHERE issuer = $1`, [secrets.issuer]);
    expect(rows).toEqual([{ allowed_subjects: ['alice', 'bob'], subject_prefix: null }]);
  });

  it('refuses a demo-issuer token for a non-demo subject, audits why, and mints nothing', async () => {
    const before = (await deputy.pool.query(`SELECT count(*)::int AS n FROM issued_tokens`)).rows[0].n;
    const result = await exchange('mallory');
    expect(result.status).toBe(400);
    expect(result.json.error).toBe('invalid_request');
    expect(result.json.access_token).toBeUndefined();
    expect((await deputy.pool.query(`SELECT count(*)::int AS n FROM issued_tokens`)).rows[0].n).toBe(before);
    const { rows } = await deputy.pool.query(`SELECT type, error, details FROM audit_events WHERE client_id = $1 ORDER BY at DESC, id DESC LIMIT 1`, [DEMO.appClient]);
    expect(rows[0]).toEqual({ type: 'token.exchange_denied', error: 'invalid_request', details: { reason: 'subject_token.issuer_subject_not_allowed' } });
  });

  it('still accepts a demo user (control)', async () => {
    const result = await exchange('alice');
    expect(result.status).toBe(200);
    expect(result.json.scope).toBe('tickets:read');
  });

  it('is served at ISSUER/demo-idp, the identifier its tokens carry', () => {
    expect(secrets.issuer).toBe(`${deputy.config.ISSUER}/demo-idp`);
  });

  it('follows a changed ISSUER on start, but only in a database that already trusts the demo key', async () => {
    expect(await ensureDemoIssuer(deputy.pool, 'http://localhost:4999', secrets)).toBe(true);
    const { rows } = await deputy.pool.query(`SELECT allowed_subjects, jwks FROM trusted_issuers WHERE issuer = 'http://localhost:4999/demo-idp' AND kind = 'user'`);
    expect(rows).toHaveLength(1);
    expect(rows[0].allowed_subjects).toEqual(['alice', 'bob']);
    expect(rows[0].jwks.keys[0]).not.toHaveProperty('d');
    // A database that never trusted this demo key: a demo.json lying around changes nothing.
    const other = await startTestDeputy({ CLIENT_SECRET_PEPPER: PEPPER });
    try {
      expect(await ensureDemoIssuer(other.pool, other.config.ISSUER, secrets)).toBe(false);
      expect((await other.pool.query(`SELECT count(*)::int AS n FROM trusted_issuers`)).rows[0].n).toBe(0);
    } finally {
      await other.stop();
    }
  });
});
