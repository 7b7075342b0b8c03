/**
 * Starts the PostgreSQL the suite runs against (embedded, or the server in DATABASE_URL) and
 * prepares a migrated template database; each test file clones it (test/support/database.ts).
 */
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { startEmbeddedPostgres, type EmbeddedDatabase } from '../../src/db/embedded.js';
import { migrate } from '../../src/db/migrate.js';
import { withDatabase } from './database.js';

declare global {
  // eslint-disable-next-line no-var
  var __deputyTestDatabase: { embedded: EmbeddedDatabase | null; adminUrl: string; template: string } | undefined;
}

export default async function globalSetup(): Promise<void> {
  let embedded: EmbeddedDatabase | null = null;
  let adminUrl: string;
  if (process.env.DATABASE_URL) {
    adminUrl = process.env.DATABASE_URL;
  } else {
    const home = await mkdtemp(path.join(os.tmpdir(), 'deputy-test-'));
    embedded = await startEmbeddedPostgres(home);
    adminUrl = embedded.urlFor('postgres');
  }
  const template = `deputy_tpl_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${template}`);
  await admin.end();
  await migrate(withDatabase(adminUrl, template));

  process.env.DEPUTY_TEST_ADMIN_URL = adminUrl;
  process.env.DEPUTY_TEST_TEMPLATE = template;
  globalThis.__deputyTestDatabase = { embedded, adminUrl, template };
}
