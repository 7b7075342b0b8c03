/**
 * The Shared Signals work one process runs in the background: push delivery of the outbox
 * (woken by commit notifications) and polling of upstream transmitters. Both stop with the process.
 */
import type pg from 'pg';
import type { Config } from '../config.js';
import type { ConfigCache } from '../db/change-feed.js';
import type { IssuerKeys } from '../trust/issuer-keys.js';
import type { Metrics } from '../http/metrics.js';
import type { KeyRing } from '../keys/key-ring.js';
import type { Logger } from '../log.js';
import { startPushDelivery } from './delivery.js';
import { createTargetClient } from './http-target.js';
import { outboxSignal } from './outbox-signal.js';
import { startUpstreamPolling } from './upstream-poll.js';

export interface SharedSignalsDeps {
  config: Config;
  pool: pg.Pool;
  keyRing: KeyRing;
  configCache: ConfigCache;
  metrics: Metrics;
  /** Trusted issuers' keys: the upstream poller verifies their SETs with them. */
  issuerKeys: IssuerKeys;
  logger: Logger;
}

/** Starts what the configuration enables; the returned function stops it all. */
export function startSharedSignals({ config, pool, keyRing, configCache, metrics, issuerKeys, logger }: SharedSignalsDeps): () => Promise<void> {
  const send = createTargetClient({ allowPrivateNetwork: config.SSF_ALLOW_PRIVATE_NETWORK });
  const stops: Array<() => Promise<void>> = [];
  if (config.SSF_DELIVERY_INTERVAL_MS > 0) {
    const delivery = startPushDelivery({
      pool,
      keyRing,
      issuer: config.ISSUER,
      send,
      logger,
      metrics,
      timeoutMs: config.SSF_PUSH_TIMEOUT_MS,
      retryBaseMs: config.SSF_RETRY_BASE_MS,
      retryMaxMs: config.SSF_RETRY_MAX_MS,
      concurrency: config.SSF_DELIVERY_CONCURRENCY,
      intervalMs: config.SSF_DELIVERY_INTERVAL_MS,
    });
    outboxSignal(configCache).onEvents(() => delivery.wake());
    stops.push(() => delivery.stop());
    delivery.wake();
  }
  if (config.SSF_UPSTREAM_POLL_INTERVAL_MS > 0) {
    const polling = startUpstreamPolling({
      pool,
      send,
      receiver: { pool, issuerKeys, clockSkewSeconds: config.CLOCK_SKEW, metrics, logger },
      logger,
      intervalMs: config.SSF_UPSTREAM_POLL_INTERVAL_MS,
      timeoutMs: config.SSF_PUSH_TIMEOUT_MS,
    });
    stops.push(() => polling.stop());
  }
  return async () => {
    for (const stop of stops) await stop();
  };
}
