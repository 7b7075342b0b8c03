/**
 * What happens right after oidc-provider's client authentication on /token, introspection,
 * revocation and /backchannel:
 *
 * - a failure is counted (`deputy_client_authentication_failures_total{reason}`) and nothing
 *   else: no audit event, no stored state, since anyone can send such requests;
 * - a success marks the request (`ctx.state.clientAuthenticated`), and a token request or an
 *   approval request (CIBA) spends one unit of its client's rate limit before oidc-provider
 *   checks anything else, so requests
 *   that oidc-provider refuses itself (a duplicated parameter, bad scope syntax) are limited
 *   like the ones Deputy's grant handler refuses. Beyond the limit: 429, nothing written.
 */
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type { Metrics } from '../http/metrics.js';
import { RateLimited, type RateLimits } from '../token-exchange/rate-limit.js';
import { TOKEN_EXCHANGE_GRANT } from '../token-exchange/request.js';
import { observeClientAuthentication } from './oidc-provider-internals.js';
import { providerError } from '../http/error-response.js';

declare module 'koa' {
  interface DefaultState {
    /** Set once the request's client has authenticated. */
    clientAuthenticated?: boolean;
    /** Set when the request was refused by a rate limit (not audited). */
    rateLimited?: boolean;
  }
}

/** Each of these writes (a token and its audit event, an approval request and its audit event). */
const RATE_LIMITED_ROUTES = new Set(['token', 'backchannel_authentication']);

export function guardClientAuthentication(provider: Provider, deps: { metrics: Metrics; rateLimits: RateLimits }): void {
  observeClientAuthentication(provider, {
    async authenticated(ctx: KoaContextWithOIDC) {
      ctx.state.clientAuthenticated = true;
      if (!RATE_LIMITED_ROUTES.has(ctx.oidc.route)) return;
      try {
        await deps.rateLimits.client(ctx.oidc.client!.clientId);
      } catch (error) {
        if (!(error instanceof RateLimited)) throw error;
        ctx.state.rateLimited = true;
        if (ctx.oidc.params?.grant_type === TOKEN_EXCHANGE_GRANT) deps.metrics.exchanges.inc({ outcome: 'rate_limited' });
        throw providerError(ctx, error);
      }
    },
    failed(_ctx, reason) {
      deps.metrics.clientAuthenticationFailures.inc({ reason });
    },
  });
}
