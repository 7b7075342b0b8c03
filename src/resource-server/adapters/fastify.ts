/**
 * Fastify: a preHandler hook that sets `request.deputy` or answers the refusal. Typed
 * structurally (no Fastify import): register it with `fastify.addHook('preHandler', hook)` or
 * per route `{ preHandler: fastifyPreHandler(rs, policy) }`.
 */
import type { ChainPolicy } from '../act-chain.js';
import type { VerifiedToken } from '../access-token.js';
import type { RequestLike } from '../request.js';
import type { ResourceServer } from '../resource-server.js';

export interface FastifyRequestLike {
  method: string;
  /** Path and query, as Fastify gives it. */
  url: string;
  protocol?: string;
  hostname?: string;
  host?: string;
  headers: RequestLike['headers'];
  deputy?: VerifiedToken;
}

export interface FastifyReplyLike {
  code(status: number): FastifyReplyLike;
  headers(values: Record<string, string>): FastifyReplyLike;
  send(body: unknown): unknown;
}

export function fastifyPreHandler(rs: ResourceServer, policy?: ChainPolicy, publicUrl?: string) {
  return async (request: FastifyRequestLike, reply: FastifyReplyLike): Promise<void> => {
    const origin = publicUrl?.replace(/\/$/, '') ?? `${request.protocol ?? 'http'}://${request.host ?? request.hostname ?? 'localhost'}`;
    try {
      request.deputy = await rs.verify({ method: request.method, url: `${origin}${request.url}`, headers: request.headers }, policy);
    } catch (error) {
      const refusal = rs.refusalFor(error);
      if (!refusal) throw error;
      await reply.code(refusal.status).headers({ ...refusal.headers, 'content-type': 'application/json' }).send(JSON.stringify(refusal.body));
    }
  };
}
