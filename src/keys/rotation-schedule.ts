/**
 * Scheduled signing-key rotation (KEY_ROTATION_DAYS): every process checks at start and then
 * periodically whether the active key has reached its age; the check runs under the key
 * creation lock (KeyRing.rotateIfOlderThan), so however many processes check, one rotates.
 */
import type { Logger } from '../log.js';
import type { KeyRing, SigningKey } from './key-ring.js';

export interface KeyRotationSchedule {
  /** Rotates now if the active key is due; resolves to the new key, or null. */
  check(): Promise<SigningKey | null>;
  stop(): void;
}

export function scheduleKeyRotation(options: { keyRing: KeyRing; days: number; logger: Logger; everyMs?: number }): KeyRotationSchedule {
  const { keyRing, days, logger } = options;
  const check = async (): Promise<SigningKey | null> => {
    if (days === 0) return null;
    const rotated = await keyRing.rotateIfOlderThan(days);
    if (rotated) logger.info({ kid: rotated.kid, max_age_days: days }, 'signing key rotated on schedule');
    return rotated;
  };
  if (days === 0) return { check, stop: () => {} };
  const timer = setInterval(() => {
    check().catch((error: unknown) => logger.warn({ detail: (error as Error).message }, 'scheduled key rotation check failed; will retry'));
  }, options.everyMs ?? 3_600_000);
  timer.unref();
  return { check, stop: () => clearInterval(timer) };
}
