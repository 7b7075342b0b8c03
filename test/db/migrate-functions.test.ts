/**
 * Stored functions as repeatable files (migrations/functions/<name>.sql): applied after the
 * numbered migrations, recorded by checksum in _deputy_functions, applied again only when their
 * file changed (or a numbered migration ran), in one transaction, under the migrations' lock.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { cp, mkdtemp, mkdir, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { MIGRATIONS_DIR, migrate, readFunctionFiles } from '../../src/db/migrate.js';
import { createEmptyDatabase, type TestDatabase } from '../support/database.js';

async function query<T>(url: string, sql: string, values: unknown[] = []): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query(sql, values)).rows as T[];
  } finally {
    await client.end();
  }
}

describe('stored functions as repeatable files', () => {
  const databases: TestDatabase[] = [];
  let dir: string;
  const fresh = async () => {
    const db = await createEmptyDatabase();
    databases.push(db);
    return db;
  };
  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), 'deputy-functions-'));
    await cp(MIGRATIONS_DIR, dir, { recursive: true });
  });
  afterAll(async () => {
    await Promise.all(databases.map((db) => db.drop()));
    await rm(dir, { recursive: true, force: true });
  });

  it('holds the functions in migrations/functions, one file per concern, each definition CREATE OR REPLACE', async () => {
    const names = (await readFunctionFiles()).map((f) => f.name);
    expect(names).toEqual(expect.arrayContaining(['liveness.sql', 'record_exchanges.sql', 'audit.sql']));
    for (const file of await readFunctionFiles()) expect(file.sql).not.toMatch(/CREATE FUNCTION/i);
  });

  it('first apply: every file after the numbered migrations, each recorded with its checksum', async () => {
    const db = await fresh();
    const files = await readFunctionFiles();
    const result = await migrate(db.url);
    expect(result.functions).toEqual(files.map((f) => f.name));
    expect(await query(db.url, 'SELECT name, checksum FROM "_deputy_functions" ORDER BY name')).toEqual(files.map((f) => ({ name: f.name, checksum: f.checksum })));
    const [live] = await query<{ n: number }>(db.url, `SELECT count(*)::int AS n FROM pg_proc WHERE proname IN ('deputy_grant_is_live', 'deputy_actor_is_live', 'deputy_subject_is_live', 'deputy_token_chain_is_live', 'deputy_token_is_live')`);
    expect(live!.n).toBe(5);
  });

  it('no-op re-run: nothing applied again, applied_at unchanged', async () => {
    const db = await fresh();
    await migrate(db.url);
    const before = await query<{ name: string; applied_at: Date }>(db.url, 'SELECT name, applied_at FROM "_deputy_functions" ORDER BY name');
    const again = await migrate(db.url);
    expect(again.applied).toEqual([]);
    expect(again.functions).toEqual([]);
    expect(await query(db.url, 'SELECT name, applied_at FROM "_deputy_functions" ORDER BY name')).toEqual(before);
  });

  it('re-applies a changed file (and only it), recording its new checksum', async () => {
    const db = await fresh();
    await migrate(db.url, dir);
    const file = path.join(dir, 'functions', 'liveness.sql');
    const original = await readFile(file, 'utf8');
    try {
      await writeFile(file, `${original}\n-- changed\nCREATE OR REPLACE FUNCTION deputy_probe() RETURNS int LANGUAGE sql AS $$ SELECT 42 $$;\n`);
      const result = await migrate(db.url, dir);
      expect(result.applied).toEqual([]);
      expect(result.functions).toEqual(['liveness.sql']);
      expect(await query(db.url, 'SELECT deputy_probe() AS n')).toEqual([{ n: 42 }]);
      const changed = (await readFunctionFiles(dir)).find((f) => f.name === 'liveness.sql')!;
      expect(await query(db.url, `SELECT checksum FROM "_deputy_functions" WHERE name = 'liveness.sql'`)).toEqual([{ checksum: changed.checksum }]);
      expect((await migrate(db.url, dir)).functions).toEqual([]);
    } finally {
      await writeFile(file, original);
    }
  });

  it('re-applies every file after a numbered migration ran, so a migration cannot leave an older definition in place', async () => {
    const db = await fresh();
    await migrate(db.url, dir);
    await mkdir(path.join(dir, '9990_old_style'));
    try {
      await writeFile(
        path.join(dir, '9990_old_style', 'migration.sql'),
        `CREATE OR REPLACE FUNCTION deputy_grant_is_live(g delegation_grants, at timestamptz) RETURNS boolean LANGUAGE sql STABLE AS $$ SELECT true $$;`,
      );
      const result = await migrate(db.url, dir);
      expect(result.applied).toEqual(['9990_old_style']);
      expect(result.functions).toEqual((await readFunctionFiles(dir)).map((f) => f.name));
      const [body] = await query<{ src: string }>(db.url, `SELECT prosrc AS src FROM pg_proc WHERE proname = 'deputy_grant_is_live'`);
      expect(body!.src).toMatch(/revoked_at IS NULL/);
    } finally {
      await rm(path.join(dir, '9990_old_style'), { recursive: true });
    }
  });

  it('a failing file rolls back every file of the run and records nothing', async () => {
    const db = await fresh();
    await migrate(db.url, dir);
    const before = await query(db.url, 'SELECT name, checksum FROM "_deputy_functions" ORDER BY name');
    const liveness = path.join(dir, 'functions', 'liveness.sql');
    const broken = path.join(dir, 'functions', 'zz_broken.sql');
    const original = await readFile(liveness, 'utf8');
    try {
      await writeFile(liveness, `${original}\nCREATE OR REPLACE FUNCTION deputy_probe_two() RETURNS int LANGUAGE sql AS $$ SELECT 2 $$;\n`);
      await writeFile(broken, 'CREATE OR REPLACE FUNCTION deputy_broken() RETURNS int LANGUAGE sql AS $$ SELECT no_such_column FROM no_such_table $$;');
      await expect(migrate(db.url, dir)).rejects.toThrow(/function file zz_broken.sql failed/);
      expect(await query(db.url, 'SELECT name, checksum FROM "_deputy_functions" ORDER BY name')).toEqual(before);
      expect(await query(db.url, `SELECT to_regprocedure('deputy_probe_two()') AS p`)).toEqual([{ p: null }]);
    } finally {
      await writeFile(liveness, original);
      await rm(broken, { force: true });
    }
  });

  it('concurrent starts: one runner applies, the others find nothing to do, one row per file', async () => {
    const db = await fresh();
    const results = await Promise.all(Array.from({ length: 4 }, () => migrate(db.url)));
    expect(results.filter((r) => r.functions.length > 0)).toHaveLength(1);
    const files = await readFunctionFiles();
    expect(await query(db.url, 'SELECT name, checksum FROM "_deputy_functions" ORDER BY name')).toEqual(files.map((f) => ({ name: f.name, checksum: f.checksum })));
  });

  it('concurrent starts after a file changed: it is applied exactly once', async () => {
    const db = await fresh();
    await migrate(db.url, dir);
    const file = path.join(dir, 'functions', 'locks.sql');
    const original = await readFile(file, 'utf8');
    try {
      await writeFile(file, `${original}\n-- changed for the concurrency test\n`);
      const results = await Promise.all(Array.from({ length: 4 }, () => migrate(db.url, dir)));
      expect(results.map((r) => r.functions).filter((f) => f.length > 0)).toEqual([['locks.sql']]);
    } finally {
      await writeFile(file, original);
    }
  });
});
