/**
 * Issued delegated tokens (the issued_tokens records the exchange writes). Never deleted;
 * revoking one sets its `revoked_at`, which introspection reads live.
 */
import { z } from 'zod';
import type { AdminApi } from '../api.js';
import { revokeIssuedToken, type IssuedTokenRecord } from '../../oauth/revocation.js';
import type { IssuedToken } from '../../generated/prisma/client.js';
import { changeWithAudit, iso } from '../changes.js';
import { notFound } from '../errors.js';
import { isUuid, keyset, keysetPage, type SortKey } from '../pagination.js';
import type { RouteDeps } from '../router.js';
import { inactiveReasons, type ChainFacts } from '../token-chain.js';
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

const Hop = z
  .object({
    actor: z.string(),
    actor_status: z.string().nullable().meta({ description: 'null when the actor no longer exists' }),
    grant: z
      .object({ id: z.string(), scopes: z.array(z.string()), expires_at: TimestampOut.nullable(), revoked_at: TimestampOut.nullable() })
      .nullable()
      .meta({ description: 'The grant this hop relied on (subject → this actor); null when none is recorded' }),
  })
  .meta({ id: 'TokenHop' });

const TokenStatus = z
  .object({
    jti: z.string(),
    active: z.boolean().meta({ description: 'What introspection answers for this token now' }),
    reasons: z
      .array(z.object({ code: z.string(), message: z.string() }))
      .meta({ description: 'Why it is inactive (empty when active): token_revoked, token_expired, ancestor_revoked, subject_disabled, actor_disabled, actor_expired, grant_revoked, grant_expired, grant_missing' }),
    subject: z.string(),
    subject_status: z.string().nullable(),
    hops: z.array(Hop).meta({ description: 'The delegation chain, subject first: each actor with the grant it acted under' }),
    ancestors: z.array(z.object({ jti: z.string(), revoked_at: TimestampOut.nullable() })).meta({ description: 'Tokens this one was exchanged from, nearest first' }),
  })
  .meta({ id: 'TokenStatus' });

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

const KEY: SortKey[] = [
  { field: 'issuedAt', type: 'timestamptz' },
  { field: 'jti', type: 'text' },
];

// active: introspection's own predicate (deputy_token_is_live); the rest explains it link by link.
const CHAIN_SQL = `
SELECT l.live AS active, t.revoked_at, t.expires_at, t.subject_id, t.actor_ids, t.grant_ids,
  (SELECT json_build_object('id', s.id, 'status', s.status, 'disabledSinceIssued', coalesce(s.disabled_at >= t.issued_at, false))
     FROM subjects s WHERE s.id = t.subject_id) AS subject,
  (SELECT coalesce(json_agg(json_build_object('id', a.id, 'status', a.status, 'expiresAt', a.expires_at,
      'disabledSinceIssued', coalesce(a.disabled_at >= t.issued_at, false))), '[]')
     FROM actors a WHERE a.id = ANY(t.actor_ids)) AS actors,
  (SELECT coalesce(json_agg(json_build_object('id', g.id, 'actorId', g.actor_id, 'scopes', g.scopes, 'expiresAt', g.expires_at,
      'revokedAt', g.revoked_at)), '[]')
     FROM delegation_grants g WHERE g.id = ANY(t.grant_ids)) AS grants,
  (SELECT coalesce(json_agg(json_build_object('jti', a.jti, 'revokedAt', a.revoked_at) ORDER BY array_position(t.ancestor_jtis, a.jti)), '[]')
     FROM issued_tokens a WHERE a.jti = ANY(t.ancestor_jtis)) AS ancestors
FROM issued_tokens t, deputy_token_is_live(t, now()) l WHERE t.jti = $1`;

interface ChainRow {
  active: boolean;
  revoked_at: Date | null;
  expires_at: Date;
  subject_id: string;
  actor_ids: string[];
  grant_ids: string[];
  subject: { id: string; status: string; disabledSinceIssued: boolean } | null;
  actors: Array<{ id: string; status: string; expiresAt: string | null; disabledSinceIssued: boolean }>;
  grants: Array<{ id: string; actorId: string; scopes: string[]; expiresAt: string | null; revokedAt: string | null }>;
  ancestors: Array<{ jti: string; revokedAt: string | null }>;
}

const date = (value: string | null) => (value === null ? null : new Date(value));

