/**
 * The purge of expired rows: what it deletes and keeps, its bounds, its lock, its schedule, and
 * how long a batch takes (figures printed, not asserted).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { createPool } from '../../src/db/pool.js';
import { PURGE_GRACE_SECONDS, purgeExpired } from '../../src/db/purge.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startTestDeputy } from '../support/deputy.js';
import { until } from '../support/wait.js';

let db: TestDatabase;
let pool: pg.Pool;

beforeAll(async () => {
  db = await createTestDatabase();
  pool = createPool({ url: db.url, size: 4, acquireTimeoutMs: 5000 });
});

afterAll(async () => {
  await pool?.end();
  await db?.drop();
});

afterEach(async () => {
  await pool.query('TRUNCATE oidc_payloads, used_assertion_jtis');
});

/** Inserts `count` rows in each table expiring `offsetS` seconds from now (null: never, payloads only). */
async function seed(prefix: string, count: number, offsetS: number | null): Promise<void> {
  const expiry = offsetS === null ? 'NULL' : `now() + make_interval(secs => ${offsetS})`;
  await pool.query(
    `INSERT INTO oidc_payloads (id, type, payload, expires_at)
     SELECT $1 || i, 'ReplayDetection', '{}'::jsonb, ${expiry} FROM generate_series(1, $2) AS i`,
    [prefix, count],
  );
  if (offsetS !== null) {
    await pool.query(
      // The single-use store keeps a jti's digest only: the row's label goes in \`issuer\`.
      `INSERT INTO used_assertion_jtis (namespace, issuer, jti_sha256, expires_at)
       SELECT 'actor_assertion', $1 || i, sha256(convert_to($1 || i, 'UTF8')), ${expiry} FROM generate_series(1, $2) AS i`,
      [prefix, count],
    );
  }
}

async function ids(table: 'oidc_payloads' | 'used_assertion_jtis'): Promise<string[]> {
  const column = table === 'oidc_payloads' ? 'id' : 'issuer';
  const { rows } = await pool.query<{ id: string }>(`SELECT ${column} AS id FROM ${table} ORDER BY 1`);
  return rows.map((row) => row.id);
}

