/**
 * Starts one Deputy process on a database: migrations, signing keys, the app, the listener.
 * `close()` stops accepting, lets in-flight requests finish, then releases the pool.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type pg from 'pg';
import type { Config } from './config.js';
import { migrate } from './db/migrate.js';
import { createPool } from './db/pool.js';
import { loadOrCreateSecret } from './db/server-settings.js';
import { createApp, type App } from './http/app.js';
import { KeyRing } from './keys/key-ring.js';
import type { Logger } from './log.js';

export interface RunningDeputy {
  url: string;
  port: number;
  app: App;
  pool: pg.Pool;
  keyRing: KeyRing;
  close(): Promise<void>;
}

export async function startDeputy(config: Config, databaseUrl: string, logger: Logger): Promise<RunningDeputy> {
  const migrations = await migrate(databaseUrl);
  if (migrations.applied.length > 0) logger.info({ applied: migrations.applied }, 'migrations applied');

  const pool = createPool({
    url: databaseUrl,
    size: config.DATABASE_POOL_SIZE,
    acquireTimeoutMs: config.DATABASE_POOL_TIMEOUT_MS,
    onError: (error) => logger.warn({ err: { message: error.message } }, 'idle database connection failed'),
  });
  try {
    const keyRing = new KeyRing(pool, config.SIGNING_ALG, config.TOKEN_TTL + config.CLOCK_SKEW);
    await keyRing.load();
    const clientSecretPepper = config.CLIENT_SECRET_PEPPER ?? (await loadOrCreateSecret(pool, 'client_secret_pepper'));
    const app = createApp({ config, pool, keyRing, logger, clientSecretPepper });
    const server = createServer(app.callback);
    server.keepAliveTimeout = 65_000;
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
      close: async () => {
        await closeServer(server);
        await pool.end();
      },
    };
  } catch (error) {
    await pool.end();
    throw error;
  }
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeIdleConnections();
  });
}
