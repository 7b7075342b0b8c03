/**
 * Commit notifications of the outbox (the migration's triggers send `ssf_outbox:*` on Deputy's
 * configuration channel): wakes the push workers and the long polls of this process.
 */
import type { ConfigCache } from '../db/change-feed.js';

export const OUTBOX_CHANGED = 'ssf_outbox:*';

export interface OutboxSignal {
  onEvents(listener: () => void): void;
  /** Resolves at the next notification, or after `ms`. */
  wait(ms: number): Promise<void>;
}

export function outboxSignal(configCache: ConfigCache): OutboxSignal {
  const listeners: Array<() => void> = [];
  let waiters: Array<() => void> = [];
  configCache.onChange((key) => {
    // null: the feed reconnected, and a notification may have been missed.
    if (key !== null && key !== OUTBOX_CHANGED) return;
    const woken = waiters;
    waiters = [];
    woken.forEach((wake) => wake());
    listeners.forEach((listener) => listener());
  });
  return {
    onEvents: (listener) => listeners.push(listener),
    wait: (ms) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          waiters = waiters.filter((w) => w !== done);
          resolve();
        }, Math.max(ms, 0));
        const done = () => {
          clearTimeout(timer);
          resolve();
        };
        waiters.push(done);
      }),
  };
}
