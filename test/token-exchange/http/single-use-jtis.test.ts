/**
 * The actor assertion's and the DPoP proof's single-use jti are marked used by the statement that
 * records the exchange (src/token-exchange/single-use-presented.ts, deputy_record_exchanges). Over
 * HTTP: a replay is refused with the refusal the separate store gave and its audit event, no
 * token is recorded or returned for it, and a refused exchange spends its assertion too.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { RESOURCE, SECRETS, TT, claimsOf, expectRefusalShape, startExchangeWorld, type HttpResult, type World } from '../../support/exchange-world.js';

describe('single-use jtis recorded with the exchange', () => {
  let w: World;
  let dpopKey: { privateKey: CryptoKey; publicJwk: JWK };
  beforeAll(async () => {
    w = await startExchangeWorld();
    const pair = await generateKeyPair('ES256', { extractable: true });
    dpopKey = { privateKey: pair.privateKey, publicJwk: await exportJWK(pair.publicKey) };
  });
  afterAll(async () => {
    await w?.stop();
  });

  const withAssertion = async (assertion: string, scope = 'read') =>
    w.exchange(
      { subject_token: await w.userToken('alice'), subject_token_type: TT.jwt, actor_token: assertion, actor_token_type: TT.jwt, resource: RESOURCE, scope },
      { clientId: 'app-a' },
    );

  const eventsFor = (requestIdFilter: string, values: unknown[]) =>
    w.sql<{ type: string; error: string | null; reason: string | null; jti: string | null }>(
      `SELECT type, error, details->>'reason' AS reason, jti FROM audit_events WHERE ${requestIdFilter} ORDER BY id`,
      values,
    );
  const stored = (namespace: string, issuer: string, jti: string) =>
    w
      .sql<{ n: number }>(`SELECT count(*)::int AS n FROM used_assertion_jtis WHERE namespace = $1 AND issuer = $2 AND jti_sha256 = sha256(convert_to($3, 'UTF8'))`, [
        namespace,
        issuer,
        jti,
      ])
      .then((rows) => rows[0]!.n);

  it('a replayed assertion: 400 invalid_request, no token recorded, its denial audited with the replay reason', async () => {
    const assertion = await w.actorAssertion('agent:b');
    const first = await withAssertion(assertion);
    expect(first.status).toBe(200);
    const issued = await w.issuedCount();
    const denied = await w.auditCount({ type: 'token.exchange_denied', error: 'invalid_request' });
    const replay = await withAssertion(assertion);
    expect(replay.status).toBe(400);
    expect(replay.json.error).toBe('invalid_request');
    expect(replay.json.error_description).toBe('actor assertion was already used');
    expect(replay.json.access_token).toBeUndefined();
    expectRefusalShape(replay);
    expect(await w.issuedCount()).toBe(issued);
    expect(await w.auditCount({ type: 'token.exchange_denied', error: 'invalid_request' })).toBe(denied + 1);
    const [latest] = await eventsFor(`type = 'token.exchange_denied' AND actor_ids = ARRAY['agent:b'] AND id = (SELECT max(id) FROM audit_events)`, []);
    expect(latest).toEqual({ type: 'token.exchange_denied', error: 'invalid_request', reason: 'actor_token.actor_assertion_was_already_used', jti: null });
    expect(await stored('actor_assertion', 'agent:b', claimsOf(assertion).jti as string)).toBe(1);
  });

  it('a refused exchange spends its assertion: presented again, it is refused as a replay', async () => {
    const assertion = await w.actorAssertion('agent:b');
    const refused = await withAssertion(assertion, 'no-such-scope');
    expect(refused.status).toBe(400);
    expect(refused.json.error).toBe('invalid_scope');
    expect(await stored('actor_assertion', 'agent:b', claimsOf(assertion).jti as string)).toBe(1);
    const again = await withAssertion(assertion);
    expect(again.status).toBe(400);
    expect(again.json.error_description).toBe('actor assertion was already used');
    expect(again.json.access_token).toBeUndefined();
  });

  function dpopProof(jti = randomUUID()): Promise<string> {
    return new SignJWT({ htm: 'POST', htu: `${w.issuer}/token`, jti, iat: Math.floor(Date.now() / 1000) })
      .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk: dpopKey.publicJwk })
      .sign(dpopKey.privateKey);
  }

  async function exchangeWithDpop(dpop: string, requestId: string): Promise<HttpResult> {
    const body = new URLSearchParams({ grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange', subject_token: await w.userToken('alice'), subject_token_type: TT.jwt, resource: RESOURCE, scope: 'read' });
    const response = await fetch(`${w.deputy.url}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`app-a:${SECRETS['app-a']}`).toString('base64')}`,
        'x-request-id': requestId,
        dpop,
      },
      body: body.toString(),
    });
    const text = await response.text();
    return { status: response.status, headers: response.headers, text, json: JSON.parse(text) as Record<string, unknown> };
  }

  it('a replayed DPoP proof: 400 invalid_dpop_proof, no token, audited as dpop.proof_jwt_replay_detected; the jti is in the shared store', async () => {
    const jti = randomUUID();
    const proof = await dpopProof(jti);
    const first = await exchangeWithDpop(proof, `dpop-first-${jti}`);
    expect(first.status).toBe(200);
    expect(await stored('oauth_client', 'app-a', jti)).toBe(1);
    const issued = await w.issuedCount();
    const replay = await exchangeWithDpop(proof, `dpop-replay-${jti}`);
    expect(replay.status).toBe(400);
    expect(replay.json.error).toBe('invalid_dpop_proof');
    expect(replay.json.access_token).toBeUndefined();
    expect(await w.issuedCount()).toBe(issued);
    const events = await w.sql<{ type: string; error: string; reason: string; request_id: string }>(
      `SELECT type, error, details->>'reason' AS reason, request_id FROM audit_events WHERE request_id LIKE $1 ORDER BY id`,
      [`dpop-%-${jti}`],
    );
    expect(events.map((e) => [e.request_id, e.type])).toEqual([
      [`dpop-first-${jti}`, 'token.exchanged'],
      [`dpop-replay-${jti}`, 'token.exchange_denied'],
    ]);
    expect(events[1]).toMatchObject({ error: 'invalid_dpop_proof', reason: 'dpop.proof_jwt_replay_detected' });
  });

  it('one DPoP proof, 20 at once: exactly one token, 19 invalid_dpop_proof', async () => {
    const proof = await dpopProof();
    const issued = await w.issuedCount();
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => exchangeWithDpop(proof, `dpop-burst-${i}-${randomUUID()}`)));
    expect(results.filter((r) => r.status === 200)).toHaveLength(1);
    const refused = results.filter((r) => r.status !== 200);
    expect(refused).toHaveLength(19);
    for (const r of refused) expect(r.json.error).toBe('invalid_dpop_proof');
    expect(await w.issuedCount()).toBe(issued + 1);
  });
});
