/**
 * Where the verification keys of a trusted issuer come from: its inline JWKS, or its jwks_uri
 * fetched by jose (cached, refetched on an unknown kid at most once per cooldown) through
 * Deputy's guarded fetch (src/trust/jwks-fetch.ts: no private-network targets by default, no
 * redirects, bounded size).
 *
 * Fail closed: if the keys cannot be obtained (network, timeout, non-200, not a JWKS, refused
 * target) the resolver throws `temporarily_unavailable`, never a verdict on the token. A key
 * that simply is not in the set stays jose's JWKSNoMatchingKey, which the verifier maps to
 * `invalid_request` naming the token it was checking.
 *
 * A failed fetch is remembered for the cooldown: meanwhile requests naming the issuer are
 * answered from the keys fetched before, if still fresh, or refused at once, with no network
 * call, so a failing endpoint is fetched at most once per cooldown whatever the traffic.
 *
 * Remote key sets are cached per jwks_uri; `drop(issuer)` forgets every set the issuer used, so
 * a changed or deleted issuer (the change feed calls it in every process) or an admin's refresh
 * never leaves a key the IdP has dropped in use.
 */
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  customFetch,
  errors as joseErrors,
  type JSONWebKeySet,
  type JWTVerifyGetKey,
  type RemoteJWKSet,
} from 'jose';
import { temporarilyUnavailable } from '../errors.js';
import type { Resolver } from './guarded-lookup.js';
import { createJwksFetch } from './jwks-fetch.js';

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
  /** Allow jwks_uri targets on private networks and loopback (JWKS_ALLOW_PRIVATE_NETWORK). */
  allowPrivateNetwork?: boolean;
  /** Name resolution for jwks_uri hosts (tests inject one). */
  resolve?: Resolver;
}

export interface IssuerKeys {
  keysFor(source: IssuerKeySource): JWTVerifyGetKey;
  /** Key sets of JWKSs held in the database (inline issuer keys, actors' keys), cached. */
  localKeySet: LocalKeySets;
  /** Forgets every remote key set (and remembered failure) the issuer used. */
  drop(issuer: string): void;
  /** Forgets every remote key set. */
  dropAll(): void;
  /** Drops the issuer's cached keys and fetches them now; the key ids it publishes. */
  refresh(source: IssuerKeySource): Promise<string[]>;
}

interface RemoteEntry {
  set: RemoteJWKSet;
  /** When the last fetch failed (ms since epoch) and why; cleared by a successful fetch. */
  failedAt?: number;
  failure?: string;
}

