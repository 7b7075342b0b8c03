/**
 * The one file that reaches into oidc-provider's internals (pinned to 9.13.3 in package.json).
 * An upgrade is a diff to this file plus a green suite.
 *
 * - DPoP proof validation for our own grant (the built-in grants get it from their helpers).
 * - Replay detection (DPoP proof and client assertion jtis) through Deputy's atomic store.
 * - Client secrets are stored as keyed hashes, so the secret comparison compares hashes.
 * - The size of oidc-provider's cache of Client objects.
 * - Every URL oidc-provider builds for a request (discovery, the client-assertion `aud` and
 *   DPoP `htu` it accepts) comes from the issuer, not from the request's Host.
 * - Which of oidc-provider's routes a request would reach (Deputy serves only some of them).
 * - Introspection and revocation of Deputy's delegated JWTs, which oidc-provider refuses as
 *   "structured tokens" because it does not store them: the refusal step is replaced by one
 *   that hands JWTs to Deputy (after oidc-provider authenticated the client) and opaque
 *   tokens back to oidc-provider.
 * - Client authentication on /token, introspection and revocation is wrapped, so Deputy learns
 *   whether it succeeded (oidc-provider sets the client entity before checking the secret) and
 *   can act right after it, before oidc-provider's own parameter checks.
 * - The request being served, for the adapter (oidc-provider keeps it in an AsyncLocalStorage).
 */
import type Provider from 'oidc-provider';
import { errors } from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
// @ts-expect-error untyped internal module
import validateDpopInternal from 'oidc-provider/lib/helpers/validate_dpop.js';
// @ts-expect-error untyped internal module
import introspectionAction from 'oidc-provider/lib/actions/introspection.js';
// @ts-expect-error untyped internal module
import revocationAction from 'oidc-provider/lib/actions/revocation.js';
// @ts-expect-error untyped internal module
import rejectStructuredTokens from 'oidc-provider/lib/shared/reject_structured_tokens.js';
// @ts-expect-error untyped internal module
import instance from 'oidc-provider/lib/helpers/weak_cache.js';
// @ts-expect-error untyped internal module
import LRU from 'oidc-provider/lib/helpers/lru.js';
// @ts-expect-error untyped internal module
import clientAuthSteps from 'oidc-provider/lib/shared/client_auth.js';
// @ts-expect-error untyped internal module
import tokenAction from 'oidc-provider/lib/actions/token.js';
// @ts-expect-error untyped internal module
import requestStorage from 'oidc-provider/lib/helpers/als.js';
import { compactShape, peekClaims } from '../jose/compact.js';

export interface DpopProof {
  thumbprint: string;
  jti: string;
  iat: number;
}

/**
 * Validates the request's DPoP header, if any. Its jti's replay check is the caller's: the token
 * exchange marks it used with its outcome (src/token-exchange/single-use-presented.ts).
 */
export async function validateDpop(provider: Provider, ctx: KoaContextWithOIDC): Promise<DpopProof | undefined> {
  // oidc-provider 9.13 fails with a TypeError (500) on `"nonce": ""` when nonces are not
  // configured; an empty nonce is simply an invalid proof.
  if (dpopNonceIsEmpty(ctx.get('DPoP'))) throw new errors.InvalidDpopProof('DPoP proof nonce must not be empty');
  return (await validateDpopInternal(provider, ctx)) as DpopProof | undefined;
}

function dpopNonceIsEmpty(proof: string): boolean {
  return peekClaims(proof)?.nonce === '';
}

/** `unique(iss, jti, exp)`: true the first time a jti is seen for `iss`, until `exp` (epoch seconds). */
export type ReplayCheck = (iss: string, jti: string, exp: number) => Promise<boolean>;

/**
 * oidc-provider's ReplayDetection.unique, used for DPoP proofs (every grant, ours included) and
 * client assertions, is find-then-save: concurrent requests carrying one proof can all find it
 * unused and all pass. Every such check goes through `unique` instead.
 */
