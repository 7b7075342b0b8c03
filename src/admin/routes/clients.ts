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
import { assignments, changeWithAuditSql, fieldChanges } from '../changes.js';
import { conflict, invalidRequest, notFound } from '../errors.js';
import { Filters, listPage, type KeyColumn } from '../pagination.js';
import { requireExisting } from '../references.js';
import type { AdminDeps } from '../router.js';
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

interface ClientRow extends Record<string, unknown> {
  client_id: string;
  token_endpoint_auth_method: AuthMethodValue;
  jwks: JwksValue | null;
  actor_id: string | null;
  allowed_actors: string[];
  scope: string;
  protected_resources: string[];
  created_at: Date;
}

const COLUMNS = 'client_id, token_endpoint_auth_method, jwks, actor_id, allowed_actors, scope, protected_resources, created_at';
const KEY: KeyColumn[] = [
  { column: 'created_at', type: 'timestamptz', field: 'created_at' },
  { column: 'client_id', type: 'text', field: 'client_id' },
];

const toClient = (row: ClientRow): ClientOut => ({
  client_id: row.client_id,
  token_endpoint_auth_method: row.token_endpoint_auth_method,
  jwks: row.jwks,
  actor: row.actor_id,
  allowed_actors: row.allowed_actors,
  scope: row.scope,
  protected_resources: row.protected_resources,
  created_at: row.created_at.toISOString(),
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

export function clientRoutes(api: AdminApi, { pool, clientSecretPepper }: AdminDeps): void {
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
    handler: ({ query }) =>
      listPage(pool, {
        from: `SELECT ${COLUMNS} FROM clients`,
        filters: new Filters().when(query.actor, 'actor_id = $?'),
        key: KEY,
        limit: query.limit,
        cursor: query.cursor,
        toItem: toClient,
      }),
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
      changeWithAuditSql(pool, { admin, requestId }, async (db, record) => {
        requireKeysFor(body.token_endpoint_auth_method, body.jwks);
        await requireExisting(db, 'actor', body.allowed_actors, 'allowed_actors');
        await requireExisting(db, 'resource', body.protected_resources, 'protected_resources');
        const secret = usesSecret(body.token_endpoint_auth_method) ? newSecret() : null;
        const { rows } = await db.query<ClientRow>(
          `INSERT INTO clients (client_id, client_secret_hash, token_endpoint_auth_method, jwks, actor_id, allowed_actors, scope, protected_resources)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING ${COLUMNS}`,
          [body.client_id, secret?.hash ?? null, body.token_endpoint_auth_method, body.jwks ?? null, body.actor ?? null, body.allowed_actors, body.scope, body.protected_resources],
        );
        const client = toClient(rows[0]!);
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
      const { rows } = await pool.query<ClientRow>(`SELECT ${COLUMNS} FROM clients WHERE client_id = $1`, [params.id]);
      if (!rows[0]) throw notFound('client');
      return toClient(rows[0]);
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
      changeWithAuditSql(pool, { admin, requestId }, async (db, record) => {
        const current = await db.query<ClientRow>(`SELECT ${COLUMNS} FROM clients WHERE client_id = $1 FOR UPDATE`, [params.id]);
        const row = current.rows[0];
        if (!row) throw notFound('client');
        const method = body.token_endpoint_auth_method ?? row.token_endpoint_auth_method;
        requireKeysFor(method, body.jwks === undefined ? row.jwks : body.jwks);
        await requireExisting(db, 'actor', body.allowed_actors, 'allowed_actors');
        await requireExisting(db, 'resource', body.protected_resources, 'protected_resources');

        const columns: Record<string, unknown> = {};
        if (body.token_endpoint_auth_method !== undefined) columns.token_endpoint_auth_method = body.token_endpoint_auth_method;
        if (body.jwks !== undefined) columns.jwks = body.jwks;
        if (body.actor !== undefined) columns.actor_id = body.actor;
        if (body.allowed_actors !== undefined) columns.allowed_actors = body.allowed_actors;
        if (body.scope !== undefined) columns.scope = body.scope;
        if (body.protected_resources !== undefined) columns.protected_resources = body.protected_resources;
        const switching = usesSecret(method) !== usesSecret(row.token_endpoint_auth_method);
        const secret = switching && usesSecret(method) ? newSecret() : null;
        if (switching) columns.client_secret_hash = secret?.hash ?? null;

        const set = assignments(columns, 1);
        const { rows } = await db.query<ClientRow>(
          `UPDATE clients SET ${set.sql}, updated_at = now() WHERE client_id = $1 RETURNING ${COLUMNS}`,
          [params.id, ...set.values],
        );
        const after = toClient(rows[0]!);
        const changes = fieldChanges(auditView(toClient(row)), auditView(after), AUDITED);
        const credentialsChanged = switching || (body.jwks !== undefined && canonicalJson(body.jwks) !== canonicalJson(row.jwks));
        const adminScopeTaken = holdsAdminScope(row.scope) && !holdsAdminScope(after.scope);
        const tokensRevoked = credentialsChanged || adminScopeTaken ? await revokeClientCredentialsTokens(db, after.client_id) : 0;
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
      changeWithAuditSql(pool, { admin, requestId }, async (db, record) => {
        const current = await db.query<ClientRow>(`SELECT ${COLUMNS} FROM clients WHERE client_id = $1 FOR UPDATE`, [params.id]);
        const row = current.rows[0];
        if (!row) throw notFound('client');
        if (!usesSecret(row.token_endpoint_auth_method)) throw conflict('this client authenticates with private_key_jwt and has no secret');
        const secret = newSecret();
        await db.query('UPDATE clients SET client_secret_hash = $2, updated_at = now() WHERE client_id = $1', [params.id, secret.hash]);
        const tokensRevoked = await revokeClientCredentialsTokens(db, row.client_id);
        await record({ type: 'client.secret_rotated', clientId: row.client_id, details: { admin_tokens_revoked: tokensRevoked } });
        return { ...toClient(row), client_secret: secret.secret };
      }),
  });
}
