/**
 * Starts one Deputy process on a database: migrations, then the object graph (src/composition.ts),
 * then the listener.
 * `close()` stops accepting, lets in-flight requests finish, then releases the pool.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { composeDeputy, type ComposeOptions, type ComposedDeputy } from './composition.js';
import type { Config } from './config.js';
import { migrate } from './db/migrate.js';
import type { Logger } from './log.js';

export interface RunningDeputy extends ComposedDeputy {
  url: string;
  port: number;
  /** Stops accepting, lets in-flight requests finish, then closes the composed parts. */
  close(): Promise<void>;
}

/** Applies pending migrations (a no-op on an up-to-date database) and logs what it applied. */
export async function applyMigrations(databaseUrl: string, logger: Logger): Promise<void> {
  const migrations = await migrate(databaseUrl);
  if (migrations.applied.length > 0) logger.info({ applied: migrations.applied }, 'migrations applied');
}

export async function startDeputy(config: Config, databaseUrl: string, logger: Logger, options: ComposeOptions = {}): Promise<RunningDeputy> {
  await applyMigrations(databaseUrl, logger);
  const deputy = await composeDeputy(config, databaseUrl, logger, options);
  try {
    let stopping = false;
    const server = createServer((req, res) => {
      // While stopping, every response tells its client not to reuse the connection.
      if (stopping) res.setHeader('Connection', 'close');
      deputy.app.callback(req, res);
    });
    server.keepAliveTimeout = 65_000;
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(config.PORT, config.HOST, () => resolve());
    });
    const port = (server.address() as AddressInfo).port;
    const host = config.HOST.includes(':') ? `[${config.HOST}]` : config.HOST;
    return {
      ...deputy,
      url: `http://${host}:${port}`,
      port,
      close: async () => {
        stopping = true;
        await closeServer(server, config.SHUTDOWN_GRACE_MS);
        await deputy.close();
      },
    };
  } catch (error) {
    await deputy.close();
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
