/**
 * The console reads and writes through the admin API itself: each call runs the admin router's
 * own middleware (validation, handlers, audit, error mapping) in-process, as the signed-in
 * admin (`actAs`), so the console has no authorization path, validation message or audit event
 * of its own. Nothing goes over the network.
 */
import { IncomingMessage, ServerResponse } from 'node:http';
import { Socket } from 'node:net';
import type Router from '@koa/router';
import Koa from 'koa';
import { actAs, type AdminPrincipal } from '../admin/auth.js';
import { ADMIN_PREFIX } from '../admin/router.js';

export interface AdminCall {
  method: 'GET' | 'POST' | 'PATCH' | 'DELETE';
  /** Relative to /admin/v1, e.g. `/actors`. */
  path: string;
  query?: Record<string, string | undefined>;
  body?: unknown;
}

export interface AdminReply<T = any> {
  status: number;
  body: T;
}

/** An admin API error body: `{ error, error_description, issues? }`. */
export interface AdminErrorBody {
  error: string;
  error_description: string;
  issues?: Array<{ in: string; path: Array<string | number>; code: string; message: string }>;
}

export type AdminDispatch = <T = any>(admin: AdminPrincipal, requestId: string, call: AdminCall) => Promise<AdminReply<T>>;

export function createAdminDispatch(adminRouter: Router): AdminDispatch {
  const routes = adminRouter.routes();
  const contexts = new Koa();
  return async function dispatch(admin, requestId, { method, path, query, body }) {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(query ?? {})) if (value !== undefined && value !== '') search.set(name, value);
    const req = new IncomingMessage(new Socket());
    req.method = method;
    req.url = `${ADMIN_PREFIX}${path}${search.size ? `?${search}` : ''}`;
    req.headers = { host: 'console.invalid', ...(body === undefined ? {} : { 'content-type': 'application/json' }) };
    const ctx = contexts.createContext(req, new ServerResponse(req));
    ctx.state.requestId = requestId;
    actAs(ctx.state, admin);
    // The body is already an object: @koa/bodyparser leaves a set body alone.
    if (body !== undefined) ctx.request.body = body;
    await routes(ctx as never, async () => {});
    return { status: ctx.status, body: ctx.body as never };
  };
}
