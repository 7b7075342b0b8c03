/**
 * Applies `migrations/<NNNN>_<name>/migration.sql` in order, each once, each in its own
 * transaction, recorded in Prisma Migrate's `_prisma_migrations` table with Prisma's sha256
 * checksum, under Prisma's advisory lock — so concurrent starts are safe and `prisma migrate
 * status` agrees wherever its engine exists. An applied migration whose file changed is an error.
 *
 * Then the stored functions: `migrations/functions/<name>.sql` are repeatable (`CREATE OR
 * REPLACE`), the one place each function is written. Under the same lock, after the numbered
 * migrations, every file whose checksum differs from the one recorded in `_deputy_functions` is
 * applied again, all of them in one transaction in file-name order (a file may use the functions
 * of the files before it); all are applied again whenever a numbered migration ran, so a
 * migration can never leave an older definition in place.
 */
import { createHash, randomUUID } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

/** The advisory lock key Prisma Migrate itself uses. */
const PRISMA_MIGRATE_LOCK = 72707369;

export const MIGRATIONS_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../migrations');

export interface Migration {
  name: string;
  sql: string;
  checksum: string;
}

export interface MigrationResult {
  applied: string[];
  alreadyApplied: string[];
  /** The function files (re)applied by this run. */
  functions: string[];
}

/** A repeatable file of stored functions, `migrations/functions/<name>.sql`. */
export type FunctionFile = Migration;

export class MigrationError extends Error {
  override name = 'MigrationError';
}

export async function readMigrations(dir: string = MIGRATIONS_DIR): Promise<Migration[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries
    .filter((entry) => entry.isDirectory() && /^\d{4}_[a-z0-9_]+$/.test(entry.name))
    .map((entry) => entry.name)
    .sort();
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(path.join(dir, name, 'migration.sql'), 'utf8');
      return { name, sql, checksum: checksum(sql) };
    }),
  );
}

const checksum = (sql: string) => createHash('sha256').update(sql).digest('hex');

export async function readFunctionFiles(dir: string = MIGRATIONS_DIR): Promise<FunctionFile[]> {
  const functionsDir = path.join(dir, 'functions');
  const entries = await readdir(functionsDir, { withFileTypes: true }).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [];
    throw error;
  });
  const names = entries
    .filter((entry) => entry.isFile() && /^[a-z0-9_]+\.sql$/.test(entry.name))
    .map((entry) => entry.name)
    .sort();
  return Promise.all(
    names.map(async (name) => {
      const sql = await readFile(path.join(functionsDir, name), 'utf8');
      return { name, sql, checksum: checksum(sql) };
    }),
  );
}

export async function migrate(databaseUrl: string, dir: string = MIGRATIONS_DIR): Promise<MigrationResult> {
  const migrations = await readMigrations(dir);
  const functionFiles = await readFunctionFiles(dir);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [PRISMA_MIGRATE_LOCK]);
    try {
      const result = await applyPending(client, migrations);
      result.functions = await applyFunctions(client, functionFiles, result.applied.length > 0);
      return result;
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [PRISMA_MIGRATE_LOCK]);
    }
  } finally {
    await client.end();
  }
}

async function applyPending(client: pg.Client, migrations: Migration[]): Promise<MigrationResult> {
  await client.query(`CREATE TABLE IF NOT EXISTS "_prisma_migrations" (
    "id" VARCHAR(36) PRIMARY KEY NOT NULL,
    "checksum" VARCHAR(64) NOT NULL,
    "finished_at" TIMESTAMPTZ,
    "migration_name" VARCHAR(255) NOT NULL,
    "logs" TEXT,
    "rolled_back_at" TIMESTAMPTZ,
    "started_at" TIMESTAMPTZ NOT NULL DEFAULT now(),
    "applied_steps_count" INTEGER NOT NULL DEFAULT 0
  )`);
  const { rows } = await client.query<{ migration_name: string; checksum: string }>(
    `SELECT migration_name, checksum FROM "_prisma_migrations"
      WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL`,
  );
  const applied = new Map(rows.map((row) => [row.migration_name, row.checksum]));
  const result: MigrationResult = { applied: [], alreadyApplied: [], functions: [] };
  for (const migration of migrations) {
    const checksum = applied.get(migration.name);
    if (checksum !== undefined) {
      if (checksum !== migration.checksum) {
        throw new MigrationError(`migration ${migration.name} was changed after it was applied`);
      }
      result.alreadyApplied.push(migration.name);
      continue;
    }
    await client.query('BEGIN');
    try {
      await client.query(migration.sql);
      await client.query(
        `INSERT INTO "_prisma_migrations" (id, checksum, migration_name, finished_at, applied_steps_count)
         VALUES ($1, $2, $3, now(), 1)`,
        [randomUUID(), migration.checksum, migration.name],
      );
      await client.query('COMMIT');
    } catch (error) {
      await client.query('ROLLBACK');
      throw new MigrationError(`migration ${migration.name} failed: ${(error as Error).message}`);
    }
    result.applied.push(migration.name);
  }
  return result;
}

async function applyFunctions(client: pg.Client, files: FunctionFile[], all: boolean): Promise<string[]> {
  await client.query(`CREATE TABLE IF NOT EXISTS "_deputy_functions" (
    "name" TEXT PRIMARY KEY NOT NULL,
    "checksum" VARCHAR(64) NOT NULL,
    "applied_at" TIMESTAMPTZ NOT NULL DEFAULT now()
  )`);
  const { rows } = await client.query<{ name: string; checksum: string }>('SELECT name, checksum FROM "_deputy_functions"');
  const recorded = new Map(rows.map((row) => [row.name, row.checksum]));
  const due = files.filter((file) => all || recorded.get(file.name) !== file.checksum);
  if (due.length === 0) return [];
  await client.query('BEGIN');
  let current = '';
  try {
    for (const file of due) {
      current = file.name;
      await client.query(file.sql);
      await client.query(
        `INSERT INTO "_deputy_functions" (name, checksum) VALUES ($1, $2)
         ON CONFLICT (name) DO UPDATE SET checksum = EXCLUDED.checksum, applied_at = now()`,
        [file.name, file.checksum],
      );
    }
    await client.query('COMMIT');
  } catch (error) {
    await client.query('ROLLBACK');
    throw new MigrationError(`function file ${current} failed: ${(error as Error).message}`);
  }
  return due.map((file) => file.name);
}
