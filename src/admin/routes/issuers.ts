/**
 * Trusted issuers: external IdPs (kind `user`) and workload-identity issuers (kind `workload`)
 * whose JWTs Deputy accepts as subject or actor tokens. Keys come from exactly one of `jwks_uri`
 * (HTTPS to a public address; private networks and loopback, and plain HTTP to loopback, only
 * with JWKS_ALLOW_PRIVATE_NETWORK=true) or an inline `jwks`. Any change drops the issuer's
 * fetched keys in every process (change feed); `refresh` drops and refetches them on demand.
 * An issuer may be limited to the subjects it names (`allowed_subjects`, `subject_prefix`): a
 * token naming anyone else is refused.
 */
import type pg from 'pg';
import { z } from 'zod';
import type { AdminApi } from '../api.js';
import { CONFIG_CHANNEL } from '../../db/change-feed.js';
import { jwksUriRefusal } from '../../exchange/network-target.js';
import { TRUSTED_ISSUER_KEY } from '../../exchange/trusted-issuers.js';
import { OAuthError } from '../../errors.js';
import { assignments, changeWithAuditSql, fieldChanges } from '../changes.js';
import { ApiError, invalidRequest, notFound, type Issue } from '../errors.js';
import { isOwnIssuer } from '../../exchange/own-issuer.js';
import { Filters, isUuid, listPage, type KeyColumn } from '../pagination.js';
import type { AdminDeps } from '../router.js';
import { IdParam, Jwks, TimestampOut, keyIds, nonEmptyPatch, pageOf, pageQuery, type JwksValue } from '../schemas.js';

const Kind = z.enum(['user', 'workload']);
const Algorithm = z.enum(['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA']);
const LOOPBACK = new Set(['localhost', '127.0.0.1', '[::1]']);

const JwksUri = z
  .url({ protocol: /^https?$/ })
  .max(2048)
  .refine((uri) => {
    // zod runs this even when the url check above failed: parse without throwing.
    const url = URL.parse(uri);
    return url !== null && (url.protocol === 'https:' || LOOPBACK.has(url.hostname));
  }, 'must be an https URL (http only for localhost)');
const Algorithms = z
  .array(Algorithm)
  .min(1)
  .refine((algs) => new Set(algs).size === algs.length, 'must not repeat an algorithm');
const SubjectClaim = z.string().min(1).max(256).regex(/^[\x21-\x7e]+$/);
const SubjectValue = z.string().min(1).max(2048).regex(/^[^\u0000-\u001f\u007f]+$/, 'must not contain control characters');
const AllowedSubjects = z
  .array(SubjectValue)
  .min(1)
  .max(10_000)
  .refine((subjects) => new Set(subjects).size === subjects.length, 'must not repeat a subject')
  .meta({
    description: 'The only subjects (or, for a workload issuer, workload subjects) its tokens may name. null: no list. With subject_prefix, a subject passes if it is listed or has the prefix; both null: any subject.',
    example: ['alice', 'bob'],
  });
const SubjectPrefix = SubjectValue.meta({ description: 'A prefix every subject its tokens name must start with (unless listed in allowed_subjects). null: no prefix.', example: 'partner-a:' });

export const Issuer = z
  .object({
    id: z.uuid(),
    issuer: z.string(),
    jwks_uri: z.string().nullable(),
    jwks: Jwks.nullable(),
    audience: z.string(),
    kind: Kind,
    subject_claim: z.string(),
    algorithms: z.array(z.string()),
    allowed_subjects: z.array(z.string()).nullable(),
    subject_prefix: z.string().nullable(),
    created_at: TimestampOut,
  })
  .meta({ id: 'Issuer' });
type IssuerOut = z.infer<typeof Issuer>;
const IssuerPage = pageOf(Issuer, 'IssuerPage');

const exactlyOneKeySource = (value: { jwks_uri?: string | null; jwks?: JwksValue | null }) => (value.jwks_uri ? 1 : 0) + (value.jwks ? 1 : 0) === 1;
const KEY_SOURCE_MESSAGE = 'give exactly one of jwks_uri and jwks';
const OWN_ISSUER_MESSAGE = "must not be Deputy's own issuer";
const OWN_ISSUER_ROW_MESSAGE = "names Deputy's own issuer: it can only be deleted";

