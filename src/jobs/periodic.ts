/**
 * A background job run every `intervalMs`: never two runs at once in this process (a run still
 * going when the next is due is skipped), errors handed to `onError` and never thrown, and a
 * timer that does not keep the process alive. `stop()` clears the timer and waits for the run
 * in progress, so nothing touches the pool after its owner closes it.
 */
export interface Periodic {
  stop(): Promise<void>;
}

export function runPeriodically(intervalMs: number, run: () => Promise<void>, onError: (error: Error) => void): Periodic {
  let running: Promise<void> | null = null;
  const timer = setInterval(() => {
    if (running) return;
    running = run()
      .catch((error: unknown) => onError(error instanceof Error ? error : new Error(String(error))))
      .finally(() => (running = null));
  }, intervalMs);
  timer.unref();
  return {
    async stop() {
      clearInterval(timer);
      await running;
    },
  };
}
