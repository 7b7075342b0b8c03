/**
 * Migration 0007 limits an already-seeded demo identity provider to the demo users, and leaves
 * every other trusted issuer as it was (unlimited).
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { cp, mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { MIGRATIONS_DIR, migrate, readMigrations } from '../../src/db/migrate.js';
import { createEmptyDatabase, type TestDatabase } from '../support/database.js';

/** The demo issuer's identifier before it was served at ISSUER/demo-idp: the one migration 0007 names. */
const LEGACY_DEMO_ISSUER = 'https://idp.demo.deputy.local';

describe('migration 0007_issuer_subject_limits', () => {
  let db: TestDatabase | null = null;
  afterAll(async () => {
    await db?.drop();
  });

  it('limits the demo issuer of an existing database to the demo users, and no other issuer', async () => {
    db = await createEmptyDatabase();
    const before = await mkdtemp(path.join(os.tmpdir(), 'deputy-migrations-'));
    for (const migration of await readMigrations()) {
      if (migration.name >= '0007') break;
      await cp(path.join(MIGRATIONS_DIR, migration.name), path.join(before, migration.name), { recursive: true });
    }
    await migrate(db.url, before);

    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await client.query(
        `INSERT INTO trusted_issuers (issuer, jwks, audience, kind) VALUES ($1, '{"keys":[]}', 'deputy', 'user'), ('https://idp.example.com', '{"keys":[]}', 'deputy', 'user')`,
        [LEGACY_DEMO_ISSUER],
      );
      const result = await migrate(db.url);
      expect(result.applied).toContain('0007_issuer_subject_limits');
      const { rows } = await client.query(`SELECT issuer, allowed_subjects, subject_prefix FROM trusted_issuers ORDER BY issuer`);
      expect(rows).toEqual([
        { issuer: LEGACY_DEMO_ISSUER, allowed_subjects: ['alice', 'bob'], subject_prefix: null },
        { issuer: 'https://idp.example.com', allowed_subjects: [], subject_prefix: null },
      ]);
    } finally {
      await client.end();
    }
  });
});
