/** The Shared Signals endpoints of the app: the transmitter's (router.ts) and the upstream push receiver's. */
import type Provider from 'oidc-provider';
import type pg from 'pg';
import type { Config } from '../config.js';
import type { ConfigCache } from '../db/change-feed.js';
import type { IssuerKeys } from '../trust/issuer-keys.js';
import type { Metrics } from '../http/metrics.js';
import type { KeyRing } from '../keys/key-ring.js';
import type { Logger } from '../log.js';
import { outboxSignal } from './outbox-signal.js';
import { createSsfRouter } from './router.js';
import { upstreamRoutes } from './upstream-routes.js';

export interface SharedSignalsRouteDeps {
  config: Config;
  pool: pg.Pool;
  configCache: ConfigCache;
  keyRing: KeyRing;
  logger: Logger;
  provider: Provider;
  metrics: Metrics;
  issuerKeys: IssuerKeys;
}

export function sharedSignalsRoutes(deps: SharedSignalsRouteDeps) {
  const { config, pool, logger, metrics, issuerKeys } = deps;
  return createSsfRouter({
    provider: deps.provider,
    pool,
    keyRing: deps.keyRing,
    issuer: config.ISSUER,
    logger,
    metrics,
    allowPrivateNetwork: config.SSF_ALLOW_PRIVATE_NETWORK,
    waitForEvents: outboxSignal(deps.configCache).wait,
    extend: (router) => upstreamRoutes(router, { pool, issuerKeys, clockSkewSeconds: config.CLOCK_SKEW, metrics, logger }),
  }).routes();
}
