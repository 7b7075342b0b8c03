/**
 * Koa: a middleware that sets `ctx.state.deputy` to the caller or answers the refusal, and the
 * SSF push endpoint as a middleware (reads the raw body itself: mount it where no body parser runs).
 * Typed structurally, so the package's types need no @types/koa.
 */

export interface KoaContextLike {
  method: string;
  origin: string;
  originalUrl: string;
  headers: RequestLike['headers'];
  state: Record<string, unknown>;
  status: number;
  body: unknown;
  req: AsyncIterable<unknown>;
  get(field: string): string;
  set(fields: Record<string, string>): void;
}

type Next = () => Promise<unknown>;
import type { ChainPolicy } from '../act-chain.js';
import type { RequestLike } from '../request.js';
import type { ResourceServer } from '../resource-server.js';

export function koaMiddleware(rs: ResourceServer, policy?: ChainPolicy, publicUrl?: string) {
  return async (ctx: KoaContextLike, next: Next): Promise<void> => {
    const origin = publicUrl?.replace(/\/$/, '') ?? ctx.origin;
    try {
      ctx.state.deputy = await rs.verify({ method: ctx.method, url: `${origin}${ctx.originalUrl}`, headers: ctx.headers }, policy);
    } catch (error) {
      const refusal = rs.refusalFor(error);
      if (!refusal) throw error;
      ctx.status = refusal.status;
      ctx.set(refusal.headers);
      ctx.body = refusal.body;
      return;
    }
    await next();
  };
}

export function koaSsfPush(rs: ResourceServer, maxBytes = 64 * 1024) {
  return async (ctx: KoaContextLike): Promise<void> => {
    if (!rs.ssf) {
      ctx.status = 404;
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
      size += chunk.length;
      if (size > maxBytes) {
        ctx.status = 413;
        return;
      }
      chunks.push(chunk);
    }
    const answer = await rs.ssf.handlePush({ contentType: ctx.get('content-type') || undefined, authorization: ctx.get('authorization') || undefined, body: Buffer.concat(chunks).toString('utf8') });
    ctx.status = answer.status;
    ctx.set(answer.headers);
    if (answer.body) ctx.body = answer.body;
  };
}