export function replaceReplayDetection(provider: Provider, unique: ReplayCheck): void {
  const model = (provider as unknown as { ReplayDetection: { unique: ReplayCheck } }).ReplayDetection;
  if (typeof model?.unique !== 'function') throw new Error('oidc-provider internals changed: ReplayDetection.unique not found');
  model.unique = unique;
}

/** Makes every Client compare a presented secret through `hashSecret` against the stored hash. */
export function compareClientSecretsAsHashes(provider: Provider, equalsStoredHash: (presented: string, stored: string) => boolean): void {
  const prototype = provider.Client.prototype as unknown as { compareClientSecret(actual: string): boolean; clientSecret?: string };
  prototype.compareClientSecret = function compareClientSecret(this: { clientSecret?: string }, actual: string) {
    return typeof this.clientSecret === 'string' && equalsStoredHash(actual, this.clientSecret);
  };
}

/**
 * oidc-provider keeps the Client objects it builds from adapter metadata in an LRU of 100; with
 * more active clients than that, every request rebuilds and re-validates its client (about
 * 0.5 ms of CPU in the benchmark with 1,000 clients). The metadata itself comes from Deputy's
 * change-notified cache; this only sizes oidc-provider's derived-object cache.
 */
export function sizeClientCache(provider: Provider, maxSize: number): void {
  (instance(provider) as { dynamicClients: unknown }).dynamicClients = new LRU({ maxSize });
}

/**
 * oidc-provider builds a request's URLs (`ctx.oidc.urlFor`: discovery's endpoints and
 * jwks_uri, the audiences a private_key_jwt client assertion may name, a DPoP proof's `htu`)
 * from the request's Host and protocol, or X-Forwarded-* behind a proxy. Deputy's URLs are its
 * issuer's: build them as `provider.urlFor` does, from the issuer alone.
 */
export function urlsFromIssuer(provider: Provider): void {
  const prototype = (provider as unknown as { OIDCContext: { prototype: { urlFor: Provider['urlFor'] } } }).OIDCContext.prototype;
  prototype.urlFor = function urlFor(name, options) {
    return provider.urlFor(name, options);
  };
}

export type StructuredTokenHandler = (ctx: KoaContextWithOIDC) => Promise<void>;

interface StructuredTokenHandlers {
  introspection: StructuredTokenHandler;
  revocation: StructuredTokenHandler;
}

const handlersByProvider = new WeakMap<object, StructuredTokenHandlers>();

