/**
 * Deputy polling a trusted issuer's transmitter (RFC 8936) for its upstream streams with
 * delivery `poll`: every interval, each such stream is polled (returnImmediately) until the
 * transmitter has nothing more; each SET is verified and applied like a pushed one, then
 * acknowledged (`ack`) or reported (`setErrs`) in the next request. A SET whose handling failed
 * for another reason (the database) is neither, so the transmitter sends it again. Several
 * processes may poll at once: a SET is applied once (its jti), whoever receives it.
 */
import type pg from 'pg';
import type { Logger } from '../log.js';
import type { TargetClient } from './http-target.js';
import { applyUpstreamSet, SetRefused, UPSTREAM_STREAM_SQL, verifyUpstreamSet, type UpstreamReceiverDeps, type UpstreamStreamRow } from './upstream-receiver.js';

/** Requests one poll of one stream makes at most (each takes up to 100 SETs). */
const MAX_ROUNDS = 10;

export interface UpstreamPollingOptions {
  pool: pg.Pool;
  send: TargetClient;
  receiver: UpstreamReceiverDeps;
  logger: Logger;
  intervalMs: number;
  timeoutMs: number;
}

interface PollAnswer {
  sets: Record<string, string>;
  moreAvailable: boolean;
}

function pollAnswer(body: Buffer): PollAnswer | null {
  try {
    const value = JSON.parse(body.toString('utf8')) as unknown;
    if (typeof value !== 'object' || value === null) return null;
    const { sets, moreAvailable } = value as Record<string, unknown>;
    if (typeof sets !== 'object' || sets === null || Array.isArray(sets)) return null;
    if (!Object.values(sets).every((set) => typeof set === 'string')) return null;
    return { sets: sets as Record<string, string>, moreAvailable: moreAvailable === true };
  } catch {
    return null;
  }
}

export function startUpstreamPolling(options: UpstreamPollingOptions) {
  const { pool, logger } = options;
  let running: Promise<void> | null = null;
  let stopped = false;

  const recordError = (stream: UpstreamStreamRow, error: string | null) =>
    pool.query('UPDATE ssf_upstream_streams SET last_error = $2 WHERE id = $1', [stream.id, error?.slice(0, 200) ?? null]);

  async function pollStream(stream: UpstreamStreamRow): Promise<void> {
    let ack: string[] = [];
    let setErrs: Record<string, { err: string; description: string }> = {};
    for (let round = 0; round < MAX_ROUNDS && !stopped; round += 1) {
      const last = round === MAX_ROUNDS - 1;
      const response = await options.send(stream.poll_url!, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json', ...(stream.authorization_header ? { authorization: stream.authorization_header } : {}) },
        body: JSON.stringify({ maxEvents: last ? 0 : 100, returnImmediately: true, ack, setErrs }),
        timeoutMs: options.timeoutMs,
      });
      const answer = response.status === 200 ? pollAnswer(response.body) : null;
      if (!answer) {
        await recordError(stream, `transmitter answered ${response.status}${response.status === 200 ? ' (not a poll response)' : ''}`);
        return;
      }
      ack = [];
      setErrs = {};
      for (const [jti, set] of Object.entries(answer.sets)) {
        try {
          const claims = await verifyUpstreamSet(set, stream, options.receiver, new Date());
          await applyUpstreamSet(claims, stream, options.receiver, null);
          ack.push(jti);
        } catch (error) {
          if (!(error instanceof SetRefused)) throw error;
          options.receiver.metrics.ssfReceived.inc({ outcome: 'refused' });
          setErrs[jti] = { err: error.err, description: error.description };
        }
      }
      await recordError(stream, null);
      const pending = ack.length + Object.keys(setErrs).length;
      if (pending === 0 && !answer.moreAvailable) return;
    }
  }

  async function pass(): Promise<void> {
    const { rows } = await pool.query<UpstreamStreamRow>(`${UPSTREAM_STREAM_SQL} WHERE u.delivery_method = 'poll'`);
    for (const stream of rows) {
      if (stopped) return;
      await pollStream(stream).catch(async (error: unknown) => {
        logger.warn({ stream_id: stream.id, detail: (error as Error).message }, 'polling an upstream transmitter failed');
        await recordError(stream, error instanceof Error ? `${error.name}: ${error.message}` : 'poll failed').catch(() => {});
      });
    }
  }

  const runOnce = () => {
    if (!running) running = pass().catch(() => {}).finally(() => (running = null));
    return running;
  };
  const timer = setInterval(() => void runOnce(), options.intervalMs);
  timer.unref();
  return {
    runOnce,
    async stop() {
      stopped = true;
      clearInterval(timer);
      await running;
    },
  };
}
