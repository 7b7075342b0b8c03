/**
 * Fault: the connection pool is exhausted. With one pooled connection held by someone else, an
 * exchange must fail closed and bounded (503 temporarily_unavailable after
 * DATABASE_POOL_TIMEOUT_MS, never a hang, never a token), and succeed again once it is released.
 * A hang fails the test through the fetch's AbortSignal, not through a timed assertion.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { PoolClient } from 'pg';
import { RESOURCE, TT, expectRefusalShape, startExchangeWorld, type World } from '../support/exchange-world.js';
import { basic, form, guardedExchange, send } from '../support/hostile.js';

describe('fault: the database pool is exhausted', () => {
  let w: World;
  let held: PoolClient | undefined;
  beforeAll(async () => {
    w = await startExchangeWorld({ DATABASE_POOL_SIZE: '1', DATABASE_POOL_TIMEOUT_MS: '300' });
  });
  afterAll(async () => {
    held?.release();
    await w?.stop();
  });

  it('answers 503 temporarily_unavailable while the only connection is held, then 200 once released', async () => {
    const warm = await guardedExchange(w);
    expect(warm.status).toBe(200);
    const token = warm.json.access_token as string;
    const issuedBefore = await w.issuedCount();

    held = await w.deputy.pool.connect();
    try {
      const blocked = await guardedExchange(w);
      expect(blocked.status).toBe(503);
      expect(blocked.json.error).toBe('temporarily_unavailable');
      expect(blocked.json.access_token).toBeUndefined();
      expectRefusalShape(blocked);

      // Several at once: each returns (bounded), none mints.
      const burst = await Promise.all(Array.from({ length: 5 }, () => guardedExchange(w)));
      for (const result of burst) {
        expect(result.status).toBe(503);
        expect(result.json.access_token).toBeUndefined();
      }

      // Introspection fails closed as well: never active:true without the live check.
      const introspected = await send(`${w.deputy.url}/token/introspection`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('app-a') },
        body: form({ token }),
      });
      expect(introspected.status).toBe(503);
      expect(introspected.json.active).toBeUndefined();
    } finally {
      held.release();
      held = undefined;
    }

    const count = await w.issuedCount();
    expect(count).toBe(issuedBefore);
    const recovered = await guardedExchange(w);
    expect(recovered.status).toBe(200);
    expect(recovered.json.access_token).toEqual(expect.any(String));
    expect(await w.issuedCount()).toBe(issuedBefore + 1);
  });

  it('the actor-assertion path (jti store) also fails closed while the pool is exhausted', async () => {
    const subjectToken = await w.userToken('alice');
    const actorToken = await w.actorAssertion('agent:b');
    held = await w.deputy.pool.connect();
    let result;
    try {
      result = await send(`${w.deputy.url}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('app-a') },
        body: form({
          grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
          subject_token: subjectToken,
          subject_token_type: TT.jwt,
          actor_token: actorToken,
          actor_token_type: TT.jwt,
          resource: RESOURCE,
          scope: 'read',
        }),
      });
    } finally {
      held.release();
      held = undefined;
    }
    expect(result.status).toBe(503);
    expect(result.json.error).toBe('temporarily_unavailable');
    expect(result.json.access_token).toBeUndefined();
  });
});
