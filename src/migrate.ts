/**
 * `npm run migrate` (`node dist/migrate.js`): applies pending migrations to DATABASE_URL, or to
 * the embedded PostgreSQL when it is unset, and exits. Every start does the same; this is for a
 * deployment that migrates in a step of its own before it starts new processes.
 */
import 'dotenv/config';
import { ConfigError, loadConfig } from './config.js';
import { EmbeddedPostgresMissingError, startEmbeddedPostgres } from './db/embedded.js';
import { migrate } from './db/migrate.js';

try {
  const config = loadConfig(process.env);
  const embedded = config.DATABASE_URL ? null : await startEmbeddedPostgres(config.DEPUTY_HOME, { waitForOwnerMs: 120_000 });
  try {
    const result = await migrate(config.DATABASE_URL ?? embedded!.url);
    const lines = [
      ...(result.applied.length ? [`applied: ${result.applied.join(', ')}`] : []),
      ...(result.functions.length ? [`functions: ${result.functions.join(', ')}`] : []),
    ];
    console.log(lines.length ? lines.join('\n') : 'already up to date');
  } finally {
    await embedded?.stop();
  }
} catch (error) {
  const known = error instanceof ConfigError || error instanceof EmbeddedPostgresMissingError;
  console.error(known ? (error as Error).message : `migration failed: ${(error as Error).message}`);
  process.exit(1);
}
