/**
 * A successful exchange end to end, driven by a real OAuth client (openid-client 6): the
 * response, the minted RFC 9068 token verified against /jwks, and what is recorded.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import * as client from 'openid-client';
import { calculateJwkThumbprint, createRemoteJWKSet, exportJWK, jwtVerify } from 'jose';
import {
  GRANT_TYPE,
  RESOURCE,
  SECRETS,
  TT,
  claimsOf,
  startExchangeWorld,
  type World,
} from '../../support/exchange-world.js';

describe('token exchange: success', () => {
  let w: World;
  beforeAll(async () => {
    w = await startExchangeWorld();
  });
  afterAll(async () => {
    await w?.stop();
  });

  async function discover(clientId: string, auth: client.ClientAuth): Promise<client.Configuration> {
    return client.discovery(new URL(w.issuer), clientId, undefined, auth, { execute: [client.allowInsecureRequests] });
  }

  async function verifyMinted(token: string) {
    const jwks = createRemoteJWKSet(new URL(`${w.issuer}/jwks`));
    return jwtVerify(token, jwks, { issuer: w.issuer, audience: RESOURCE, typ: 'at+jwt', algorithms: ['ES256'] });
  }

  const cases: Array<[string, string, () => Promise<client.ClientAuth>]> = [
    ['client_secret_basic', 'app-a', async () => client.ClientSecretBasic(SECRETS['app-a']!)],
    ['private_key_jwt', 'app-jwt', async () => client.PrivateKeyJwt({ key: w.clientJwtKey.privateKey, kid: w.clientJwtKey.kid })],
  ];

  it.each(cases)('mints a verifiable delegated token for a %s client', async (_method, clientId, makeAuth) => {
    const config = await discover(clientId, await makeAuth());
    const before = { issued: await w.issuedCount(), exchanged: await w.auditCount({ type: 'token.exchanged' }) };

    const response = await client.genericGrantRequest(config, GRANT_TYPE, {
      subject_token: await w.userToken('alice'),
      subject_token_type: TT.jwt,
      resource: RESOURCE,
      scope: 'read write',
    });

    expect(response.token_type.toLowerCase()).toBe('bearer');
    expect(response.issued_token_type).toBe(TT.accessToken);
    expect(response.scope).toBe('read write');
    expect(typeof response.expires_in).toBe('number');
    expect(response.expires_in).toBeGreaterThan(0);
    expect(response.expires_in).toBeLessThanOrEqual(300);
    expect(Object.keys(response).filter((k) => typeof (response as unknown as Record<string, unknown>)[k] !== 'function').sort()).toEqual(
      ['access_token', 'expires_in', 'issued_token_type', 'scope', 'token_type'],
    );

    const { payload, protectedHeader } = await verifyMinted(response.access_token);
    expect(protectedHeader).toMatchObject({ typ: 'at+jwt', alg: 'ES256', kid: w.deputy.keyRing.active.kid });
    expect(payload).toMatchObject({
      iss: w.issuer,
      sub: 'alice',
      aud: RESOURCE,
      client_id: clientId,
      scope: 'read write',
      act: { sub: 'agent:a' },
      grant_id: w.grantIds['agent:a'],
    });
    expect(payload.act).toEqual({ sub: 'agent:a' });
    expect(typeof payload.jti).toBe('string');
    expect(typeof payload.iat).toBe('number');
    expect(payload.exp! - payload.iat!).toBe(response.expires_in);

    // One issued-token row and one token.exchanged audit event, both naming the jti.
    expect(await w.issuedCount()).toBe(before.issued + 1);
    expect(await w.auditCount({ type: 'token.exchanged' })).toBe(before.exchanged + 1);
    const [row] = await w.sql<{ subject_id: string; actor_ids: string[]; client_id: string; scope: string; grant_id: string; resource_uri: string }>(
      'SELECT subject_id, actor_ids, client_id, scope, grant_id, resource_uri FROM issued_tokens WHERE jti = $1',
      [payload.jti],
    );
    expect(row).toEqual({
      subject_id: 'alice',
      actor_ids: ['agent:a'],
      client_id: clientId,
      scope: 'read write',
      grant_id: w.grantIds['agent:a'],
      resource_uri: RESOURCE,
    });
    const events = await w.sql<{ type: string; subject_id: string; actor_ids: string[]; scope_granted: string[]; client_id: string }>(
      'SELECT type, subject_id, actor_ids, scope_granted, client_id FROM audit_events WHERE jti = $1',
      [payload.jti],
    );
    expect(events).toEqual([{ type: 'token.exchanged', subject_id: 'alice', actor_ids: ['agent:a'], scope_granted: ['read', 'write'], client_id: clientId }]);
  });

  it('answers with Cache-Control: no-store and the RFC 8693 JSON body (raw HTTP)', async () => {
    const result = await w.exchangeAs('alice');
    expect(result.status).toBe(200);
    expect(result.headers.get('cache-control')).toBe('no-store');
    expect(result.headers.get('content-type')).toMatch(/^application\/json/);
    expect(result.json).toEqual({
      access_token: expect.any(String),
      issued_token_type: TT.accessToken,
      token_type: 'Bearer',
      expires_in: 300,
      scope: 'read write delete',
    });
  });

  it('absent scope means the scopes of the delegation grant', async () => {
    const result = await w.exchangeAs('alice');
    expect(result.status).toBe(200);
    expect(claimsOf(result.json.access_token as string).scope).toBe('read write delete');
  });

  it('accepts audience as the target instead of resource', async () => {
    const result = await w.exchange({ subject_token: await w.userToken('alice'), subject_token_type: TT.jwt, audience: RESOURCE, scope: 'read' });
    expect(result.status).toBe(200);
    expect(claimsOf(result.json.access_token as string).aud).toBe(RESOURCE);
  });

  it('accepts an id_token-typed subject token from the trusted user issuer', async () => {
    const result = await w.exchange({ subject_token: await w.userToken('alice'), subject_token_type: TT.idToken, resource: RESOURCE, scope: 'read' });
    expect(result.status).toBe(200);
  });

  it('with an actor assertion, the asserted actor (not the client\'s own) is act.sub', async () => {
    const config = await discover('app-a', client.ClientSecretBasic(SECRETS['app-a']!));
    const response = await client.genericGrantRequest(config, GRANT_TYPE, {
      subject_token: await w.userToken('alice'),
      subject_token_type: TT.jwt,
      actor_token: await w.actorAssertion('agent:b'),
      actor_token_type: TT.jwt,
      resource: RESOURCE,
      scope: 'read',
    });
    const { payload } = await verifyMinted(response.access_token);
    expect(payload.act).toEqual({ sub: 'agent:b' });
    expect(payload.grant_id).toBe(w.grantIds['agent:b']);
    expect(payload.client_id).toBe('app-a');
    const [row] = await w.sql<{ actor_ids: string[] }>('SELECT actor_ids FROM issued_tokens WHERE jti = $1', [payload.jti]);
    expect(row?.actor_ids).toEqual(['agent:b']);
  });

  it('accepts an actor assertion whose aud is the token endpoint URL', async () => {
    const result = await w.exchangeAs('alice', {
      actor_token: await w.actorAssertion('agent:c', { claims: { aud: `${w.issuer}/token` } }),
      actor_token_type: TT.jwt,
    });
    expect(result.status).toBe(200);
    expect(claimsOf(result.json.access_token as string).act).toEqual({ sub: 'agent:c' });
  });

  it('the minted token introspects active with the RFC 7662 fields', async () => {
    const minted = await w.exchangeAs('alice', { scope: 'read' });
    const token = minted.json.access_token as string;
    const claims = claimsOf(token);
    const result = await w.introspect(token);
    expect(result.status).toBe(200);
    expect(result.json).toMatchObject({
      active: true,
      iss: w.issuer,
      sub: 'alice',
      act: { sub: 'agent:a' },
      scope: 'read',
      aud: RESOURCE,
      client_id: 'app-a',
      exp: claims.exp,
      iat: claims.iat,
      jti: claims.jti,
      token_type: 'Bearer',
    });
  });

  it('with a DPoP proof, the token is DPoP-bound (token_type DPoP, cnf.jkt) and introspects as such', async () => {
    const config = await discover('app-a', client.ClientSecretBasic(SECRETS['app-a']!));
    const dpopKey = await client.randomDPoPKeyPair('ES256');
    const response = await client.genericGrantRequest(
      config,
      GRANT_TYPE,
      { subject_token: await w.userToken('alice'), subject_token_type: TT.jwt, resource: RESOURCE, scope: 'read' },
      { DPoP: client.getDPoPHandle(config, dpopKey) },
    );
    expect(response.token_type.toLowerCase()).toBe('dpop');
    const jkt = await calculateJwkThumbprint(await exportJWK(dpopKey.publicKey));
    const { payload } = await verifyMinted(response.access_token);
    expect(payload.cnf).toEqual({ jkt });
    const [row] = await w.sql<{ dpop_jkt: string }>('SELECT dpop_jkt FROM issued_tokens WHERE jti = $1', [payload.jti]);
    expect(row?.dpop_jkt).toBe(jkt);
    expect((await w.introspect(response.access_token)).json).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt } });
  });

  it('a client_secret_post client works too', async () => {
    await w.sql(`UPDATE clients SET token_endpoint_auth_method = 'client_secret_post' WHERE client_id = 'app-c'`);
    const config = await discover('app-c', client.ClientSecretPost(SECRETS['app-c']!));
    const response = await client.genericGrantRequest(config, GRANT_TYPE, {
      subject_token: await w.userToken('alice'),
      subject_token_type: TT.jwt,
      resource: RESOURCE,
      scope: 'read',
    });
    const { payload } = await verifyMinted(response.access_token);
    expect(payload).toMatchObject({ client_id: 'app-c', act: { sub: 'agent:c' }, scope: 'read' });
  });

  it('every success writes exactly one token.exchanged event and one issued_tokens row', async () => {
    const before = { issued: await w.issuedCount(), events: await w.auditCount() };
    for (let i = 0; i < 3; i += 1) expect((await w.exchangeAs('alice', { scope: 'read' })).status).toBe(200);
    expect(await w.issuedCount()).toBe(before.issued + 3);
    expect(await w.auditCount()).toBe(before.events + 3);
  });
});
