/**
 * Characters PostgreSQL cannot store in text or jsonb (U+0000, lone UTF-16 surrogates) in the
 * request parameters or in token claims. Whatever the answer, no token; SPEC §3 asks for a 400
 * with the usual code and exactly one audit event per exchange.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { rawJwt } from '../../support/jwt-fixtures.js';
import { RESOURCE, TT, expectRefusalShape, startExchangeWorld, type HttpResult, type World } from '../../support/exchange-world.js';

const now = () => Math.floor(Date.now() / 1000);

describe('unstorable characters in the request', () => {
  let w: World;
  beforeAll(async () => {
    w = await startExchangeWorld();
  });
  afterAll(async () => {
    await w?.stop();
  });

  type Case = [name: string, expected: string, run: () => Promise<HttpResult>];
  const cases: Case[] = [
    ['a NUL in resource', 'invalid_target', () => w.exchangeAs('alice', { resource: `${RESOURCE}\u0000` })],
    [
      'a NUL in audience',
      'invalid_target',
      async () => w.exchange({ subject_token: await w.userToken('alice'), subject_token_type: TT.jwt, audience: 'api\u0000' }),
    ],
    [
      'a NUL in the iss of an unsigned subject token',
      'invalid_request',
      async () =>
        w.exchange({
          subject_token: rawJwt({ alg: 'ES256', kid: 'k' }, { iss: 'https://idp\u0000', sub: 'alice', aud: w.issuer, iat: now(), exp: now() + 60 }),
          subject_token_type: TT.jwt,
          resource: RESOURCE,
        }),
    ],
    [
      'a NUL in the iss of an unsigned actor token',
      'invalid_request',
      async () =>
        w.exchangeAs('alice', {
          actor_token: rawJwt({ alg: 'ES256', kid: 'k' }, { iss: 'agent\u0000', sub: 'agent\u0000', aud: w.issuer, iat: now(), exp: now() + 60, jti: 'j' }),
          actor_token_type: TT.jwt,
        }),
    ],
    [
      'a NUL in the sub of a trusted user token',
      'invalid_request',
      async () => w.exchange({ subject_token: await w.userToken('ali\u0000ce'), subject_token_type: TT.jwt, resource: RESOURCE }),
    ],
    [
      'a lone surrogate in the sub of a trusted user token',
      'invalid_request',
      async () => w.exchange({ subject_token: await w.userToken('ali\ud800ce'), subject_token_type: TT.jwt, resource: RESOURCE }),
    ],
    [
      'a NUL in the jti of a signed actor assertion',
      'invalid_request',
      async () => w.exchangeAs('alice', { actor_token: await w.actorAssertion('agent:b', { claims: { jti: 'x\u0000' } }), actor_token_type: TT.jwt }),
    ],
  ];

  it.each(cases)('%s never yields a token and leaks nothing', async (_name, _expected, run) => {
    const before = await w.issuedCount();
    const result = await run();
    expect(result.status).toBeGreaterThanOrEqual(400);
    expect(result.json.access_token).toBeUndefined();
    expectRefusalShape(result);
    expect(await w.issuedCount()).toBe(before);
  });

  it.each(cases)('%s → 400 %s with exactly one denial audit event', async (_name, expected, run) => {
    await w.expectRefused(run, expected);
  });
});
