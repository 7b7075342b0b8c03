/**
 * Where the CLI talks to and as whom: the connection (profile, overridden by DEPUTY_URL,
 * DEPUTY_CLIENT_ID / DEPUTY_CLIENT_SECRET and DEPUTY_ADMIN_TOKEN), and the HTTP calls made with
 * it. Every request carries a timeout; a request that cannot reach the server is an
 * UnreachableError (exit 3), an error answer a RefusedError (exit 1).
 *
 * Admin calls go through the openapi-fetch client typed by src/cli/generated/admin-api.ts,
 * generated from the admin API's own OpenAPI document (scripts/generate-admin-client.ts).
 */
import createClient, { type Client } from 'openapi-fetch';
import type { operations, paths } from './generated/admin-api.js';
import { RefusedError, UsageError, refusal, unreachable } from './errors.js';
import { DEFAULT_PROFILE, ProfileName, readProfile } from './profiles.js';

export type AdminClient = Client<paths>;
/**
 * An operation's JSON body and query. Build them as object literals of these types, so that a
 * field the API renamed or dropped is a type error (spreads and helper results escape
 * TypeScript's excess-property check). Undefined members are left out on the wire.
 */
export type RequestBody<O extends keyof operations> = operations[O] extends { requestBody?: { content: { 'application/json': infer B } } } ? B : never;
export type Query<O extends keyof operations> = Omit<NonNullable<operations[O]['parameters']['query']>, 'limit' | 'cursor'>;

/** Whether an update body names anything to change. */
export const changesSomething = (body: object) => Object.values(body).some((value) => value !== undefined);

/** Deputy's fixed OAuth routes, relative to its URL (src/oauth/provider.ts). */
export const OAUTH_PATHS = {
  token: '/token',
  introspection: '/token/introspection',
  jwks: '/jwks',
  metadata: '/.well-known/oauth-authorization-server',
} as const;
export const ADMIN_SCOPE = 'deputy:admin';

export interface ClientCredentials {
  id: string;
  secret: string;
}

export interface Connection {
  url: string;
  /** A bearer token for the admin API (DEPUTY_ADMIN_TOKEN or a stored one). */
  token?: string;
  client?: ClientCredentials;
}

export interface GlobalOptions {
  profile?: string;
  timeout: number;
}

export function normalizeUrl(value: string): string {
  const url = URL.parse(value);
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) throw new UsageError('the URL must be an http(s) URL');
  if (url.username || url.password) throw new UsageError('the URL must not carry credentials');
  if (url.search || url.hash) throw new UsageError('the URL must not have a query or fragment');
  return url.href.replace(/\/+$/, '');
}

export async function resolveConnection(globals: GlobalOptions, env: NodeJS.ProcessEnv = process.env): Promise<Connection> {
  const explicit = globals.profile ?? env.DEPUTY_PROFILE;
  const name = explicit ?? DEFAULT_PROFILE;
  if (!ProfileName.safeParse(name).success) throw new UsageError(`invalid profile name`);
  const profile = await readProfile(name, env);
  if (explicit && !profile && !env.DEPUTY_URL) throw new UsageError(`no profile named "${name}": run deputy login --profile ${name} --url …`);

  const url = env.DEPUTY_URL || profile?.url;
  if (!url) throw new UsageError('no Deputy URL: run deputy login --url … or set DEPUTY_URL');

  // Credentials from the environment replace the profile's as a whole, never mixed with them.
  const fromEnv = Boolean(env.DEPUTY_ADMIN_TOKEN || env.DEPUTY_CLIENT_ID || env.DEPUTY_CLIENT_SECRET);
  if (fromEnv) {
    if (Boolean(env.DEPUTY_CLIENT_ID) !== Boolean(env.DEPUTY_CLIENT_SECRET)) {
      throw new UsageError('set both DEPUTY_CLIENT_ID and DEPUTY_CLIENT_SECRET, or neither');
    }
    return {
      url: normalizeUrl(url),
      ...(env.DEPUTY_ADMIN_TOKEN ? { token: env.DEPUTY_ADMIN_TOKEN } : {}),
      ...(env.DEPUTY_CLIENT_ID && env.DEPUTY_CLIENT_SECRET ? { client: { id: env.DEPUTY_CLIENT_ID, secret: env.DEPUTY_CLIENT_SECRET } } : {}),
    };
  }
  if (!profile) return { url: normalizeUrl(url) };
  return 'token' in profile
    ? { url: normalizeUrl(url), token: profile.token }
    : { url: normalizeUrl(url), client: { id: profile.client_id, secret: profile.client_secret } };
}

