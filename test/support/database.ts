/**
 * A fresh, migrated database per test file, cloned from the suite's template, so files can run
 * in parallel without seeing each other's rows.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { prepareProcess } from '../../src/startup.js';

export interface TestDatabase {
  url: string;
  name: string;
  drop(): Promise<void>;
}

/** The same server URL, naming another database. */
export function withDatabase(url: string, database: string): string {
  const parsed = new URL(url);
  parsed.pathname = `/${database}`;
  return parsed.toString();
}

async function createDatabase(suffix: string, template: 'template' | 'empty'): Promise<TestDatabase> {
  // What the composition root does at start-up, for tests that use modules without a Deputy.
  prepareProcess();
  const adminUrl = process.env.DEPUTY_TEST_ADMIN_URL;
  const templateName = process.env.DEPUTY_TEST_TEMPLATE;
  if (!adminUrl || !templateName) throw new Error('the jest global setup did not run');
  const name = `${templateName.replace('_tpl_', '_t_')}_${suffix}${randomBytes(4).toString('hex')}`;
  const runAsAdmin = async (sql: string) => {
    const admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    try {
      await admin.query(sql);
    } finally {
      await admin.end();
    }
  };
  await runAsAdmin(template === 'template' ? `CREATE DATABASE ${name} TEMPLATE ${templateName}` : `CREATE DATABASE ${name}`);
  return {
    name,
    url: withDatabase(adminUrl, name),
    drop: () => runAsAdmin(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`),
  };
}

/** A fresh database with every migration applied, cloned from the suite's template. */
export const createTestDatabase = (): Promise<TestDatabase> => createDatabase('', 'template');

/** An empty database (no migrations), for the migration runner's own tests. */
export const createEmptyDatabase = (): Promise<TestDatabase> => createDatabase('e', 'empty');
