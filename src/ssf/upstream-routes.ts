/** The push endpoint of Deputy's upstream streams (RFC 8935): POST {ISSUER}/ssf/receiver/{stream id}. */
import type Router from '@koa/router';
import type { Context } from 'koa';
import { SsfError } from './errors.js';
import { readBody } from './router.js';
import { applyUpstreamSet, findUpstreamStream, pushAuthorized, SetRefused, verifyUpstreamSet, type UpstreamReceiverDeps } from './upstream-receiver.js';

const refuse = (ctx: Context, status: number, err: string, description: string) => {
  ctx.status = status;
  ctx.body = { err, description };
};

export function upstreamRoutes(router: Router, deps: UpstreamReceiverDeps): void {
  router.post('/ssf/receiver/:streamId', async (ctx) => {
    const stream = await findUpstreamStream(deps.pool, ctx.params.streamId!);
    if (!stream || stream.delivery_method !== 'push') throw new SsfError(404, 'not_found', 'no such stream');
    if (!pushAuthorized(stream.authorization_header, ctx.get('authorization'))) {
      deps.metrics.ssfReceived.inc({ outcome: 'refused' });
      return refuse(ctx, 401, 'authentication_failed', 'the push is not authorized');
    }
    if (!ctx.is('application/secevent+jwt')) {
      deps.metrics.ssfReceived.inc({ outcome: 'refused' });
      return refuse(ctx, 400, 'invalid_request', 'the body must be application/secevent+jwt');
    }
    const set = (await readBody(ctx)).trim();
    try {
      const claims = await verifyUpstreamSet(set, stream, deps, new Date());
      await applyUpstreamSet(claims, stream, deps, ctx.state.requestId ?? null);
      ctx.status = 202;
    } catch (error) {
      if (!(error instanceof SetRefused)) throw error;
      deps.metrics.ssfReceived.inc({ outcome: 'refused' });
      deps.logger.warn({ stream_id: stream.id, err: error.err }, 'upstream SET refused');
      refuse(ctx, 400, error.err, error.description);
    }
  });
}