describe('purge of expired rows', () => {
  it('forgets a revoked IdP token once it expired beyond the grace period, and keeps the others', async () => {
    await pool.query(
      `INSERT INTO revoked_subject_tokens (sha256, issuer, expires_at) VALUES
         (sha256('old'), 'https://idp.test', now() - interval '1 hour'),
         (sha256('recent'), 'https://idp.test', now() - make_interval(secs => $1)),
         (sha256('live'), 'https://idp.test', now() + interval '10 minutes')`,
      [PURGE_GRACE_SECONDS - 60],
    );
    try {
      const result = await purgeExpired(pool, { batchSize: 100, maxBatches: 10 });
      expect(result.deleted.revoked_subject_tokens).toBe(1);
      const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM revoked_subject_tokens WHERE sha256 IN (sha256('recent'), sha256('live'))`);
      expect(rows[0]!.n).toBe(2);
      expect((await pool.query('SELECT 1 FROM revoked_subject_tokens')).rowCount).toBe(2);
    } finally {
      await pool.query('TRUNCATE revoked_subject_tokens');
    }
  });

  it('deletes rows expired beyond the grace period and keeps the rest', async () => {
    await seed('old-', 5, -3600);
    await seed('recent-', 2, -(PURGE_GRACE_SECONDS - 60)); // expired, but an assertion may still be inside its clock skew
    await seed('live-', 3, 600);
    await seed('forever-', 1, null);
    const result = await purgeExpired(pool, { batchSize: 100, maxBatches: 10 });
    expect(result).toMatchObject({ deleted: { oidc_payloads: 5, used_assertion_jtis: 5 }, skipped: false, more: false });
    expect(await ids('oidc_payloads')).toEqual(['forever-1', 'live-1', 'live-2', 'live-3', 'recent-1', 'recent-2']);
    expect(await ids('used_assertion_jtis')).toEqual(['live-1', 'live-2', 'live-3', 'recent-1', 'recent-2']);
  });

  it('deletes at most batchSize rows per statement and stops after maxBatches per table', async () => {
    await seed('old-', 100, -3600);
    const first = await purgeExpired(pool, { batchSize: 10, maxBatches: 3 });
    // 3 + 3 batches on the seeded tables, one (empty) on each of the other three.
    expect(first).toMatchObject({ deleted: { oidc_payloads: 30, used_assertion_jtis: 30, ssf_outbox: 0, revoked_subject_tokens: 0, approval_links: 0 }, batches: 9, more: true });
    expect(await ids('oidc_payloads')).toHaveLength(70);
    expect(await ids('used_assertion_jtis')).toHaveLength(70);
    const rest = await purgeExpired(pool, { batchSize: 10, maxBatches: 100 });
    expect(rest.deleted).toEqual({ oidc_payloads: 70, used_assertion_jtis: 70, ssf_outbox: 0, revoked_subject_tokens: 0, approval_links: 0 });
    expect(rest.more).toBe(false);
    expect(await ids('oidc_payloads')).toEqual([]);
    expect(await ids('used_assertion_jtis')).toEqual([]);
  });

  it('deletes Shared Signals events delivered, or about tokens expired, beyond the grace period; keeps pending ones', async () => {
    await pool.query(`INSERT INTO clients (client_id, token_endpoint_auth_method, protected_resources) VALUES ('purge-rs', 'client_secret_basic', ARRAY['https://rs.test'])`);
    const { rows } = await pool.query<{ id: string }>(
      `INSERT INTO ssf_streams (client_id, audience, delivery_method) VALUES ('purge-rs', ARRAY['https://rs.test'], 'poll') RETURNING id`,
    );
    const event = (label: string, deliveredAgo: number | null, expiresIn: number) =>
      pool.query(
        `INSERT INTO ssf_outbox (stream_id, event_type, subject, payload, delivered_at, expires_at)
         VALUES ($1, 'urn:test', jsonb_build_object('label', $2::text), '{}',
                 CASE WHEN $3::int IS NULL THEN NULL ELSE now() - make_interval(secs => $3::int) END, now() + make_interval(secs => $4::int))`,
        [rows[0]!.id, label, deliveredAgo, expiresIn],
      );
    await event('delivered-long-ago', 3600, -3600);
    await event('delivered-just-now', 0, 0);
    await event('pending-live-token', null, 600);
    await event('pending-expired-token', null, -3600);
    const result = await purgeExpired(pool, { batchSize: 100, maxBatches: 10 });
    expect(result.deleted.ssf_outbox).toBe(2);
    const { rows: left } = await pool.query<{ label: string }>(`SELECT subject->>'label' AS label FROM ssf_outbox ORDER BY 1`);
    expect(left.map((row) => row.label)).toEqual(['delivered-just-now', 'pending-live-token']);
    await pool.query(`DELETE FROM clients WHERE client_id = 'purge-rs'`);
  });

  it('deletes the links of approval requests expired beyond the grace period; keeps the live ones', async () => {
    await pool.query(`INSERT INTO subjects (id) VALUES ('purge-alice')`);
    await pool.query(`INSERT INTO actors (id, kind, owner_id) VALUES ('purge-agent', 'agent', 'purge-alice')`);
    const request = async (expiresIn: number) =>
      (
        await pool.query<{ id: string }>(
          `INSERT INTO approval_requests (client_id, subject_id, actor_id, resource_uri, scopes, duration_seconds, expires_at)
           VALUES ('c', 'purge-alice', 'purge-agent', 'https://rs.test', ARRAY['read'], 60, now() + make_interval(secs => $1::int)) RETURNING id`,
          [expiresIn],
        )
      ).rows[0]!.id;
    const link = (label: string, requestId: string, expiresIn: number) =>
      pool.query(`INSERT INTO approval_links (token_sha256, approval_request_id, expires_at) VALUES (convert_to($1, 'utf8'), $2, now() + make_interval(secs => $3::int))`, [
        label,
        requestId,
        expiresIn,
      ]);
    await link('long-expired', await request(-3600), -3600);
    await link('just-expired', await request(-60), -60);
    await link('live', await request(600), 600);
    const result = await purgeExpired(pool, { batchSize: 100, maxBatches: 10 });
    expect(result.deleted.approval_links).toBe(1);
    const { rows } = await pool.query<{ label: string }>(`SELECT convert_from(token_sha256, 'utf8') AS label FROM approval_links ORDER BY 1`);
    expect(rows.map((row) => row.label)).toEqual(['just-expired', 'live']);
    await pool.query(`DELETE FROM actors WHERE id = 'purge-agent'`);
    await pool.query(`DELETE FROM subjects WHERE id = 'purge-alice'`);
  });

  it('skips the run while another process holds the purge lock', async () => {
    await seed('old-', 5, -3600);
    const other = new pg.Client({ connectionString: db.url });
    await other.connect();
    try {
      await other.query('BEGIN');
      await other.query('SELECT pg_advisory_xact_lock($1)', [0x64707267]);
      const result = await purgeExpired(pool, { batchSize: 100, maxBatches: 10 });
      expect(result).toMatchObject({ skipped: true, batches: 0, deleted: { oidc_payloads: 0, used_assertion_jtis: 0 } });
      expect(await ids('oidc_payloads')).toHaveLength(5);
      await other.query('COMMIT');
    } finally {
      await other.end();
    }
    expect((await purgeExpired(pool, { batchSize: 100, maxBatches: 10 })).deleted.oidc_payloads).toBe(5);
  });

  it('two concurrent runs delete every expired row once between them', async () => {
    await seed('old-', 2000, -3600);
    const runs = await Promise.all([0, 1].map(() => purgeExpired(pool, { batchSize: 100, maxBatches: 1000 })));
    const total = runs.reduce((sum, run) => sum + run.deleted.oidc_payloads + run.deleted.used_assertion_jtis, 0);
    // A skipped run leaves the rest to the next scheduled one; run once more to finish.
    const last = await purgeExpired(pool, { batchSize: 100, maxBatches: 1000 });
    expect(total + last.deleted.oidc_payloads + last.deleted.used_assertion_jtis).toBe(4000);
    expect(await ids('oidc_payloads')).toEqual([]);
  });

  it('runs on a schedule in a started Deputy (PURGE_INTERVAL_S)', async () => {
    const deputy = await startTestDeputy({ PURGE_INTERVAL_S: '1' });
    try {
      await deputy.pool.query(
        `INSERT INTO oidc_payloads (id, type, payload, expires_at) VALUES ('old', 'Session', '{}', now() - interval '1 day'), ('live', 'Session', '{}', now() + interval '1 day')`,
      );
      await deputy.pool.query(`INSERT INTO used_assertion_jtis (namespace, issuer, jti_sha256, expires_at) VALUES ('actor_assertion', 'actor-1', sha256('old'::bytea), now() - interval '1 day')`);
      const count = async (sql: string) => Number((await deputy.pool.query<{ n: string }>(sql)).rows[0]!.n);
      await until(
        async () => (await count('SELECT count(*) AS n FROM oidc_payloads')) === 1 && (await count('SELECT count(*) AS n FROM used_assertion_jtis')) === 0,
        'the scheduled purge',
        15_000,
        100,
      );
      expect((await deputy.pool.query('SELECT id FROM oidc_payloads')).rows).toEqual([{ id: 'live' }]);
    } finally {
      await deputy.stop();
    }
  });

  /**
   * The figures in SECURITY.md come from `PURGE_MEASURE_ROWS=100000 npm test -- test/db/purge`;
   * the default is a tenth of that, so the suite's shared database is not loaded for others.
   */
  const ROWS = Number(process.env.PURGE_MEASURE_ROWS ?? 10_000);
  const LIVE = ROWS / 10;

  it.each([ROWS / 10, ROWS])(`measures: ${ROWS} expired rows per table in batches of %i`, async (batchSize) => {
    await seed('old-', ROWS, -3600);
    await seed('live-', LIVE, 600);
    await pool.query('ANALYZE oidc_payloads; ANALYZE used_assertion_jtis');
    const perBatch: number[] = [];
    for (let run = 0; run < 20; run += 1) {
      const startedAt = performance.now();
      const result = await purgeExpired(pool, { batchSize, maxBatches: 1 });
      perBatch.push((performance.now() - startedAt) / result.batches);
      if (!result.more) break;
    }
    expect(await ids('oidc_payloads')).toHaveLength(LIVE);
    expect(await ids('used_assertion_jtis')).toHaveLength(LIVE);
    const sorted = [...perBatch].sort((a, b) => a - b);
    console.log(
      `purge: 2 × ${ROWS} expired rows (${LIVE} live kept per table), batches of ≤${batchSize}: ${perBatch.length} runs of one batch per table; ` +
        `per batch median ${sorted[Math.floor(sorted.length / 2)]!.toFixed(0)} ms, max ${sorted.at(-1)!.toFixed(0)} ms`,
    );
  }, 180_000);
});
