/**
 * POST /admin/v1/keys/rotate and GET /admin/v1/keys: a rotation through the admin API signs
 * every new token with the new key, in every process on the database; the retired key stays in
 * /jwks and its tokens keep introspecting active; the rotation is audited; no private material
 * is ever answered.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { startTestDeputy, type TestDeputy } from '../support/deputy.js';
import { PEPPER, RESOURCE, startExchangeWorld, TT, type World } from '../support/exchange-world.js';
import { until } from '../support/wait.js';
import { adminClient, ADMIN_TOKEN, type Admin } from './support.js';

async function jwksOf(url: string): Promise<JSONWebKeySet> {
  return (await (await fetch(`${url}/jwks`)).json()) as JSONWebKeySet;
}

describe('admin: signing keys', () => {
  let w: World;
  let other: TestDeputy;
  let admin: Admin;

  beforeAll(async () => {
    w = await startExchangeWorld({ DEPUTY_ADMIN_TOKEN: ADMIN_TOKEN });
    other = await startTestDeputy({ CLIENT_SECRET_PEPPER: PEPPER, ISSUER: w.issuer, DEPUTY_ADMIN_TOKEN: ADMIN_TOKEN }, w.deputy.database);
    admin = adminClient(w.deputy.url);
  });
  afterAll(async () => {
    await other?.stop();
    await w?.stop();
  });

  it('needs admin credentials', async () => {
    expect((await adminClient(w.deputy.url, null).post('/keys/rotate')).status).toBe(401);
    expect((await adminClient(w.deputy.url, 'y'.repeat(40)).get('/keys')).status).toBe(401);
  });

  it('rotates: the new kid signs, the old one stays published and its tokens stay active, in every process', async () => {
    const before = await w.exchangeAs('alice', { scope: 'read' });
    expect(before.status).toBe(200);
    const oldToken = before.json.access_token as string;
    const oldKid = decodeProtectedHeader(oldToken).kid!;
    expect((await jwksOf(other.url)).keys.map((k) => k.kid)).toEqual([oldKid]);

    const rotated = await admin.post('/keys/rotate');
    expect(rotated.status).toBe(200);
    expect(rotated.body).toEqual({ kid: expect.any(String), retired: [oldKid] });
    const newKid = rotated.body.kid as string;
    expect(newKid).not.toBe(oldKid);

    const after = await w.exchangeAs('alice', { scope: 'read' });
    expect(decodeProtectedHeader(after.json.access_token as string).kid).toBe(newKid);

    // The other process learns of the rotation from the database's notification, without minting first.
    await until(async () => (await jwksOf(other.url)).keys.some((k) => k.kid === newKid), 'the other process to publish the new key', 5000);
    expect(other.keyRing.active.kid).toBe(newKid);
    for (const url of [w.deputy.url, other.url]) {
      const jwks = await jwksOf(url);
      expect(jwks.keys.map((k) => k.kid).sort()).toEqual([oldKid, newKid].sort());
      for (const key of jwks.keys) expect(key).not.toHaveProperty('d');
      await expect(jwtVerify(oldToken, createLocalJWKSet(jwks), { issuer: w.issuer, audience: RESOURCE })).resolves.toBeDefined();
    }
    expect((await w.introspect(oldToken)).json.active).toBe(true);
    const chained = await w.exchange({ subject_token: oldToken, subject_token_type: TT.accessToken, resource: RESOURCE }, { clientId: 'app-b' });
    expect(chained.status).toBe(200);
    expect(decodeProtectedHeader(chained.json.access_token as string).kid).toBe(newKid);

    const event = await w.lastEvent('key.rotated');
    expect(event).toMatchObject({ admin: 'bootstrap', details: { kid: newKid, retired: [oldKid], trigger: 'admin', alg: 'ES256' } });
    expect(event!.request_id).toEqual(expect.any(String));
  });

  it('lists public metadata only', async () => {
    const listed = await admin.get('/keys');
    expect(listed.status).toBe(200);
    const items = listed.body.items as Array<Record<string, unknown>>;
    expect(items.length).toBeGreaterThanOrEqual(2);
    expect(items[0]).toMatchObject({ status: 'active', retired_at: null, published_until: null, alg: 'ES256' });
    expect(items[1]).toMatchObject({ status: 'retired', retired_at: expect.any(String), published_until: expect.any(String) });
    expect(Date.parse(items[1]!.published_until as string) - Date.parse(items[1]!.retired_at as string)).toBe(
      (w.deputy.config.TOKEN_TTL + w.deputy.config.CLOCK_SKEW) * 1000,
    );
    for (const item of items) expect(Object.keys(item).sort()).toEqual(['alg', 'created_at', 'kid', 'published_until', 'retired_at', 'status']);
    expect(JSON.stringify(listed.body)).not.toMatch(/"d"|private|v1\./);
  });
});
