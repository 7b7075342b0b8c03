/**
 * Scheduled signing-key rotation (KEY_ROTATION_DAYS): every process checks at start and then
 * periodically whether the active key has reached its age; the check runs under the key
 * creation lock (KeyRing.rotateIfOlderThan), so however many processes check, one rotates.
 */
import { runPeriodically } from '../jobs/periodic.js';
import type { Logger } from '../log.js';
import type { KeyRing, SigningKey } from './key-ring.js';

export interface KeyRotationSchedule {
  /** Rotates now if the active key is due; resolves to the new key, or null. */
  check(): Promise<SigningKey | null>;
  /** Stops the schedule, after the check in progress (if any). */
  stop(): Promise<void>;
}

export function scheduleKeyRotation(options: { keyRing: KeyRing; days: number; logger: Logger; everyMs?: number }): KeyRotationSchedule {
  const { keyRing, days, logger } = options;
  const check = async (): Promise<SigningKey | null> => {
    if (days === 0) return null;
    const rotated = await keyRing.rotateIfOlderThan(days);
    if (rotated) logger.info({ kid: rotated.kid, max_age_days: days }, 'signing key rotated on schedule');
    return rotated;
  };
  if (days === 0) return { check, stop: async () => {} };
  const schedule = runPeriodically(
    options.everyMs ?? 3_600_000,
    async () => void (await check()),
    (error) => logger.warn({ detail: error.message }, 'scheduled key rotation check failed; will retry'),
  );
  return { check, stop: () => schedule.stop() };
}
