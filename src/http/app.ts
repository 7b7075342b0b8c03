/**
 * The Koa application: oidc-provider is itself a Koa app, and Deputy's middleware (request
 * context, operational endpoints, /jwks, the admin API, the web console) runs in front of its routes.
 */
import type Router from '@koa/router';
import type { Context, Middleware, Next } from 'koa';
import type Provider from 'oidc-provider';
import type pg from 'pg';
import type { Config } from '../config.js';
import type { KeyRing } from '../keys/key-ring.js';
import type { Logger } from '../log.js';
import { createDocsRouter } from '../admin/docs.js';
import { registerTokenExchange, type TokenExchangeDeps } from '../token-exchange/handler.js';
import type { RateLimits } from '../token-exchange/rate-limit.js';
import type { createTokenStatusHandlers } from '../oauth/token-status.js';
import { auditBackchannelRefusals } from '../approval/ciba.js';
import { registerCibaGrant, type CibaGrantDeps } from '../approval/ciba-grant.js';
import { handleStructuredTokens } from '../oauth/oidc-provider-internals.js';
import { guardClientAuthentication } from '../oauth/client-authentication.js';
import { corsPolicy } from './cors.js';
import { OAUTH_SURFACE, renderError, toDeputyError } from './error-response.js';
import { servedEndpointsOnly } from '../oauth/served-endpoints.js';
import type { Metrics } from './metrics.js';
import type { sharedSignalsRoutes } from '../ssf/app-routes.js';
import { operationalEndpoints, requestContext } from './observability.js';

/** The parts the app is assembled from, all built by the composition root (src/composition.ts). */
export interface AppDeps {
  config: Config;
  pool: pg.Pool;
  keyRing: KeyRing;
  logger: Logger;
  metrics: Metrics;
  provider: Provider;
  rateLimits: RateLimits;
  adminPrefix: string;
  admin: Router;
  webConsole: Router;
  /** The person's approval pages under /approve (src/approval/web/). */
  approvalPages: Router;
  /** The quickstart's demo identity provider at /demo-idp (src/demo/identity-provider.ts), if served. */
  demoIdentityProvider: Middleware | null;
  exchange: TokenExchangeDeps;
  tokenStatus: ReturnType<typeof createTokenStatusHandlers>;
  /** The CIBA grant: approval requests answered with a delegated token (src/approval/). */
  ciba: CibaGrantDeps;
  /** Shared Signals: the transmitter's endpoints and the upstream receiver's push endpoint. */
  sharedSignals: ReturnType<typeof sharedSignalsRoutes>;
}

export interface App {
  provider: Provider;
  metrics: Metrics;
  callback: ReturnType<Provider['callback']>;
}

/** RFC 8414 metadata is the same document as OpenID discovery; serve it at both addresses. */
function authorizationServerMetadata(ctx: Context, next: Next) {
  if (ctx.path === '/.well-known/oauth-authorization-server') ctx.path = '/.well-known/openid-configuration';
  return next();
}

/** /jwks from the key ring, so retired keys stay published while their tokens live. */
function publishedKeys(keyRing: KeyRing) {
  return async function jwks(ctx: Context, next: Next) {
    if (ctx.path !== '/jwks' || (ctx.method !== 'GET' && ctx.method !== 'HEAD')) return next();
    ctx.type = 'application/jwk-set+json; charset=utf-8';
    ctx.body = keyRing.publicJwks(Math.floor(Date.now() / 1000));
  };
}

/** Orders Deputy's middleware in front of oidc-provider's routes. */
export function createApp(deps: AppDeps): App {
  const { provider, metrics } = deps;
  provider.use(requestContext(deps.logger, metrics));
  // Koa prints errors it catches itself (e.g. a malformed chunked body) as raw stack traces on
  // stderr unless the app has an 'error' listener: log them as one JSON line instead.
  (provider as unknown as NodeJS.EventEmitter).on('error', (error: Error & { status?: number; expose?: boolean }, ctx?: { state?: { requestId?: string } }) => {
    if (error.status && error.status < 500 && error.expose) return; // a client error Koa already answered
    deps.logger.error({ request_id: ctx?.state?.requestId, detail: error.message }, 'request failed');
  });
  // oidc-provider answers any unexpected failure on its routes (e.g. reading a client) with a
  // 500 server_error, then emits this, synchronously: an unreachable database is answered as
  // everywhere else, 503 temporarily_unavailable (fail closed: nothing was issued, retry later).
  provider.on('server_error', (ctx, error) => {
    const answer = toDeputyError(error, OAUTH_SURFACE);
    if (answer.code === 'temporarily_unavailable') renderError(ctx, answer, OAUTH_SURFACE);
    else deps.logger.error({ request_id: ctx.state.requestId, detail: answer.detail ?? answer.description }, 'server error');
  });
  provider.use(corsPolicy(deps.config.CORS_ORIGINS));
  provider.use(operationalEndpoints({ pool: deps.pool, keyRing: deps.keyRing, metrics }));
  provider.use(publishedKeys(deps.keyRing));
  provider.use(authorizationServerMetadata);
  if (deps.demoIdentityProvider) provider.use(deps.demoIdentityProvider);
  provider.use(servedEndpointsOnly(provider));
  provider.use(createDocsRouter(deps.adminPrefix).routes());
  provider.use(deps.sharedSignals);
  provider.use(deps.admin.routes());
  provider.use(deps.admin.allowedMethods());
  provider.use(deps.webConsole.routes());
  // The person's approval pages (sign-in at APPROVAL_LOGIN_ISSUER).
  provider.use(deps.approvalPages.routes());

  guardClientAuthentication(provider, { metrics, rateLimits: deps.rateLimits });
  registerTokenExchange(provider, deps.exchange);
  handleStructuredTokens(provider, deps.tokenStatus);
  registerCibaGrant(provider, deps.ciba);
  provider.use(auditBackchannelRefusals(deps.pool, deps.logger));
  return { provider, metrics, callback: provider.callback() };
}
