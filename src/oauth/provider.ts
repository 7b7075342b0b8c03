/**
 * oidc-provider, configured as Deputy's OAuth server: discovery, /jwks, client authentication
 * (client_secret_basic, client_secret_post, private_key_jwt), DPoP, introspection, revocation and
 * client credentials (for admin clients). Deputy's token-exchange grant is registered on it.
 */
import Provider, { type Configuration, type KoaContextWithOIDC } from 'oidc-provider';
import type pg from 'pg';
import type { ConfigCache } from '../db/change-feed.js';
import type { Config } from '../config.js';
import type { KeyRing } from '../keys/key-ring.js';
import { createAdapterClass } from './adapter.js';
import { allowedToIntrospect } from './introspection-policy.js';
import { ADMIN_SCOPE, SSF_SCOPE } from './scopes.js';
import { clientSecretMatches } from './client-secrets.js';
import type { MarkJtiUsed } from '../db/single-use-jtis.js';
import { cibaFeatures, type CibaDeps } from '../approval/ciba.js';
import type { Logger } from '../log.js';
import { compareClientSecretsAsHashes, providerStepsPrepared, replaceReplayDetection, sizeClientCache, urlsFromIssuer } from './oidc-provider-internals.js';

export { ADMIN_SCOPE };
/** Client objects oidc-provider keeps built (its default is 100). */
const CLIENT_OBJECT_CACHE_SIZE = 5000;

export interface ProviderDeps {
  config: Config;
  pool: pg.Pool;
  configCache: ConfigCache;
  keyRing: KeyRing;
  clientSecretPepper: string;
  /** The single-use jti store (DPoP proofs and client assertions go through it). */
  markSingleUse: MarkJtiUsed;
  logger: Logger;
  /** Told of each new approval request (the person's notification). */
  onApprovalRequested?: CibaDeps['onRequested'];
}

export function createProvider({ config, pool, configCache, keyRing, clientSecretPepper, markSingleUse, logger, onApprovalRequested }: ProviderDeps): Provider {
  // Without the patched steps, client authentication hooks and JWT introspection would be missing: fail at start.
  if (!providerStepsPrepared()) throw new Error('prepareProcess() (src/startup.ts) must run before a provider is created');
  // Approval requests: CIBA poll mode with RFC 9396 `delegation` details (src/approval/ciba.ts).
  const approvals = cibaFeatures({ config, pool, logger, onRequested: onApprovalRequested });
  const active = keyRing.active;
  const signingJwk = { ...active.privateKey.export({ format: 'jwk' }), kid: active.kid, alg: active.alg, use: 'sig' };

  const configuration: Configuration = {
    adapter: createAdapterClass(pool, configCache),
    jwks: { keys: [signingJwk as never] },
    clientAuthMethods: ['client_secret_basic', 'client_secret_post', 'private_key_jwt'],
    clientDefaults: {
      grant_types: ['client_credentials'],
      response_types: [],
      token_endpoint_auth_method: 'client_secret_basic',
      id_token_signed_response_alg: active.alg,
    },
    responseTypes: ['none'],
    scopes: [ADMIN_SCOPE, SSF_SCOPE],
    claims: {},
    findAccount: approvals.findAccount,
    routes: {
      token: '/token',
      jwks: '/jwks',
      introspection: '/token/introspection',
      revocation: '/token/revocation',
      backchannel_authentication: '/backchannel',
    },
    features: {
      // Deputy serves no browser or user-agent flow: nothing that could store a session.
      devInteractions: { enabled: false },
      rpInitiatedLogout: { enabled: false },
      userinfo: { enabled: false },
      pushedAuthorizationRequests: { enabled: false },
      clientCredentials: { enabled: true },
      // Opaque tokens here are admin tokens: only their own client and admins learn about them
      // (Deputy's delegated JWTs are answered by src/oauth/token-status.ts, same policy).
      introspection: { enabled: true, allowedPolicy: (ctx, client, token) => allowedToIntrospect(pool, client.clientId, { clientId: token.clientId ?? null, audience: null }) },
      revocation: { enabled: true, allowedPolicy: async (ctx, client, token) => token.clientId === client.clientId },
      dPoP: { enabled: true },
      ciba: approvals.ciba,
      richAuthorizationRequests: approvals.richAuthorizationRequests,
      resourceIndicators: approvals.resourceIndicators,
    },
    enabledJWA: {
      clientAuthSigningAlgValues: ['ES256', 'ES384', 'ES512', 'EdDSA', 'RS256', 'PS256'],
      dPoPSigningAlgValues: ['ES256', 'ES384', 'EdDSA', 'RS256', 'PS256'],
    },
    ttl: { ClientCredentials: config.TOKEN_TTL, BackchannelAuthenticationRequest: approvals.backchannelTtl as never },
    clockTolerance: config.CLOCK_SKEW,
    // src/http/cors.ts answers browsers from CORS_ORIGINS before oidc-provider sees them; a
    // cross-origin request that gets this far comes from an origin that is not allowed.
    clientBasedCORS: () => false,
    // Deputy is an API: errors are always JSON, never an HTML page.
    renderError: async (ctx: KoaContextWithOIDC, out) => {
      ctx.type = 'json';
      ctx.body = out;
    },
  };

  const provider = new Provider(config.ISSUER, configuration);
  // Behind a proxy, X-Forwarded-* give the client's address and protocol; never Deputy's URLs.
  provider.proxy = config.TRUST_PROXY;
  urlsFromIssuer(provider);
  compareClientSecretsAsHashes(provider, (presented, stored) => clientSecretMatches(presented, stored, clientSecretPepper));
  sizeClientCache(provider, CLIENT_OBJECT_CACHE_SIZE);
  replaceReplayDetection(provider, (iss, jti, exp) => markSingleUse('oauth_client', iss, jti, exp));
  return provider;
}
