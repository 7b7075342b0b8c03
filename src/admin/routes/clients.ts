/**
 * OAuth clients of the token endpoint. A client_secret_* client gets a 256-bit secret generated
 * here, returned once (create, rotate, or a switch to a secret method) and stored only as its
 * HMAC under the server's pepper; a private_key_jwt client registers public keys instead.
 * oidc-provider reads the clients table on every authentication, so changes apply at once.
 * Changing a client's credentials (rotating its secret, switching its method, replacing its keys)
 * deletes its outstanding client-credentials (admin) tokens in the same transaction; so does
 * taking deputy:admin away, or giving it back would revive them (a kill switch is final).
 */
import { z } from 'zod';
import { canonicalJson } from '../../audit/audit-log.js';
import { revokeClientCredentialsTokens } from '../../oauth/adapter.js';
import { ADMIN_SCOPE } from '../../oauth/scopes.js';
import { generateClientSecret, hashClientSecret } from '../../oauth/client-secrets.js';
import type { AdminApi } from '../api.js';
import { Prisma, type Client as ClientRow } from '../../generated/prisma/client.js';
import { changeWithAudit, fieldChanges, lockRow } from '../changes.js';
import { conflict, invalidRequest, notFound } from '../errors.js';
import { keyset, keysetPage, type SortKey } from '../pagination.js';
import { requireExisting } from '../references.js';
import type { RouteDeps } from '../router.js';
import { IdParam, Identifier, Jwks, ResourceUri, TimestampOut, keyIds, nonEmptyPatch, pageOf, pageQuery, type JwksValue } from '../schemas.js';

const AuthMethod = z.enum(['client_secret_basic', 'client_secret_post', 'private_key_jwt']);
type AuthMethodValue = z.infer<typeof AuthMethod>;
const usesSecret = (method: AuthMethodValue) => method !== 'private_key_jwt';

/** The only scope Deputy's own authorization server grants to clients (client_credentials). */
const ClientScope = z
  .string()
  .max(1000)
  .refine(
    (scope) => scope.split(' ').every((token) => token === '' || token === ADMIN_SCOPE),
    `may only contain ${ADMIN_SCOPE} (resource scopes are granted through entitlements and grants, not to clients)`,
  )
  .transform((scope) => [...new Set(scope.split(' ').filter(Boolean))].join(' '))
  .meta({ description: `Space-delimited; "${ADMIN_SCOPE}" makes an admin client`, example: '' });

const ProtectedResources = z
  .array(ResourceUri)
  .max(100)
  .refine((uris) => new Set(uris).size === uris.length, 'must not repeat a resource')
  .meta({ description: 'Resources this client protects (it is their resource server): introspection answers it about tokens for them' });

const ActorIds = z
  .array(Identifier)
  .max(100)
  .refine((ids) => new Set(ids).size === ids.length, 'must not repeat an actor');

export const Client = z
  .object({
    client_id: z.string(),
    token_endpoint_auth_method: AuthMethod,
    jwks: Jwks.nullable(),
    actor: z.string().nullable().meta({ description: 'The actor this client acts as when no actor token is sent' }),
    allowed_actors: z.array(z.string()).meta({ description: 'Further actors this client may present actor tokens for' }),
    scope: z.string(),
    protected_resources: z.array(z.string()).meta({ description: 'Resources this client protects: introspection answers it about tokens for them' }),
    created_at: TimestampOut,
  })
  .meta({ id: 'Client' });
type ClientOut = z.infer<typeof Client>;
const ClientPage = pageOf(Client, 'ClientPage');

const ClientWithSecret = Client.extend({
  client_secret: z.string().optional().meta({ description: 'Shown once; store it now. Absent for private_key_jwt clients.' }),
}).meta({ id: 'ClientWithSecret' });

const ClientCreate = z
  .strictObject({
    client_id: Identifier.meta({ example: 'triage-app' }),
    token_endpoint_auth_method: AuthMethod.default('client_secret_basic'),
    jwks: Jwks.nullable().optional().meta({ description: 'Required for private_key_jwt' }),
    actor: Identifier.nullable().optional(),
    allowed_actors: ActorIds.default([]),
    scope: ClientScope.default(''),
    protected_resources: ProtectedResources.default([]),
  })
  .meta({ id: 'ClientCreate' });