/** RFC 6749 §2.3.1: the id and secret are form-encoded before Basic encoding. */
export function basicAuthorization({ id, secret }: ClientCredentials): string {
  const encode = (value: string) => encodeURIComponent(value).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${encode(id)}:${encode(secret)}`).toString('base64')}`;
}

async function readJson(response: Response): Promise<unknown> {
  const text = await response.text();
  try {
    return text ? JSON.parse(text) : undefined;
  } catch {
    return undefined;
  }
}

export class Session {
  private metadata?: { issuer: string };

  constructor(
    readonly connection: Connection,
    private readonly timeoutSeconds: number,
  ) {}

  static async open(globals: GlobalOptions): Promise<Session> {
    return new Session(await resolveConnection(globals), globals.timeout);
  }

  get url(): string {
    return this.connection.url;
  }

  /** fetch with the session's timeout; network failures become UnreachableError. */
  readonly fetch = async (input: Request | string, init: RequestInit = {}): Promise<Response> => {
    try {
      return await fetch(input, { ...init, signal: AbortSignal.timeout(this.timeoutSeconds * 1000) });
    } catch (error) {
      throw unreachable(new URL(typeof input === 'string' ? input : input.url).origin, error);
    }
  };

  /** A JSON answer of one of Deputy's OAuth endpoints, or its error as a RefusedError. */
  async oauthJson(path: string, init: RequestInit = {}): Promise<Record<string, unknown>> {
    const response = await this.fetch(`${this.url}${path}`, { ...init, headers: { accept: 'application/json', ...init.headers } });
    const body = await readJson(response);
    if (!response.ok) throw refusal(response.status, body);
    if (!body || typeof body !== 'object' || Array.isArray(body)) {
      throw new RefusedError('unexpected_response', `${path} did not answer JSON`, response.status);
    }
    return body as Record<string, unknown>;
  }

  /** POST a form to one of Deputy's OAuth endpoints, authenticated as `client`. */
  postForm(path: string, form: Record<string, string>, client: ClientCredentials): Promise<Record<string, unknown>> {
    return this.oauthJson(path, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basicAuthorization(client) },
      body: new URLSearchParams(form),
    });
  }

  /** Deputy's issuer (RFC 8414 metadata). */
  async issuer(): Promise<string> {
    if (!this.metadata) {
      const body = await this.oauthJson(OAUTH_PATHS.metadata);
      if (typeof body.issuer !== 'string') throw new RefusedError('unexpected_response', 'the server metadata names no issuer', 200);
      this.metadata = { issuer: body.issuer };
    }
    return this.metadata.issuer;
  }

  /** Whether admin calls are possible at all with this connection's credentials. */
  get hasAdminCredentials(): boolean {
    return Boolean(this.connection.token || this.connection.client);
  }

  /** The bearer token for the admin API: the stored/env token, or a fresh client_credentials token. */
  async adminToken(): Promise<string> {
    if (this.connection.token) return this.connection.token;
    const client = this.connection.client;
    if (!client) throw new UsageError('no admin credentials: run deputy login (--token, or an admin client) or set DEPUTY_ADMIN_TOKEN');
    const body = await this.postForm(OAUTH_PATHS.token, { grant_type: 'client_credentials', scope: ADMIN_SCOPE }, client);
    if (typeof body.access_token !== 'string') throw new RefusedError('unexpected_response', 'the token endpoint returned no access_token', 200);
    return body.access_token;
  }

  async admin(): Promise<AdminClient> {
    const token = await this.adminToken();
    return createClient<paths>({
      baseUrl: this.url,
      headers: { authorization: `Bearer ${token}` },
      fetch: (request: Request) => this.fetch(request),
    });
  }
}

/** The data of a typed admin call, or its error answer as a RefusedError. */
export async function unwrap<T>(call: Promise<{ data?: T; error?: unknown; response: Response }>): Promise<T> {
  const { data, error, response } = await call;
  if (!response.ok) throw refusal(response.status, error);
  return data as T;
}
