/**
 * Writes an audit checkpoint to the log at start and every AUDIT_CHECKPOINT_INTERVAL_S, so the
 * log (shipped off the machine) holds the anchors an auditor verifies the database against.
 * The line carries the JWS only: it holds no secret.
 */
import type pg from 'pg';
import { runPeriodically } from '../jobs/periodic.js';
import type { Logger } from '../log.js';
import { takeCheckpoint, type CheckpointKey } from './checkpoint.js';

export interface CheckpointLog {
  /** Takes and logs one checkpoint now. */
  write(): Promise<void>;
  /** Stops the schedule, after the checkpoint in progress (if any). */
  stop(): Promise<void>;
}

export function logCheckpoints(options: { pool: pg.Pool; key: CheckpointKey; issuer: string; intervalSeconds: number; logger: Logger }): CheckpointLog {
  const { pool, key, issuer, logger } = options;
  const write = async () => {
    const { jws, claims } = await takeCheckpoint(pool, key, issuer, new Date());
    logger.info({ audit_checkpoint: jws, kid: key.kid, events: claims.events }, 'audit checkpoint');
  };
  const failed = (error: Error) => logger.warn({ detail: error.message }, 'could not write an audit checkpoint');
  if (options.intervalSeconds === 0) return { write, stop: async () => {} };
  const first = write().catch(failed);
  const schedule = runPeriodically(options.intervalSeconds * 1000, write, failed);
  return {
    write,
    stop: async () => {
      await first;
      await schedule.stop();
    },
  };
}
