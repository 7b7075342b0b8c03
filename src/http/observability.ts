/**
 * Request ids, one JSON log line per request, HTTP metrics, and the operational endpoints
 * /healthz (process up), /readyz (database reachable, signing keys loaded) and /metrics.
 */
import { randomUUID } from 'node:crypto';
import type { Context, Next } from 'koa';
import type pg from 'pg';
import type { Logger } from '../log.js';
import type { KeyRing } from '../keys/key-ring.js';
import type { Metrics } from './metrics.js';

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

declare module 'koa' {
  interface DefaultState {
    requestId: string;
    /** Set when Deputy's token-exchange handler ran (and audited the outcome). */
    exchangeHandled?: boolean;
  }
}

export function requestContext(logger: Logger, metrics: Metrics) {
  return async function requestContextMiddleware(ctx: Context, next: Next): Promise<void> {
    const incoming = ctx.get('x-request-id');
    const requestId = REQUEST_ID.test(incoming) ? incoming : randomUUID();
    ctx.state.requestId = requestId;
    ctx.set('X-Request-Id', requestId);
    const started = process.hrtime.bigint();
    try {
      await next();
    } finally {
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      const route = (ctx as Context & { oidc?: { route?: string } }).oidc?.route ?? ctx._matchedRoute?.toString() ?? 'other';
      metrics.httpSeconds.observe({ route, method: ctx.method, status: String(ctx.status) }, seconds);
      logger.info(
        { request_id: requestId, method: ctx.method, path: ctx.path, status: ctx.status, duration_ms: Math.round(seconds * 1e4) / 10 },
        'request',
      );
    }
  };
}

export function operationalEndpoints(deps: { pool: pg.Pool; keyRing: KeyRing; metrics: Metrics }) {
  return async function operational(ctx: Context, next: Next): Promise<void> {
    if (ctx.method !== 'GET' && ctx.method !== 'HEAD') return next();
    switch (ctx.path) {
      case '/healthz':
        ctx.body = { status: 'ok' };
        return;
      case '/readyz': {
        const database = await databaseReachable(deps.pool);
        const keys = deps.keyRing.loaded;
        ctx.status = database && keys ? 200 : 503;
        ctx.body = { status: database && keys ? 'ready' : 'not_ready', checks: { database, signing_keys: keys } };
        return;
      }
      case '/metrics':
        ctx.type = deps.metrics.registry.contentType;
        ctx.body = await deps.metrics.registry.metrics();
        return;
      default:
        return next();
    }
  };
}

async function databaseReachable(pool: pg.Pool): Promise<boolean> {
  try {
    await pool.query('SELECT 1');
    return true;
  } catch {
    return false;
  }
}
