/**
 * Upstream Shared Signals streams (issue 16.3): Deputy receives the Security Event Tokens of a
 * trusted user issuer, pushed to {ISSUER}/ssf/receiver/{id} or polled by Deputy from the issuer's
 * poll endpoint. One stream per issuer. The push authorization header (when set) is what the
 * transmitter must send; the poll one is what Deputy sends. Neither is ever shown back.
 */
import { z } from 'zod';
import type { AdminApi } from '../api.js';
import { changeWithAudit, iso } from '../changes.js';
import { invalidRequest, notFound } from '../errors.js';
import { isUuid } from '../pagination.js';
import type { AdminDeps } from '../router.js';
import { IdParam, TimestampOut } from '../schemas.js';
import { targetUrlRefusal } from '../../ssf/http-target.js';

const UpstreamStream = z
  .object({
    id: z.uuid(),
    trusted_issuer_id: z.uuid(),
    issuer: z.string(),
    delivery_method: z.enum(['push', 'poll']),
    push_endpoint: z.string().nullable().meta({ description: 'Where the issuer’s transmitter pushes (RFC 8935); null for poll' }),
    poll_url: z.string().nullable(),
    audience: z.string().meta({ description: 'The `aud` the issuer’s SETs must carry' }),
    has_authorization_header: z.boolean(),
    created_at: TimestampOut,
    last_event_at: TimestampOut.nullable(),
    last_error: z.string().nullable(),
  })
  .meta({ id: 'UpstreamStream' });

const UpstreamStreamCreate = z
  .strictObject({
    trusted_issuer_id: z.uuid().meta({ description: 'A trusted issuer of kind user' }),
    delivery_method: z.enum(['push', 'poll']),
    poll_url: z.string().max(2048).optional().meta({ description: 'The transmitter’s poll endpoint (RFC 8936), for poll' }),
    authorization_header: z
      .string()
      .min(1)
      .max(4096)
      .regex(/^[\x21-\x7e][\x20-\x7e]*$/, 'must be a printable header value')
      .optional()
      .meta({ description: 'push: the Authorization header the transmitter must send; poll: the one Deputy sends' }),
    audience: z.string().min(1).max(2048).optional().meta({ description: 'The `aud` of the SETs; Deputy’s ISSUER by default' }),
  })
  .meta({ id: 'UpstreamStreamCreate' });

const UpstreamStreamList = z.object({ items: z.array(UpstreamStream) }).meta({ id: 'UpstreamStreamList' });

interface Row {
  id: string;
  trusted_issuer_id: string;
  issuer: string;
  delivery_method: 'push' | 'poll';
  poll_url: string | null;
  audience: string;
  has_authorization_header: boolean;
  created_at: Date;
  last_event_at: Date | null;
  last_error: string | null;
}

const SELECT = `SELECT u.id::text, u.trusted_issuer_id::text, t.issuer, u.delivery_method, u.poll_url, u.audience,
  u.authorization_header IS NOT NULL AS has_authorization_header, u.created_at, u.last_event_at, u.last_error
  FROM ssf_upstream_streams u JOIN trusted_issuers t ON t.id = u.trusted_issuer_id`;

