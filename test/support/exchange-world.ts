/**
 * A small delegation world for the HTTP-level token-exchange acceptance tests, built by SQL on a
 * running test Deputy's database, plus helpers to sign user tokens and actor assertions and to
 * call /token, /token/introspection and /token/revocation over real HTTP.
 *
 * The world (every actor targets RESOURCE only):
 * - trusted user issuer USER_ISSUER (inline ES256 JWKS, audience = Deputy's issuer);
 * - subjects alice and bob; alice is entitled to read/write/delete/admin, bob to read;
 * - actors agent:a (may delegate to agent:b), agent:b (may delegate to agent:c), agent:c, each
 *   with its own ES256 key, ceiling read/write/delete/admin;
 * - grants alice → agent:a, agent:b, agent:c on RESOURCE with scopes read/write/delete;
 * - clients app-a (client_secret_basic, actor agent:a, may present agent:b and agent:c),
 *   app-b (agent:b), app-c (agent:c), app-jwt (private_key_jwt, actor agent:a),
 *   app-none (client_secret_basic, no actor), resource-server (client_secret_basic, protects
 *   RESOURCE and OTHER_RESOURCE: the default caller of introspection, which answers only a
 *   token's own client, its audience's resource servers and admins).
 */
import { randomUUID } from 'node:crypto';
import { SignJWT, exportJWK, generateKeyPair, type CryptoKey, type JWK, type JWTPayload } from 'jose';
import { hashClientSecret } from '../../src/oauth/client-secrets.js';
import type { Logger } from '../../src/log.js';
import type { ComposeOptions } from '../../src/composition.js';
import { startTestDeputy, type TestDeputy } from './deputy.js';

export const PEPPER = 'exchange-world-pepper-0123456789abcdef';
export const USER_ISSUER = 'https://idp.test';
export const RESOURCE = 'https://api.test/tickets';
export const OTHER_RESOURCE = 'https://api.test/billing';
export const RESOURCE_SCOPES = ['read', 'write', 'delete', 'admin'] as const;
export const GRANT_TYPE = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const TT = {
  accessToken: 'urn:ietf:params:oauth:token-type:access_token',
  jwt: 'urn:ietf:params:oauth:token-type:jwt',
  idToken: 'urn:ietf:params:oauth:token-type:id_token',
} as const;
export const ACTORS = ['agent:a', 'agent:b', 'agent:c'] as const;
export const SECRETS: Record<string, string> = {
  'app-a': 'secret-of-app-a',
  'app-b': 'secret-of-app-b',
  'app-c': 'secret-of-app-c',
  'app-none': 'secret-of-app-none',
  'resource-server': 'secret-of-resource-server',
};

export interface KeyPair {
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
}

