/**
 * Starts a real Deputy (HTTP on 127.0.0.1, an ephemeral port) on a fresh database of its own.
 */
import { loadConfig, type Config } from '../../src/config.js';
import { freePort } from '../../src/db/embedded.js';
import { createLogger, type Logger } from '../../src/log.js';
import type { ComposeOptions } from '../../src/composition.js';
import { startDeputy, type RunningDeputy } from '../../src/server.js';
import { createTestDatabase, type TestDatabase } from './database.js';

/** The key-encryption key of test deputies (fixed, so two processes on one database agree). */
export const TEST_KEY_ENCRYPTION_KEY = Buffer.alloc(32, 7).toString('base64url');

export interface TestDeputy extends RunningDeputy {
  config: Config;
  database: TestDatabase;
  stop(): Promise<void>;
}

/**
 * `logger` replaces the one LOG_LEVEL would make, for tests that read what Deputy logs;
 * `compose` is what the quickstart adds (the demo identity provider's people).
 */
export async function startTestDeputy(env: Record<string, string> = {}, database?: TestDatabase, logger?: Logger, compose?: ComposeOptions): Promise<TestDeputy> {
  const db = database ?? (await createTestDatabase());
  const port = await freePort();
  const config = loadConfig({
    NODE_ENV: 'test',
    PORT: String(port),
    HOST: '127.0.0.1',
    ISSUER: `http://127.0.0.1:${port}`,
    LOG_LEVEL: 'silent',
    DEMO_SEED: 'false',
    DATABASE_POOL_SIZE: '5',
    KEY_ENCRYPTION_KEY: TEST_KEY_ENCRYPTION_KEY,
    ...env,
  });
  const deputy = await startDeputy(config, db.url, logger ?? createLogger(config.LOG_LEVEL), compose);
  return {
    ...deputy,
    config,
    database: db,
    async stop() {
      await deputy.close();
      if (!database) await db.drop();
    },
  };
}
