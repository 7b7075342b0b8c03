/**
 * The statistics keeper (src/db/table-statistics.ts): a hot table that outgrew its statistics
 * is analyzed, which replaces the plans sessions made while it was small.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import pg from 'pg';
import { createPool } from '../../src/db/pool.js';
import { analyzeOutgrownTables, outgrewStatistics } from '../../src/db/table-statistics.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { until } from '../support/wait.js';

describe('outgrewStatistics', () => {
  it('uses autovacuum’s default threshold: 50 rows plus 10 % of the rows the statistics hold', () => {
    expect(outgrewStatistics({ table: 't', modifiedSinceAnalyze: 50, rowsInStatistics: 0 })).toBe(false);
    expect(outgrewStatistics({ table: 't', modifiedSinceAnalyze: 51, rowsInStatistics: -1 })).toBe(true);
    expect(outgrewStatistics({ table: 't', modifiedSinceAnalyze: 1050, rowsInStatistics: 10_000 })).toBe(false);
    expect(outgrewStatistics({ table: 't', modifiedSinceAnalyze: 1051, rowsInStatistics: 10_000 })).toBe(true);
  });

  it('never asks for an analyze of a table with no changes', () => {
    fc.assert(fc.property(fc.integer({ min: -1, max: 1e9 }), (rows) => !outgrewStatistics({ table: 't', modifiedSinceAnalyze: 0, rowsInStatistics: rows })));
  });
});

describe('analyzeOutgrownTables', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  beforeAll(async () => {
    db = await createTestDatabase();
    pool = createPool({ url: db.url, size: 2, acquireTimeoutMs: 5000 });
    // As on a server with autovacuum off: only the keeper analyzes.
    await pool.query('ALTER TABLE issued_tokens SET (autovacuum_enabled = off)');
    await pool.query('ANALYZE issued_tokens');
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  it('analyzes issued_tokens once it grew, and then the plans of a session look tokens up by key', async () => {
    const session = new pg.Client({ connectionString: db.url });
    await session.connect();
    try {
      // A generic plan made while the table is empty: a sequential scan.
      await session.query('SET plan_cache_mode = force_generic_plan');
      await session.query('PREPARE find(text) AS SELECT jti FROM issued_tokens WHERE jti = $1');
      const plan = async () => (await session.query<{ 'QUERY PLAN': string }>(`EXPLAIN EXECUTE find('x')`)).rows.map((r) => r['QUERY PLAN']).join('\n');
      expect(await plan()).toMatch(/Seq Scan on issued_tokens/);

      expect(await analyzeOutgrownTables(pool)).toEqual([]);
      await session.query(
        `INSERT INTO issued_tokens (jti, subject_id, actor_ids, client_id, resource_uri, scope, grant_id, grant_ids, issued_at, expires_at)
         SELECT 'j-' || i, 's', '{a}', 'c', 'r', 'read', gen_random_uuid(), '{}', now(), now() FROM generate_series(1, 20000) AS i`,
      );
      await session.query('SELECT pg_stat_force_next_flush()');
      let analyzed: string[] = [];
      await until(async () => (analyzed = await analyzeOutgrownTables(pool)).length > 0, 'an analyze of issued_tokens', 10_000, 50);
      expect(analyzed).toEqual(['issued_tokens']);
      expect(await plan()).toMatch(/Index (Only )?Scan using issued_tokens_pkey/);
      // Up to date now: nothing left to do.
      expect(await analyzeOutgrownTables(pool)).toEqual([]);
    } finally {
      await session.end();
    }
  });
});
