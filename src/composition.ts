/**
 * The composition root: the one place that builds Deputy's object graph — the pool, the keys,
 * the caches, the OAuth provider, the grant's ports, the admin API and console, the background
 * jobs — and hands each part what it needs. Nothing else constructs a collaborator of another
 * module; src/server.ts adds the HTTP listener, src/http/app.ts orders the middleware.
 */
import type { JWK } from 'jose';
import type pg from 'pg';
import { createAdminAuthenticator, createAdminRouter, ADMIN_PREFIX } from './admin/router.js';
import { CheckpointKey } from './audit/checkpoint.js';
import { logCheckpoints } from './audit/checkpoint-log.js';
import type { Config } from './config.js';
import { createAdminDispatch } from './console/dispatch.js';
import { createConsoleRouter } from './console/router.js';
import { createConfigCache } from './db/change-feed.js';
import { createPool, isDatabaseUnavailable } from './db/pool.js';
import { createPrisma } from './db/prisma.js';
import { schedulePurge } from './db/purge.js';
import { STATISTICS_CHECK_MS, keepStatistics } from './db/table-statistics.js';
import { loadOrCreateSecret } from './db/server-settings.js';
import { createSingleUseJtis } from './db/single-use-jtis.js';
import { createActorUsageTracker } from './token-exchange/actor-usage.js';
import { createExchangePorts } from './token-exchange/ports.js';
import { findTrustedIssuer } from './trust/trusted-issuers.js';
import { createIssuerKeys } from './trust/issuer-keys.js';
import { createRateLimits } from './token-exchange/rate-limit.js';
import { createRecorder } from './token-exchange/record.js';
import { createTokenStatusHandlers } from './oauth/token-status.js';
import { TRUSTED_ISSUER_KEY } from './trust/trusted-issuers.js';
import { createApp, type App } from './http/app.js';
import { createMetrics } from './http/metrics.js';
import { decodeKey32 } from './keys/key-encryption.js';
import { KeyRing } from './keys/key-ring.js';
import { loadKeyEncryptionKey } from './keys/local-keys.js';
import { scheduleKeyRotation, type KeyRotationSchedule } from './keys/rotation-schedule.js';
import type { Logger } from './log.js';
import { createProvider } from './oauth/provider.js';
import { scheduleApprovalExpiry } from './approval/expiry.js';
import { createApprovalNotifier } from './approval/web/notify.js';
import { loginSettingsOf } from './approval/web/login.js';
import { approvalCallbackUrl } from './approval/web/pages.js';
import { createApprovalRouter } from './approval/web/router.js';
import { createDemoIdentityProvider } from './demo/identity-provider.js';
import { sharedSignalsRoutes } from './ssf/app-routes.js';
import { startSharedSignals } from './ssf/background.js';
import { prepareProcess } from './startup.js';

export interface ComposedDeputy {
  app: App;
  pool: pg.Pool;
  keyRing: KeyRing;
  keyRotation: KeyRotationSchedule;
  checkpointKey: CheckpointKey;
  /** Stops the background jobs and the change feed, then releases the pool. */
  close(): Promise<void>;
}

export interface ComposeOptions {
  /**
   * The quickstart's people: with these, and APPROVAL_LOGIN_* unset, the demo identity provider
   * is served at /demo-idp and is the approval pages' sign-in (src/demo/identity-provider.ts).
   */
  demoPeople?: { passwords: Readonly<Record<string, string>>; signingKey: JWK };
}

