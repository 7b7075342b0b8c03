/**
 * Starts one Deputy process on a database: migrations, signing keys, the app, the listener.
 * `close()` stops accepting, lets in-flight requests finish, then releases the pool.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type pg from 'pg';
import { CheckpointKey } from './audit/checkpoint.js';
import { logCheckpoints } from './audit/checkpoint-log.js';
import type { Config } from './config.js';
import { migrate } from './db/migrate.js';
import { createConfigCache } from './db/change-feed.js';
import { createPool, isDatabaseUnavailable } from './db/pool.js';
import { schedulePurge } from './db/purge.js';
import { loadOrCreateSecret } from './db/server-settings.js';
import { createApp, type App } from './http/app.js';
import { decodeKey32 } from './keys/key-encryption.js';
import { KeyRing } from './keys/key-ring.js';
import { loadKeyEncryptionKey } from './keys/local-keys.js';
import { scheduleKeyRotation, type KeyRotationSchedule } from './keys/rotation-schedule.js';
import type { Logger } from './log.js';
import { startSharedSignals } from './ssf/background.js';

export interface RunningDeputy {
  url: string;
  port: number;
  app: App;
  pool: pg.Pool;
  keyRing: KeyRing;
  keyRotation: KeyRotationSchedule;
  checkpointKey: CheckpointKey;
  close(): Promise<void>;
}

/** Applies pending migrations (a no-op on an up-to-date database) and logs what it applied. */
export async function applyMigrations(databaseUrl: string, logger: Logger): Promise<void> {
  const migrations = await migrate(databaseUrl);
  if (migrations.applied.length > 0) logger.info({ applied: migrations.applied }, 'migrations applied');
}

export async function startDeputy(config: Config, databaseUrl: string, logger: Logger): Promise<RunningDeputy> {
  await applyMigrations(databaseUrl, logger);
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
  try {
    const keyRing = new KeyRing(pool, config.SIGNING_ALG, config.TOKEN_TTL + config.CLOCK_SKEW, kek);
    await keyRing.load();
    const keyRotation = scheduleKeyRotation({ keyRing, days: config.KEY_ROTATION_DAYS, logger });
    closers.push(async () => keyRotation.stop());
    await keyRotation.check();
    const clientSecretPepper = config.CLIENT_SECRET_PEPPER ?? (await loadOrCreateSecret(pool, 'client_secret_pepper', kek));
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
    const app = createApp({ config, pool, configCache, keyRing, checkpointKey, logger, clientSecretPepper });
    // Before the pool closes: in-flight deliveries finish first.
    closers.unshift(startSharedSignals({ config, pool, keyRing, configCache, app, logger }));
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
    let stopping = false;
    const server = createServer((req, res) => {
      // While stopping, every response tells its client not to reuse the connection.
      if (stopping) res.setHeader('Connection', 'close');
      app.callback(req, res);
    });
    server.keepAliveTimeout = 65_000;
    const checkpoints = logCheckpoints({ pool, key: checkpointKey, issuer: config.ISSUER, intervalSeconds: config.AUDIT_CHECKPOINT_INTERVAL_S, logger });
    closers.push(async () => checkpoints.stop());
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.PORT, config.HOST, () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    const host = config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST;
    return {
      url: `http://${host}:${port}`,
      port,
      app,
      pool,
      keyRing,
      keyRotation,
      checkpointKey,
      close: async () => {
        stopping = true;
        await closeServer(server, config.SHUTDOWN_GRACE_MS);
        for (const close of closers) await close();
        await pool.end();
      },
    };
  } catch (error) {
    for (const close of closers) await close();
    await pool.end();
    throw error;
  }
}

/**
 * Stops accepting, lets in-flight requests finish (their responses say `Connection: close`),
 * closes keep-alive connections as soon as they fall idle, and after `graceMs` closes whatever
 * is left, so shutdown always ends in bounded time.
 */
function closeServer(server: Server, graceMs: number): Promise<void> {
  return new Promise((resolve) => {
    const sweep = setInterval(() => server.closeIdleConnections(), 50);
    const deadline = setTimeout(() => server.closeAllConnections(), graceMs);
    server.close(() => {
      clearInterval(sweep);
      clearTimeout(deadline);
      resolve();
    });
    server.closeIdleConnections();
  });
}
