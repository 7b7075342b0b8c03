/**
 * Storage of the person's approval pages: browser sessions and the notification's single-use
 * links. Only SHA-256 digests of the random values are stored; the CSRF token is derived from the
 * session id (a synchronizer token) and cannot give the id back.
 */
import { createHash, randomBytes } from 'node:crypto';
import type pg from 'pg';

const digest = (value: string) => createHash('sha256').update(value, 'utf8').digest();
const RANDOM_ID = /^[A-Za-z0-9_-]{43}$/;
export const newRandomId = (): string => randomBytes(32).toString('base64url');

export const approvalCsrfOf = (sessionId: string): string => digest(`deputy-approval-csrf:${sessionId}`).toString('base64url');

/** The OpenID Connect sign-in under way: what the callback must check. */
export interface LoginState {
  state: string;
  nonce: string;
  codeVerifier: string;
  /** Where to go after sign-in (a path under /approve). */
  returnTo: string;
}

export interface ApprovalSession {
  subjectId: string | null;
  login: LoginState | null;
}

export function createApprovalSessions(pool: pg.Pool, ttlSeconds: number) {
  return {
    /** A sign-in under way (`login`, short-lived) or a signed-in session (`subjectId`). */
    async create(login: LoginState | null, subjectId: string | null = null, lifetimeSeconds = ttlSeconds): Promise<string> {
      const id = newRandomId();
      await pool.query('DELETE FROM approval_sessions WHERE expires_at < now()');
      await pool.query('INSERT INTO approval_sessions (id_sha256, subject_id, login, expires_at) VALUES ($1, $2, $3, $4)', [
        digest(id),
        subjectId,
        login ? JSON.stringify(login) : null,
        new Date(Date.now() + lifetimeSeconds * 1000),
      ]);
      return id;
    },
    async find(id: string): Promise<ApprovalSession | null> {
      if (!RANDOM_ID.test(id)) return null;
      const { rows } = await pool.query<{ subject_id: string | null; login: LoginState | null }>(
        'SELECT subject_id, login FROM approval_sessions WHERE id_sha256 = $1 AND expires_at > now()',
        [digest(id)],
      );
      return rows[0] ? { subjectId: rows[0].subject_id, login: rows[0].login } : null;
    },
    async destroy(id: string): Promise<void> {
      if (RANDOM_ID.test(id)) await pool.query('DELETE FROM approval_sessions WHERE id_sha256 = $1', [digest(id)]);
    },
  };
}
export type ApprovalSessions = ReturnType<typeof createApprovalSessions>;

/** A single-use link to one approval request, valid until the request expires. */
export async function createApprovalLink(pool: pg.Pool, approvalRequestId: string, expiresAt: Date): Promise<string> {
  const token = newRandomId();
  await pool.query('INSERT INTO approval_links (token_sha256, approval_request_id, expires_at) VALUES ($1, $2, $3)', [digest(token), approvalRequestId, expiresAt]);
  return token;
}

export type LinkRedemption = { ok: true; approvalRequestId: string } | { ok: false; reason: 'unknown' | 'used' | 'expired' };

/** Uses the link once: a second use, or a use after expiry, is refused. */
export async function redeemApprovalLink(pool: pg.Pool, token: string, now: Date): Promise<LinkRedemption> {
  if (!RANDOM_ID.test(token)) return { ok: false, reason: 'unknown' };
  const { rows } = await pool.query<{ approval_request_id: string }>(
    'UPDATE approval_links SET used_at = $2 WHERE token_sha256 = $1 AND used_at IS NULL AND expires_at > $2 RETURNING approval_request_id',
    [digest(token), now],
  );
  if (rows[0]) return { ok: true, approvalRequestId: rows[0].approval_request_id };
  const { rows: seen } = await pool.query<{ used_at: Date | null }>('SELECT used_at FROM approval_links WHERE token_sha256 = $1', [digest(token)]);
  if (!seen[0]) return { ok: false, reason: 'unknown' };
  return { ok: false, reason: seen[0].used_at ? 'used' : 'expired' };
}
