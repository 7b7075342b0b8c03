/**
 * Where the verification keys of a trusted issuer come from: its inline JWKS, or its jwks_uri
 * fetched by jose (cached, refetched on an unknown kid at most once per cooldown).
 *
 * Fail closed: if the keys cannot be obtained (network, timeout, non-200, not a JWKS) the
 * resolver throws `temporarily_unavailable`, never a verdict on the token. A key that simply is
 * not in the set stays jose's JWKSNoMatchingKey, which the verifier maps to `invalid_request`
 * naming the token it was checking.
 */
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors as joseErrors,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
  type RemoteJWKSet,
} from 'jose';
import { temporarilyUnavailable } from '../errors.js';

export const DEFAULT_JWKS_TIMEOUT_MS = 2000;
export const DEFAULT_JWKS_COOLDOWN_MS = 30_000;

export interface IssuerKeySource {
  issuer: string;
  jwksUri?: string | null;
  jwks?: { keys: unknown[] } | null;
}

export interface IssuerKeyOptions {
  timeoutMs?: number;
  cooldownMs?: number;
  /** How long fetched keys are used before a refetch; jose's default (10 minutes) when unset. */
  cacheMaxAgeMs?: number;
}

export interface IssuerKeys {
  keysFor(source: IssuerKeySource): JWTVerifyGetKey;
}

/** One instance per process: it holds one jose remote set per jwks_uri. */
export function createIssuerKeys(options: IssuerKeyOptions = {}): IssuerKeys {
  const remoteSets = new Map<string, RemoteJWKSet>();
  const remoteOptions = {
    timeoutDuration: options.timeoutMs ?? DEFAULT_JWKS_TIMEOUT_MS,
    cooldownDuration: options.cooldownMs ?? DEFAULT_JWKS_COOLDOWN_MS,
    ...(options.cacheMaxAgeMs === undefined ? {} : { cacheMaxAge: options.cacheMaxAgeMs }),
  };

  function remoteSet(jwksUri: string, issuer: string): RemoteJWKSet {
    let url: URL;
    try {
      url = new URL(jwksUri);
    } catch {
      throw temporarilyUnavailable(`trusted issuer ${issuer}: jwks_uri is not a URL`);
    }
    let set = remoteSets.get(url.href);
    if (!set) {
      set = createRemoteJWKSet(url, remoteOptions);
      remoteSets.set(url.href, set);
    }
    return set;
  }

  return {
    keysFor(source) {
      if (source.jwks) {
        let set: JWTVerifyGetKey;
        try {
          set = localKeySet(source.jwks);
        } catch (error) {
          throw temporarilyUnavailable(`trusted issuer ${source.issuer}: inline jwks unusable: ${describe(error)}`);
        }
        return failClosed(set, source.issuer);
      }
      if (source.jwksUri) return failClosed(remoteSet(source.jwksUri, source.issuer), source.issuer);
      throw temporarilyUnavailable(`trusted issuer ${source.issuer} has neither jwks nor jwks_uri`);
    },
  };
}

/** Failures that are about the token (its kid or alg), not about obtaining the keys. */
function isTokenFault(error: unknown): boolean {
  return (
    error instanceof joseErrors.JWKSNoMatchingKey ||
    error instanceof joseErrors.JWKSMultipleMatchingKeys ||
    error instanceof joseErrors.JOSENotSupported
  );
}

function failClosed(resolve: JWTVerifyGetKey, issuer: string): JWTVerifyGetKey {
  return async (header, token) => {
    try {
      return await resolve(header, token);
    } catch (error) {
      if (isTokenFault(error)) throw error;
      throw temporarilyUnavailable(`keys of trusted issuer ${issuer}: ${describe(error)}`);
    }
  };
}

function describe(error: unknown): string {
  if (error instanceof joseErrors.JOSEError) return `${error.code}: ${error.message}`;
  if (error instanceof Error) {
    const cause = error.cause instanceof Error ? ` (${error.cause.message})` : '';
    return `${error.name}: ${error.message}${cause}`;
  }
  return String(error);
}

const LOCAL_SET_CACHE_SIZE = 512;
const localSets = new Map<string, JWTVerifyGetKey>();

/**
 * A jose local key set for a JWKS held in the database. Cached by the JWKS's exact JSON so the
 * imported CryptoKeys are reused across requests; a changed JWKS is a different entry, so the
 * cache never serves a key that is no longer registered. Throws jose's JWKSInvalid when the
 * value is not a JWKS.
 */
export function localKeySet(jwks: unknown): JWTVerifyGetKey {
  const cacheKey = JSON.stringify(jwks);
  const cached = localSets.get(cacheKey);
  if (cached) return cached;
  const set = createLocalJWKSet(jwks as JSONWebKeySet);
  if (localSets.size >= LOCAL_SET_CACHE_SIZE) {
    const oldest = localSets.keys().next();
    if (!oldest.done) localSets.delete(oldest.value);
  }
  localSets.set(cacheKey, set);
  return set;
}
