/**
 * Deletes rows whose expiry has passed from the tables that would otherwise only grow:
 * oidc-provider's payloads (replay-detection entries among them), used actor-assertion
 * `jti`s, IdP tokens revoked at Deputy (`revoked_subject_tokens`, refused anyway once expired),
 * the Shared Signals outbox (a row's `expires_at` is its delivery time once
 * delivered, else the expiry of the token it is about, after which no receiver needs it), and
 * the single-use approval links (valid only while their request waits). Issued tokens and audit events are records, not caches: they are never purged here.
 *
 * Each batch is one short transaction deleting at most `batchSize` rows; a run stops after
 * `maxBatches` per table, so one run never holds locks or a connection for long, and whatever is left is
 * taken by the next run. Several processes may run it: a transaction-scoped advisory lock lets
 * one purge at a time and the others skip the run.
 */
import type pg from 'pg';
import { runPeriodically } from '../jobs/periodic.js';
import { inTransaction } from './pool.js';

/** The expiring tables. Each has an index on `expires_at`. */
export const PURGED_TABLES = ['oidc_payloads', 'used_assertion_jtis', 'ssf_outbox', 'revoked_subject_tokens', 'approval_links'] as const;
export type PurgedTable = (typeof PURGED_TABLES)[number];

/**
 * Rows are kept this long past `expires_at`: a used assertion `jti` must outlive the assertion,
 * which is accepted up to CLOCK_SKEW (at most 300 s) after its `exp`; so must a revoked IdP token's digest.
 */
export const PURGE_GRACE_SECONDS = 300;

/** pg_try_advisory_xact_lock key: "deputy purge". */
const PURGE_LOCK = 0x64707267;

export interface PurgeOptions {
  batchSize: number;
  /** Statements per table and run. */
  maxBatches: number;
}

export interface PurgeResult {
  /** Rows deleted, per table. */
  deleted: Record<PurgedTable, number>;
  batches: number;
  /** Another process held the purge lock: this run deleted nothing. */
  skipped: boolean;
  /** The run stopped at maxBatches on a table that may have expired rows left. */
  more: boolean;
}

export async function purgeExpired(pool: pg.Pool, { batchSize, maxBatches }: PurgeOptions): Promise<PurgeResult> {
  const result: PurgeResult = { deleted: { oidc_payloads: 0, used_assertion_jtis: 0, ssf_outbox: 0, revoked_subject_tokens: 0, approval_links: 0 }, batches: 0, skipped: false, more: false };
  for (const table of PURGED_TABLES) {
    // Each table has its own budget, so a busy table never starves the next one.
    for (let batch = 0; ; batch += 1) {
      if (batch >= maxBatches) {
        result.more = true;
        break;
      }
      const deleted = await purgeBatch(pool, table, batchSize);
      if (deleted === null) {
        result.skipped = true;
        return result;
      }
      result.batches += 1;
      result.deleted[table] += deleted;
      if (deleted < batchSize) break;
    }
  }
  return result;
}

/** One bounded delete under the purge lock; null when another process holds the lock. */
function purgeBatch(pool: pg.Pool, table: PurgedTable, batchSize: number): Promise<number | null> {
  return inTransaction(pool, async (db) => {
    const { rows } = await db.query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock($1) AS locked', [PURGE_LOCK]);
    if (!rows[0]?.locked) return null;
    const { rowCount } = await db.query(
      `DELETE FROM ${table} WHERE ctid = ANY(ARRAY(
         SELECT ctid FROM ${table} WHERE expires_at < now() - make_interval(secs => $1) LIMIT $2 FOR UPDATE SKIP LOCKED))`,
      [PURGE_GRACE_SECONDS, batchSize],
    );
    return rowCount ?? 0;
  });
}

export interface PurgeSchedule {
  stop(): Promise<void>;
}

export interface PurgeScheduleOptions extends PurgeOptions {
  intervalMs: number;
  onResult(result: PurgeResult, elapsedMs: number): void;
  onError(error: Error): void;
}

/** Runs purgeExpired every intervalMs (never two runs at once in this process). */
export function schedulePurge(pool: pg.Pool, options: PurgeScheduleOptions): PurgeSchedule {
  return runPeriodically(
    options.intervalMs,
    async () => {
      const startedAt = performance.now();
      options.onResult(await purgeExpired(pool, options), performance.now() - startedAt);
    },
    options.onError,
  );
}