export async function makeKeyPair(kid: string): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  return { kid, privateKey, publicKey, publicJwk: { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' } };
}

/** How the client authenticates to /token (and to introspection/revocation). */
export type ClientAuth =
  | { clientId: string; method?: 'basic' | 'post'; secret?: string }
  | { clientId: string; method: 'private_key_jwt' }
  | { method: 'none' };

export interface HttpResult {
  status: number;
  headers: Headers;
  json: Record<string, unknown>;
  text: string;
}

export interface TokenOverrides {
  /** Claims merged over the defaults; a value of `undefined` removes the claim. */
  claims?: Record<string, unknown>;
  /** Header parameters merged over `{ alg: 'ES256', kid, typ: 'JWT' }`. */
  header?: Record<string, unknown>;
  /** Sign with another key (the kid in the header still names the registered one unless overridden). */
  key?: CryptoKey;
}

export interface World {
  deputy: TestDeputy;
  issuer: string;
  userKey: KeyPair;
  actorKeys: Record<string, KeyPair>;
  clientJwtKey: KeyPair;
  grantIds: Record<string, string>;
  userToken(sub: string, overrides?: TokenOverrides): Promise<string>;
  actorAssertion(actorId: string, overrides?: TokenOverrides): Promise<string>;
  exchange(params: Record<string, string | string[]>, auth?: ClientAuth): Promise<HttpResult>;
  /** A plain user-token exchange by app-a (actor agent:a) for alice on RESOURCE. */
  exchangeAs(sub: string, params?: Record<string, string | string[]>, auth?: ClientAuth): Promise<HttpResult>;
  /** Introspects as `auth`, by default as resource-server (a resource server of every resource). */
  introspect(token: string, auth?: ClientAuth): Promise<HttpResult>;
  revoke(token: string, auth?: ClientAuth): Promise<HttpResult>;
  auditCount(where?: Record<string, string | null>): Promise<number>;
  issuedCount(): Promise<number>;
  sql<T extends Record<string, unknown> = Record<string, unknown>>(text: string, values?: unknown[]): Promise<T[]>;
  /** Adds a subject with entitlements and grants (returns the grant ids by actor). */
  addSubject(id: string, options?: SubjectSetup): Promise<Record<string, string>>;
  addGrant(subjectId: string, actorId: string, scopes: string[], expiresAt?: Date | null, resource?: string): Promise<string>;
  /** Adds an actor (keyless unless `jwks` is given) and, when `clientId` is given, a client_secret_basic client bound to it. */
  addActor(id: string, setup?: ActorSetup): Promise<void>;
  /**
   * Runs a request that must be refused: checks status and error code, the safe error shape,
   * that no issued_tokens row was added and that exactly one token.exchange_denied audit event
   * with that error was written. Returns the result.
   */
  expectRefused(run: () => Promise<HttpResult>, error: string, status?: number): Promise<HttpResult>;
  /** The newest audit event of a type. */
  lastEvent(type?: string): Promise<Record<string, unknown> | undefined>;
  stop(): Promise<void>;
}

export interface ActorSetup {
  scopeCeiling?: string[];
  resources?: string[];
  maxTokenTtl?: number | null;
  expiresAt?: Date | null;
  mayDelegateTo?: string[];
  jwks?: { keys: JWK[] } | null;
  /** Also registers a client_secret_basic client bound to the actor, with secret `secret-of-<clientId>`. */
  clientId?: string;
}

export interface SubjectSetup {
  entitlements?: Array<string | { scope: string; expiresAt: Date | null }>;
  /** actor id → scopes (or scopes and expiry). */
  grants?: Record<string, string[] | { scopes: string[]; expiresAt: Date | null }>;
  status?: 'active' | 'disabled';
}

const nowSeconds = () => Math.floor(Date.now() / 1000);

function merge(base: Record<string, unknown>, overrides: Record<string, unknown> = {}): Record<string, unknown> {
  const merged: Record<string, unknown> = { ...base, ...overrides };
  for (const [name, value] of Object.entries(merged)) if (value === undefined) delete merged[name];
  return merged;
}

async function sign(claims: Record<string, unknown>, header: Record<string, unknown>, key: CryptoKey): Promise<string> {
  return new SignJWT(claims as JWTPayload).setProtectedHeader(header as { alg: string }).sign(key);
}

export async function startExchangeWorld(env: Record<string, string> = {}, logger?: Logger, compose?: ComposeOptions): Promise<World> {
  const deputy = await startTestDeputy({ CLIENT_SECRET_PEPPER: PEPPER, ...env }, undefined, logger, compose);
  try {
    return await buildWorld(deputy);
  } catch (error) {
    await deputy.stop();
    throw error;
  }
}

export async function buildWorld(deputy: TestDeputy): Promise<World> {
  const pool = deputy.pool;
  const issuer = deputy.config.ISSUER;
  const q = async <T extends Record<string, unknown>>(text: string, values: unknown[] = []) => (await pool.query<T>(text, values)).rows;

  const userKey = await makeKeyPair('idp-key-1');
  const actorKeys: Record<string, KeyPair> = {};
  for (const actor of ACTORS) actorKeys[actor] = await makeKeyPair(`${actor}-key`);
  const clientJwtKey = await makeKeyPair('app-jwt-key');

  await q(`INSERT INTO trusted_issuers (issuer, jwks, audience, kind, subject_claim, algorithms)
           VALUES ($1, $2, $3, 'user', 'sub', ARRAY['ES256'])`, [USER_ISSUER, { keys: [userKey.publicJwk] }, issuer]);
  await q(`INSERT INTO resources (uri, scopes) VALUES ($1, $2), ($3, $4)`, [RESOURCE, [...RESOURCE_SCOPES], OTHER_RESOURCE, ['read']]);
  await q(`INSERT INTO subjects (id, email) VALUES ('alice', 'alice@example.test'), ('bob', 'bob@example.test')`);
  for (const scope of RESOURCE_SCOPES) {
    await q(`INSERT INTO entitlements (subject_id, resource_uri, scope) VALUES ('alice', $1, $2)`, [RESOURCE, scope]);
  }
  await q(`INSERT INTO entitlements (subject_id, resource_uri, scope) VALUES ('bob', $1, 'read')`, [RESOURCE]);
  await q(`INSERT INTO entitlements (subject_id, resource_uri, scope) VALUES ('alice', $1, 'read')`, [OTHER_RESOURCE]);

  const delegation: Record<string, string[]> = { 'agent:a': ['agent:b'], 'agent:b': ['agent:c'], 'agent:c': [] };
  for (const actor of ACTORS) {
    await q(
      `INSERT INTO actors (id, kind, owner_id, purpose, jwks, scope_ceiling, resources, may_delegate_to)
       VALUES ($1, 'agent', 'alice', 'test agent', $2, $3, $4, $5)`,
      [actor, { keys: [actorKeys[actor]!.publicJwk] }, [...RESOURCE_SCOPES], [RESOURCE], delegation[actor]],
    );
  }

  const clients: Array<[string, string, string | null, string[], unknown]> = [
    ['app-a', 'client_secret_basic', 'agent:a', ['agent:b', 'agent:c'], null],
    ['app-b', 'client_secret_basic', 'agent:b', [], null],
    ['app-c', 'client_secret_basic', 'agent:c', [], null],
    ['app-none', 'client_secret_basic', null, [], null],
    ['app-jwt', 'private_key_jwt', 'agent:a', [], { keys: [clientJwtKey.publicJwk] }],
  ];
  for (const [clientId, method, actorId, allowed, jwks] of clients) {
    const secret = SECRETS[clientId];
    await q(
      `INSERT INTO clients (client_id, client_secret_hash, token_endpoint_auth_method, jwks, actor_id, allowed_actors)
       VALUES ($1, $2, $3, $4, $5, $6)`,
      [clientId, secret ? hashClientSecret(secret, PEPPER) : null, method, jwks, actorId, allowed],
    );
  }
  await q(
    `INSERT INTO clients (client_id, client_secret_hash, token_endpoint_auth_method, protected_resources) VALUES ('resource-server', $1, 'client_secret_basic', $2)`,
    [hashClientSecret(SECRETS['resource-server']!, PEPPER), [RESOURCE, OTHER_RESOURCE]],
  );

  async function addGrant(subjectId: string, actorId: string, scopes: string[], expiresAt: Date | null = null, resource = RESOURCE): Promise<string> {
    const [row] = await q<{ id: string }>(
      `INSERT INTO delegation_grants (subject_id, actor_id, resource_uri, scopes, expires_at) VALUES ($1, $2, $3, $4, $5) RETURNING id`,
      [subjectId, actorId, resource, scopes, expiresAt],
    );
    return row!.id;
  }

  const grantIds: Record<string, string> = {};
  for (const actor of ACTORS) grantIds[actor] = await addGrant('alice', actor, ['read', 'write', 'delete']);

  async function addSubject(id: string, setup: SubjectSetup = {}): Promise<Record<string, string>> {
    await q(`INSERT INTO subjects (id, email, status) VALUES ($1, $2, $3)`, [id, `${id}@example.test`, setup.status ?? 'active']);
    for (const entry of setup.entitlements ?? []) {
      const { scope, expiresAt } = typeof entry === 'string' ? { scope: entry, expiresAt: null } : entry;
      await q(`INSERT INTO entitlements (subject_id, resource_uri, scope, expires_at) VALUES ($1, $2, $3, $4)`, [id, RESOURCE, scope, expiresAt]);
    }
    const ids: Record<string, string> = {};
    for (const [actor, spec] of Object.entries(setup.grants ?? {})) {
      const { scopes, expiresAt } = Array.isArray(spec) ? { scopes: spec, expiresAt: null } : spec;
      ids[actor] = await addGrant(id, actor, scopes, expiresAt);
    }
    return ids;
  }

  async function userToken(sub: string, overrides: TokenOverrides = {}): Promise<string> {
    const now = nowSeconds();
    const claims = merge({ iss: USER_ISSUER, sub, aud: issuer, iat: now, exp: now + 600, jti: randomUUID() }, overrides.claims);
    const header = merge({ alg: 'ES256', kid: userKey.kid, typ: 'JWT' }, overrides.header);
    return sign(claims, header, overrides.key ?? userKey.privateKey);
  }

  async function actorAssertion(actorId: string, overrides: TokenOverrides = {}): Promise<string> {
    const now = nowSeconds();
    const key = actorKeys[actorId];
    const claims = merge({ iss: actorId, sub: actorId, aud: issuer, iat: now, exp: now + 120, jti: randomUUID() }, overrides.claims);
    const header = merge({ alg: 'ES256', kid: key?.kid ?? 'unknown-key', typ: 'JWT' }, overrides.header);
    const signingKey = overrides.key ?? key?.privateKey;
    if (!signingKey) throw new Error(`no key for ${actorId}; pass overrides.key`);
    return sign(claims, header, signingKey);
  }

  async function clientAssertion(clientId: string): Promise<string> {
    const now = nowSeconds();
    return sign(
      { iss: clientId, sub: clientId, aud: issuer, iat: now, exp: now + 60, jti: randomUUID() },
      { alg: 'ES256', kid: clientJwtKey.kid },
      clientJwtKey.privateKey,
    );
  }

  async function post(path: string, params: Record<string, string | string[]>, auth: ClientAuth): Promise<HttpResult> {
    const body = new URLSearchParams();
    for (const [name, value] of Object.entries(params)) {
      for (const item of Array.isArray(value) ? value : [value]) body.append(name, item);
    }
    const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' };
    if (auth.method === 'private_key_jwt') {
      body.set('client_id', auth.clientId);
      body.set('client_assertion_type', 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer');
      body.set('client_assertion', await clientAssertion(auth.clientId));
    } else if (auth.method !== 'none') {
      const secret = auth.secret ?? SECRETS[auth.clientId] ?? '';
      if (auth.method === 'post') {
        body.set('client_id', auth.clientId);
        body.set('client_secret', secret);
      } else {
        const user = encodeURIComponent(auth.clientId);
        headers.authorization = `Basic ${Buffer.from(`${user}:${encodeURIComponent(secret)}`).toString('base64')}`;
      }
    }
    const response = await fetch(`${deputy.url}${path}`, { method: 'POST', headers, body: body.toString() });
    const text = await response.text();
    let json: Record<string, unknown> = {};
    try {
      json = text ? (JSON.parse(text) as Record<string, unknown>) : {};
    } catch {
      json = {};
    }
    return { status: response.status, headers: response.headers, json, text };
  }

  const defaultAuth: ClientAuth = { clientId: 'app-a' };
  const resourceServer: ClientAuth = { clientId: 'resource-server' };

  async function addActor(id: string, setup: ActorSetup = {}): Promise<void> {
    await q(
      `INSERT INTO actors (id, kind, owner_id, purpose, jwks, scope_ceiling, resources, may_delegate_to, max_token_ttl, expires_at)
       VALUES ($1, 'agent', 'alice', 'test agent', $2, $3, $4, $5, $6, $7)`,
      [id, setup.jwks ?? null, setup.scopeCeiling ?? [...RESOURCE_SCOPES], setup.resources ?? [RESOURCE], setup.mayDelegateTo ?? [], setup.maxTokenTtl ?? null, setup.expiresAt ?? null],
    );
    if (setup.clientId) {
      const secret = `secret-of-${setup.clientId}`;
      SECRETS[setup.clientId] = secret;
      await q(
        `INSERT INTO clients (client_id, client_secret_hash, token_endpoint_auth_method, actor_id) VALUES ($1, $2, 'client_secret_basic', $3)`,
        [setup.clientId, hashClientSecret(secret, PEPPER), id],
      );
    }
  }

  async function countAudit(where: Record<string, string | null> = {}): Promise<number> {
    const clauses: string[] = [];
    const values: unknown[] = [];
    for (const [column, value] of Object.entries(where)) {
      if (!/^[a-z_]+$/.test(column)) throw new Error(`bad column ${column}`);
      if (value === null) clauses.push(`${column} IS NULL`);
      else {
        values.push(value);
        clauses.push(`${column} = $${values.length}`);
      }
    }
    const [row] = await q<{ n: number }>(
      `SELECT count(*)::int AS n FROM audit_events${clauses.length ? ` WHERE ${clauses.join(' AND ')}` : ''}`,
      values,
    );
    return row!.n;
  }

  async function issuedCount(): Promise<number> {
    const [row] = await q<{ n: number }>('SELECT count(*)::int AS n FROM issued_tokens');
    return row!.n;
  }

  async function expectRefused(run: () => Promise<HttpResult>, error: string, status = 400): Promise<HttpResult> {
    const before = { issued: await issuedCount(), events: await countAudit(), denied: await countAudit({ type: 'token.exchange_denied', error }) };
    const result = await run();
    const where = `refusal expected (${status} ${error}), got ${result.status} ${result.text}`;
    if (result.status !== status || result.json.error !== error) throw new Error(where);
    expectRefusalShape(result);
    const after = { issued: await issuedCount(), events: await countAudit(), denied: await countAudit({ type: 'token.exchange_denied', error }) };
    if (after.issued !== before.issued) throw new Error(`${where}: an issued_tokens row was added`);
    if (after.events !== before.events + 1 || after.denied !== before.denied + 1) {
      throw new Error(`${where}: expected exactly one token.exchange_denied/${error} audit event, got ${after.events - before.events} events, ${after.denied - before.denied} matching`);
    }
    return result;
  }

  return {
    deputy,
    issuer,
    userKey,
    actorKeys,
    clientJwtKey,
    grantIds,
    userToken,
    actorAssertion,
    exchange: (params, auth = defaultAuth) => post('/token', { grant_type: GRANT_TYPE, ...params }, auth),
    async exchangeAs(sub, params = {}, auth = defaultAuth) {
      return post(
        '/token',
        { grant_type: GRANT_TYPE, subject_token: await userToken(sub), subject_token_type: TT.jwt, resource: RESOURCE, ...params },
        auth,
      );
    },
    introspect: (token, auth = resourceServer) => post('/token/introspection', { token }, auth),
    revoke: (token, auth = defaultAuth) => post('/token/revocation', { token }, auth),
    auditCount: countAudit,
    issuedCount,
    addActor,
    expectRefused,
    async lastEvent(type) {
      const rows = await q(
        `SELECT * FROM audit_events ${type ? 'WHERE type = $1' : ''} ORDER BY id DESC LIMIT 1`,
        type ? [type] : [],
      );
      return rows[0];
    },
    sql: (text, values) => q(text, values),
    addSubject,
    addGrant,
    stop: () => deputy.stop(),
  };
}

/** Decodes a JWT's payload without verifying it. */
export function claimsOf(token: string): Record<string, unknown> {
  const payload = token.split('.')[1] ?? '';
  return JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<string, unknown>;
}

/** An exchange refusal: the RFC 6749 §5.2 shape, no token, no-store, nothing internal leaked. */
export function expectRefusalShape(result: HttpResult): void {
  if (result.json.access_token !== undefined) throw new Error(`unexpected access_token in ${result.text}`);
  const keys = Object.keys(result.json).sort();
  if (JSON.stringify(keys) !== JSON.stringify(['error', 'error_description']) && JSON.stringify(keys) !== JSON.stringify(['error'])) {
    throw new Error(`unexpected error body keys ${keys.join(',')}: ${result.text}`);
  }
  if (result.headers.get('cache-control') !== 'no-store') throw new Error(`cache-control is ${result.headers.get('cache-control')}`);
  const leaks = [/\n\s+at /, /\bat [\w.<>]+ \(/, /node_modules/, /\.[jt]s:\d+/, /\b(SELECT|INSERT|UPDATE|DELETE) /, / FROM [a-z_]+/, /\bWHERE\b/, /syntax error/i, /relation "/, /\bpg_\w+/, /duplicate key/i, /violates/i, /ECONN/, /Error:/];
  if (leaks.some((pattern) => pattern.test(result.text))) {
    throw new Error(`the error body leaks internals: ${result.text}`);
  }
}
