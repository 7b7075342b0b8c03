/**
 * Console sessions, kept server-side. The browser's cookie holds a random 256-bit id; the
 * database holds its SHA-256, the admin principal and the credential stamp (see src/admin/auth.ts)
 * — never the credential. The CSRF token is derived from the session id (a synchronizer token:
 * only a page served to this session can carry it), and the id cannot be recovered from it.
 */
import { createHash, randomBytes } from 'node:crypto';
import type pg from 'pg';
import type { AdminPrincipal, SignedIn } from '../admin/auth.js';

export interface StoredSession {
  admin: AdminPrincipal;
  stamp: Buffer;
  expiresAt: Date;
}

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/** The form token of the session with this id. */
export const csrfTokenOf = (sessionId: string): string => digest(`deputy-console-csrf:${sessionId}`).toString('base64url');

/** Session ids are 43 base64url characters (32 random bytes). */
const SESSION_ID = /^[A-Za-z0-9_-]{43}$/;

export function createSessionStore(pool: pg.Pool, ttlSeconds: number) {
  return {
    async create(signedIn: SignedIn): Promise<{ id: string; expiresAt: Date }> {
      const id = randomBytes(32).toString('base64url');
      const expiresAt = new Date(Date.now() + ttlSeconds * 1000);
      await pool.query('DELETE FROM console_sessions WHERE expires_at < now()');
      await pool.query('INSERT INTO console_sessions (id_sha256, admin, credential_stamp, expires_at) VALUES ($1, $2, $3, $4)', [
        digest(id),
        signedIn.admin,
        signedIn.stamp,
        expiresAt,
      ]);
      return { id, expiresAt };
    },

    /** The unexpired session with this id, if any. */
    async find(id: string): Promise<StoredSession | null> {
      if (!SESSION_ID.test(id)) return null;
      const { rows } = await pool.query<{ admin: string; credential_stamp: Buffer; expires_at: Date }>(
        'SELECT admin, credential_stamp, expires_at FROM console_sessions WHERE id_sha256 = $1 AND expires_at > now()',
        [digest(id)],
      );
      const row = rows[0];
      return row ? { admin: row.admin, stamp: row.credential_stamp, expiresAt: row.expires_at } : null;
    },

    async destroy(id: string): Promise<void> {
      if (SESSION_ID.test(id)) await pool.query('DELETE FROM console_sessions WHERE id_sha256 = $1', [digest(id)]);
    },
  };
}

export type SessionStore = ReturnType<typeof createSessionStore>;
