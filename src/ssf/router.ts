/**
 * The Shared Signals transmitter's HTTP endpoints (OpenID SSF 1.0): its metadata, stream
 * management for receivers (src/ssf/receiver-auth.ts), and the poll endpoint (RFC 8936).
 * Errors are `{ error, error_description }` with the status SSF names; nothing internal leaks.
 */
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import type pg from 'pg';
import { z } from 'zod';
import { isDatabaseUnavailable } from '../db/pool.js';
import type { KeyRing } from '../keys/key-ring.js';
import type { Logger } from '../log.js';
import type { Metrics } from '../http/metrics.js';
import { POLL_METHOD, PUSH_METHOD, signSet } from './events.js';
import { invalidRequest, SsfError, streamNotFound } from './errors.js';
import { markDelivered, pendingEvents } from './outbox.js';
import { authenticateReceiver, type Receiver } from './receiver-auth.js';
import { createStreamStore, StatusInput, StreamInput, StreamPatch, storedDelivery, streamConfiguration, VerifyInput } from './streams.js';
import { enqueueVerification } from './outbox.js';

export const BODY_LIMIT = 64 * 1024;
/** Events one poll answer holds at most. */
export const MAX_POLL_EVENTS = 1000;
/** How long a poll without returnImmediately waits for an event. */
export const LONG_POLL_MS = 10_000;

export interface SsfRouterDeps {
  provider: Provider;
  pool: pg.Pool;
  keyRing: KeyRing;
  issuer: string;
  logger: Logger;
  metrics: Metrics;
  allowPrivateNetwork: boolean;
  /** Resolves when events may have been queued (a commit notification), or after `ms`. */
  waitForEvents(ms: number): Promise<void>;
  /** Extra routes on the same error handling (the upstream receiver). */
  extend?(router: Router): void;
}

export function transmitterMetadata(issuer: string) {
  return {
    spec_version: '1_0',
    issuer,
    jwks_uri: `${issuer}/jwks`,
    delivery_methods_supported: [PUSH_METHOD, POLL_METHOD],
    configuration_endpoint: `${issuer}/ssf/streams`,
    status_endpoint: `${issuer}/ssf/status`,
    verification_endpoint: `${issuer}/ssf/verify`,
    authorization_schemes: [{ spec_urn: 'urn:ietf:rfc:6749' }],
    default_subjects: 'ALL',
  };
}

/** The raw request body, at most BODY_LIMIT bytes. */
export async function readBody(ctx: Context): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > BODY_LIMIT) throw new SsfError(413, 'invalid_request', 'the request body is too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

async function jsonBody<T extends z.ZodType>(ctx: Context, schema: T): Promise<z.infer<T>> {
  if (!ctx.is('application/json')) throw new SsfError(415, 'invalid_request', 'the body must be application/json');
  let value: unknown;
  try {
    value = JSON.parse(await readBody(ctx));
  } catch (error) {
    if (error instanceof SsfError) throw error;
    throw invalidRequest('the body is not JSON');
  }
  const parsed = schema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw invalidRequest(`${issue.path.join('.') || 'body'}: ${issue.message}`);
  }
  return parsed.data;
}

function streamIdOf(ctx: Context): string {
  const id = ctx.query.stream_id;
  if (typeof id !== 'string' || id === '') throw invalidRequest('stream_id is required');
  return id;
}

const PollRequest = z.object({
  maxEvents: z.number().int().min(0).max(MAX_POLL_EVENTS).optional(),
  returnImmediately: z.boolean().optional(),
  ack: z.array(z.string().max(100)).max(MAX_POLL_EVENTS).optional(),
  setErrs: z.record(z.string().max(100), z.object({ err: z.string().max(100), description: z.string().max(1000).optional() })).optional(),
});

