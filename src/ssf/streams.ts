/**
 * Stream configuration (OpenID SSF 1.0 §8.1.1): what a receiver may ask for, and the stored
 * streams, each owned by the client that created it.
 */
import type pg from 'pg';
import { z } from 'zod';
import { EVENTS_SUPPORTED, POLL_METHOD, PUSH_METHOD } from './events.js';
import { targetUrlRefusal } from './http-target.js';
import { invalidRequest, streamNotFound } from './errors.js';
import type { Receiver } from './receiver-auth.js';

/** Streams one client may hold. */
export const MAX_STREAMS_PER_CLIENT = 10;

const Delivery = z.object({
  method: z.enum([PUSH_METHOD, POLL_METHOD]),
  endpoint_url: z.string().max(2048).optional(),
  authorization_header: z.string().min(1).max(4096).regex(/^[\x21-\x7e][\x20-\x7e]*$/, 'must be a printable header value').optional(),
});

export const StreamInput = z.object({
  delivery: Delivery,
  events_requested: z.array(z.string().max(512)).max(50).optional(),
  description: z.string().max(500).optional(),
});
export type StreamInput = z.infer<typeof StreamInput>;

export const StreamPatch = StreamInput.partial();

export const StatusInput = z.object({
  stream_id: z.string(),
  status: z.enum(['enabled', 'paused', 'disabled']),
  reason: z.string().max(500).optional(),
});

export const VerifyInput = z.object({ stream_id: z.string(), state: z.string().max(1024).optional() });

export interface StreamRow {
  id: string;
  client_id: string;
  audience: string[];
  delivery_method: 'push' | 'poll';
  endpoint_url: string | null;
  authorization_header: string | null;
  events_requested: string[];
  events_delivered: string[];
  description: string | null;
  status: 'enabled' | 'paused' | 'disabled';
  status_reason: string | null;
}

const COLUMNS = `id::text, client_id, audience, delivery_method, endpoint_url, authorization_header, events_requested,
  events_delivered, description, status, status_reason`;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** The delivered event types: what was requested and Deputy supports (everything it supports when nothing was requested). */
export function eventsDelivered(requested: string[] | undefined): string[] {
  const supported: readonly string[] = EVENTS_SUPPORTED;
  return requested === undefined ? [...supported] : supported.filter((type) => requested.includes(type));
}

export interface StoredDelivery {
  method: 'push' | 'poll';
  endpointUrl: string | null;
  authorizationHeader: string | null;
}

/** Checks a requested delivery: a push endpoint must be a URL Deputy may reach; poll endpoints are Deputy's. */
export function storedDelivery(delivery: z.infer<typeof Delivery>, allowPrivateNetwork: boolean): StoredDelivery {
  if (delivery.method === POLL_METHOD) {
    if (delivery.authorization_header !== undefined) throw invalidRequest('delivery.authorization_header is for push delivery');
    return { method: 'poll', endpointUrl: null, authorizationHeader: null };
  }
  if (delivery.endpoint_url === undefined) throw invalidRequest('delivery.endpoint_url is required for push delivery');
  const refusal = targetUrlRefusal(delivery.endpoint_url, allowPrivateNetwork);
  if (refusal) throw invalidRequest(`delivery.endpoint_url ${refusal}`);
  return { method: 'push', endpointUrl: delivery.endpoint_url, authorizationHeader: delivery.authorization_header ?? null };
}

/** The stream configuration as SSF 1.0 §8.1.1 shows it (never the push authorization header). */
export function streamConfiguration(row: StreamRow, issuer: string) {
  return {
    stream_id: row.id,
    iss: issuer,
    aud: row.audience.length === 1 ? row.audience[0] : row.audience,
    events_supported: [...EVENTS_SUPPORTED],
    events_requested: row.events_requested,
    events_delivered: row.events_delivered,
    delivery:
      row.delivery_method === 'push'
        ? { method: PUSH_METHOD, endpoint_url: row.endpoint_url }
        : { method: POLL_METHOD, endpoint_url: `${issuer}/ssf/poll/${row.id}` },
    ...(row.description !== null ? { description: row.description } : {}),
  };
}