async function routeStructuredTokens(ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> {
  const handlers = handlersByProvider.get(ctx.oidc.provider);
  const route = ctx.oidc.route as 'introspection' | 'revocation';
  if (handlers && compactShape(ctx.oidc.params?.token) === 'jws') {
    if (route === 'revocation') ctx.status = 200;
    await handlers[route](ctx);
    return;
  }
  // Not ours: oidc-provider's own opaque tokens (e.g. admin client-credentials tokens).
  return rejectStructuredTokens(ctx, next);
}

function replaceStep(action: unknown[], step: unknown, replacement: unknown): void {
  const index = action.indexOf(step);
  if (index !== -1) action[index] = replacement;
  else if (!action.includes(replacement)) throw new Error('oidc-provider internals changed: structured-token step not found');
}

/**
 * Patches oidc-provider's module-level action arrays, so it applies to every Provider of the
 * process. Must run before a Provider is constructed (its router composes these arrays then):
 * src/startup.ts does it once at start-up.
 */
export function prepareProviderSteps(): void {
  replaceStep(introspectionAction as unknown[], rejectStructuredTokens, routeStructuredTokens);
  replaceStep(revocationAction as unknown[], rejectStructuredTokens, routeStructuredTokens);
  for (const action of [tokenAction, introspectionAction, revocationAction] as unknown[][]) {
    replaceStep(action, authenticateClient, observedClientAuthentication);
  }
  // The backchannel authentication endpoint (CIBA) composes its steps from this shared list when
  // a Provider is constructed; token, introspection and revocation copied it at import.
  replaceStep(clientAuthSteps as unknown[], authenticateClient, observedClientAuthentication);
}

/** True once prepareProviderSteps ran in this process. */
export function providerStepsPrepared(): boolean {
  return (tokenAction as unknown[]).includes(observedClientAuthentication);
}

export function handleStructuredTokens(provider: Provider, handlers: StructuredTokenHandlers): void {
  handlersByProvider.set(provider, handlers);
}

/** Why client authentication failed, as a bounded label. */
export type ClientAuthenticationFailure = 'missing' | 'malformed' | 'unknown_client' | 'invalid_secret' | 'method_mismatch' | 'invalid_credentials';

export interface ClientAuthenticationHooks {
  /** Runs once the client has authenticated, before any other check of the request; may throw. */
  authenticated(ctx: KoaContextWithOIDC): Promise<void>;
  /** Runs when client authentication failed (the request is then refused 400/401). */
  failed(ctx: KoaContextWithOIDC, reason: ClientAuthenticationFailure): void;
}

const authenticateClient = (clientAuthSteps as unknown[]).at(-1) as (ctx: KoaContextWithOIDC, next: () => Promise<void>) => Promise<void>;
const clientAuthHooksByProvider = new WeakMap<object, ClientAuthenticationHooks>();

type ProviderError = Error & { error?: string; error_description?: string; error_detail?: string; statusCode?: number; expose?: boolean };

function failureOf(error: ProviderError): ClientAuthenticationFailure | null {
  if (!(error instanceof errors.OIDCProviderError) || !error.expose) return null; // e.g. the database is down: not the client's fault
  if (error.error === 'invalid_request') {
    return error.error_description === 'no client authentication mechanism provided' ? 'missing' : 'malformed';
  }
  if (error.error !== 'invalid_client') return 'malformed';
  switch (error.error_detail) {
    case 'client not found':
      return 'unknown_client';
    case 'invalid secret provided':
      return 'invalid_secret';
    case 'the provided authentication mechanism does not match the registered client authentication method':
      return 'method_mismatch';
    default:
      return 'invalid_credentials';
  }
}

/**
 * oidc-provider's client authentication, observed. A request with no client authentication at
 * all is answered 401 invalid_client (RFC 6749 §5.2), not oidc-provider's 400 invalid_request,
 * and every 401 carries a `WWW-Authenticate: Basic` challenge (oidc-provider adds one only
 * when the request sent an Authorization header).
 */
async function observedClientAuthentication(ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> {
  const hooks = clientAuthHooksByProvider.get(ctx.oidc.provider);
  let authenticated = false;
  try {
    await authenticateClient(ctx, async () => {
      authenticated = true;
      await hooks?.authenticated(ctx);
      await next();
    });
  } catch (thrown) {
    if (authenticated) throw thrown;
    const reason = failureOf(thrown as ProviderError);
    if (reason === null) throw thrown;
    hooks?.failed(ctx, reason);
    const error = reason === 'missing' ? new errors.InvalidClientAuth('no client authentication provided') : (thrown as ProviderError);
    if (error.statusCode === 401 && ctx.headers.authorization === undefined) {
      ctx.set('WWW-Authenticate', `Basic realm="${ctx.oidc.provider.issuer}"`);
    }
    throw error;
  }
}

export function observeClientAuthentication(provider: Provider, hooks: ClientAuthenticationHooks): void {
  clientAuthHooksByProvider.set(provider, hooks);
}

/** The request id of the request being served, if any (for code oidc-provider calls, such as the adapter). */
export function currentRequestId(): string | null {
  const ctx = (requestStorage as { getStore(): { state?: { requestId?: string } } | undefined }).getStore();
  return ctx?.state?.requestId ?? null;
}

/** The name of the oidc-provider route `method path` would reach (its own router's matching), if any. */
export function providerRouteName(provider: Provider, method: string, path: string): string | undefined {
  const { router } = instance(provider) as { router: { match(method: string, path: string): { route: { name: string } } | undefined } };
  return router.match(method, path)?.route.name;
}
