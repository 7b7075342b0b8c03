// Applies pending migrations: npm run migrate (uses DATABASE_URL, or the embedded PostgreSQL).
import 'dotenv/config';
import { ConfigError, loadConfig } from '../src/config.js';
import { startEmbeddedPostgres } from '../src/db/embedded.js';
import { migrate } from '../src/db/migrate.js';

try {
  const config = loadConfig(process.env);
  const embedded = config.DATABASE_URL ? null : await startEmbeddedPostgres(config.DEPUTY_HOME, { waitForOwnerMs: 120_000 });
  try {
    const result = await migrate(config.DATABASE_URL ?? embedded!.url);
    console.log(result.applied.length ? `applied: ${result.applied.join(', ')}` : 'already up to date');
  } finally {
    await embedded?.stop();
  }
} catch (error) {
  console.error(error instanceof ConfigError ? error.message : `migration failed: ${(error as Error).message}`);
  process.exit(1);
}