const ClientPatch = nonEmptyPatch(
  z.strictObject({
    token_endpoint_auth_method: AuthMethod.optional(),
    jwks: Jwks.nullable().optional(),
    actor: Identifier.nullable().optional(),
    allowed_actors: ActorIds.optional(),
    scope: ClientScope.optional(),
    protected_resources: ProtectedResources.optional(),
  }),
).meta({
  id: 'ClientPatch',
  description:
    'Switching to private_key_jwt discards the secret; switching from it to a secret method returns a new `client_secret` once. ' +
    'Switching the method or replacing `jwks` invalidates the client’s outstanding admin tokens.',
});

const ClientQuery = z.strictObject({ ...pageQuery, actor: Identifier.optional().meta({ description: 'Clients acting as this actor' }) });

const KEY: SortKey[] = [
  { field: 'createdAt', type: 'timestamptz' },
  { field: 'clientId', type: 'text' },
];

const jsonOrNull = (value: JwksValue | null) => (value === null ? Prisma.DbNull : (value as Prisma.InputJsonValue));

const toClient = (row: ClientRow): ClientOut => ({
  client_id: row.clientId,
  token_endpoint_auth_method: row.tokenEndpointAuthMethod as AuthMethodValue,
  jwks: row.jwks as JwksValue | null,
  actor: row.actorId,
  allowed_actors: row.allowedActors,
  scope: row.scope,
  protected_resources: row.protectedResources,
  created_at: row.createdAt.toISOString(),
});

const auditView = (client: ClientOut) => {
  const { jwks, created_at: _created, ...rest } = client;
  return { ...rest, jwks: keyIds(jwks) };
};
const holdsAdminScope = (scope: string) => scope.split(' ').includes(ADMIN_SCOPE);

const AUDITED = ['token_endpoint_auth_method', 'jwks', 'actor', 'allowed_actors', 'scope', 'protected_resources'] as const;

function requireKeysFor(method: AuthMethodValue, jwks: JwksValue | null | undefined) {
  if (method === 'private_key_jwt' && !jwks) {
    throw invalidRequest([{ in: 'body', path: ['jwks'], code: 'custom', message: 'is required for private_key_jwt' }]);
  }
}

