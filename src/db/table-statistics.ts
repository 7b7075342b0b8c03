/**
 * Keeps the statistics of the tables every exchange writes in step with their size. A session
 * keeps a statement's generic plan until the statistics of a table it reads change; plans made
 * while `issued_tokens` was nearly empty (a new database, autovacuum off, or simply before the
 * first auto-analyze, which waits for autovacuum's next round) scan it in full, and keep doing
 * so as it grows. An ANALYZE of a table that outgrew its statistics replaces them everywhere.
 *
 * The threshold is autovacuum's own default (50 rows + 10 %), so on a database whose autovacuum
 * keeps up this rarely finds anything to do; when it does, one process analyzes (an advisory
 * lock), the others skip the round.
 */
import type pg from 'pg';
import { inTransaction } from './pool.js';
import { runPeriodically, type Periodic } from '../jobs/periodic.js';

/** Written on every exchange, introspected or purged by key. */
export const HOT_TABLES = ['issued_tokens', 'audit_events', 'used_assertion_jtis', 'oidc_payloads'] as const;

/** How often a process looks (one catalog read): a new database's plans are right within seconds. */
export const STATISTICS_CHECK_MS = 10_000;

/** pg_try_advisory_xact_lock key: "deputy analyze". */
const ANALYZE_LOCK = 0x64616e61;

export interface TableActivity {
  table: string;
  /** Rows inserted, updated or deleted since the table's statistics were last gathered. */
  modifiedSinceAnalyze: number;
  /** The row count the statistics hold (-1: never analyzed). */
  rowsInStatistics: number;
}

/** As autovacuum_analyze_threshold + autovacuum_analyze_scale_factor × rows, their defaults. */
export function outgrewStatistics({ modifiedSinceAnalyze, rowsInStatistics }: TableActivity): boolean {
  return modifiedSinceAnalyze > 50 + 0.1 * Math.max(rowsInStatistics, 0);
}

/** Analyzes the hot tables that outgrew their statistics; returns their names ([] when another process holds the lock). */
export async function analyzeOutgrownTables(pool: pg.Pool): Promise<string[]> {
  const { rows } = await pool.query<{ table: string; modified: string; rows: number }>({
    name: 'deputy_hot_table_activity',
    text: `SELECT s.relname AS table, s.n_mod_since_analyze AS modified, c.reltuples AS rows
             FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid
            WHERE s.schemaname = current_schema() AND s.relname = ANY($1::text[])`,
    values: [HOT_TABLES],
  });
  const outgrown = rows
    .map((row) => ({ table: row.table, modifiedSinceAnalyze: Number(row.modified), rowsInStatistics: Number(row.rows) }))
    .filter(outgrewStatistics)
    .map((activity) => activity.table)
    .filter((table): table is (typeof HOT_TABLES)[number] => (HOT_TABLES as readonly string[]).includes(table));
  if (outgrown.length === 0) return [];
  return inTransaction(pool, async (client) => {
    const { rows: locked } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS locked', [ANALYZE_LOCK]);
    if (!locked[0]?.locked) return [];
    // Names from HOT_TABLES only, never from the database's answer.
    for (const table of outgrown) await client.query(`ANALYZE ${client.escapeIdentifier(table)}`);
    return outgrown;
  });
}

export type StatisticsKeeper = Periodic;

/** Checks every `intervalMs` (a cheap catalog read); errors are reported, never thrown. */
export function keepStatistics(pool: pg.Pool, { intervalMs, onAnalyzed, onError }: { intervalMs: number; onAnalyzed(tables: string[]): void; onError(error: Error): void }): StatisticsKeeper {
  return runPeriodically(
    intervalMs,
    async () => {
      const tables = await analyzeOutgrownTables(pool);
      if (tables.length > 0) onAnalyzed(tables);
    },
    onError,
  );
}
