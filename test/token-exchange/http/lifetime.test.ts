/**
 * SPEC §3 lifetime: exp is the earliest of now + TOKEN_TTL, now + the actor's max_token_ttl, the
 * grant's expires_at, the subject token's exp and the expires_at of every entitlement the token
 * relies on. Each bound is made the only binding one in turn.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { RESOURCE, TT, claimsOf, startExchangeWorld, type HttpResult, type World } from '../../support/exchange-world.js';

const ALL = ['read', 'write', 'delete', 'admin'];
const LONG_TTL = 3600;
/** A subject-token lifetime that never binds (beyond the main world's TOKEN_TTL). */
const FAR = 2 * LONG_TTL;

const now = () => Math.floor(Date.now() / 1000);
const inSeconds = (seconds: number) => new Date((now() + seconds) * 1000);

function expectExpNear(result: HttpResult, bound: number): Record<string, unknown> {
  expect(result.status).toBe(200);
  const claims = claimsOf(result.json.access_token as string);
  const exp = claims.exp as number;
  expect(Math.abs(exp - bound)).toBeLessThanOrEqual(1);
  expect(result.json.expires_in).toBe(exp - (claims.iat as number));
  return claims;
}

describe('token lifetime: each bound caps exp on its own', () => {
  let w: World;
  beforeAll(async () => {
    w = await startExchangeWorld({ TOKEN_TTL: String(LONG_TTL) });
    await w.addActor('agent:ttl', { maxTokenTtl: 90, clientId: 'app-ttl' });
    await w.addActor('agent:mortal', { clientId: 'app-mortal', expiresAt: inSeconds(200) });
    await w.addActor('agent:free', { clientId: 'app-free' });
  });
  afterAll(async () => {
    await w?.stop();
  });

  async function exchangeFor(sub: string, clientId: string, scope: string, subjectExp = now() + FAR) {
    return w.exchange(
      {
        subject_token: await w.userToken(sub, { claims: { exp: subjectExp } }),
        subject_token_type: TT.jwt,
        resource: RESOURCE,
        scope,
      },
      { clientId },
    );
  }

  it('with no other bound, the token lives TOKEN_TTL', async () => {
    await w.addSubject('l-none', { entitlements: ALL, grants: { 'agent:free': ALL } });
    const result = await exchangeFor('l-none', 'app-free', 'read');
    const claims = claimsOf(result.json.access_token as string);
    expectExpNear(result, (claims.iat as number) + LONG_TTL);
    expect(result.json.expires_in).toBe(LONG_TTL);
  });

  it('the subject token\'s exp', async () => {
    await w.addSubject('l-subject', { entitlements: ALL, grants: { 'agent:free': ALL } });
    const subjectExp = now() + 100;
    expectExpNear(await exchangeFor('l-subject', 'app-free', 'read', subjectExp), subjectExp);
  });

  it('the grant\'s expires_at', async () => {
    const expiresAt = inSeconds(120);
    await w.addSubject('l-grant', { entitlements: ALL, grants: { 'agent:free': { scopes: ALL, expiresAt } } });
    expectExpNear(await exchangeFor('l-grant', 'app-free', 'read'), expiresAt.getTime() / 1000);
  });

  it('the expires_at of an entitlement the token relies on', async () => {
    const expiresAt = inSeconds(140);
    await w.addSubject('l-ent', {
      entitlements: ['read', { scope: 'write', expiresAt }],
      grants: { 'agent:free': ALL },
    });
    expectExpNear(await exchangeFor('l-ent', 'app-free', 'read write'), expiresAt.getTime() / 1000);
  });

  it('an expiring entitlement the token does not rely on does not cap it', async () => {
    await w.addSubject('l-ent-unused', {
      entitlements: ['read', { scope: 'write', expiresAt: inSeconds(140) }],
      grants: { 'agent:free': ALL },
    });
    const result = await exchangeFor('l-ent-unused', 'app-free', 'read');
    const claims = claimsOf(result.json.access_token as string);
    expectExpNear(result, (claims.iat as number) + LONG_TTL);
  });

  it('the actor\'s max_token_ttl', async () => {
    await w.addSubject('l-actor-ttl', { entitlements: ALL, grants: { 'agent:ttl': ALL } });
    const result = await exchangeFor('l-actor-ttl', 'app-ttl', 'read');
    const claims = claimsOf(result.json.access_token as string);
    expectExpNear(result, (claims.iat as number) + 90);
    expect(result.json.expires_in).toBe(90);
  });

  it('the actor\'s own expires_at', async () => {
    await w.addSubject('l-actor-exp', { entitlements: ALL, grants: { 'agent:mortal': ALL } });
    const [row] = await w.sql<{ e: number }>(`SELECT floor(extract(epoch FROM expires_at))::int AS e FROM actors WHERE id = 'agent:mortal'`);
    expectExpNear(await exchangeFor('l-actor-exp', 'app-mortal', 'read'), row!.e);
  });

  it('in a chain, the parent token\'s exp (a child never outlives its parent)', async () => {
    const subjectExp = now() + 150;
    const parent = await w.exchange(
      { subject_token: await w.userToken('alice', { claims: { exp: subjectExp } }), subject_token_type: TT.jwt, resource: RESOURCE, scope: 'read' },
      { clientId: 'app-a' },
    );
    expectExpNear(parent, subjectExp);
    const child = await w.exchange(
      { subject_token: parent.json.access_token as string, subject_token_type: TT.accessToken, resource: RESOURCE, scope: 'read' },
      { clientId: 'app-b' },
    );
    expectExpNear(child, claimsOf(parent.json.access_token as string).exp as number);
  });

  it('with two grants, the one the token relies on is named and bounds exp; revoking it falls back to the other', async () => {
    const expiresAt = inSeconds(100);
    const wide = await w.addSubject('l-two-grants', { entitlements: ALL, grants: { 'agent:free': { scopes: ['read', 'write'], expiresAt } } });
    const narrow = await w.addGrant('l-two-grants', 'agent:free', ['read']);

    const both = await exchangeFor('l-two-grants', 'app-free', 'read write');
    expect(both.json.scope).toBe('read write');
    expect(claimsOf(both.json.access_token as string).grant_id).toBe(wide['agent:free']);
    expectExpNear(both, expiresAt.getTime() / 1000);

    // For read alone both grants give the same scope: the longer-lived one is chosen.
    const readOnly = await exchangeFor('l-two-grants', 'app-free', 'read');
    const readClaims = claimsOf(readOnly.json.access_token as string);
    expect(readClaims.grant_id).toBe(narrow);
    expectExpNear(readOnly, (readClaims.iat as number) + LONG_TTL);

    await w.sql('UPDATE delegation_grants SET revoked_at = now() WHERE id = $1', [wide['agent:free']]);
    const fallback = await exchangeFor('l-two-grants', 'app-free', 'read write');
    expect(fallback.json.scope).toBe('read');
    expect(claimsOf(fallback.json.access_token as string).grant_id).toBe(narrow);
  });

  it('the issued_tokens row records the same expiry as the token', async () => {
    await w.addSubject('l-record', { entitlements: ALL, grants: { 'agent:ttl': ALL } });
    const result = await exchangeFor('l-record', 'app-ttl', 'read');
    const claims = claimsOf(result.json.access_token as string);
    const [row] = await w.sql<{ e: number }>('SELECT floor(extract(epoch FROM expires_at))::int AS e FROM issued_tokens WHERE jti = $1', [claims.jti]);
    expect(row!.e).toBe(claims.exp);
  });

  it('a subject token that is already expired is refused, not minted with a past exp', async () => {
    await w.addSubject('l-expired', { entitlements: ALL, grants: { 'agent:free': ALL } });
    // Beyond the 30 s clock skew.
    await w.expectRefused(async () => exchangeFor('l-expired', 'app-free', 'read', now() - 120), 'invalid_request');
  });
});

describe('token lifetime: TOKEN_TTL', () => {
  let w: World;
  beforeAll(async () => {
    w = await startExchangeWorld({ TOKEN_TTL: '45' });
  });
  afterAll(async () => {
    await w?.stop();
  });

  it('caps exp at now + TOKEN_TTL when every other bound is later', async () => {
    const result = await w.exchangeAs('alice', { scope: 'read' });
    const claims = claimsOf(result.json.access_token as string);
    expectExpNear(result, (claims.iat as number) + 45);
    expect(result.json.expires_in).toBe(45);
    const nowS = now();
    expect(claims.iat as number).toBeGreaterThanOrEqual(nowS - 5);
    expect(claims.iat as number).toBeLessThanOrEqual(nowS + 1);
  });
});
