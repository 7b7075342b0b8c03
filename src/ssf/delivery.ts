/**
 * Push delivery (RFC 8935) of the outbox to the receivers' endpoints.
 *
 * - Several processes may run it: a process takes a stream by a lease (`lease_until`, claimed with
 *   FOR UPDATE SKIP LOCKED), so one stream is delivered by one process at a time, in the order of
 *   its events; a crashed process's lease runs out and another takes over.
 * - At least once: a row is marked delivered only after the receiver answered 2xx (or 400, its
 *   definitive refusal of that SET); anything else leaves it pending, and the stream is retried
 *   after an exponential backoff. Nothing is lost on restart: the rows are the state.
 * - Bounded: at most `concurrency` streams at once per process, every request under a timeout,
 *   and all of it off the request path, so a receiver that is down slows no exchange or admin call.
 */
import type pg from 'pg';
import type { KeyRing } from '../keys/key-ring.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../http/metrics.js';
import { signSet } from './events.js';
import type { TargetClient } from './http-target.js';
import { markDelivered, pendingEvents } from './outbox.js';

/** The delay before the next attempt after `failures` consecutive failures (≥ 1). */
export function backoffMs(failures: number, baseMs: number, maxMs: number): number {
  const exponent = Math.min(Math.max(failures - 1, 0), 30);
  return Math.min(baseMs * 2 ** exponent, maxMs);
}

export type PushOutcome = 'delivered' | 'rejected' | 'failed';

/** How a push response is taken (RFC 8935 §2.2-2.3): 2xx accepted; 400 a refusal of this SET, final; anything else retried. */
export function pushOutcome(status: number): PushOutcome {
  if (status >= 200 && status < 300) return 'delivered';
  if (status === 400) return 'rejected';
  return 'failed';
}

export interface PushDeliveryOptions {
  pool: pg.Pool;
  keyRing: KeyRing;
  issuer: string;
  send: TargetClient;
  logger: Logger;
  metrics: Metrics;
  timeoutMs: number;
  retryBaseMs: number;
  retryMaxMs: number;
  concurrency: number;
  intervalMs: number;
  /** Events sent per lease; the lease is sized for them at the timeout. */
  batchSize?: number;
}

interface ClaimedStream {
  id: string;
  endpoint_url: string;
  authorization_header: string | null;
  audience: string[];
  failures: number;
}

export interface PushDelivery {
  /** Look for due deliveries now (a commit queued events). */
  wake(): void;
  /** One pass over the due streams; resolves when it is done. */
  runOnce(): Promise<number>;
  stop(): Promise<void>;
}

export function startPushDelivery(options: PushDeliveryOptions): PushDelivery {
  const { pool, logger, metrics } = options;
  const batchSize = options.batchSize ?? 100;
  // A lease outlives the longest batch a process may still be sending when it checks the clock.
  const leaseSeconds = Math.ceil((options.timeoutMs * 2) / 1000) + 30;
  let running: Promise<number> | null = null;
  let again = false;
  let stopped = false;

  async function claim(): Promise<ClaimedStream[]> {
    const { rows } = await pool.query<ClaimedStream>(
      `UPDATE ssf_streams s SET lease_until = now() + make_interval(secs => $2)
        WHERE s.id IN (SELECT c.id FROM ssf_streams c
                        WHERE c.delivery_method = 'push' AND c.status = 'enabled' AND c.next_attempt_at <= now()
                          AND (c.lease_until IS NULL OR c.lease_until < now())
                          AND EXISTS (SELECT 1 FROM ssf_outbox o WHERE o.stream_id = c.id AND o.delivered_at IS NULL)
                        ORDER BY c.next_attempt_at LIMIT $1 FOR UPDATE SKIP LOCKED)
        RETURNING s.id::text, s.endpoint_url, s.authorization_header, s.audience, s.failures`,
      [options.concurrency, leaseSeconds],
    );
    return rows;
  }

  async function release(stream: ClaimedStream, error: string | null): Promise<void> {
    if (error === null) {
      await pool.query(`UPDATE ssf_streams SET lease_until = NULL, failures = 0, last_error = NULL, next_attempt_at = now() WHERE id = $1`, [stream.id]);
      return;
    }
    const failures = stream.failures + 1;
    const delay = backoffMs(failures, options.retryBaseMs, options.retryMaxMs);
    await pool.query(
      `UPDATE ssf_streams SET lease_until = NULL, failures = $2, last_error = $3,
              next_attempt_at = now() + make_interval(secs => $4::double precision / 1000) WHERE id = $1`,
      [stream.id, failures, error.slice(0, 200), delay],
    );
  }

  /** Sends the stream's pending events in order until one fails; true when more may remain. */
  async function deliver(stream: ClaimedStream): Promise<boolean> {
    const { events, more } = await pendingEvents(pool, stream.id, batchSize);
    for (const event of events) {
      const set = signSet(options.keyRing.active, event, options.issuer, stream.audience);
      const startedAt = performance.now();
      let outcome: PushOutcome;
      let error: string | null = null;
      try {
        const response = await options.send(stream.endpoint_url, {
          method: 'POST',
          headers: {
            'content-type': 'application/secevent+jwt',
            accept: 'application/json',
            ...(stream.authorization_header ? { authorization: stream.authorization_header } : {}),
          },
          body: set,
          timeoutMs: options.timeoutMs,
        });
        outcome = pushOutcome(response.status);
        if (outcome !== 'delivered') error = `receiver answered ${response.status}`;
      } catch (caught) {
        outcome = 'failed';
        error = caught instanceof Error ? `${caught.name}: ${caught.message}` : 'delivery failed';
      }
      metrics.ssfDeliveries.inc({ method: 'push', outcome });
      metrics.ssfPushSeconds.observe({ outcome }, (performance.now() - startedAt) / 1000);
      if (outcome === 'failed') {
        logger.warn({ stream_id: stream.id, detail: error }, 'SSF push failed; will retry');
        await release(stream, error);
        return false;
      }
      if (outcome === 'rejected') logger.warn({ stream_id: stream.id, jti: event.jti, detail: error }, 'SSF receiver refused a SET');
      await markDelivered(pool, stream.id, [event.jti]);
    }
    await release(stream, null);
    return more;
  }

  async function pass(): Promise<number> {
    let delivered = 0;
    for (;;) {
      if (stopped) return delivered;
      const streams = await claim();
      if (streams.length === 0) return delivered;
      const results = await Promise.all(
        streams.map((stream) =>
          deliver(stream).catch(async (error: unknown) => {
            logger.warn({ stream_id: stream.id, detail: (error as Error).message }, 'SSF delivery pass failed');
            await release(stream, 'internal error').catch(() => {});
            return false;
          }),
        ),
      );
      delivered += streams.length;
      if (!results.some(Boolean) && !again) return delivered;
      again = false;
    }
  }

  function runOnce(): Promise<number> {
    if (running) {
      again = true;
      return running;
    }
    running = pass()
      .catch((error: unknown) => {
        logger.warn({ detail: (error as Error).message }, 'SSF delivery failed');
        return 0;
      })
      .finally(() => {
        running = null;
        if (again && !stopped) {
          again = false;
          void runOnce();
        }
      });
    return running;
  }

  const timer = options.intervalMs > 0 ? setInterval(() => void runOnce(), options.intervalMs) : null;
  timer?.unref();

  return {
    wake: () => {
      if (!stopped) void runOnce();
    },
    runOnce,
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      await running;
    },
  };
}