const IssuerCreate = z
  .strictObject({
    issuer: z
      .string()
      .min(1)
      .max(2048)
      .meta({ description: "Must equal the `iss` of the tokens; never Deputy's own `ISSUER`", example: 'https://idp.example.com' }),
    jwks_uri: JwksUri.nullable().optional(),
    jwks: Jwks.nullable().optional(),
    audience: z.string().min(1).max(2048).meta({ description: 'The `aud` its tokens must carry for Deputy' }),
    kind: Kind,
    subject_claim: SubjectClaim.default('sub').meta({ description: 'The claim holding the subject or actor id' }),
    algorithms: Algorithms.default(['ES256', 'ES384', 'RS256', 'PS256', 'EdDSA']),
    allowed_subjects: AllowedSubjects.nullable().default(null),
    subject_prefix: SubjectPrefix.nullable().default(null),
  })
  .refine(exactlyOneKeySource, { message: KEY_SOURCE_MESSAGE, path: ['jwks_uri'] })
  .meta({ id: 'IssuerCreate' });

const IssuerPatch = nonEmptyPatch(
  z.strictObject({
    jwks_uri: JwksUri.nullable().optional(),
    jwks: Jwks.nullable().optional(),
    audience: z.string().min(1).max(2048).optional(),
    subject_claim: SubjectClaim.optional(),
    algorithms: Algorithms.optional(),
    allowed_subjects: AllowedSubjects.nullable().optional(),
    subject_prefix: SubjectPrefix.nullable().optional(),
  }),
).meta({ id: 'IssuerPatch', description: '`issuer` and `kind` identify the trust and cannot change; to switch key source, set the other to null.' });

export const IssuerKeysRefreshed = z
  .object({
    id: z.uuid(),
    issuer: z.string(),
    kind: Kind,
    kids: z.array(z.string()).meta({ description: 'The key ids the issuer publishes now (inline keys: those registered)' }),
  })
  .meta({ id: 'IssuerKeysRefreshed' });

const IssuerQuery = z.strictObject({ ...pageQuery, kind: Kind.optional(), issuer: z.string().min(1).optional() });

interface IssuerRow extends Record<string, unknown> {
  id: string;
  issuer: string;
  jwks_uri: string | null;
  jwks: JwksValue | null;
  audience: string;
  kind: IssuerOut['kind'];
  subject_claim: string;
  algorithms: string[];
  allowed_subjects: string[];
  subject_prefix: string | null;
  created_at: Date;
}

const COLUMNS = 'id, issuer, jwks_uri, jwks, audience, kind, subject_claim, algorithms, allowed_subjects, subject_prefix, created_at';
const KEY: KeyColumn[] = [
  { column: 'created_at', type: 'timestamptz', field: 'created_at' },
  { column: 'id', type: 'uuid', field: 'id' },
];

const toIssuer = (row: IssuerRow): IssuerOut => ({
  id: row.id,
  issuer: row.issuer,
  jwks_uri: row.jwks_uri,
  jwks: row.jwks,
  audience: row.audience,
  kind: row.kind,
  subject_claim: row.subject_claim,
  algorithms: row.algorithms,
  // Stored as an empty array when there is no list.
  allowed_subjects: row.allowed_subjects.length > 0 ? row.allowed_subjects : null,
  subject_prefix: row.subject_prefix,
  created_at: row.created_at.toISOString(),
});

const auditView = (issuer: IssuerOut) => {
  const { jwks, created_at: _created, ...rest } = issuer;
  return { ...rest, jwks: keyIds(jwks) };
};
const AUDITED = ['jwks_uri', 'jwks', 'audience', 'subject_claim', 'algorithms', 'allowed_subjects', 'subject_prefix'] as const;

async function findForUpdate(db: pg.ClientBase, id: string): Promise<IssuerRow> {
  if (!isUuid(id)) throw notFound('issuer');
  const { rows } = await db.query<IssuerRow>(`SELECT ${COLUMNS} FROM trusted_issuers WHERE id = $1 FOR UPDATE`, [id]);
  if (!rows[0]) throw notFound('issuer');
  return rows[0];
}