export function upstreamStreamRoutes(api: AdminApi, { pool, config }: AdminDeps): void {
  const toStream = (row: Row): z.input<typeof UpstreamStream> => ({
    id: row.id,
    trusted_issuer_id: row.trusted_issuer_id,
    issuer: row.issuer,
    delivery_method: row.delivery_method,
    push_endpoint: row.delivery_method === 'push' ? `${config.ISSUER}/ssf/receiver/${row.id}` : null,
    poll_url: row.poll_url,
    audience: row.audience,
    has_authorization_header: row.has_authorization_header,
    created_at: row.created_at.toISOString(),
    last_event_at: iso(row.last_event_at),
    last_error: row.last_error,
  });
  const find = async (id: string) => {
    if (!isUuid(id)) throw notFound('upstream stream');
    const { rows } = await pool.query<Row>(`${SELECT} WHERE u.id = $1`, [id]);
    if (!rows[0]) throw notFound('upstream stream');
    return rows[0];
  };

  api.route({
    method: 'get',
    path: '/upstream-streams',
    operationId: 'listUpstreamStreams',
    tag: 'issuers',
    summary: 'List the Shared Signals streams Deputy receives from trusted issuers',
    status: 200,
    response: UpstreamStreamList,
    responseDescription: 'Every upstream stream (at most one per issuer)',
    handler: async () => ({ items: (await pool.query<Row>(`${SELECT} ORDER BY u.created_at, u.id`)).rows.map(toStream) }),
  });

  api.route({
    method: 'post',
    path: '/upstream-streams',
    operationId: 'createUpstreamStream',
    tag: 'issuers',
    summary: 'Receive a trusted issuer’s Shared Signals events',
    description:
      'A CAEP session-revoked event for a subject revokes the subject’s Deputy tokens issued before it; a RISC account-disabled event disables the subject. ' +
      'The SETs are verified against the issuer’s keys. Push: give the issuer’s transmitter the returned push_endpoint. Poll: Deputy polls poll_url.',
    body: UpstreamStreamCreate,
    status: 201,
    response: UpstreamStream,
    responseDescription: 'The upstream stream',
    errors: [409],
    handler: ({ body, admin, requestId }) => {
      if (body.delivery_method === 'poll') {
        const refusal = body.poll_url === undefined ? 'is required for poll delivery' : targetUrlRefusal(body.poll_url, config.SSF_ALLOW_PRIVATE_NETWORK);
        if (refusal) throw invalidRequest([{ in: 'body', path: ['poll_url'], code: 'custom', message: refusal }]);
      } else if (body.poll_url !== undefined) {
        throw invalidRequest([{ in: 'body', path: ['poll_url'], code: 'custom', message: 'is only for poll delivery' }]);
      }
      return changeWithAudit(pool, { admin, requestId }, async (db, record) => {
        const issuer = await db.query<{ kind: string }>('SELECT kind FROM trusted_issuers WHERE id = $1', [body.trusted_issuer_id]);
        if (issuer.rows[0]?.kind !== 'user') {
          throw invalidRequest([{ in: 'body', path: ['trusted_issuer_id'], code: 'custom', message: 'must name a trusted issuer of kind user' }]);
        }
        const { rows } = await db.query<{ id: string }>(
          `INSERT INTO ssf_upstream_streams (trusted_issuer_id, delivery_method, poll_url, authorization_header, audience)
           VALUES ($1, $2, $3, $4, $5) ON CONFLICT (trusted_issuer_id) DO NOTHING RETURNING id::text`,
          [body.trusted_issuer_id, body.delivery_method, body.poll_url ?? null, body.authorization_header ?? null, body.audience ?? config.ISSUER],
        );
        if (!rows[0]) throw invalidRequest([{ in: 'body', path: ['trusted_issuer_id'], code: 'custom', message: 'this issuer already has a stream' }]);
        const { rows: created } = await db.query<Row>(`${SELECT} WHERE u.id = $1`, [rows[0].id]);
        const stream = toStream(created[0]!);
        await record({ type: 'upstream_stream.created', details: { ...stream } });
        return stream;
      });
    },
  });

  api.route({
    method: 'get',
    path: '/upstream-streams/:id',
    operationId: 'getUpstreamStream',
    tag: 'issuers',
    summary: 'Read an upstream Shared Signals stream',
    params: IdParam,
    status: 200,
    response: UpstreamStream,
    responseDescription: 'The upstream stream',
    handler: async ({ params }) => toStream(await find(params.id)),
  });

  api.route({
    method: 'delete',
    path: '/upstream-streams/:id',
    operationId: 'deleteUpstreamStream',
    tag: 'issuers',
    summary: 'Stop receiving a trusted issuer’s Shared Signals events',
    params: IdParam,
    status: 204,
    responseDescription: 'The stream is deleted',
    handler: ({ params, admin, requestId }) =>
      changeWithAudit(pool, { admin, requestId }, async (db, record) => {
        const stream = toStream(await find(params.id));
        await db.query('DELETE FROM ssf_upstream_streams WHERE id = $1', [params.id]);
        await record({ type: 'upstream_stream.deleted', details: { ...stream } });
      }),
  });
}
