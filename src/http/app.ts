/**
 * The Koa application: oidc-provider is itself a Koa app, and Deputy's middleware (request
 * context, operational endpoints, /jwks, the admin API, the web console) runs in front of its routes.
 */
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import type pg from 'pg';
import type { CheckpointKey } from '../audit/checkpoint.js';
import type { ConfigCache } from '../db/change-feed.js';
import type { Config } from '../config.js';
import { isDatabaseUnavailable } from '../db/pool.js';
import type { KeyRing } from '../keys/key-ring.js';
import type { Logger } from '../log.js';
import { createDocsRouter } from '../admin/docs.js';
import { ADMIN_PREFIX, createAdminAuthenticator, createAdminRouter } from '../admin/router.js';
import { createAdminDispatch } from '../console/dispatch.js';
import { createConsoleRouter } from '../console/router.js';
import { registerTokenExchange } from '../exchange/grant.js';
import { auditBackchannelRefusals } from '../approval/ciba.js';
import { registerCibaGrant } from '../approval/ciba-grant.js';
import { createApprovalNotifier } from '../approval/web/notify.js';
import { createApprovalRouter } from '../approval/web/router.js';
import { createIssuerKeys } from '../exchange/issuer-keys.js';
import { createRateLimits } from '../exchange/rate-limit.js';
import { TRUSTED_ISSUER_KEY } from '../exchange/trusted-issuers.js';
import { createTokenStatusHandlers } from '../exchange/token-status.js';
import { handleStructuredTokens } from '../oauth/oidc-provider-internals.js';
import { guardClientAuthentication } from '../oauth/client-authentication.js';
import { createProvider } from '../oauth/provider.js';
import { corsPolicy } from './cors.js';
import { servedEndpointsOnly } from '../oauth/served-endpoints.js';
import { createMetrics, type Metrics } from './metrics.js';
import { operationalEndpoints, requestContext } from './observability.js';

export interface AppDeps {
  config: Config;
  pool: pg.Pool;
  /** Clients, trusted issuers and actors' keys, dropped on every committed change. */
  configCache: ConfigCache;
  keyRing: KeyRing;
  /** Signs audit checkpoints; not stored in the database. */
  checkpointKey: CheckpointKey;
  logger: Logger;
  clientSecretPepper: string;
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

export function createApp(deps: AppDeps): App {
  const metrics = createMetrics();
  const onApprovalRequested = createApprovalNotifier({
    pool: deps.pool,
    logger: deps.logger,
    webhookUrl: deps.config.APPROVAL_WEBHOOK_URL,
    allowPrivateNetwork: deps.config.APPROVAL_ALLOW_PRIVATE_NETWORK,
    linkBase: `${deps.config.ISSUER}/approve/link/`,
  });
  const provider = createProvider({ ...deps, onApprovalRequested });
  provider.use(requestContext(deps.logger, metrics));
  // oidc-provider answers any failure in its own steps (e.g. reading a client) with a 500;
  // mark the ones caused by an unreachable database so requestContext answers 503 instead.
  // Koa prints errors it catches itself (e.g. a malformed chunked body) as raw stack traces on
  // stderr unless the app has an 'error' listener: log them as one JSON line instead.
  (provider as unknown as NodeJS.EventEmitter).on('error', (error: Error & { status?: number; expose?: boolean }, ctx?: { state?: { requestId?: string } }) => {
    if (error.status && error.status < 500 && error.expose) return; // a client error Koa already answered
    deps.logger.error({ request_id: ctx?.state?.requestId, detail: error.message }, 'request failed');
  });
  provider.on('server_error', (ctx, error) => {
    if (isDatabaseUnavailable(error)) ctx.state.databaseUnavailable = true;
    else deps.logger.error({ request_id: ctx.state.requestId, detail: error instanceof Error ? error.message : String(error) }, 'server error');
  });
  provider.use(corsPolicy(deps.config.CORS_ORIGINS));
  provider.use(operationalEndpoints({ pool: deps.pool, keyRing: deps.keyRing, metrics }));
  provider.use(publishedKeys(deps.keyRing));
  provider.use(authorizationServerMetadata);
  provider.use(servedEndpointsOnly(provider));
  provider.use(createDocsRouter(ADMIN_PREFIX).routes());
  const issuerKeys = createIssuerKeys({
    timeoutMs: deps.config.JWKS_TIMEOUT_MS,
    cooldownMs: deps.config.JWKS_COOLDOWN_MS,
    allowPrivateNetwork: deps.config.JWKS_ALLOW_PRIVATE_NETWORK,
  });
  // A changed or deleted issuer (in any process) drops its fetched keys here too.
  deps.configCache.onChange((key) => {
    if (key === null) issuerKeys.dropAll();
    else if (key.startsWith(TRUSTED_ISSUER_KEY)) issuerKeys.drop(key.slice(TRUSTED_ISSUER_KEY.length));
  });
  const adminAuth = createAdminAuthenticator({ ...deps, provider });
  const admin = createAdminRouter({ ...deps, provider, issuerKeys }, adminAuth);
  provider.use(admin.routes());
  provider.use(admin.allowedMethods());
  // The web console: pages over the same admin routes, called in-process as the signed-in admin.
  const webConsole = createConsoleRouter({ ...deps, auth: adminAuth, dispatch: createAdminDispatch(admin) });
  provider.use(webConsole.routes());
  // The person's approval pages (sign-in at APPROVAL_LOGIN_ISSUER).
  provider.use(createApprovalRouter(deps).routes());

  const rateLimits = createRateLimits({ perClient: deps.config.RATE_LIMIT_CLIENT_PER_SECOND, perActor: deps.config.RATE_LIMIT_ACTOR_PER_SECOND });
  guardClientAuthentication(provider, { metrics, rateLimits });
  registerTokenExchange(provider, { ...deps, issuerKeys, metrics, rateLimits });
  registerCibaGrant(provider, deps);
  provider.use(auditBackchannelRefusals(deps.pool, deps.logger));
  handleStructuredTokens(provider, createTokenStatusHandlers({ ...deps, issuer: deps.config.ISSUER }));
  return { provider, metrics, callback: provider.callback() };
}
