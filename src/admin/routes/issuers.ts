/**
 * Trusted issuers: external IdPs (kind `user`) and workload-identity issuers (kind `workload`)
 * whose JWTs Deputy accepts as subject or actor tokens. Keys come from exactly one of `jwks_uri`
 * (HTTPS to a public address; private networks and loopback, and plain HTTP to loopback, only
 * with JWKS_ALLOW_PRIVATE_NETWORK=true) or an inline `jwks`. Any change drops the issuer's
 * fetched keys in every process (change feed); `refresh` drops and refetches them on demand.
 * An issuer may be limited to the subjects it names (`allowed_subjects`, `subject_prefix`): a
 * token naming anyone else is refused.
 */
import { z } from 'zod';
import type { AdminApi } from '../api.js';
import { CONFIG_CHANNEL } from '../../db/change-feed.js';
import { jwksUriRefusal } from '../../trust/network-target.js';
import { TRUSTED_ISSUER_KEY } from '../../trust/trusted-issuers.js';
import { OAuthError } from '../../errors.js';
import type { PrismaTransaction } from '../../db/prisma.js';
import { Prisma, type TrustedIssuer as IssuerRow } from '../../generated/prisma/client.js';
import { changeWithAudit, fieldChanges, lockRow } from '../changes.js';
import { ApiError, invalidRequest, notFound, type Issue } from '../errors.js';
import { isOwnIssuer } from '../../trust/own-issuer.js';
import { isUuid, keyset, keysetPage, type SortKey } from '../pagination.js';
import type { RouteDeps } from '../router.js';
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

const KEY: SortKey[] = [
  { field: 'createdAt', type: 'timestamptz' },
  { field: 'id', type: 'uuid' },
];

const jsonOrNull = (value: JwksValue | null) => (value === null ? Prisma.DbNull : (value as Prisma.InputJsonValue));

const toIssuer = (row: IssuerRow): IssuerOut => ({
  id: row.id,
  issuer: row.issuer,
  jwks_uri: row.jwksUri,
  jwks: row.jwks as JwksValue | null,
  audience: row.audience,
  kind: row.kind as IssuerOut['kind'],
  subject_claim: row.subjectClaim,
  algorithms: row.algorithms,
  // Stored as an empty array when there is no list.
  allowed_subjects: row.allowedSubjects.length > 0 ? row.allowedSubjects : null,
  subject_prefix: row.subjectPrefix,
  created_at: row.createdAt.toISOString(),
});

const auditView = (issuer: IssuerOut) => {
  const { jwks, created_at: _created, ...rest } = issuer;
  return { ...rest, jwks: keyIds(jwks) };
};
const AUDITED = ['jwks_uri', 'jwks', 'audience', 'subject_claim', 'algorithms', 'allowed_subjects', 'subject_prefix'] as const;

async function findForUpdate(tx: PrismaTransaction, id: string): Promise<IssuerRow> {
  if (!isUuid(id)) throw notFound('issuer');
  const row = (await lockRow(tx, 'trusted_issuers', id)) ? await tx.trustedIssuer.findUnique({ where: { id } }) : null;
  if (!row) throw notFound('issuer');
  return row;
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

export function issuerRoutes(api: AdminApi, deps: RouteDeps): void {
  const { config, issuerKeys, logger } = deps;
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
    handler: async ({ query }) => {
      const page = keyset(KEY, query.limit, query.cursor);
      const rows = await deps.prisma.trustedIssuer.findMany({
        where: { AND: [{ kind: query.kind, issuer: query.issuer }, page.after] },
        orderBy: page.orderBy,
        take: page.take,
      });
      return keysetPage(rows, KEY, query.limit, toIssuer);
    },
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
      return changeWithAudit(deps.prisma, { admin, requestId }, async (tx, record) => {
        assertNotOwnIssuer(body.issuer, { in: 'body', path: ['issuer'], code: 'custom', message: OWN_ISSUER_MESSAGE });
        const created = await tx.trustedIssuer.create({
          data: {
            issuer: body.issuer,
            jwksUri: body.jwks_uri ?? null,
            jwks: jsonOrNull(body.jwks ?? null),
            audience: body.audience,
            kind: body.kind,
            subjectClaim: body.subject_claim,
            algorithms: body.algorithms,
            allowedSubjects: body.allowed_subjects ?? [],
            subjectPrefix: body.subject_prefix ?? null,
          },
        });
        const issuer = toIssuer(created);
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
      const issuer = await deps.prisma.trustedIssuer.findUnique({ where: { id: params.id } });
      if (!issuer) throw notFound('issuer');
      return toIssuer(issuer);
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
      return changeWithAudit(deps.prisma, { admin, requestId }, async (tx, record) => {
        const row = toIssuer(await findForUpdate(tx, params.id));
        // A row naming Deputy (inserted by hand, or before this check) can only be deleted.
        assertNotOwnIssuer(row.issuer, { in: 'path', path: ['id'], code: 'custom', message: OWN_ISSUER_ROW_MESSAGE });
        const merged = { jwks_uri: body.jwks_uri === undefined ? row.jwks_uri : body.jwks_uri, jwks: body.jwks === undefined ? row.jwks : body.jwks };
        if (!exactlyOneKeySource(merged)) throw invalidRequest([{ in: 'body', path: ['jwks_uri'], code: 'custom', message: KEY_SOURCE_MESSAGE }]);
        const updated = await tx.trustedIssuer.update({
          where: { id: params.id },
          data: {
            jwksUri: body.jwks_uri,
            jwks: body.jwks === undefined ? undefined : jsonOrNull(body.jwks),
            audience: body.audience,
            subjectClaim: body.subject_claim,
            algorithms: body.algorithms,
            // No list is stored as an empty array.
            allowedSubjects: body.allowed_subjects === null ? [] : body.allowed_subjects,
            subjectPrefix: body.subject_prefix,
          },
        });
        const after = toIssuer(updated);
        const changes = fieldChanges(auditView(row), auditView(after), AUDITED);
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
      changeWithAudit(deps.prisma, { admin, requestId }, async (tx, record) => {
        const row = await findForUpdate(tx, params.id);
        await tx.trustedIssuer.delete({ where: { id: params.id } });
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
      const issuer = await changeWithAudit(deps.prisma, { admin, requestId }, async (tx, record) => {
        const row = toIssuer(await findForUpdate(tx, params.id));
        // Every process (this one included) drops the issuer's keys when this commits.
        await tx.$executeRaw`SELECT pg_notify(${CONFIG_CHANNEL}, ${`${TRUSTED_ISSUER_KEY}${row.issuer}`})`;
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
