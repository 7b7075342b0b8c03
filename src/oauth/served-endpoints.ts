/**
 * Deputy is a token service, not an OpenID Provider: of oidc-provider's endpoints it serves only
 * token, introspection, revocation, jwks, discovery and the CIBA backchannel authentication endpoint. The optional others are switched off in
 * the provider's configuration (src/oauth/provider.ts); oidc-provider still mounts the
 * authorization endpoint and the end-session confirmation whatever the configuration. This
 * module answers every oidc-provider route outside Deputy's list with 404, before oidc-provider
 * reads a cookie or stores anything, and removes from the discovery document what Deputy does
 * not serve.
 */
import type { Context, Next } from 'koa';
import type Provider from 'oidc-provider';
import { providerRouteName } from './oidc-provider-internals.js';

/** oidc-provider's route names (with their CORS preflights) that Deputy serves. */
const SERVED_ROUTES = new Set([
  'token',
  'introspection',
  'revocation',
  'jwks',
  'discovery',
  // Approval requests: CIBA poll mode (src/approval/ciba.ts).
  'backchannel_authentication',
  'cors.token',
  'cors.introspection',
  'cors.revocation',
  'cors.jwks',
  'cors.discovery',
]);

/** Discovery fields about the authorization endpoint and the browser flows behind it. */
const UNSERVED_METADATA = [
  'authorization_endpoint',
  'authorization_response_iss_parameter_supported',
  'claims_parameter_supported',
  'claims_supported',
  'code_challenge_methods_supported',
  'request_uri_parameter_supported',
  'response_modes_supported',
] as const;

export function servedEndpointsOnly(provider: Provider) {
  return async function servedEndpoints(ctx: Context, next: Next) {
    const route = providerRouteName(provider, ctx.method, ctx.path);
    if (route !== undefined && !SERVED_ROUTES.has(route)) return; // Koa answers 404, as for any unknown path
    await next();
    if (route === 'discovery' && ctx.status === 200 && ctx.body && typeof ctx.body === 'object') {
      const metadata = ctx.body as Record<string, unknown>;
      for (const field of UNSERVED_METADATA) delete metadata[field];
      // user_code is refused (src/approval/ciba.ts); oidc-provider advertises it whenever CIBA is on.
      if ('backchannel_user_code_parameter_supported' in metadata) metadata.backchannel_user_code_parameter_supported = false;
    }
  };
}
