/**
 * `npm start`: configuration from the environment (and .env), the embedded PostgreSQL unless
 * DATABASE_URL is set, migrations, the demo world on an empty database, then the server.
 * SIGINT/SIGTERM stop accepting, finish in-flight requests, and stop the embedded database.
 */
import 'dotenv/config';
import { ConfigError, loadConfig } from './config.js';
import { AlreadyRunningError, startEmbeddedPostgres, type EmbeddedDatabase } from './db/embedded.js';
import { seedDemoWorld, readDemoSecrets } from './demo/seed.js';
import { quickstart } from './demo/quickstart.js';
import { createLogger } from './log.js';
import { loadOrCreateSecret } from './db/server-settings.js';
import { startDeputy } from './server.js';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const logger = createLogger(config.LOG_LEVEL);

  let embedded: EmbeddedDatabase | null = null;
  if (!config.DATABASE_URL) {
    logger.info({ home: config.DEPUTY_HOME }, 'starting embedded PostgreSQL');
    embedded = await startEmbeddedPostgres(config.DEPUTY_HOME);
  }
  const stopDatabase = async () => embedded?.stop();

  try {
    const deputy = await startDeputy(config, config.DATABASE_URL ?? embedded!.url, logger);
    let seededNow = false;
    if (config.DEMO_SEED) {
      const pepper = config.CLIENT_SECRET_PEPPER ?? (await loadOrCreateSecret(deputy.pool, 'client_secret_pepper'));
      seededNow = await seedDemoWorld(deputy.pool, config.DEPUTY_HOME, pepper);
      if (seededNow) logger.info('seeded the demo world');
    }
    logger.info({ url: deputy.url, issuer: config.ISSUER }, 'deputy is listening');
    if (config.DEMO_SEED) {
      const secrets = await readDemoSecrets(config.DEPUTY_HOME);
      process.stdout.write(`${quickstart(config.ISSUER, secrets?.appClientSecret ?? null, config.DEPUTY_ADMIN_TOKEN ?? null)}\n`);
    }

    let stopping = false;
    const shutdown = async (signal: string) => {
      if (stopping) return;
      stopping = true;
      logger.info({ signal }, 'shutting down');
      await deputy.close();
      await stopDatabase();
      logger.info('stopped');
      process.exit(0);
    };
    process.on('SIGINT', () => void shutdown('SIGINT'));
    process.on('SIGTERM', () => void shutdown('SIGTERM'));
  } catch (error) {
    await stopDatabase();
    throw error;
  }
}

main().catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof AlreadyRunningError) {
    process.stderr.write(`deputy: ${error.message}\n`);
  } else {
    process.stderr.write(`deputy: failed to start: ${(error as Error).message}\n`);
  }
  process.exit(1);
});
