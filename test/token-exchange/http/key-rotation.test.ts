/**
 * SPEC §4 /jwks: after a rotation the previous key stays published until every token it signed
 * has expired; tokens signed before the rotation keep verifying, introspecting and chaining.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { startTestDeputy, type TestDeputy } from '../../support/deputy.js';
import { PEPPER, RESOURCE, TT, startExchangeWorld, type World } from '../../support/exchange-world.js';

async function jwksOf(url: string): Promise<JSONWebKeySet> {
  const response = await fetch(`${url}/jwks`);
  expect(response.status).toBe(200);
  return (await response.json()) as JSONWebKeySet;
}

describe('signing-key rotation', () => {
  let w: World;
  beforeAll(async () => {
    w = await startExchangeWorld();
  });
  afterAll(async () => {
    await w?.stop();
  });

  it('tokens signed before a rotation still verify against /jwks, introspect active and chain', async () => {
    const before = await w.exchangeAs('alice', { scope: 'read' });
    const oldToken = before.json.access_token as string;
    const oldKid = decodeProtectedHeader(oldToken).kid;

    await w.deputy.keyRing.rotate();

    const after = await w.exchangeAs('alice', { scope: 'read' });
    const newToken = after.json.access_token as string;
    const newKid = decodeProtectedHeader(newToken).kid;
    expect(newKid).not.toBe(oldKid);
    expect(newKid).toBe(w.deputy.keyRing.active.kid);

    const jwks = await jwksOf(w.deputy.url);
    expect(jwks.keys.map((key) => key.kid).sort()).toEqual([oldKid, newKid].sort());
    for (const token of [oldToken, newToken]) {
      await expect(jwtVerify(token, createLocalJWKSet(jwks), { issuer: w.issuer, audience: RESOURCE, typ: 'at+jwt' })).resolves.toBeDefined();
      expect((await w.introspect(token)).json.active).toBe(true);
    }
    const chained = await w.exchange({ subject_token: oldToken, subject_token_type: TT.accessToken, resource: RESOURCE }, { clientId: 'app-b' });
    expect(chained.status).toBe(200);
    expect(decodeProtectedHeader(chained.json.access_token as string).kid).toBe(newKid);
  });
});

describe('signing-key rotation with two processes on one database', () => {
  let w: World;
  let other: TestDeputy;
  beforeAll(async () => {
    w = await startExchangeWorld();
    other = await startTestDeputy({ CLIENT_SECRET_PEPPER: PEPPER, ISSUER: w.issuer }, w.deputy.database);
  });
  afterAll(async () => {
    await other?.stop();
    await w?.stop();
  });

  async function mintOnOther(): Promise<string> {
    const response = await fetch(`${other.url}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from('app-a:secret-of-app-a').toString('base64')}`,
      },
      body: new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        subject_token: await w.userToken('alice'),
        subject_token_type: TT.jwt,
        resource: RESOURCE,
        scope: 'read',
      }).toString(),
    });
    expect(response.status).toBe(200);
    return ((await response.json()) as { access_token: string }).access_token;
  }

  it('after a rotation elsewhere, a process does not keep minting with the retired key', async () => {
    const oldKid = w.deputy.keyRing.active.kid;
    await w.deputy.keyRing.rotate();
    // The rotation happened long enough ago that nothing signed with the old key may still live.
    await w.sql(`UPDATE signing_keys SET retired_at = now() - interval '1 day' WHERE kid = $1`, [oldKid]);
    await w.deputy.keyRing.reload();

    const token = await mintOnOther();
    expect(decodeProtectedHeader(token).kid).not.toBe(oldKid);
    const jwks = await jwksOf(w.deputy.url);
    await expect(jwtVerify(token, createLocalJWKSet(jwks), { issuer: w.issuer, audience: RESOURCE, typ: 'at+jwt' })).resolves.toBeDefined();
    expect((await w.introspect(token)).json.active).toBe(true);
  });
});
