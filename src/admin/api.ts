/**
 * One declaration per admin route: its zod schemas for path, query and body, its response
 * schema, and its handler. `AdminApi.route` registers the route on the @koa/router AND its
 * operation in the OpenAPI registry from those same schemas, so the document cannot drift from
 * what the router serves and validates.
 *
 * Each route runs: error handling → authentication (unless public) → JSON-only body check
 * (415) → @koa/bodyparser (JSON, 64 KiB, 413) → zod validation (400) → the handler.
 */
import { bodyParser } from '@koa/bodyparser';
import type Router from '@koa/router';
import type { OpenAPIRegistry, RouteConfig } from '@asteasolutions/zod-to-openapi';
import type { Context, Middleware, Next } from 'koa';
import { z } from 'zod';
import type { AdminPrincipal, AdminState } from './auth.js';
import { ApiError, invalidRequest, issuesOf, type Issue } from './errors.js';
import { ErrorBody } from './schemas.js';

export const BODY_LIMIT = '64kb';

type Method = 'get' | 'post' | 'patch' | 'delete';
type Schema = z.ZodType | undefined;
type Parsed<S> = S extends z.ZodType ? z.output<S> : undefined;
type Reply<S> = S extends z.ZodType ? z.input<S> : void;

export interface RouteInput<P extends Schema, Q extends Schema, B extends Schema> {
  params: Parsed<P>;
  query: Parsed<Q>;
  body: Parsed<B>;
  /** The authenticated admin (`bootstrap` or `client:<id>`); empty on public routes. */
  admin: AdminPrincipal;
  requestId: string;
  ctx: Context;
}

export interface RouteSpec<P extends Schema, Q extends Schema, B extends Schema, R extends Schema> {
  method: Method;
  /** Relative to the router's prefix, @koa/router style: `/subjects/:id`. */
  path: string;
  operationId: string;
  tag: string;
  summary: string;
  description?: string;
  /** No authentication (only openapi.json). */
  public?: boolean;
  params?: P;
  query?: Q;
  body?: B;
  /** Whether a body must be sent (default true when `body` is given). */
  bodyRequired?: boolean;
  status: 200 | 201 | 204;
  response?: R;
  responseDescription: string;
  /** Error statuses this route can answer beyond the automatic ones (e.g. 409). */
  errors?: number[];
  handler(input: RouteInput<P, Q, B>): Promise<Reply<R>>;
}

const ERROR_DESCRIPTIONS: Record<number, string> = {
  400: 'Invalid request: malformed JSON, failed validation (see `issues`), or a reference to an unknown object',
  401: 'Missing or invalid bearer token',
  403: 'The token is valid but does not carry the deputy:admin scope',
  404: 'No object with this id',
  409: 'Conflicts with an existing object or with the object’s state',
  413: 'The request body exceeds 64 KiB',
  415: 'The request body is not application/json',
  500: 'Unexpected error (details are logged, never returned)',
  503: 'The database cannot be reached; retry later',
};

const toOpenApiPath = (path: string) => path.replace(/:([A-Za-z0-9_]+)/g, '{$1}');

function requireJsonBody(ctx: Context, next: Next): Promise<void> {
  const hasBody = (ctx.request.length ?? 0) > 0 || ctx.get('transfer-encoding') !== '';
  if (hasBody && !ctx.is('application/json')) {
    throw new ApiError(415, 'invalid_request', 'request bodies must be application/json');
  }
  return next();
}

function parse<S extends z.ZodType>(schema: S, value: unknown, location: Issue['in']): z.output<S> {
  const result = schema.safeParse(value);
  if (!result.success) {
    const issues = issuesOf(location, result.error);
    throw location === 'path' ? new ApiError(404, 'not_found', 'no such object') : invalidRequest(issues);
  }
  return result.data;
}

export class AdminApi {
  private readonly parseJson = bodyParser({ enableTypes: ['json'], jsonLimit: BODY_LIMIT, jsonStrict: true, encoding: 'utf-8' });

  constructor(
    private readonly router: Router,
    private readonly registry: OpenAPIRegistry,
    private readonly prefix: string,
    private readonly handleErrors: Middleware,
    private readonly authenticate: Middleware,
  ) {}