export function createSsfRouter(deps: SsfRouterDeps): Router {
  const { provider, pool, issuer, logger, metrics } = deps;
  const streams = createStreamStore(pool);
  const router = new Router();

  router.use(async (ctx: Context, next: Next) => {
    try {
      await next();
    } catch (error) {
      if (error instanceof SsfError) {
        ctx.status = error.status;
        ctx.set(error.headers);
        ctx.body = { error: error.code, error_description: error.description };
        return;
      }
      if (isDatabaseUnavailable(error)) {
        ctx.status = 503;
        ctx.set('Retry-After', '1');
        ctx.body = { error: 'temporarily_unavailable', error_description: 'try again shortly' };
        return;
      }
      logger.error({ request_id: ctx.state.requestId, detail: (error as Error).message }, 'shared signals request failed');
      ctx.status = 500;
      ctx.body = { error: 'server_error', error_description: 'the request could not be completed' };
    }
  });

  router.get('/.well-known/ssf-configuration', (ctx) => {
    ctx.body = transmitterMetadata(issuer);
  });

  const receiver = (ctx: Context): Promise<Receiver> => authenticateReceiver(provider, pool, ctx.get('authorization'));

  router.post('/ssf/streams', async (ctx) => {
    const who = await receiver(ctx);
    const input = await jsonBody(ctx, StreamInput);
    const row = await streams.create(who, input, storedDelivery(input.delivery, deps.allowPrivateNetwork));
    ctx.status = 201;
    ctx.body = streamConfiguration(row, issuer);
  });

  router.get('/ssf/streams', async (ctx) => {
    const who = await receiver(ctx);
    if (ctx.query.stream_id === undefined) {
      ctx.body = (await streams.list(who)).map((row) => streamConfiguration(row, issuer));
      return;
    }
    ctx.body = streamConfiguration(await streams.find(who, streamIdOf(ctx)), issuer);
  });

  const update = (replace: boolean) => async (ctx: Context) => {
    const who = await receiver(ctx);
    const body = await jsonBody(ctx, (replace ? StreamInput : StreamPatch).extend({ stream_id: z.string() }));
    const { stream_id: streamId, ...input } = body;
    const delivery = input.delivery ? storedDelivery(input.delivery, deps.allowPrivateNetwork) : null;
    const row = await streams.update(who, streamId, replace ? { description: undefined, ...input, events_requested: input.events_requested ?? [] } : input, delivery);
    ctx.body = streamConfiguration(row, issuer);
  };
  router.patch('/ssf/streams', update(false));
  router.put('/ssf/streams', update(true));

  router.delete('/ssf/streams', async (ctx) => {
    const who = await receiver(ctx);
    await streams.remove(who, streamIdOf(ctx));
    ctx.status = 204;
  });

  const statusOf = (row: { id: string; status: string; status_reason: string | null }) => ({
    stream_id: row.id,
    status: row.status,
    ...(row.status_reason !== null ? { reason: row.status_reason } : {}),
  });

  router.get('/ssf/status', async (ctx) => {
    const who = await receiver(ctx);
    ctx.body = statusOf(await streams.find(who, streamIdOf(ctx)));
  });

  router.post('/ssf/status', async (ctx) => {
    const who = await receiver(ctx);
    const input = await jsonBody(ctx, StatusInput);
    ctx.body = statusOf(await streams.setStatus(who, input.stream_id, input.status, input.reason ?? null));
  });

  router.post('/ssf/verify', async (ctx) => {
    const who = await receiver(ctx);
    const input = await jsonBody(ctx, VerifyInput);
    const row = await streams.find(who, input.stream_id);
    if (row.status === 'disabled') throw invalidRequest('the stream is disabled');
    await enqueueVerification(pool, row.id, input.state);
    ctx.status = 204;
  });

  router.post('/ssf/poll/:streamId', async (ctx) => {
    const who = await receiver(ctx);
    const row = await streams.find(who, ctx.params.streamId!);
    if (row.delivery_method !== 'poll') throw streamNotFound();
    const input = await jsonBody(ctx, PollRequest);
    const acknowledged = [...(input.ack ?? []), ...Object.keys(input.setErrs ?? {})];
    for (const [jti, problem] of Object.entries(input.setErrs ?? {})) {
      logger.warn({ stream_id: row.id, jti, err: problem.err }, 'SSF receiver reported a SET error');
    }
    await markDelivered(pool, row.id, acknowledged);
    const maxEvents = input.maxEvents ?? 100;
    if (row.status !== 'enabled' || maxEvents === 0) {
      ctx.body = { sets: {}, moreAvailable: false };
      return;
    }
    let pending = await pendingEvents(pool, row.id, maxEvents);
    const deadline = Date.now() + LONG_POLL_MS;
    while (pending.events.length === 0 && input.returnImmediately !== true && Date.now() < deadline && !ctx.req.socket.destroyed) {
      await deps.waitForEvents(Math.min(1000, deadline - Date.now()));
      pending = await pendingEvents(pool, row.id, maxEvents);
    }
    const key = deps.keyRing.active;
    const sets: Record<string, string> = {};
    for (const event of pending.events) sets[event.jti] = signSet(key, event, issuer, row.audience);
    metrics.ssfDeliveries.inc({ method: 'poll', outcome: 'delivered' }, pending.events.length);
    ctx.body = { sets, moreAvailable: pending.more };
  });

  deps.extend?.(router);
  return router;
}
