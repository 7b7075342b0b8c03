/**
 * On a new database (statistics gathered while issued_tokens was empty, no auto-analyze since),
 * recording exchanges never scans issued_tokens, however large it grows — the session's cached
 * plans look tokens up by their primary key (migrations/functions/record_exchanges.sql, SET
 * enable_seqscan = off) — and a non-chain exchange's live facts do not touch it at all.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { createPool } from '../../src/db/pool.js';
import { deputyTokenDigest } from '../../src/oauth/deputy-token.js';
import { loadLiveFacts } from '../../src/token-exchange/live-facts.js';
import { recordOutcomes, type ExchangeOutcome } from '../../src/token-exchange/record.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { seedRecordingWorld } from '../support/recording-world.js';
import { until } from '../support/wait.js';

describe('recording on a fresh database', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  let grantId: string;
  beforeAll(async () => {
    db = await createTestDatabase();
    // One connection: every recording runs in the same session, with its cached plans.
    pool = createPool({ url: db.url, size: 1, acquireTimeoutMs: 5000 });
    grantId = await seedRecordingWorld(pool);
    // Statistics as on a new installation: gathered while issued_tokens was empty.
    await pool.query('ANALYZE');
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  function outcome(ancestors: string[]): ExchangeOutcome {
    const jti = randomUUID();
    const now = new Date();
    return {
      token: {
        jti,
        kid: 'current',
        subjectId: 'alice',
        actorIds: ['agent:a'],
        clientId: 'app',
        resource: 'https://api.test',
        scope: 'read',
        grantId,
        grantIds: [grantId],
        parentJti: ancestors[0] ?? null,
        ancestorJtis: ancestors,
        dpopJkt: null,
        issuedAt: now,
        expiresAt: new Date(now.getTime() + 60_000),
        digest: deputyTokenDigest(jti),
        subjectTokenDigest: null,
      },
      event: { type: 'token.exchanged', at: now, clientId: 'app', subjectId: 'alice', actorIds: ['agent:a'], jti, grantId, scopeGranted: ['read'] },
    };
  }

  /** issued_tokens' scan counters as the statistics system has them, once `inserted` rows are counted. */
  async function counters(inserted: number): Promise<{ seqScans: number; inserted: number }> {
    // Pending statistics of the recording session are flushed when it next goes idle.
    await pool.query('SELECT pg_stat_force_next_flush()');
    const reader = new pg.Client({ connectionString: db.url });
    await reader.connect();
    try {
      let last = { seqScans: -1, inserted: -1 };
      await until(async () => {
        await reader.query('SELECT pg_stat_clear_snapshot()');
        const { rows } = await reader.query<{ seq_scan: string; n_tup_ins: string }>(`SELECT seq_scan, n_tup_ins FROM pg_stat_user_tables WHERE relname = 'issued_tokens'`);
        last = { seqScans: Number(rows[0]!.seq_scan), inserted: Number(rows[0]!.n_tup_ins) };
        return last.inserted >= inserted;
      }, 'the statistics of issued_tokens', 10_000, 50);
      return last;
    } finally {
      await reader.end();
    }
  }

  it('reads the live facts of an exchange that is not a chain without touching issued_tokens, even with a generic plan', async () => {
    const before = await counters(0);
    await pool.query('SET plan_cache_mode = force_generic_plan');
    try {
      for (let i = 0; i < 3; i++) {
        const facts = await loadLiveFacts(pool, { subjectId: 'alice', actorId: 'agent:a', resource: 'https://api.test', clientId: 'app', parentJti: null, subjectTokenDigest: null });
        expect(facts.parent).toBeNull();
        expect(facts.grants).toHaveLength(1);
      }
    } finally {
      await pool.query('RESET plan_cache_mode');
    }
    expect((await counters(0)).seqScans).toBe(before.seqScans);
  });

  it('looks issued tokens up by key, before and after the table grows, with and without ancestors', async () => {
    const before = await counters(0);
    const roots: string[] = [];
    // More than five executions: the session settles on its generic plans while the table is tiny.
    for (let i = 0; i < 8; i++) {
      const item = outcome([]);
      expect(await recordOutcomes(pool, [item])).toEqual(['recorded']);
      roots.push(item.token!.jti);
    }
    expect(await recordOutcomes(pool, [outcome([roots[0]!]), outcome([roots[1]!])])).toEqual(['recorded', 'recorded']);
    // The table grows, its statistics do not (no ANALYZE, as with autovacuum off).
    await pool.query(
      `INSERT INTO issued_tokens (jti, subject_id, actor_ids, client_id, resource_uri, scope, grant_id, grant_ids, issued_at, expires_at)
       SELECT 'past-' || i, 'alice', ARRAY['agent:a'], 'app', 'https://api.test', 'read', $1, ARRAY[$1::uuid], now() - interval '2 days', now() - interval '1 day'
         FROM generate_series(1, 5000) AS i`,
      [grantId],
    );
    for (let i = 0; i < 6; i++) {
      expect(await recordOutcomes(pool, [outcome([]), outcome([roots[i]!, 'past-17'])])).toEqual(['recorded', 'recorded']);
    }
    const after = await counters(8 + 2 + 5000 + 12);
    expect(after.seqScans).toBe(before.seqScans);
  });
});