  route<P extends Schema = undefined, Q extends Schema = undefined, B extends Schema = undefined, R extends Schema = undefined>(
    spec: RouteSpec<P, Q, B, R>,
  ): void {
    const takesBody = spec.method === 'post' || spec.method === 'patch';
    const run = async (ctx: Context) => {
      rejectNulCharacters(ctx);
      const state = ctx.state as Partial<AdminState>;
      const input = {
        params: spec.params ? parse(spec.params, (ctx as Context & { params?: unknown }).params ?? {}, 'path') : undefined,
        query: spec.query ? parse(spec.query, ctx.query, 'query') : undefined,
        body: spec.body ? parse(spec.body, ctx.request.body ?? {}, 'body') : undefined,
        admin: state.admin ?? '',
        requestId: state.requestId ?? '',
        ctx,
      } as RouteInput<P, Q, B>;
      const result = await spec.handler(input);
      ctx.set('Cache-Control', 'no-store');
      ctx.status = spec.status;
      if (spec.status !== 204) ctx.body = result;
    };
    const chain: Middleware[] = [
      this.handleErrors,
      ...(spec.public ? [] : [this.authenticate]),
      ...(takesBody ? [requireJsonBody, this.parseJson as Middleware] : []),
      run,
    ];
    this.router.register(spec.path, [spec.method.toUpperCase()], chain as never, { name: spec.operationId });
    this.registry.registerPath(this.document(spec, takesBody));
  }

  private document<P extends Schema, Q extends Schema, B extends Schema, R extends Schema>(
    spec: RouteSpec<P, Q, B, R>,
    takesBody: boolean,
  ): RouteConfig {
    const statuses = new Set<number>(spec.errors ?? []);
    if (!spec.public) [401, 403, 500, 503].forEach((s) => statuses.add(s));
    if (spec.query || spec.body) statuses.add(400);
    if (takesBody) [413, 415].forEach((s) => statuses.add(s));
    if (spec.params) statuses.add(404);

    const responses: RouteConfig['responses'] = {
      [spec.status]: {
        description: spec.responseDescription,
        ...(spec.response ? { content: { 'application/json': { schema: spec.response } } } : {}),
      },
    };
    for (const status of [...statuses].sort()) {
      responses[status] = { description: ERROR_DESCRIPTIONS[status] ?? 'Error', content: { 'application/json': { schema: ErrorBody } } };
    }
    return {
      method: spec.method,
      path: toOpenApiPath(`${this.prefix}${spec.path}`),
      operationId: spec.operationId,
      tags: [spec.tag],
      summary: spec.summary,
      ...(spec.description ? { description: spec.description } : {}),
      ...(spec.public ? { security: [] } : { security: [{ bearer: [] }] }),
      request: {
        ...(spec.params ? { params: spec.params as unknown as z.ZodObject } : {}),
        ...(spec.query ? { query: spec.query as unknown as z.ZodObject } : {}),
        ...(spec.body
          ? { body: { required: spec.bodyRequired ?? true, content: { 'application/json': { schema: spec.body } } } }
          : {}),
      },
      responses,
    };
  }
}

const MAX_DEPTH = 32;

/** Where a NUL character hides in a value, as a path ('depth' past MAX_DEPTH); null when none. */
function nulPath(value: unknown, path: Array<string | number> = []): Array<string | number> | 'depth' | null {
  if (typeof value === 'string') return value.includes('\u0000') ? path : null;
  if (!value || typeof value !== 'object') return null;
  if (path.length >= MAX_DEPTH) return 'depth';
  const entries: Array<[string | number, unknown]> = Array.isArray(value) ? [...value.entries()] : Object.entries(value);
  for (const [key, item] of entries) {
    if (typeof key === 'string' && key.includes('\u0000')) return [...path, key];
    const found = nulPath(item, [...path, key]);
    if (found) return found;
  }
  return null;
}

/**
 * Deputy stores no NUL characters (PostgreSQL text cannot hold them): an id containing one names
 * nothing (404), and a query or body value containing one is a bad request (400), as is a body
 * nested deeper than any of the API's shapes.
 */
function rejectNulCharacters(ctx: Context): void {
  if (nulPath((ctx as Context & { params?: unknown }).params ?? {})) throw new ApiError(404, 'not_found', 'no such object');
  for (const [location, value] of [['query', ctx.query], ['body', ctx.request.body ?? {}]] as const) {
    const found = nulPath(value);
    if (found === 'depth') throw invalidRequest([{ in: location, path: [], code: 'too_deep', message: `must not nest deeper than ${MAX_DEPTH} levels` }]);
    if (found) throw invalidRequest([{ in: location, path: found, code: 'invalid_string', message: 'must not contain NUL characters' }]);
  }
}
