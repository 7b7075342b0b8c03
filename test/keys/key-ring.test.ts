/**
 * Signing keys at rest: sealed under the key-encryption key, never in clear in PostgreSQL;
 * clear keys of earlier versions sealed in place at start; a wrong key refuses start; scheduled
 * rotation (KEY_ROTATION_DAYS) happens once when due, across processes.
 */
import { afterEach, describe, expect, it } from '@jest/globals';
import { createPublicKey, randomBytes } from 'node:crypto';
import { decodeKey32, KeyEncryptionKey } from '../../src/keys/key-encryption.js';
import { generateKey } from '../../src/keys/key-ring.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { startTestDeputy, TEST_KEY_ENCRYPTION_KEY, type TestDeputy } from '../support/deputy.js';

const started: TestDeputy[] = [];
const databases: TestDatabase[] = [];

async function database(): Promise<TestDatabase> {
  const db = await createTestDatabase();
  databases.push(db);
  return db;
}

async function start(db: TestDatabase, env: Record<string, string> = {}): Promise<TestDeputy> {
  const deputy = await startTestDeputy(env, db);
  started.push(deputy);
  return deputy;
}

afterEach(async () => {
  for (const deputy of started.splice(0)) await deputy.stop();
  for (const db of databases.splice(0)) await db.drop();
});

interface KeyRow extends Record<string, unknown> {
  kid: string;
  private_jwk: string;
  encrypted: boolean;
  retired_at: Date | null;
}

const keyRows = async (deputy: TestDeputy) =>
  (await deputy.pool.query<KeyRow>('SELECT kid, private_jwk, encrypted, retired_at FROM signing_keys ORDER BY created_at')).rows;

function expectSealed(rows: KeyRow[]): void {
  expect(rows.length).toBeGreaterThan(0);
  for (const row of rows) {
    expect(row.encrypted).toBe(true);
    expect(row.private_jwk).toMatch(/^v1\./);
    expect(row.private_jwk).not.toMatch(/"d"/);
    expect(() => JSON.parse(row.private_jwk)).toThrow();
  }
}

describe('signing keys at rest', () => {
  it('the database holds no private key in clear, before or after a rotation, nor the generated pepper', async () => {
    const db = await database();
    const deputy = await start(db, { CLIENT_SECRET_PEPPER: '' });
    expectSealed(await keyRows(deputy));
    await deputy.keyRing.rotate();
    expectSealed(await keyRows(deputy));
    const pepper = (await deputy.pool.query<{ value: string }>(`SELECT value FROM server_settings WHERE key = 'client_secret_pepper'`)).rows[0]!;
    expect(pepper.value).toMatch(/^v1\./);
  });

  it('seals clear keys and a clear pepper left by an earlier version at start, and keeps using them', async () => {
    const db = await database(); // migrated, no key yet: as an earlier version left it, below
    const legacy = await generateKey('ES256');
    const legacyPepper = randomBytes(32).toString('base64url');
    const pg = (await import('pg')).default;
    const client = new pg.Client({ connectionString: db.url });
    await client.connect();
    try {
      await client.query(`INSERT INTO signing_keys (kid, alg, public_jwk, private_jwk) VALUES ($1, 'ES256', $2, $3)`, [
        legacy.kid,
        legacy.publicJwk,
        JSON.stringify(legacy.privateJwk),
      ]);
      await client.query(`INSERT INTO server_settings (key, value) VALUES ('client_secret_pepper', $1)`, [legacyPepper]);
    } finally {
      await client.end();
    }

    // Two processes starting together on the clear rows: both start, each row is sealed once.
    const [a, b] = await Promise.all([start(db, { CLIENT_SECRET_PEPPER: '' }), start(db, { CLIENT_SECRET_PEPPER: '' })]);
    const rows = await keyRows(a);
    expectSealed(rows);
    expect(rows.map((row) => row.kid)).toEqual([legacy.kid]);
    for (const deputy of [a, b]) {
      expect(deputy.keyRing.active.kid).toBe(legacy.kid);
      expect(createPublicKey(deputy.keyRing.active.privateKey).export({ format: 'jwk' }).x).toBe(legacy.publicJwk.x);
    }
    const pepper = (await a.pool.query<{ value: string }>(`SELECT value FROM server_settings WHERE key = 'client_secret_pepper'`)).rows[0]!;
    expect(pepper.value).toMatch(/^v1\./);
    expect(pepper.value).not.toContain(legacyPepper);
    const kek = new KeyEncryptionKey(decodeKey32(TEST_KEY_ENCRYPTION_KEY)!);
    expect(kek.open(pepper.value, 'server_settings:client_secret_pepper')).toBe(legacyPepper);

    // A restart opens what was sealed.
    const c = await start(db, { CLIENT_SECRET_PEPPER: '' });
    expect(c.keyRing.active.kid).toBe(legacy.kid);
  });

  it('refuses to start with a wrong KEY_ENCRYPTION_KEY, naming the variable and never a key', async () => {
    const db = await database();
    const first = await start(db);
    await first.stop();
    started.pop();
    const wrong = randomBytes(32).toString('base64url');
    let message = '';
    try {
      await start(db, { KEY_ENCRYPTION_KEY: wrong });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/KEY_ENCRYPTION_KEY/);
    expect(message).not.toContain(wrong);
    expect(message).not.toContain(TEST_KEY_ENCRYPTION_KEY);
    expect(message).not.toContain(Buffer.from(wrong, 'base64url').toString('hex'));
    // The right key still starts.
    await expect(start(db)).resolves.toBeDefined();
  });

  it('with a wrong key, leaves clear keys unsealed rather than seal them under it', async () => {
    const db = await database();
    const first = await start(db);
    const legacy = await generateKey('ES256');
    await first.pool.query(`INSERT INTO signing_keys (kid, alg, public_jwk, private_jwk, retired_at) VALUES ($1, 'ES256', $2, $3, now())`, [
      legacy.kid,
      legacy.publicJwk,
      JSON.stringify(legacy.privateJwk),
    ]);
    await first.stop();
    started.pop();
    await expect(start(db, { KEY_ENCRYPTION_KEY: randomBytes(32).toString('hex') })).rejects.toThrow(/KEY_ENCRYPTION_KEY/);
    const right = await start(db);
    const rows = await keyRows(right);
    expectSealed(rows);
    const sealed = rows.find((row) => row.kid === legacy.kid)!;
    const kek = new KeyEncryptionKey(decodeKey32(TEST_KEY_ENCRYPTION_KEY)!);
    expect(JSON.parse(kek.open(sealed.private_jwk, `signing_keys:${legacy.kid}`)).d).toBe(legacy.privateJwk.d);
  });
});

