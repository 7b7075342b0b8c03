import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, mkdir, writeFile, cp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { MIGRATIONS_DIR, migrate, readMigrations } from '../../src/db/migrate.js';
import { createEmptyDatabase, type TestDatabase } from '../support/database.js';

async function appliedNames(url: string): Promise<string[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ migration_name: string }>(
      'SELECT migration_name FROM "_prisma_migrations" ORDER BY migration_name',
    );
    return rows.map((row) => row.migration_name);
  } finally {
    await client.end();
  }
}

describe('migration runner', () => {
  const databases: TestDatabase[] = [];
  const fresh = async () => {
    const db = await createEmptyDatabase();
    databases.push(db);
    return db;
  };
  afterAll(async () => {
    await Promise.all(databases.map((db) => db.drop()));
  });

  it('applies every migration to a fresh database and records each once', async () => {
    const db = await fresh();
    const all = (await readMigrations()).map((m) => m.name);
    const result = await migrate(db.url);
    expect(result.applied).toEqual(all);
    expect(await appliedNames(db.url)).toEqual(all);
  });

  it('is a no-op when re-run', async () => {
    const db = await fresh();
    await migrate(db.url);
    const again = await migrate(db.url);
    expect(again.applied).toEqual([]);
    expect(again.alreadyApplied.length).toBeGreaterThan(0);
  });

  it('leaves one correct schema when several runners start at once', async () => {
    const db = await fresh();
    const results = await Promise.all(Array.from({ length: 4 }, () => migrate(db.url)));
    const appliedCounts = results.map((r) => r.applied.length);
    expect(appliedCounts.filter((n) => n > 0)).toHaveLength(1);
    const all = (await readMigrations()).map((m) => m.name);
    expect(await appliedNames(db.url)).toEqual(all);
  });

  describe('with a migrations folder of its own', () => {
    let dir: string;
    beforeAll(async () => {
      dir = await mkdtemp(path.join(os.tmpdir(), 'deputy-migrations-'));
      await cp(MIGRATIONS_DIR, dir, { recursive: true });
    });

    it('applies a later migration in order after the earlier ones', async () => {
      const db = await fresh();
      await migrate(db.url, dir);
      await mkdir(path.join(dir, '9999_add_probe'));
      await writeFile(path.join(dir, '9999_add_probe', 'migration.sql'), 'CREATE TABLE probe (id int);');
      const result = await migrate(db.url, dir);
      expect(result.applied).toEqual(['9999_add_probe']);
    });

    it('refuses a migration whose file changed after it was applied', async () => {
      const db = await fresh();
      await migrate(db.url, dir);
      await writeFile(path.join(dir, '9999_add_probe', 'migration.sql'), 'CREATE TABLE probe (id bigint);');
      await expect(migrate(db.url, dir)).rejects.toThrow(/9999_add_probe was changed/);
    });

    it('rolls back a failing migration and records nothing for it', async () => {
      const db = await fresh();
      await mkdir(path.join(dir, '9998_broken'));
      await writeFile(path.join(dir, '9998_broken', 'migration.sql'), 'CREATE TABLE half (id int); SELECT nonsense_fn();');
      await expect(migrate(db.url, dir)).rejects.toThrow(/9998_broken failed/);
      const names = await appliedNames(db.url);
      expect(names).not.toContain('9998_broken');
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      const { rows } = await client.query(`SELECT to_regclass('half') AS t`);
      await client.end();
      expect(rows[0].t).toBeNull();
    });
  });
});
