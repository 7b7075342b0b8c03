import { describe, expect, it } from '@jest/globals';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { AlreadyRunningError, startEmbeddedPostgres } from '../../src/db/embedded.js';

async function query(url: string, sql: string): Promise<pg.QueryResult> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await client.query(sql);
  } finally {
    await client.end();
  }
}

describe('embedded PostgreSQL', () => {
  it('starts on a loopback port other than 5432, refuses a second owner, stops, and keeps its data', async () => {
    const home = await mkdtemp(path.join(os.tmpdir(), 'deputy-embedded-'));
    const first = await startEmbeddedPostgres(home);
    try {
      const url = new URL(first.url);
      expect(url.hostname).toBe('127.0.0.1');
      expect(url.port).not.toBe('5432');
      await query(first.url, 'CREATE TABLE kept (v text); INSERT INTO kept VALUES ($$still here$$)');
      await expect(startEmbeddedPostgres(home)).rejects.toThrow(AlreadyRunningError);
      await expect(startEmbeddedPostgres(home)).rejects.toThrow(/already running/);
    } finally {
      await first.stop();
    }
    await expect(query(first.url, 'SELECT 1')).rejects.toThrow();

    const second = await startEmbeddedPostgres(home);
    try {
      const { rows } = await query(second.url, 'SELECT v FROM kept');
      expect(rows).toEqual([{ v: 'still here' }]);
    } finally {
      await second.stop();
    }
  });
});