describe('scheduled rotation (KEY_ROTATION_DAYS)', () => {
  const age = (deputy: TestDeputy, days: number) =>
    deputy.pool.query(`UPDATE signing_keys SET created_at = now() - make_interval(days => $1::int) WHERE retired_at IS NULL`, [days]);
  const rotations = async (deputy: TestDeputy) =>
    (await deputy.pool.query<{ details: Record<string, unknown>; admin: string | null }>(`SELECT details, admin FROM audit_events WHERE type = 'key.rotated' ORDER BY id`)).rows;

  it('rotates at start when the active key is due, once however many processes check, and audits it', async () => {
    const db = await database();
    const first = await start(db, { KEY_ROTATION_DAYS: '30' });
    const oldKid = first.keyRing.active.kid;
    expect(await first.keyRotation.check()).toBeNull(); // a fresh key is not due
    await age(first, 31);

    const [a, b] = await Promise.all([start(db, { KEY_ROTATION_DAYS: '30' }), start(db, { KEY_ROTATION_DAYS: '30' })]);
    const results = await Promise.all([a.keyRotation.check(), b.keyRotation.check(), first.keyRotation.check()]);
    expect(results.every((r) => r === null)).toBe(true); // already rotated at start, by one of them

    const events = await rotations(a);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ admin: null, details: { trigger: 'schedule', retired: [oldKid] } });
    const newKid = events[0]!.details.kid as string;
    expect(newKid).not.toBe(oldKid);
    expect(a.keyRing.active.kid).toBe(newKid);
    await b.keyRing.reload();
    expect(b.keyRing.active.kid).toBe(newKid);
    expect(a.keyRing.publicJwks(Math.floor(Date.now() / 1000)).keys.map((k) => k.kid)).toEqual(expect.arrayContaining([oldKid, newKid]));
  });

  it('rotates on the periodic check once due, and never with KEY_ROTATION_DAYS=0', async () => {
    const db = await database();
    const off = await start(db, { KEY_ROTATION_DAYS: '0' });
    const oldKid = off.keyRing.active.kid;
    await age(off, 4000);
    expect(await off.keyRotation.check()).toBeNull();
    const offToo = await start(db, { KEY_ROTATION_DAYS: '0' });
    expect(offToo.keyRing.active.kid).toBe(oldKid);
    expect(await rotations(off)).toHaveLength(0);

    const on = await start(db, { KEY_ROTATION_DAYS: '90' }); // rotated at start
    expect(on.keyRing.active.kid).not.toBe(oldKid);
    await age(on, 91);
    const rotated = await on.keyRotation.check();
    expect(rotated?.kid).toBeDefined();
    expect(on.keyRing.active.kid).toBe(rotated!.kid);
    expect(await rotations(on)).toHaveLength(2);
  });
});
