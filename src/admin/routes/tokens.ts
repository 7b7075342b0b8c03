/**
 * Issued delegated tokens (the issued_tokens records the exchange writes). Never deleted;
 * revoking one sets its `revoked_at`, which introspection reads live.
 */
import { z } from 'zod';
import type { AdminApi } from '../api.js';
import { changeWithAudit, iso } from '../changes.js';
import { notFound } from '../errors.js';
import { Filters, isUuid, listPage, type KeyColumn } from '../pagination.js';
import type { AdminDeps } from '../router.js';
import { Identifier, TimestampOut, pageOf, pageQuery } from '../schemas.js';

export const Token = z
  .object({
    jti: z.string(),
    subject: z.string(),
    actors: z.array(z.string()).meta({ description: 'The delegation chain' }),
    client_id: z.string(),
    resource: z.string(),
    scope: z.string(),
    grant_id: z.uuid().meta({ description: 'The grant the token was minted under' }),
    grant_ids: z.array(z.uuid()).meta({ description: 'Every grant the token relies on (the whole chain)' }),
    issued_at: TimestampOut,
    expires_at: TimestampOut,
    revoked_at: TimestampOut.nullable(),
  })
  .meta({ id: 'Token' });
type TokenOut = z.infer<typeof Token>;
const TokenPage = pageOf(Token, 'TokenPage');

const JtiParam = z.object({ jti: z.string().meta({ description: 'The token’s jti' }) });

const TokenRevoke = z
  .strictObject({ reason: z.string().max(500).optional().meta({ description: 'Recorded in the audit event' }) })
  .meta({ id: 'TokenRevoke' });

const TokenQuery = z.strictObject({
  ...pageQuery,
  subject: Identifier.optional(),
  actor: Identifier.optional().meta({ description: 'Tokens whose chain names this actor' }),
  grant: z.string().optional().meta({ description: 'Tokens minted under this grant' }),
  client: Identifier.optional(),
});

interface TokenRow extends Record<string, unknown> {
  jti: string;
  subject_id: string;
  actor_ids: string[];
  client_id: string;
  resource_uri: string;
  scope: string;
  grant_id: string;
  grant_ids: string[];
  issued_at: Date;
  expires_at: Date;
  revoked_at: Date | null;
}

const COLUMNS = 'jti, subject_id, actor_ids, client_id, resource_uri, scope, grant_id, grant_ids, issued_at, expires_at, revoked_at';
const KEY: KeyColumn[] = [
  { column: 'issued_at', type: 'timestamptz', field: 'issued_at' },
  { column: 'jti', type: 'text', field: 'jti' },
];

const toToken = (row: TokenRow): TokenOut => ({
  jti: row.jti,
  subject: row.subject_id,
  actors: row.actor_ids,
  client_id: row.client_id,
  resource: row.resource_uri,
  scope: row.scope,
  grant_id: row.grant_id,
  grant_ids: row.grant_ids,
  issued_at: row.issued_at.toISOString(),
  expires_at: row.expires_at.toISOString(),
  revoked_at: iso(row.revoked_at),
});

export function tokenRoutes(api: AdminApi, { pool }: AdminDeps): void {
  api.route({
    method: 'get',
    path: '/tokens',
    operationId: 'listTokens',
    tag: 'tokens',
    summary: 'List issued delegated tokens, newest first',
    query: TokenQuery,
    status: 200,
    response: TokenPage,
    responseDescription: 'A page of tokens',
    handler: async ({ query }) => {
      // A grant id that is not a UUID names no grant: an empty page, not a database error.
      if (query.grant !== undefined && !isUuid(query.grant)) return { items: [], next_cursor: null };
      return listPage(pool, {
        from: `SELECT ${COLUMNS} FROM issued_tokens`,
        filters: new Filters()
          .when(query.subject, 'subject_id = $?')
          .when(query.actor, 'actor_ids @> ARRAY[$?::text]')
          .when(query.grant, 'grant_id = $?::uuid')
          .when(query.client, 'client_id = $?'),
        key: KEY,
        limit: query.limit,
        cursor: query.cursor,
        toItem: toToken,
      });
    },
  });

  api.route({
    method: 'get',
    path: '/tokens/:jti',
    operationId: 'getToken',
    tag: 'tokens',
    summary: 'Read an issued token’s record',
    params: JtiParam,
    status: 200,
    response: Token,
    responseDescription: 'The token record',
    handler: async ({ params }) => {
      const { rows } = await pool.query<TokenRow>(`SELECT ${COLUMNS} FROM issued_tokens WHERE jti = $1`, [params.jti]);
      if (!rows[0]) throw notFound('token');
      return toToken(rows[0]);
    },
  });

  api.route({
    method: 'post',
    path: '/tokens/:jti/revoke',
    operationId: 'revokeToken',
    tag: 'tokens',
    summary: 'Revoke one issued token',
    description: 'The token is inactive at introspection at once. Revoking a revoked token changes nothing and answers the token as it is.',
    params: JtiParam,
    body: TokenRevoke,
    bodyRequired: false,
    status: 200,
    response: Token,
    responseDescription: 'The revoked token',
    handler: ({ params, body, admin, requestId }) =>
      changeWithAudit(pool, { admin, requestId }, async (db, record) => {
        const { rows } = await db.query<TokenRow>(
          `UPDATE issued_tokens SET revoked_at = now() WHERE jti = $1 AND revoked_at IS NULL RETURNING ${COLUMNS}`,
          [params.jti],
        );
        if (!rows[0]) {
          const existing = await db.query<TokenRow>(`SELECT ${COLUMNS} FROM issued_tokens WHERE jti = $1`, [params.jti]);
          if (!existing.rows[0]) throw notFound('token');
          return toToken(existing.rows[0]);
        }
        const token = toToken(rows[0]);
        await record({
          type: 'token.revoked',
          jti: token.jti,
          subjectId: token.subject,
          actorIds: token.actors,
          clientId: token.client_id,
          resourceUri: token.resource,
          grantId: token.grant_id,
          details: { reason: body.reason ?? null },
        });
        return token;
      }),
  });
}