export function clientRoutes(api: AdminApi, deps: RouteDeps): void {
  const { clientSecretPepper } = deps;
  const newSecret = () => {
    const secret = generateClientSecret();
    return { secret, hash: hashClientSecret(secret, clientSecretPepper) };
  };

  api.route({
    method: 'get',
    path: '/clients',
    operationId: 'listClients',
    tag: 'clients',
    summary: 'List clients, newest first',
    query: ClientQuery,
    status: 200,
    response: ClientPage,
    responseDescription: 'A page of clients',
    handler: async ({ query }) => {
      const page = keyset(KEY, query.limit, query.cursor);
      const rows = await deps.prisma.client.findMany({
        where: { AND: [{ actorId: query.actor }, page.after] },
        orderBy: page.orderBy,
        take: page.take,
      });
      return keysetPage(rows, KEY, query.limit, toClient);
    },
  });

  api.route({
    method: 'post',
    path: '/clients',
    operationId: 'createClient',
    tag: 'clients',
    summary: 'Register a client',
    description: 'For client_secret_basic / client_secret_post, the response carries `client_secret`, shown this once and stored only hashed.',
    body: ClientCreate,
    status: 201,
    response: ClientWithSecret,
    responseDescription: 'The registered client (with its secret, once)',
    errors: [409],
    handler: ({ body, admin, requestId }) =>
      changeWithAudit(deps.prisma, { admin, requestId }, async (tx, record) => {
        requireKeysFor(body.token_endpoint_auth_method, body.jwks);
        await requireExisting(tx, 'actor', body.allowed_actors, 'allowed_actors');
        await requireExisting(tx, 'resource', body.protected_resources, 'protected_resources');
        const secret = usesSecret(body.token_endpoint_auth_method) ? newSecret() : null;
        const created = await tx.client.create({
          data: {
            clientId: body.client_id,
            clientSecretHash: secret?.hash ?? null,
            tokenEndpointAuthMethod: body.token_endpoint_auth_method,
            jwks: jsonOrNull(body.jwks ?? null),
            actorId: body.actor ?? null,
            allowedActors: body.allowed_actors,
            scope: body.scope,
            protectedResources: body.protected_resources,
          },
        });
        const client = toClient(created);
        await record({ type: 'client.created', clientId: client.client_id, details: auditView(client) });
        return { ...client, ...(secret ? { client_secret: secret.secret } : {}) };
      }),
  });

  api.route({
    method: 'get',
    path: '/clients/:id',
    operationId: 'getClient',
    tag: 'clients',
    summary: 'Read a client (never its secret)',
    params: IdParam,
    status: 200,
    response: Client,
    responseDescription: 'The client',
    handler: async ({ params }) => {
      const client = await deps.prisma.client.findUnique({ where: { clientId: params.id } });
      if (!client) throw notFound('client');
      return toClient(client);
    },
  });

  api.route({
    method: 'patch',
    path: '/clients/:id',
    operationId: 'updateClient',
    tag: 'clients',
    summary: 'Update a client',
    params: IdParam,
    body: ClientPatch,
    status: 200,
    response: ClientWithSecret,
    responseDescription: 'The updated client; with `client_secret` only when a secret was newly issued',
    handler: ({ params, body, admin, requestId }) =>
      changeWithAudit(deps.prisma, { admin, requestId }, async (tx, record) => {
        const current = (await lockRow(tx, 'clients', params.id)) ? await tx.client.findUnique({ where: { clientId: params.id } }) : null;
        if (!current) throw notFound('client');
        const row = toClient(current);
        const method = body.token_endpoint_auth_method ?? row.token_endpoint_auth_method;
        requireKeysFor(method, body.jwks === undefined ? row.jwks : body.jwks);
        await requireExisting(tx, 'actor', body.allowed_actors, 'allowed_actors');
        await requireExisting(tx, 'resource', body.protected_resources, 'protected_resources');

        const switching = usesSecret(method) !== usesSecret(row.token_endpoint_auth_method);
        const secret = switching && usesSecret(method) ? newSecret() : null;
        const updated = await tx.client.update({
          where: { clientId: params.id },
          data: {
            tokenEndpointAuthMethod: body.token_endpoint_auth_method,
            jwks: body.jwks === undefined ? undefined : jsonOrNull(body.jwks),
            actorId: body.actor,
            allowedActors: body.allowed_actors,
            scope: body.scope,
            protectedResources: body.protected_resources,
            ...(switching ? { clientSecretHash: secret?.hash ?? null } : {}),
            updatedAt: new Date(),
          },
        });
        const after = toClient(updated);
        const changes = fieldChanges(auditView(row), auditView(after), AUDITED);
        const credentialsChanged = switching || (body.jwks !== undefined && canonicalJson(body.jwks) !== canonicalJson(row.jwks));
        const adminScopeTaken = holdsAdminScope(row.scope) && !holdsAdminScope(after.scope);
        const tokensRevoked = credentialsChanged || adminScopeTaken ? await revokeClientCredentialsTokens(tx, after.client_id) : 0;
        if (Object.keys(changes).length > 0) {
          await record({
            type: 'client.updated',
            clientId: after.client_id,
            details: { changes, secret_issued: secret !== null, ...(tokensRevoked > 0 ? { admin_tokens_revoked: tokensRevoked } : {}) },
          });
        }
        return { ...after, ...(secret ? { client_secret: secret.secret } : {}) };
      }),
  });

  api.route({
    method: 'post',
    path: '/clients/:id/secret',
    operationId: 'rotateClientSecret',
    tag: 'clients',
    summary: 'Rotate a client’s secret',
    description:
      'Issues a new secret (returned once); the old one stops working at once, and so do the admin tokens the client obtained with it. ' +
      '409 for private_key_jwt clients.',
    params: IdParam,
    status: 200,
    response: ClientWithSecret,
    responseDescription: 'The client with its new secret',
    errors: [409],
    handler: ({ params, admin, requestId }) =>
      changeWithAudit(deps.prisma, { admin, requestId }, async (tx, record) => {
        const current = (await lockRow(tx, 'clients', params.id)) ? await tx.client.findUnique({ where: { clientId: params.id } }) : null;
        if (!current) throw notFound('client');
        const row = toClient(current);
        if (!usesSecret(row.token_endpoint_auth_method)) throw conflict('this client authenticates with private_key_jwt and has no secret');
        const secret = newSecret();
        await tx.client.update({ where: { clientId: params.id }, data: { clientSecretHash: secret.hash, updatedAt: new Date() } });
        const tokensRevoked = await revokeClientCredentialsTokens(tx, row.client_id);
        await record({ type: 'client.secret_rotated', clientId: row.client_id, details: { admin_tokens_revoked: tokensRevoked } });
        return { ...row, client_secret: secret.secret };
      }),
  });
}
