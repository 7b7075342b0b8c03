/**
 * DPoP on the token exchange (SPEC §3: token_type DPoP and cnf.jkt when the request carried a
 * valid DPoP proof; RFC 9449). A valid proof binds the token; an invalid one never yields a token.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SignJWT, calculateJwkThumbprint, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { RESOURCE, SECRETS, TT, claimsOf, expectRefusalShape, startExchangeWorld, type HttpResult, type World } from '../../support/exchange-world.js';

describe('DPoP-bound exchanges', () => {
  let w: World;
  let key: { privateKey: CryptoKey; publicJwk: JWK; jkt: string };
  beforeAll(async () => {
    w = await startExchangeWorld();
    const pair = await generateKeyPair('ES256', { extractable: true });
    const publicJwk = await exportJWK(pair.publicKey);
    key = { privateKey: pair.privateKey, publicJwk, jkt: await calculateJwkThumbprint(publicJwk) };
  });
  afterAll(async () => {
    await w?.stop();
  });

  function proof(claims: Record<string, unknown> = {}, header: Record<string, unknown> = {}): Promise<string> {
    return new SignJWT({ htm: 'POST', htu: `${w.issuer}/token`, jti: randomUUID(), iat: Math.floor(Date.now() / 1000), ...claims })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: key.publicJwk, ...header })
      .sign(key.privateKey);
  }

  async function exchangeWithDpop(dpop: string): Promise<HttpResult> {
    const body = new URLSearchParams({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: await w.userToken('alice'),
      subject_token_type: TT.jwt,
      resource: RESOURCE,
      scope: 'read',
    });
    const response = await fetch(`${w.deputy.url}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`app-a:${SECRETS['app-a']}`).toString('base64')}`,
        dpop,
      },
      body: body.toString(),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, text, json: JSON.parse(text) as Record<string, unknown> };
  }

  it('a valid proof: token_type DPoP, cnf.jkt is the proof key\'s thumbprint', async () => {
    const result = await exchangeWithDpop(await proof());
    expect(result.status).toBe(200);
    expect(result.json.token_type).toBe('DPoP');
    expect(claimsOf(result.json.access_token as string).cnf).toEqual({ jkt: key.jkt });
  });

  const invalidProofs: Array<[string, () => Promise<string>]> = [
    ['not a JWT', async () => 'garbage'],
    ['a proof for another URL (htu)', () => proof({ htu: 'https://elsewhere.test/token' })],
    ['a proof for another method (htm)', () => proof({ htm: 'GET' })],
    ['a proof with the wrong typ', () => proof({}, { typ: 'JWT' })],
    ['a proof issued long ago', () => proof({ iat: Math.floor(Date.now() / 1000) - 3600 })],
  ];

  it.each(invalidProofs)('%s never yields a token, and is audited once', async (_name, build) => {
    const dpop = await build();
    const before = { issued: await w.issuedCount(), events: await w.auditCount() };
    const result = await exchangeWithDpop(dpop);
    expect(result.status).toBeGreaterThanOrEqual(400);
    expect(result.json.access_token).toBeUndefined();
    expectRefusalShape(result);
    expect(await w.issuedCount()).toBe(before.issued);
    expect(await w.auditCount()).toBe(before.events + 1);
    expect(await w.lastEvent()).toMatchObject({ type: 'token.exchange_denied', jti: null });
  });

  it('a replayed proof never yields a second token', async () => {
    const dpop = await proof();
    expect((await exchangeWithDpop(dpop)).status).toBe(200);
    const before = await w.issuedCount();
    const replay = await exchangeWithDpop(dpop);
    expect(replay.json.access_token).toBeUndefined();
    expect(await w.issuedCount()).toBe(before);
  });

  it.each([...invalidProofs, ['a replayed proof', async () => 'replay'] as [string, () => Promise<string>]])(
    '%s → 400 invalid_dpop_proof',
    async (name, build) => {
      let dpop = await build();
      if (name === 'a replayed proof') {
        dpop = await proof();
        expect((await exchangeWithDpop(dpop)).status).toBe(200);
      }
      const result = await exchangeWithDpop(dpop);
      expect(result.status).toBe(400);
      expect(result.json.error).toBe('invalid_dpop_proof');
      expect(await w.lastEvent()).toMatchObject({ type: 'token.exchange_denied', error: 'invalid_dpop_proof' });
    },
  );

  describe('a DPoP-bound Deputy token presented as subject_token (review item 2)', () => {
    let attacker: { privateKey: CryptoKey; publicJwk: JWK; jkt: string };
    beforeAll(async () => {
      const pair = await generateKeyPair('ES256', { extractable: true });
      const publicJwk = await exportJWK(pair.publicKey);
      attacker = { privateKey: pair.privateKey, publicJwk, jkt: await calculateJwkThumbprint(publicJwk) };
    });

    /** A token bound to `key`, minted for alice by app-a (agent:a). */
    async function boundToken(): Promise<string> {
      const result = await exchangeWithDpop(await proof());
      expect(result.status).toBe(200);
      expect(claimsOf(result.json.access_token as string).cnf).toEqual({ jkt: key.jkt });
      return result.json.access_token as string;
    }

    /** agent:b (client app-b) exchanges the bound token, with the given DPoP header or none. */
    async function chain(subjectToken: string, dpop: string | null): Promise<HttpResult> {
      const response = await fetch(`${w.deputy.url}/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`app-b:${SECRETS['app-b']}`).toString('base64')}`,
          ...(dpop === null ? {} : { dpop }),
        },
        body: new URLSearchParams({
          grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
          subject_token: subjectToken,
          subject_token_type: TT.accessToken,
          resource: RESOURCE,
          scope: 'read',
        }).toString(),
      });
      const text = await response.text();
      return { status: response.status, headers: response.headers, text, json: JSON.parse(text) as Record<string, unknown> };
    }

    it('without a proof: refused invalid_request, nothing minted, audited with the reason', async () => {
      const parent = await boundToken();
      await w.expectRefused(() => chain(parent, null), 'invalid_request');
      expect(await w.lastEvent()).toMatchObject({ type: 'token.exchange_denied', error: 'invalid_request', jti: null, details: { reason: 'decision.dpop_proof_required' } });
    });

    it('with a valid proof of another key: refused invalid_request, never re-bound to that key', async () => {
      const parent = await boundToken();
      const otherProof = await new SignJWT({ htm: 'POST', htu: `${w.issuer}/token`, jti: randomUUID(), iat: Math.floor(Date.now() / 1000) })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: attacker.publicJwk })
        .sign(attacker.privateKey);
      await w.expectRefused(() => chain(parent, otherProof), 'invalid_request');
      expect(await w.lastEvent()).toMatchObject({ type: 'token.exchange_denied', error: 'invalid_request', jti: null, details: { reason: 'decision.dpop_key_mismatch' } });
    });

    it('with a proof of its own key: the child is DPoP-bound to the same key', async () => {
      const parent = await boundToken();
      const result = await chain(parent, await proof());
      expect(result.status).toBe(200);
      expect(result.json.token_type).toBe('DPoP');
      const child = result.json.access_token as string;
      expect(claimsOf(child).cnf).toEqual({ jkt: key.jkt });
      expect(claimsOf(child).act).toEqual({ sub: 'agent:b', act: { sub: 'agent:a' } });
      const [row] = await w.sql<{ dpop_jkt: string | null }>('SELECT dpop_jkt FROM issued_tokens WHERE jti = $1', [claimsOf(child).jti]);
      expect(row!.dpop_jkt).toBe(key.jkt);
      expect((await w.introspect(child)).json).toMatchObject({ active: true, token_type: 'DPoP', cnf: { jkt: key.jkt } });
    });

    it('a Bearer parent may still be exchanged with or without a proof', async () => {
      const bearer = await w.exchangeAs('alice', { scope: 'read' });
      expect(bearer.json.token_type).toBe('Bearer');
      expect((await chain(bearer.json.access_token as string, null)).json.token_type).toBe('Bearer');
      const bearer2 = await w.exchangeAs('alice', { scope: 'read' });
      const bound = await chain(bearer2.json.access_token as string, await proof());
      expect(bound.json.token_type).toBe('DPoP');
      expect(claimsOf(bound.json.access_token as string).cnf).toEqual({ jkt: key.jkt });
    });
  });
});
