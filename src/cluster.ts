/**
 * WORKERS > 1: the process that `npm start` runs supervises that many Deputy processes
 * (node:cluster), which share the listening port; it serves nothing itself. Deputy processes
 * hold no state of their own (PostgreSQL is the one source of truth), so any of them may answer
 * any request. A worker that dies is replaced; SIGTERM/SIGINT stop every worker gracefully.
 */
import cluster, { type Worker } from 'node:cluster';
import type { Logger } from './log.js';

/** What a worker sends once it is listening. */
export interface WorkerListening {
  type: 'deputy:listening';
  url: string;
}

export function isWorkerListening(message: unknown): message is WorkerListening {
  return typeof message === 'object' && message !== null && (message as WorkerListening).type === 'deputy:listening';
}

export interface WorkerPool {
  /** The URL the workers listen on, once every worker is listening; rejects if one fails to start. */
  ready: Promise<string>;
  /** Asks every worker to finish and exit (SIGTERM); SIGKILL for any still alive after `timeoutMs`. */
  stop(timeoutMs: number): Promise<void>;
  /** Resolves when the pool gives up: workers kept dying (a crash loop). */
  failed: Promise<Error>;
}

export interface WorkerPoolOptions {
  count: number;
  /** Added to each worker's environment. */
  env: Record<string, string>;
  logger: Logger;
  /** More replacements than this within `restartWindowMs` is a crash loop: the pool gives up. */
  maxRestarts?: number;
  restartWindowMs?: number;
}

export function startWorkers({ count, env, logger, maxRestarts = count * 5, restartWindowMs = 60_000 }: WorkerPoolOptions): WorkerPool {
  const workers = new Set<Worker>();
  const restarts: number[] = [];
  let listening = 0;
  let stopping = false;
  let settleReady!: { resolve(url: string): void; reject(error: Error): void };
  const ready = new Promise<string>((resolve, reject) => (settleReady = { resolve, reject }));
  let giveUp!: (error: Error) => void;
  const failed = new Promise<Error>((resolve) => (giveUp = resolve));
  let isReady = false;

  function fork(): void {
    const worker = cluster.fork(env);
    workers.add(worker);
    worker.on('message', (message: unknown) => {
      if (!isWorkerListening(message)) return;
      logger.info({ worker_pid: worker.process.pid, url: message.url }, 'worker listening');
      if (!isReady && ++listening === count) {
        isReady = true;
        settleReady.resolve(message.url);
      }
    });
    worker.on('exit', (code, signal) => {
      workers.delete(worker);
      if (stopping) return;
      if (!isReady) {
        settleReady.reject(new Error(`a worker exited while starting (code ${code}, signal ${signal})`));
        return;
      }
      logger.error({ worker_pid: worker.process.pid, code, signal }, 'worker died; starting a replacement');
      const now = Date.now();
      restarts.push(now);
      while (restarts.length > 0 && restarts[0]! < now - restartWindowMs) restarts.shift();
      if (restarts.length > maxRestarts) {
        giveUp(new Error(`${restarts.length} workers died within ${restartWindowMs / 1000} s`));
        return;
      }
      fork();
    });
  }

  for (let i = 0; i < count; i++) fork();
  // A failed start is reported through `ready`; keep it from also being an unhandled rejection.
  ready.catch(() => {});

  return {
    ready,
    failed,
    async stop(timeoutMs) {
      stopping = true;
      const exits = [...workers].map((worker) => new Promise<void>((resolve) => (worker.isDead() ? resolve() : worker.once('exit', () => resolve()))));
      for (const worker of workers) worker.process.kill('SIGTERM');
      const deadline = setTimeout(() => {
        for (const worker of workers) worker.process.kill('SIGKILL');
      }, timeoutMs);
      await Promise.all(exits);
      clearTimeout(deadline);
    },
  };
}
