/**
 * The admin REST API, `/admin/v1` (README.md; the reference is served at /admin/v1/docs). Mounted
 * on oidc-provider's Koa app by src/http/app.ts; the JSON body parser runs on these routes only
 * (oidc-provider parses its own).
 */
import Router from '@koa/router';
import type { Context } from 'koa';
import type Provider from 'oidc-provider';
import type pg from 'pg';
import type { CheckpointKey } from '../audit/checkpoint.js';
import type { Config } from '../config.js';
import { createPrisma, type PrismaClient } from '../db/prisma.js';
import type { KeyRing } from '../keys/key-ring.js';
import type { IssuerKeys } from '../trust/issuer-keys.js';
import type { Logger } from '../log.js';
import { AdminApi } from './api.js';
import { createAuthenticator, type AdminAuthenticator } from './auth.js';
import { handleErrors } from './errors.js';
import { createRegistry, generateDocument } from './openapi.js';
import { actorRoutes } from './routes/actors.js';
import { approvalRoutes } from './routes/approvals.js';
import { auditRoutes } from './routes/audit.js';
import { clientRoutes } from './routes/clients.js';
import { entitlementRoutes } from './routes/entitlements.js';
import { grantRoutes } from './routes/grants.js';
import { issuerRoutes } from './routes/issuers.js';
import { keyRoutes } from './routes/keys.js';
import { openApiRoute } from './routes/openapi.js';
import { overviewRoutes } from './routes/overview.js';
import { resourceRoutes } from './routes/resources.js';
import { subjectRoutes } from './routes/subjects.js';
import { tokenRoutes } from './routes/tokens.js';
import { upstreamStreamRoutes } from './routes/upstream-streams.js';

export const ADMIN_PREFIX = '/admin/v1';
/** The catch-all layer answering unknown paths (404) and methods (405) in JSON; not an API operation. */
export const FALLBACK_ROUTE = 'fallback';

export interface AdminDeps {
  pool: pg.Pool;
  provider: Provider;
  config: Config;
  logger: Logger;
  clientSecretPepper: string;
  keyRing: KeyRing;
  checkpointKey: CheckpointKey;
  /** Trusted issuers' fetched keys, which the refresh action drops and refetches. */
  issuerKeys: IssuerKeys;
  /** The admin API's data access; created over `pool` on first use when not given. */
  prisma?: PrismaClient;
}

/** AdminDeps with the Prisma client resolved, as the routes receive them. */
export type RouteDeps = AdminDeps & { readonly prisma: PrismaClient };

function withPrisma(deps: AdminDeps): RouteDeps {
  let prisma = deps.prisma;
  // Lazily: building the routes (e.g. for the OpenAPI document, offline) touches no dependency.
  return Object.defineProperty({ ...deps }, 'prisma', { get: () => (prisma ??= createPrisma(deps.pool)), enumerable: true }) as RouteDeps;
}

export function createAdminAuthenticator(deps: Pick<AdminDeps, 'provider' | 'pool' | 'config' | 'clientSecretPepper'>): AdminAuthenticator {
  return createAuthenticator({
    provider: deps.provider,
    pool: deps.pool,
    bootstrapToken: deps.config.DEPUTY_ADMIN_TOKEN,
    clientSecretPepper: deps.clientSecretPepper,
  });
}

export function createAdminRouter(deps: AdminDeps, auth: AdminAuthenticator = createAdminAuthenticator(deps)): Router {
  return buildAdminApi(deps, auth).router;
}

/**
 * The admin routes and their OpenAPI document. Building them touches none of `deps` (handlers
 * use them per request), so the document can also be generated offline, at build time
 * (scripts/generate-admin-client.ts types the CLI's client from it).
 */
export function buildAdminApi(
  deps: AdminDeps,
  auth: AdminAuthenticator = createAdminAuthenticator(deps),
): { router: Router; document(): ReturnType<typeof generateDocument> } {
  const router = new Router({ prefix: ADMIN_PREFIX });
  const registry = createRegistry();
  const api = new AdminApi(router, registry, ADMIN_PREFIX, handleErrors(deps.logger), auth.authenticate);
  const routeDeps = withPrisma(deps);

  subjectRoutes(api, routeDeps);
  actorRoutes(api, routeDeps);
  clientRoutes(api, routeDeps);
  resourceRoutes(api, routeDeps);
  issuerRoutes(api, routeDeps);
  entitlementRoutes(api, routeDeps);
  grantRoutes(api, routeDeps);
  approvalRoutes(api, routeDeps);
  tokenRoutes(api, routeDeps);
  upstreamStreamRoutes(api, routeDeps);
  auditRoutes(api, routeDeps);
  keyRoutes(api, routeDeps);
  overviewRoutes(api, routeDeps);

  let document: ReturnType<typeof generateDocument> | undefined;
  const documentOnce = () => (document ??= generateDocument(registry, deps.config.ISSUER));
  openApiRoute(api, documentOnce);

  router.all(FALLBACK_ROUTE, '/{*rest}', unknownPathOrMethod(router));
  return { router, document: documentOnce };
}

/** Registered last: runs only when no route matched both the path and the method. */
function unknownPathOrMethod(router: Router) {
  return function fallback(ctx: Context): void {
    const layers = router.match(ctx.path, ctx.method).path.filter((layer) => layer.name !== FALLBACK_ROUTE && layer.methods.length > 0);
    const allowed = [...new Set(layers.flatMap((layer) => layer.methods))];
    ctx.set('Cache-Control', 'no-store');
    if (allowed.length === 0) {
      ctx.status = 404;
      ctx.body = { error: 'not_found', error_description: 'no such endpoint' };
      return;
    }
    ctx.set('Allow', allowed.join(', '));
    if (ctx.method === 'OPTIONS') {
      ctx.status = 204;
      return;
    }
    ctx.status = 405;
    ctx.body = { error: 'method_not_allowed', error_description: `${ctx.method} is not allowed on this endpoint` };
  };
}
