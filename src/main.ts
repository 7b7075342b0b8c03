/**
 * `npm start`: configuration from the environment (and .env), the embedded PostgreSQL unless
 * DATABASE_URL is set, migrations, the demo world on an empty database, then the server — in
 * this process, or with WORKERS > 1 in that many worker processes sharing the port
 * (src/cluster.ts). SIGINT/SIGTERM stop accepting, finish in-flight requests, and stop the
 * embedded database.
 */
import 'dotenv/config';
import cluster from 'node:cluster';
import type pg from 'pg';
import { startWorkers, type WorkerListening } from './cluster.js';
import { ConfigError, loadConfig, type Config } from './config.js';
import { AlreadyRunningError, EmbeddedPostgresMissingError, startEmbeddedPostgres, type EmbeddedDatabase } from './db/embedded.js';
import { createPool } from './db/pool.js';
import { loadOrCreateSecret } from './db/server-settings.js';
import { loginSettingsOf } from './approval/web/login.js';
import { demoSecretsFile, ensureDemoIssuer, loadDemoSecrets, seedDemoWorld, type DemoSecrets } from './demo/seed.js';
import { quickstart } from './demo/quickstart.js';
import { loadKeyEncryptionKey } from './keys/local-keys.js';
import { createLogger, routeConsoleToLog, type Logger } from './log.js';
import { applyMigrations, startDeputy } from './server.js';
import { prepareProcess } from './startup.js';

/**
 * Seeds the demo world on an empty database, when DEMO_SEED asks for it. Returns the demo
 * world's secrets (null without DEMO_SEED or without a demo world under DEPUTY_HOME).
 */
async function seedIfAsked(config: Config, pool: pg.Pool, logger: Logger): Promise<DemoSecrets | null> {
  if (!config.DEMO_SEED) return null;
  const pepper = config.CLIENT_SECRET_PEPPER ?? (await loadOrCreateSecret(pool, 'client_secret_pepper', await loadKeyEncryptionKey(config)));
  if (await seedDemoWorld(pool, config.DEPUTY_HOME, pepper, config.ISSUER)) logger.info('seeded the demo world');
  const secrets = await loadDemoSecrets(config.DEPUTY_HOME);
  if (secrets) await ensureDemoIssuer(pool, config.ISSUER, secrets);
  return secrets;
}

/**
 * Migrations, then the demo world when asked for: done once, before any process serves.
 * Returns the demo world's secrets, if any.
 */
async function prepareDatabase(config: Config, databaseUrl: string, logger: Logger): Promise<DemoSecrets | null> {
  await applyMigrations(databaseUrl, logger);
  const pool = createPool({ url: databaseUrl, size: 2, acquireTimeoutMs: config.DATABASE_POOL_TIMEOUT_MS });
  try {
    return await seedIfAsked(config, pool, logger);
  } finally {
    await pool.end();
  }
}

/**
 * The human banner goes to stderr: stdout carries only the NDJSON log. It names the secrets
 * file, never a secret.
 */
function printQuickstart(config: Config): void {
  const banner = quickstart({
    baseUrl: config.ISSUER,
    secretsFile: demoSecretsFile(config.DEPUTY_HOME),
    bootstrapTokenConfigured: config.DEPUTY_ADMIN_TOKEN !== undefined,
    // As the composition root decides: the configured IdP first, else the demo IdP in one process.
    approvalSignIn: loginSettingsOf(config) ? 'configured' : config.WORKERS === 1 ? 'demo' : 'none',
  });
  process.stderr.write(`${banner}\n`);
}

function onSignals(shutdown: (signal: string) => Promise<void>): void {
  let stopping = false;
  const once = (signal: string) => {
    if (stopping) return;
    stopping = true;
    void shutdown(signal);
  };
  process.on('SIGINT', () => once('SIGINT'));
  process.on('SIGTERM', () => once('SIGTERM'));
}

async function main(): Promise<void> {
  prepareProcess();
  const config = loadConfig(process.env);
  const logger = createLogger(config.LOG_LEVEL);
  routeConsoleToLog(logger);

  let embedded: EmbeddedDatabase | null = null;
  if (!config.DATABASE_URL) {
    logger.info({ home: config.DEPUTY_HOME }, 'starting embedded PostgreSQL');
    embedded = await startEmbeddedPostgres(config.DEPUTY_HOME);
  }
  const databaseUrl = config.DATABASE_URL ?? embedded!.url;
  const stopDatabase = async () => embedded?.stop();

  try {
    const demo = await prepareDatabase(config, databaseUrl, logger);
    if (config.WORKERS === 1) {
      // The demo identity provider at /demo-idp: the demo users and the demo issuer's key.
      const demoPeople = demo ? { passwords: demo.userPasswords, signingKey: demo.issuerPrivateJwk } : undefined;
      const deputy = await startDeputy(config, databaseUrl, logger, { demoPeople });
      logger.info({ url: deputy.url, issuer: config.ISSUER }, 'deputy is listening');
      if (demo) printQuickstart(config);
      onSignals(async (signal) => {
        logger.info({ signal }, 'shutting down');
        await deputy.close();
        await stopDatabase();
        logger.info('stopped');
        process.exit(0);
      });
      return;
    }

    // The workers find the database migrated and seeded. The demo identity provider keeps its
    // sign-ins in memory, so it is served only by a single process.
    const workers = startWorkers({ count: config.WORKERS, env: { DATABASE_URL: databaseUrl, DEMO_SEED: 'false' }, logger });
    const url = await workers.ready;
    logger.info({ url, issuer: config.ISSUER, workers: config.WORKERS }, 'deputy is listening');
    if (demo) printQuickstart(config);
    const stopAll = async (exitCode: number) => {
      await workers.stop(config.SHUTDOWN_GRACE_MS + 5000);
      await stopDatabase();
      logger.info('stopped');
      process.exit(exitCode);
    };
    onSignals(async (signal) => {
      logger.info({ signal }, 'shutting down');
      await stopAll(0);
    });
    void workers.failed.then(async (error) => {
      logger.fatal({ detail: error.message }, 'workers keep dying; stopping');
      await stopAll(1);
    });
  } catch (error) {
    await stopDatabase();
    throw error;
  }
}

/** A worker of WORKERS > 1: serves on the primary's database until told to stop. */
async function worker(): Promise<void> {
  const config = loadConfig(process.env);
  const logger = createLogger(config.LOG_LEVEL);
  routeConsoleToLog(logger);
  const deputy = await startDeputy(config, config.DATABASE_URL!, logger);
  process.send!({ type: 'deputy:listening', url: deputy.url } satisfies WorkerListening);
  let closing: Promise<void> | null = null;
  const shutdown = async () => {
    closing ??= deputy.close();
    await closing;
    process.exit(0);
  };
  onSignals(shutdown);
  // The supervisor is gone (killed): stop rather than serve unsupervised.
  process.on('disconnect', () => void shutdown());
}

const run = cluster.isWorker ? worker : main;
run().catch((error: unknown) => {
  if (error instanceof ConfigError || error instanceof AlreadyRunningError || error instanceof EmbeddedPostgresMissingError) {
    process.stderr.write(`deputy: ${error.message}\n`);
  } else {
    process.stderr.write(`deputy: failed to start: ${(error as Error).message}\n`);
  }
  process.exit(1);
});
