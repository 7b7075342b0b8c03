/**
 * Approval requests nobody answered: every APPROVAL_EXPIRY_INTERVAL_S, the pending requests past
 * their expiry are written `expired`, each with its `approval.expired` audit event. Until then a
 * request past its expiry already reads as expired everywhere (store.ts), so the interval
 * bounds only how late the audit trail says so. Several processes may run it at once.
 */
import type pg from 'pg';
import { isDatabaseUnavailable } from '../db/pool.js';
import { runPeriodically, type Periodic } from '../jobs/periodic.js';
import type { Logger } from '../log.js';
import { expireApprovalRequests } from './store.js';

export function scheduleApprovalExpiry(pool: pg.Pool, { intervalMs, logger }: { intervalMs: number; logger: Logger }): Periodic {
  return runPeriodically(
    intervalMs,
    async () => {
      const expired = await expireApprovalRequests(pool, new Date());
      if (expired > 0) logger.info({ expired }, 'approval requests expired');
    },
    (error) => logger.warn({ detail: isDatabaseUnavailable(error) ? 'database unavailable' : error.message }, 'could not expire approval requests'),
  );
}
