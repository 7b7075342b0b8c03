import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { KeyEncryptionKey } from '../keys/key-encryption.js';

const sealingContext = (key: string) => `server_settings:${key}`;

/**
 * A server-side secret kept in the database, generated once (first writer wins) and stored sealed
 * under the key-encryption key. A value stored in clear by an earlier version is sealed in place
 * (only while it is still that clear value, so concurrent starts agree).
 */
export async function loadOrCreateSecret(pool: pg.Pool, key: string, kek: KeyEncryptionKey): Promise<string> {
  await pool.query(`INSERT INTO server_settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`, [
    key,
    kek.seal(randomBytes(32).toString('base64url'), sealingContext(key)),
  ]);
  const { rows } = await pool.query<{ value: string }>(`SELECT value FROM server_settings WHERE key = $1`, [key]);
  const stored = rows[0]!.value;
  if (KeyEncryptionKey.isSealed(stored)) return kek.open(stored, sealingContext(key));
  await pool.query(`UPDATE server_settings SET value = $3 WHERE key = $1 AND value = $2`, [key, stored, kek.seal(stored, sealingContext(key))]);
  return stored;
}