export function createStreamStore(pool: pg.Pool) {
  async function find(receiver: Receiver, streamId: string, db: pg.Pool | pg.ClientBase = pool): Promise<StreamRow> {
    if (!UUID.test(streamId)) throw streamNotFound();
    const { rows } = await db.query<StreamRow>(`SELECT ${COLUMNS} FROM ssf_streams WHERE id = $1 AND client_id = $2`, [streamId, receiver.clientId]);
    if (!rows[0]) throw streamNotFound();
    return rows[0];
  }

  return {
    find,
    async list(receiver: Receiver): Promise<StreamRow[]> {
      const { rows } = await pool.query<StreamRow>(`SELECT ${COLUMNS} FROM ssf_streams WHERE client_id = $1 ORDER BY created_at, id`, [receiver.clientId]);
      return rows;
    },
    async create(receiver: Receiver, input: StreamInput, delivery: StoredDelivery): Promise<StreamRow> {
      const { rows } = await pool.query<StreamRow>(
        `INSERT INTO ssf_streams (client_id, audience, delivery_method, endpoint_url, authorization_header, events_requested, events_delivered, description)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8
          WHERE (SELECT count(*) FROM ssf_streams WHERE client_id = $1) < $9
         RETURNING ${COLUMNS}`,
        [
          receiver.clientId,
          receiver.audience,
          delivery.method,
          delivery.endpointUrl,
          delivery.authorizationHeader,
          input.events_requested ?? [...EVENTS_SUPPORTED],
          eventsDelivered(input.events_requested),
          input.description ?? null,
          MAX_STREAMS_PER_CLIENT,
        ],
      );
      if (!rows[0]) throw invalidRequest(`a client may hold at most ${MAX_STREAMS_PER_CLIENT} streams`);
      return rows[0];
    },
    /** Replaces (PUT) or updates (PATCH) the stream's configuration; the audience is refreshed from the client. */
    async update(receiver: Receiver, streamId: string, input: z.infer<typeof StreamPatch>, delivery: StoredDelivery | null): Promise<StreamRow> {
      const current = await find(receiver, streamId);
      const requested = input.events_requested ?? current.events_requested;
      const { rows } = await pool.query<StreamRow>(
        `UPDATE ssf_streams SET audience = $3, delivery_method = $4, endpoint_url = $5, authorization_header = $6,
                events_requested = $7, events_delivered = $8, description = $9, updated_at = now(),
                failures = CASE WHEN $5 IS DISTINCT FROM endpoint_url THEN 0 ELSE failures END,
                next_attempt_at = CASE WHEN $5 IS DISTINCT FROM endpoint_url THEN now() ELSE next_attempt_at END
          WHERE id = $1 AND client_id = $2 RETURNING ${COLUMNS}`,
        [
          streamId,
          receiver.clientId,
          receiver.audience,
          delivery?.method ?? current.delivery_method,
          delivery ? delivery.endpointUrl : current.endpoint_url,
          delivery ? delivery.authorizationHeader : current.authorization_header,
          requested,
          eventsDelivered(requested),
          input.description === undefined ? current.description : input.description,
        ],
      );
      if (!rows[0]) throw streamNotFound();
      return rows[0];
    },
    async remove(receiver: Receiver, streamId: string): Promise<void> {
      await find(receiver, streamId);
      await pool.query('DELETE FROM ssf_streams WHERE id = $1 AND client_id = $2', [streamId, receiver.clientId]);
    },
    async setStatus(receiver: Receiver, streamId: string, status: StreamRow['status'], reason: string | null): Promise<StreamRow> {
      await find(receiver, streamId);
      const { rows } = await pool.query<StreamRow>(
        `UPDATE ssf_streams SET status = $3, status_reason = $4, updated_at = now(),
                failures = CASE WHEN $3 = 'enabled' THEN 0 ELSE failures END,
                next_attempt_at = CASE WHEN $3 = 'enabled' THEN now() ELSE next_attempt_at END
          WHERE id = $1 AND client_id = $2 RETURNING ${COLUMNS}`,
        [streamId, receiver.clientId, status, reason],
      );
      // Disabled: the transmitter keeps nothing for the stream (SSF 1.0 §8.1.2.1).
      if (status === 'disabled') await pool.query('DELETE FROM ssf_outbox WHERE stream_id = $1', [streamId]);
      return rows[0]!;
    },
  };
}

export type StreamStore = ReturnType<typeof createStreamStore>;
