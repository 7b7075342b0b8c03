import { describe, expect, it } from '@jest/globals';
import type pg from 'pg';
import { createActorUsageTracker } from '../../src/token-exchange/actor-usage.js';
import { createLogger } from '../../src/log.js';

function fakePool() {
  const updates: string[][] = [];
  const pool = {
    query: async (config: { values: [string[]] }) => {
      updates.push(config.values[0]);
      return { rowCount: config.values[0].length };
    },
  } as unknown as pg.Pool;
  return { pool, updates };
}

describe('actor usage tracking', () => {
  it('writes last_used_at at most once per actor per interval', async () => {
    const { pool, updates } = fakePool();
    const touch = createActorUsageTracker(pool, createLogger('silent'), 60_000);
    touch(['agent:a', 'agent:b'], 1_000);
    touch(['agent:a'], 2_000);
    touch(['agent:b', 'agent:c'], 30_000);
    touch(['agent:a'], 61_000);
    expect(updates).toEqual([['agent:a', 'agent:b'], ['agent:c'], ['agent:a']]);
  });
});
