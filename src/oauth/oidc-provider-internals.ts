/**
 * The one file that reaches into oidc-provider's internals (pinned to 9.13.3 in package.json).
 * An upgrade is a diff to this file plus a green suite.
 *
 * - DPoP proof validation for our own grant (the built-in grants get it from their helpers).
 * - Client secrets are stored as keyed hashes, so the secret comparison compares hashes.
 * - The size of oidc-provider's cache of Client objects.
 * - Which of oidc-provider's routes a request would reach (Deputy serves only some of them).
 * - Introspection and revocation of Deputy's delegated JWTs, which oidc-provider refuses as
 *   "structured tokens" because it does not store them: the refusal step is replaced by one
 *   that hands JWTs to Deputy (after oidc-provider authenticated the client) and opaque
 *   tokens back to oidc-provider.
 */
import type Provider from 'oidc-provider';
import { errors } from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
// @ts-expect-error untyped internal module
import validateDpopInternal, { checkDpopReplay as checkDpopReplayInternal } from 'oidc-provider/lib/helpers/validate_dpop.js';
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

export interface DpopProof {
  thumbprint: string;
  jti: string;
  iat: number;
}

/** Validates the request's DPoP header, if any, and checks its jti for replay. */
export async function validateDpop(provider: Provider, ctx: KoaContextWithOIDC): Promise<DpopProof | undefined> {
  // oidc-provider 9.13 fails with a TypeError (500) on `"nonce": ""` when nonces are not
  // configured; an empty nonce is simply an invalid proof.
  if (dpopNonceIsEmpty(ctx.get('DPoP'))) throw new errors.InvalidDpopProof('DPoP proof nonce must not be empty');
  const proof = (await validateDpopInternal(provider, ctx)) as DpopProof | undefined;
  // A replayed proof is an invalid proof (RFC 9449 §11.1), not an invalid grant.
  if (proof) await checkDpopReplayInternal(provider, ctx, proof, ctx.oidc.client!.clientId, errors.InvalidDpopProof);
  return proof;
}

function dpopNonceIsEmpty(proof: string): boolean {
  const payload = proof.split('.')[1];
  if (!payload) return false;
  try {
    return (JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as { nonce?: unknown }).nonce === '';
  } catch {
    return false;
  }
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

export type StructuredTokenHandler = (ctx: KoaContextWithOIDC) => Promise<void>;

interface StructuredTokenHandlers {
  introspection: StructuredTokenHandler;
  revocation: StructuredTokenHandler;
}

const handlersByProvider = new WeakMap<object, StructuredTokenHandlers>();

function looksLikeJwt(token: unknown): boolean {
  return typeof token === 'string' && token.split('.').length === 3;
}

async function routeStructuredTokens(ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> {
  const handlers = handlersByProvider.get(ctx.oidc.provider);
  const route = ctx.oidc.route as 'introspection' | 'revocation';
  if (handlers && looksLikeJwt(ctx.oidc.params?.token)) {
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

/** Must run before the Provider is constructed (its router composes these arrays then). */
export function prepareStructuredTokenRouting(): void {
  replaceStep(introspectionAction as unknown[], rejectStructuredTokens, routeStructuredTokens);
  replaceStep(revocationAction as unknown[], rejectStructuredTokens, routeStructuredTokens);
}

export function handleStructuredTokens(provider: Provider, handlers: StructuredTokenHandlers): void {
  handlersByProvider.set(provider, handlers);
}

/** The name of the oidc-provider route `method path` would reach (its own router's matching), if any. */
export function providerRouteName(provider: Provider, method: string, path: string): string | undefined {
  const { router } = instance(provider) as { router: { match(method: string, path: string): { route: { name: string } } | undefined } };
  return router.match(method, path)?.route.name;
}