function chainFacts(row: ChainRow): ChainFacts {
  return {
    revokedAt: row.revoked_at,
    expiresAt: row.expires_at,
    subject: row.subject,
    subjectId: row.subject_id,
    actorIds: row.actor_ids,
    actors: row.actors.map((a) => ({ id: a.id, status: a.status, expiresAt: date(a.expiresAt), disabledSinceIssued: a.disabledSinceIssued })),
    grantIds: row.grant_ids,
    grants: row.grants.map((g) => ({ id: g.id, actorId: g.actorId, scopes: g.scopes, expiresAt: date(g.expiresAt), revokedAt: date(g.revokedAt) })),
    ancestors: row.ancestors.map((a) => ({ jti: a.jti, revokedAt: date(a.revokedAt) })),
  };
}

function tokenStatus(jti: string, active: boolean, facts: ChainFacts, now: Date): z.input<typeof TokenStatus> {
  const reasons = active ? [] : inactiveReasons(facts, now);
  const actors = new Map(facts.actors.map((actor) => [actor.id, actor]));
  const grants = new Map(facts.grants.map((grant) => [grant.id, grant]));
  return {
    jti,
    active,
    reasons,
    subject: facts.subjectId,
    subject_status: facts.subject?.status ?? null,
    hops: facts.actorIds.map((actor, index) => {
      // Each hop's grant is the subject's to that actor; grant_ids are recorded hop by hop.
      const grant = facts.grantIds.map((id) => grants.get(id)).find((g) => g?.actorId === actor) ?? grants.get(facts.grantIds[index] ?? '');
      return {
        actor,
        actor_status: actors.get(actor)?.status ?? null,
        grant: grant
          ? { id: grant.id, scopes: grant.scopes, expires_at: grant.expiresAt?.toISOString() ?? null, revoked_at: grant.revokedAt?.toISOString() ?? null }
          : null,
      };
    }),
    ancestors: facts.ancestors.map((a) => ({ jti: a.jti, revoked_at: a.revokedAt?.toISOString() ?? null })),
  };
}

const toToken = (row: IssuedTokenRecord): TokenOut => ({
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

/** The record's columns only: never the token's digest or DPoP binding. */
const TOKEN_FIELDS = {
  jti: true,
  subjectId: true,
  actorIds: true,
  clientId: true,
  resourceUri: true,
  scope: true,
  grantId: true,
  grantIds: true,
  issuedAt: true,
  expiresAt: true,
  revokedAt: true,
} as const;

const fromModel = (token: Pick<IssuedToken, keyof typeof TOKEN_FIELDS>): TokenOut =>
  toToken({
    jti: token.jti,
    subject_id: token.subjectId,
    actor_ids: token.actorIds,
    client_id: token.clientId,
    resource_uri: token.resourceUri,
    scope: token.scope,
    grant_id: token.grantId,
    grant_ids: token.grantIds,
    issued_at: token.issuedAt,
    expires_at: token.expiresAt,
    revoked_at: token.revokedAt,
  });


export function tokenRoutes(api: AdminApi, deps: RouteDeps): void {
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
      const page = keyset(KEY, query.limit, query.cursor);
      const rows = await deps.prisma.issuedToken.findMany({
        select: TOKEN_FIELDS,
        where: {
          AND: [
            {
              subjectId: query.subject,
              grantId: query.grant,
              clientId: query.client,
              ...(query.actor === undefined ? {} : { actorIds: { has: query.actor } }),
            },
            page.after,
          ],
        },
        orderBy: page.orderBy,
        take: page.take,
      });
      return keysetPage(rows, KEY, query.limit, fromModel);
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
      const token = await deps.prisma.issuedToken.findUnique({ select: TOKEN_FIELDS, where: { jti: params.jti } });
      if (!token) throw notFound('token');
      return fromModel(token);
    },
  });

  api.route({
    method: 'get',
    path: '/tokens/:jti/status',
    operationId: 'getTokenStatus',
    tag: 'tokens',
    summary: 'Whether an issued token is active now, why not, and its delegation chain',
    description: 'Checks what introspection checks (the token, the tokens it was exchanged from, its subject, every actor and grant of its chain), read live.',
    params: JtiParam,
    status: 200,
    response: TokenStatus,
    responseDescription: 'The token’s status and chain',
    handler: async ({ params }) => {
      // One round trip for the whole chain: a statement Prisma's queries cannot express.
      const [row] = await deps.prisma.$queryRawUnsafe<ChainRow[]>(CHAIN_SQL, params.jti);
      if (!row) throw notFound('token');
      return tokenStatus(params.jti, row.active, chainFacts(row), new Date());
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
      changeWithAudit(deps.prisma, { admin, requestId }, async (tx, record) => {
        const revoked = await revokeIssuedToken(tx, params.jti, 'admin', { reason: body.reason ?? null }, record);
        if (revoked) return toToken(revoked);
        const existing = await tx.issuedToken.findUnique({ select: TOKEN_FIELDS, where: { jti: params.jti } });
        if (!existing) throw notFound('token');
        return fromModel(existing);
      }),
  });
}
