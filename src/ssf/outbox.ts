/**
 * Reading and acknowledging the transmitter's outbox (rows are written by the triggers of
 * migration 0015, in the transaction of each change). A row is pending until the receiver took it
 * (push answered 202, or a poll acknowledged its jti); delivered rows are purged later.
 */
import type pg from 'pg';
import type { OutboxEvent } from './events.js';
import { VERIFICATION } from './events.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

interface OutboxRow {
  id: string;
  jti: string;
  event_type: string;
  subject: Record<string, unknown>;
  payload: Record<string, unknown>;
  created_at: Date;
}

export interface PendingEvent extends OutboxEvent {
  id: string;
}

const toEvent = (row: OutboxRow): PendingEvent => ({
  id: row.id,
  jti: row.jti,
  eventType: row.event_type,
  subject: row.subject,
  payload: row.payload,
  createdAt: row.created_at,
});

/** The stream's pending events, oldest change first; `limit + 1` read to tell whether more remain. */
export async function pendingEvents(db: pg.Pool | pg.ClientBase, streamId: string, limit: number): Promise<{ events: PendingEvent[]; more: boolean }> {
  const { rows } = await db.query<OutboxRow>(
    `SELECT id::text, jti::text, event_type, subject, payload, created_at FROM ssf_outbox
      WHERE stream_id = $1 AND delivered_at IS NULL ORDER BY id LIMIT $2`,
    [streamId, limit + 1],
  );
  return { events: rows.slice(0, limit).map(toEvent), more: rows.length > limit };
}

/** Marks events delivered (acknowledged); unknown jtis and other streams' are ignored. */
export async function markDelivered(db: pg.Pool | pg.ClientBase, streamId: string, jtis: string[]): Promise<number> {
  // Deputy's SET jtis are UUIDs: anything else names no event (and must not reach a uuid cast).
  const known = jtis.filter((jti) => UUID.test(jti));
  if (known.length === 0) return 0;
  const { rowCount } = await db.query(
    `UPDATE ssf_outbox SET delivered_at = now(), expires_at = now()
      WHERE stream_id = $1 AND jti = ANY($2::uuid[]) AND delivered_at IS NULL`,
    [streamId, known],
  );
  return rowCount ?? 0;
}

/** Queues a verification event (SSF 1.0 §8.1.4) on the stream, after its pending events. */
export async function enqueueVerification(db: pg.Pool | pg.ClientBase, streamId: string, state: string | undefined): Promise<void> {
  await db.query(
    `INSERT INTO ssf_outbox (stream_id, event_type, subject, payload, expires_at)
     VALUES ($1, $2, $3, $4, now() + interval '1 day')`,
    [streamId, VERIFICATION, { format: 'opaque', id: streamId }, state === undefined ? {} : { state }],
  );
  await db.query(`SELECT pg_notify('deputy_config', 'ssf_outbox:*')`);
}
