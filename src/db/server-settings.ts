import { randomBytes } from 'node:crypto';
import type pg from 'pg';

/** A server-side secret kept in the database, generated once (first writer wins). */
export async function loadOrCreateSecret(pool: pg.Pool, key: string): Promise<string> {
  await pool.query(`INSERT INTO server_settings (key, value) VALUES ($1, $2) ON CONFLICT (key) DO NOTHING`, [
    key,
    randomBytes(32).toString('base64url'),
  ]);
  const { rows } = await pool.query<{ value: string }>(`SELECT value FROM server_settings WHERE key = $1`, [key]);
  return rows[0]!.value;
}
