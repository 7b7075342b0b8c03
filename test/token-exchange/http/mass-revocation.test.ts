/**
 * Revoking a grant is one admin call whatever the number of tokens minted under it: afterwards
 * every one of them introspects inactive and the next exchange under the grant is refused.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startExchangeWorld, type World } from '../../support/exchange-world.js';

const ADMIN_TOKEN = `mass-revocation-${'m'.repeat(32)}`;
const TOKENS = 1000;

async function inBatches<T>(count: number, concurrency: number, run: (index: number) => Promise<T>): Promise<T[]> {
  const results: T[] = [];
  for (let start = 0; start < count; start += concurrency) {
    const size = Math.min(concurrency, count - start);
    results.push(...(await Promise.all(Array.from({ length: size }, (_, i) => run(start + i)))));
  }
  return results;
}

describe('revoking a grant with 1,000 live tokens under it', () => {
  let w: World;
  beforeAll(async () => {
    // A pool wait long enough for 32 concurrent requests on 5 connections while the rest of the
    // suite loads the same two cores: this test is about revocation, not about failing closed
    // on a slow pool (test/faults/pool-exhaustion.test.ts is).
    w = await startExchangeWorld({
      DEPUTY_ADMIN_TOKEN: ADMIN_TOKEN,
      RATE_LIMIT_CLIENT_PER_SECOND: '0',
      RATE_LIMIT_ACTOR_PER_SECOND: '0',
      DATABASE_POOL_TIMEOUT_MS: '30000',
    });
  });
  afterAll(async () => {
    await w.stop();
  });

  it('takes one call; then every token introspects inactive and the next exchange is refused', async () => {
    const grantId = w.grantIds['agent:a']!;
    const minted = await inBatches(TOKENS, 16, () => w.exchangeAs('alice', { scope: 'read' }));
    expect(minted.map((result) => result.status)).toEqual(Array(TOKENS).fill(200));
    const tokens = minted.map((result) => result.json.access_token as string);
    const [row] = await w.sql<{ count: number }>('SELECT count(*)::int AS count FROM issued_tokens WHERE grant_id = $1', [grantId]);
    expect(row?.count).toBeGreaterThanOrEqual(TOKENS);

    const revoke = await fetch(`${w.deputy.url}/admin/v1/grants/${grantId}/revoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'mass revocation test' }),
    });
    expect(revoke.status).toBe(200);

    const introspected = await inBatches(TOKENS, 32, (i) => w.introspect(tokens[i]!));
    expect(introspected.filter((result) => result.status !== 200 || result.json.active !== false)).toEqual([]);
    await w.expectRefused(() => w.exchangeAs('alice', { scope: 'read' }), 'invalid_request');
    // 2,000 requests in series of 16 and 32: about 8 s on a quiet 2-core machine, several times
    // that while the rest of the suite runs beside it. A bound against a hang, not a speed claim.
  }, 120_000);
});
