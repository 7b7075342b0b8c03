/**
 * Keeps `actors.last_used_at` (the NHI inventory's "unused since") current without putting a
 * write on every exchange: at most one update per actor per interval from each process, off
 * the response path. A lost update only makes last_used_at up to one interval stale.
 */
import type pg from 'pg';
import type { Logger } from '../log.js';

export function createActorUsageTracker(pool: pg.Pool, logger: Logger, intervalMs = 60_000) {
  const lastWritten = new Map<string, number>();
  return function touch(actorIds: readonly string[], now: number = Date.now()): void {
    const due = actorIds.filter((id) => {
      const last = lastWritten.get(id);
      return last === undefined || last + intervalMs <= now;
    });
    if (due.length === 0) return;
    for (const id of due) lastWritten.set(id, now);
    pool
      .query({ name: 'deputy_actor_used', text: 'UPDATE actors SET last_used_at = now() WHERE id = ANY($1::text[])', values: [due] })
      .catch((error: unknown) => logger.warn({ detail: (error as Error).message }, 'could not update actors.last_used_at'));
  };
}