/** Builds a Deputy on a migrated database; the caller serves `app` and calls `close`. */
export async function composeDeputy(config: Config, databaseUrl: string, logger: Logger, options: ComposeOptions = {}): Promise<ComposedDeputy> {
  prepareProcess();
  const kek = await loadKeyEncryptionKey(config);
  const checkpointKey = await CheckpointKey.fromSeed(
    config.AUDIT_CHECKPOINT_KEY ? decodeKey32(config.AUDIT_CHECKPOINT_KEY)! : kek.derive('audit checkpoint key v1'),
  );
  const pool = createPool({
    url: databaseUrl,
    size: config.DATABASE_POOL_SIZE,
    acquireTimeoutMs: config.DATABASE_POOL_TIMEOUT_MS,
    onError: (error) => logger.warn({ err: { message: error.message } }, 'idle database connection failed'),
  });
  const closers: Array<() => Promise<void>> = [];
  const close = async () => {
    for (const closer of closers) await closer();
    await pool.end();
  };
  try {
    const keyRing = new KeyRing(pool, config.SIGNING_ALG, config.TOKEN_TTL + config.CLOCK_SKEW, kek);
    await keyRing.load();
    const keyRotation = scheduleKeyRotation({ keyRing, days: config.KEY_ROTATION_DAYS, logger });
    closers.push(() => keyRotation.stop());
    await keyRotation.check();
    const clientSecretPepper = config.CLIENT_SECRET_PEPPER ?? (await loadOrCreateSecret(pool, 'client_secret_pepper', kek));

    // Clients, trusted issuers and actors' keys, dropped on every committed change (in any process).
    const configCache = createConfigCache({
      url: databaseUrl,
      onError: (error) => logger.warn({ detail: error.message }, 'configuration change feed lost; cache bypassed until it is back'),
    });
    closers.push(() => configCache.close());
    // A rotation made by another process: publish and sign with its keys at once.
    configCache.onChange((key) => {
      if (key !== null && !key.startsWith('signing_keys:')) return;
      keyRing.reload().catch((error: unknown) => logger.warn({ detail: (error as Error).message }, 'could not reload the signing keys'));
    });
    const issuerKeys = createIssuerKeys({
      timeoutMs: config.JWKS_TIMEOUT_MS,
      cooldownMs: config.JWKS_COOLDOWN_MS,
      allowPrivateNetwork: config.JWKS_ALLOW_PRIVATE_NETWORK,
    });
    // A changed or deleted issuer (in any process) drops its fetched keys here too.
    configCache.onChange((key) => {
      if (key === null) issuerKeys.dropAll();
      else if (key.startsWith(TRUSTED_ISSUER_KEY)) issuerKeys.drop(key.slice(TRUSTED_ISSUER_KEY.length));
    });

    const metrics = createMetrics();
    const markSingleUse = createSingleUseJtis(pool);
    // The person is told of each new approval request (APPROVAL_WEBHOOK_URL) with a single-use link.
    const onApprovalRequested = createApprovalNotifier({
      pool,
      logger,
      webhookUrl: config.APPROVAL_WEBHOOK_URL,
      allowPrivateNetwork: config.APPROVAL_ALLOW_PRIVATE_NETWORK,
      linkBase: `${config.ISSUER}/approve/link/`,
    });
    const provider = createProvider({ config, pool, configCache, keyRing, clientSecretPepper, markSingleUse, logger, onApprovalRequested });
    const rateLimits = createRateLimits({ perClient: config.RATE_LIMIT_CLIENT_PER_SECOND, perActor: config.RATE_LIMIT_ACTOR_PER_SECOND });
    const exchangePorts = createExchangePorts({
      issuer: config.ISSUER,
      clockSkewSeconds: config.CLOCK_SKEW,
      provider,
      pool,
      configCache,
      keyRing,
      issuerKeys,
      rateLimits,
      recorder: createRecorder(pool),
      touchActors: createActorUsageTracker(pool, logger),
    });

    // The admin API's data access and token revocation (not the exchange's hot path, which keeps pg).
    const prisma = createPrisma(pool);
    const adminDeps = { config, pool, prisma, configCache, keyRing, checkpointKey, logger, clientSecretPepper, provider };
    const adminAuth = createAdminAuthenticator(adminDeps);
    const admin = createAdminRouter({ ...adminDeps, issuerKeys }, adminAuth);
    // The web console: pages over the same admin routes, called in-process as the signed-in admin.
    const webConsole = createConsoleRouter({ ...adminDeps, auth: adminAuth, dispatch: createAdminDispatch(admin) });

    // The person's sign-in at /approve: the configured IdP, else the quickstart's demo IdP.
    const configuredLogin = loginSettingsOf(config);
    const demoIdentityProvider =
      options.demoPeople && !configuredLogin
        ? createDemoIdentityProvider({
            deputyIssuer: config.ISSUER,
            redirectUri: approvalCallbackUrl(config.ISSUER),
            ...options.demoPeople,
            trustProxy: config.TRUST_PROXY,
            logger,
          })
        : null;

    const app = createApp({
      config,
      pool,
      keyRing,
      logger,
      metrics,
      provider,
      rateLimits,
      adminPrefix: ADMIN_PREFIX,
      admin,
      webConsole,
      approvalPages: createApprovalRouter({
        config,
        pool,
        logger,
        login: configuredLogin ?? demoIdentityProvider?.login ?? null,
        findPeopleIssuer: (iss) => findTrustedIssuer(pool, configCache, iss, 'user'),
      }),
      demoIdentityProvider: demoIdentityProvider?.middleware ?? null,
      exchange: {
        ports: exchangePorts,
        settings: { issuer: config.ISSUER, tokenTtl: config.TOKEN_TTL, maxDelegationDepth: config.MAX_DELEGATION_DEPTH },
        logger,
        metrics,
      },
      tokenStatus: createTokenStatusHandlers({
        pool,
        prisma,
        keyRing,
        logger,
        issuer: config.ISSUER,
        trusted: {
          findIssuer: (iss, kind) => findTrustedIssuer(pool, configCache, iss, kind),
          keysFor: issuerKeys.keysFor,
          clockSkewSeconds: config.CLOCK_SKEW,
          ownIssuer: config.ISSUER,
        },
      }),
      ciba: { config, pool, ports: exchangePorts, logger },
      sharedSignals: sharedSignalsRoutes({ config, pool, configCache, keyRing, logger, provider, metrics, issuerKeys }),
    });
    // Before the pool closes: in-flight deliveries finish first.
    closers.unshift(startSharedSignals({ config, pool, keyRing, configCache, metrics, issuerKeys, logger }));

    if (config.PURGE_INTERVAL_S > 0) {
      const purge = schedulePurge(pool, {
        intervalMs: config.PURGE_INTERVAL_S * 1000,
        batchSize: config.PURGE_BATCH_SIZE,
        maxBatches: config.PURGE_MAX_BATCHES,
        onResult: ({ deleted, batches, skipped, more }, elapsedMs) => {
          if (skipped) logger.debug('purge skipped: another process is purging');
          else if (more || Object.values(deleted).some((n) => n > 0)) {
            logger.info({ deleted, batches, more, ms: Math.round(elapsedMs) }, 'expired rows purged');
          }
        },
        onError: (error) => logger.warn({ detail: isDatabaseUnavailable(error) ? 'database unavailable' : error.message }, 'purge of expired rows failed'),
      });
      closers.push(() => purge.stop());
    }
    if (config.APPROVAL_EXPIRY_INTERVAL_S > 0) {
      const approvalExpiry = scheduleApprovalExpiry(pool, { intervalMs: config.APPROVAL_EXPIRY_INTERVAL_S * 1000, logger });
      closers.push(() => approvalExpiry.stop());
    }
    // Plans follow the hot tables' growth even where autovacuum is off or has not run yet.
    const statistics = keepStatistics(pool, {
      intervalMs: STATISTICS_CHECK_MS,
      onAnalyzed: (tables) => logger.debug({ tables }, 'table statistics refreshed'),
      onError: (error) => logger.warn({ detail: isDatabaseUnavailable(error) ? 'database unavailable' : error.message }, 'could not refresh table statistics'),
    });
    closers.push(() => statistics.stop());
    const checkpoints = logCheckpoints({ pool, key: checkpointKey, issuer: config.ISSUER, intervalSeconds: config.AUDIT_CHECKPOINT_INTERVAL_S, logger });
    closers.push(() => checkpoints.stop());
    return { app, pool, keyRing, keyRotation, checkpointKey, close };
  } catch (error) {
    await close();
    throw error;
  }
}