/**
 * The checks of a jwks_uri that need the configuration (the schema checks its form): a literal
 * private or special address, or localhost, is refused here; every fetch checks the resolved
 * addresses again.
 */
function checkJwksTarget(jwksUri: string | null | undefined, allowPrivateNetwork: boolean): void {
  if (!jwksUri) return;
  const refusal = jwksUriRefusal(jwksUri, allowPrivateNetwork);
  if (refusal) throw invalidRequest([{ in: 'body', path: ['jwks_uri'], code: 'custom', message: refusal }]);
}

export function issuerRoutes(api: AdminApi, { pool, config, issuerKeys, logger }: AdminDeps): void {
  const allowPrivateNetwork = config.JWKS_ALLOW_PRIVATE_NETWORK;
  // Deputy's own tokens must never come back as a trusted issuer's (review item 10).
  const assertNotOwnIssuer = (issuer: string, issue: Issue) => {
    if (isOwnIssuer(issuer, config.ISSUER)) throw invalidRequest([issue]);
  };

  api.route({
    method: 'get',
    path: '/issuers',
    operationId: 'listIssuers',
    tag: 'issuers',
    summary: 'List trusted issuers, newest first',
    query: IssuerQuery,
    status: 200,
    response: IssuerPage,
    responseDescription: 'A page of trusted issuers',
    handler: ({ query }) =>
      listPage(pool, {
        from: `SELECT ${COLUMNS} FROM trusted_issuers`,
        filters: new Filters().when(query.kind, 'kind = $?').when(query.issuer, 'issuer = $?'),
        key: KEY,
        limit: query.limit,
        cursor: query.cursor,
        toItem: toIssuer,
      }),
  });

  api.route({
    method: 'post',
    path: '/issuers',
    operationId: 'createIssuer',
    tag: 'issuers',
    summary: 'Trust an issuer of user or workload tokens',
    body: IssuerCreate,
    status: 201,
    response: Issuer,
    responseDescription: 'The trusted issuer',
    errors: [409],
    handler: ({ body, admin, requestId }) => {
      checkJwksTarget(body.jwks_uri, allowPrivateNetwork);
      return changeWithAuditSql(pool, { admin, requestId }, async (db, record) => {
        assertNotOwnIssuer(body.issuer, { in: 'body', path: ['issuer'], code: 'custom', message: OWN_ISSUER_MESSAGE });
        const { rows } = await db.query<IssuerRow>(
          `INSERT INTO trusted_issuers (issuer, jwks_uri, jwks, audience, kind, subject_claim, algorithms, allowed_subjects, subject_prefix)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING ${COLUMNS}`,
          [body.issuer, body.jwks_uri ?? null, body.jwks ?? null, body.audience, body.kind, body.subject_claim, body.algorithms, body.allowed_subjects ?? [], body.subject_prefix],
        );
        const issuer = toIssuer(rows[0]!);
        await record({ type: 'issuer.created', details: auditView(issuer) });
        return issuer;
      });
    },
  });

  api.route({
    method: 'get',
    path: '/issuers/:id',
    operationId: 'getIssuer',
    tag: 'issuers',
    summary: 'Read a trusted issuer',
    params: IdParam,
    status: 200,
    response: Issuer,
    responseDescription: 'The trusted issuer',
    handler: async ({ params }) => {
      if (!isUuid(params.id)) throw notFound('issuer');
      const { rows } = await pool.query<IssuerRow>(`SELECT ${COLUMNS} FROM trusted_issuers WHERE id = $1`, [params.id]);
      if (!rows[0]) throw notFound('issuer');
      return toIssuer(rows[0]);
    },
  });

  api.route({
    method: 'patch',
    path: '/issuers/:id',
    operationId: 'updateIssuer',
    tag: 'issuers',
    summary: 'Update a trusted issuer’s keys, audience, subject claim, algorithms or subject limits',
    params: IdParam,
    body: IssuerPatch,
    status: 200,
    response: Issuer,
    responseDescription: 'The updated issuer',
    handler: ({ params, body, admin, requestId }) => {
      checkJwksTarget(body.jwks_uri, allowPrivateNetwork);
      return changeWithAuditSql(pool, { admin, requestId }, async (db, record) => {
        const row = await findForUpdate(db, params.id);
        // A row naming Deputy (inserted by hand, or before this check) can only be deleted.
        assertNotOwnIssuer(row.issuer, { in: 'path', path: ['id'], code: 'custom', message: OWN_ISSUER_ROW_MESSAGE });
        const merged = { jwks_uri: body.jwks_uri === undefined ? row.jwks_uri : body.jwks_uri, jwks: body.jwks === undefined ? row.jwks : body.jwks };
        if (!exactlyOneKeySource(merged)) throw invalidRequest([{ in: 'body', path: ['jwks_uri'], code: 'custom', message: KEY_SOURCE_MESSAGE }]);
        // The body's keys are exactly the column names (strict schema).
        const columns = Object.fromEntries(Object.entries(body).filter(([, value]) => value !== undefined));
        if (columns.allowed_subjects === null) columns.allowed_subjects = [];
        const set = assignments(columns, 1);
        const { rows } = await db.query<IssuerRow>(`UPDATE trusted_issuers SET ${set.sql} WHERE id = $1 RETURNING ${COLUMNS}`, [params.id, ...set.values]);
        const after = toIssuer(rows[0]!);
        const changes = fieldChanges(auditView(toIssuer(row)), auditView(after), AUDITED);
        if (Object.keys(changes).length > 0) {
          await record({ type: 'issuer.updated', details: { id: after.id, issuer: after.issuer, kind: after.kind, changes } });
        }
        return after;
      });
    },
  });

  api.route({
    method: 'delete',
    path: '/issuers/:id',
    operationId: 'deleteIssuer',
    tag: 'issuers',
    summary: 'Stop trusting an issuer',
    description: 'Its tokens are refused from the next exchange on.',
    params: IdParam,
    status: 204,
    responseDescription: 'The issuer is no longer trusted',
    handler: ({ params, admin, requestId }) =>
      changeWithAuditSql(pool, { admin, requestId }, async (db, record) => {
        const row = await findForUpdate(db, params.id);
        await db.query('DELETE FROM trusted_issuers WHERE id = $1', [params.id]);
        await record({ type: 'issuer.deleted', details: auditView(toIssuer(row)) });
      }),
  });

  api.route({
    method: 'post',
    path: '/issuers/:id/refresh',
    operationId: 'refreshIssuerKeys',
    tag: 'issuers',
    summary: 'Drop the issuer’s cached keys in every process and fetch them again',
    description:
      'For an IdP that dropped or rotated a key: every Deputy process forgets the keys it fetched from the issuer’s `jwks_uri` ' +
      '(and any remembered fetch failure) and the next token refetches them; this process refetches at once and answers the key ids ' +
      'now published. 503 when they cannot be fetched (the caches are dropped all the same). Audited as `issuer.keys_refreshed`.',
    params: IdParam,
    status: 200,
    response: IssuerKeysRefreshed,
    responseDescription: 'The key ids the issuer publishes now',
    handler: async ({ params, admin, requestId }) => {
      const issuer = await changeWithAuditSql(pool, { admin, requestId }, async (db, record) => {
        const row = await findForUpdate(db, params.id);
        // Every process (this one included) drops the issuer's keys when this commits.
        await db.query('SELECT pg_notify($1, $2)', [CONFIG_CHANNEL, `${TRUSTED_ISSUER_KEY}${row.issuer}`]);
        await record({ type: 'issuer.keys_refreshed', details: { id: row.id, issuer: row.issuer, kind: row.kind } });
        return row;
      });
      let kids: string[];
      try {
        kids = await issuerKeys.refresh({ issuer: issuer.issuer, jwksUri: issuer.jwks_uri, jwks: issuer.jwks });
      } catch (error) {
        if (error instanceof OAuthError && error.code === 'temporarily_unavailable') {
          logger.warn({ request_id: requestId, issuer: issuer.issuer, detail: error.detail }, 'refreshing a trusted issuer’s keys failed');
          throw new ApiError(503, 'temporarily_unavailable', 'the issuer’s keys cannot be fetched now; its cached keys were dropped', undefined, { 'Retry-After': '1' });
        }
        throw error;
      }
      return { id: issuer.id, issuer: issuer.issuer, kind: issuer.kind, kids };
    },
  });
}
