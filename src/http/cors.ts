/**
 * CORS for the endpoints that take credentials: the token endpoint, introspection, revocation
 * and the admin API answer a browser only from an origin listed in CORS_ORIGINS.
 *
 * oidc-provider's own CORS handling echoes any `Origin` on a preflight (and sends
 * `Access-Control-Allow-Origin: *` on responses without one); it steps aside when a response
 * already carries an `Access-Control-*` header. So this middleware, in front of it, answers
 * preflights itself and, for an origin it does not allow, strips whatever oidc-provider added.
 * Discovery and /jwks are public documents and keep oidc-provider's open CORS.
 */
import type { Context, Next } from 'koa';

interface Policy {
  methods: string;
  headers: string;
}

const TOKEN_ENDPOINTS: Policy = { methods: 'POST', headers: 'Authorization, Content-Type, DPoP' };
const ADMIN_API: Policy = { methods: 'GET, POST, PATCH, DELETE', headers: 'Authorization, Content-Type' };
const EXPOSED = 'WWW-Authenticate, DPoP-Nonce, Retry-After';
const MAX_AGE_SECONDS = '600';

function policyFor(path: string): Policy | null {
  if (path === '/token' || path === '/token/introspection' || path === '/token/revocation') return TOKEN_ENDPOINTS;
  if (path === '/admin/v1' || path.startsWith('/admin/v1/')) return ADMIN_API;
  return null;
}

function removeCorsHeaders(ctx: Context): void {
  for (const name of Object.keys(ctx.response.headers)) {
    if (name.toLowerCase().startsWith('access-control-')) ctx.remove(name);
  }
}

export function corsPolicy(allowedOrigins: readonly string[]) {
  const allowed = new Set(allowedOrigins);
  return async function cors(ctx: Context, next: Next): Promise<void> {
    const policy = policyFor(ctx.path);
    if (!policy) return next();
    ctx.vary('Origin');
    const origin = ctx.get('Origin');
    const allowedOrigin = origin !== '' && allowed.has(origin);

    if (ctx.method === 'OPTIONS' && ctx.get('Access-Control-Request-Method') !== '') {
      // A preflight never reaches oidc-provider, which would echo the origin.
      if (allowedOrigin) {
        ctx.set('Access-Control-Allow-Origin', origin);
        ctx.set('Access-Control-Allow-Methods', policy.methods);
        ctx.set('Access-Control-Allow-Headers', policy.headers);
        ctx.set('Access-Control-Max-Age', MAX_AGE_SECONDS);
      }
      ctx.status = 204;
      return;
    }

    if (allowedOrigin) {
      ctx.set('Access-Control-Allow-Origin', origin);
      ctx.set('Access-Control-Expose-Headers', EXPOSED);
      return next();
    }
    try {
      await next();
    } finally {
      removeCorsHeaders(ctx);
    }
  };
}