/** One instance per process: it holds one jose remote set per jwks_uri. */
export function createIssuerKeys(options: IssuerKeyOptions = {}): IssuerKeys {
  const localKeys = createLocalKeySets();
  const remote = new Map<string, RemoteEntry>();
  const urlsByIssuer = new Map<string, Set<string>>();
  const cooldownMs = options.cooldownMs ?? DEFAULT_JWKS_COOLDOWN_MS;
  const remoteOptions = {
    timeoutDuration: options.timeoutMs ?? DEFAULT_JWKS_TIMEOUT_MS,
    cooldownDuration: cooldownMs,
    ...(options.cacheMaxAgeMs === undefined ? {} : { cacheMaxAge: options.cacheMaxAgeMs }),
    [customFetch]: createJwksFetch({ allowPrivateNetwork: options.allowPrivateNetwork ?? false, ...(options.resolve ? { resolve: options.resolve } : {}) }),
  };

  function remoteEntry(jwksUri: string, issuer: string): RemoteEntry {
    let url: URL;
    try {
      url = new URL(jwksUri);
    } catch {
      throw temporarilyUnavailable(`trusted issuer ${issuer}: jwks_uri is not a URL`);
    }
    let entry = remote.get(url.href);
    if (!entry) {
      entry = { set: createRemoteJWKSet(url, remoteOptions) };
      remote.set(url.href, entry);
    }
    let urls = urlsByIssuer.get(issuer);
    if (!urls) urlsByIssuer.set(issuer, (urls = new Set()));
    urls.add(url.href);
    return entry;
  }

  const coolingDown = (entry: RemoteEntry) => entry.failedAt !== undefined && Date.now() < entry.failedAt + cooldownMs;

  function remoteKeys(entry: RemoteEntry, issuer: string): JWTVerifyGetKey {
    return async (header, token) => {
      if (coolingDown(entry)) {
        // The last fetch failed moments ago: no network call until the cooldown ends.
        const cached = entry.set.fresh ? entry.set.jwks() : undefined;
        if (!cached) throw temporarilyUnavailable(`keys of trusted issuer ${issuer}: the last fetch failed (${entry.failure}); next try after the cooldown`);
        return localKeys(cached)(header, token);
      }
      try {
        const key = await entry.set(header, token);
        entry.failedAt = undefined;
        return key;
      } catch (error) {
        if (isTokenFault(error)) throw error;
        entry.failedAt = Date.now();
        entry.failure = describe(error);
        throw temporarilyUnavailable(`keys of trusted issuer ${issuer}: ${entry.failure}`);
      }
    };
  }

  function drop(issuer: string): void {
    for (const href of urlsByIssuer.get(issuer) ?? []) remote.delete(href);
    urlsByIssuer.delete(issuer);
  }

  return {
    localKeySet: localKeys,
    keysFor(source) {
      if (source.jwks) {
        let set: JWTVerifyGetKey;
        try {
          set = localKeys(source.jwks);
        } catch (error) {
          throw temporarilyUnavailable(`trusted issuer ${source.issuer}: inline jwks unusable: ${describe(error)}`);
        }
        return failClosed(set, source.issuer);
      }
      if (source.jwksUri) return remoteKeys(remoteEntry(source.jwksUri, source.issuer), source.issuer);
      throw temporarilyUnavailable(`trusted issuer ${source.issuer} has neither jwks nor jwks_uri`);
    },
    drop,
    dropAll() {
      remote.clear();
      urlsByIssuer.clear();
    },
    async refresh(source) {
      drop(source.issuer);
      if (source.jwks) return keyIdsOf(source.jwks);
      if (!source.jwksUri) throw temporarilyUnavailable(`trusted issuer ${source.issuer} has neither jwks nor jwks_uri`);
      const entry = remoteEntry(source.jwksUri, source.issuer);
      try {
        await entry.set.reload();
      } catch (error) {
        entry.failedAt = Date.now();
        entry.failure = describe(error);
        throw temporarilyUnavailable(`keys of trusted issuer ${source.issuer}: ${entry.failure}`);
      }
      return keyIdsOf(entry.set.jwks() ?? { keys: [] });
    },
  };
}

function keyIdsOf(jwks: { keys: unknown[] }): string[] {
  return jwks.keys.map((key) => (key && typeof key === 'object' && typeof (key as { kid?: unknown }).kid === 'string' ? (key as { kid: string }).kid : ''));
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

/** A jose local key set for a JWKS; throws jose's JWKSInvalid when the value is not a JWKS. */
export function localKeySet(jwks: unknown): JWTVerifyGetKey {
  return createLocalJWKSet(jwks as JSONWebKeySet);
}

/** Local key sets for JWKSs held in the database, cached (see createLocalKeySets). */
export type LocalKeySets = (jwks: unknown) => JWTVerifyGetKey;

/**
 * Local key sets cached by the JWKS's exact JSON, so the imported CryptoKeys are reused across
 * requests; a changed JWKS is a different entry, so the cache never serves a key that is no
 * longer registered. The cache belongs to the instance (one per IssuerKeys), not to the module.
 */
export function createLocalKeySets(maxSize: number = LOCAL_SET_CACHE_SIZE): LocalKeySets {
  const sets = new Map<string, JWTVerifyGetKey>();
  return (jwks) => {
    const cacheKey = JSON.stringify(jwks);
    const cached = sets.get(cacheKey);
    if (cached) return cached;
    const set = localKeySet(jwks);
    if (sets.size >= maxSize) {
      const oldest = sets.keys().next();
      if (!oldest.done) sets.delete(oldest.value);
    }
    sets.set(cacheKey, set);
    return set;
  };
}
