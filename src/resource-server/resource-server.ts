/**
 * The resource server: one `verify(request)` that answers who is calling (subject and act
 * chain) or throws an AccessError carrying the RFC 6750 / RFC 9449 refusal, composed of the
 * token check, the DPoP check, the revocation check (SSF receiver, introspection, or both) and
 * the API's chain policy.
 */
import { createRemoteJWKSet, customFetch, type JWTVerifyGetKey } from 'jose';
import { checkChain, type ChainPolicy } from './act-chain.js';
import { verifyAccessToken, type VerifiedToken } from './access-token.js';
import { DEFAULT_DPOP_ALGORITHMS, verifyDpopProof } from './dpop.js';
import { AccessError, refusal, type Refusal } from './errors.js';
import { MemoryJtiStore, type JtiStore } from './expiring-set.js';
import { IntrospectionClient, IntrospectionUnavailable } from './introspection.js';
import { credentialsOf, type RequestLike } from './request.js';
import { SsfReceiver, type SsfReceiverOptions } from './ssf-receiver.js';

/** What Deputy signs with (ES256 by default, EdDSA when configured). */
export const DEFAULT_ALGORITHMS = ['ES256', 'EdDSA', 'Ed25519'] as const;

export interface ResourceServerOptions {
  /** Deputy's issuer URL, exactly as in its tokens' `iss`. */
  issuer: string;
  /** This API's resource URI(s): a token's `aud` must name one. */
  audience: string | readonly string[];
  /** Default {issuer}/jwks. */
  jwksUri?: string;
  /** Keys to verify with instead of fetching jwksUri (tests, or a key set the app manages). */
  keys?: JWTVerifyGetKey;
  algorithms?: readonly string[];
  /** Leeway on exp/iat, seconds (default 5). */
  clockToleranceSeconds?: number;
  dpop?: {
    algorithms?: readonly string[];
    /** How old a proof may be, seconds (default 60). */
    maxAgeSeconds?: number;
    /** Proof jtis seen (default: in memory; several processes need a shared store). */
    replay?: JtiStore;
  };
  /** Be an SSF receiver: refuse tokens Deputy reports revoked. */
  ssf?: Omit<SsfReceiverOptions, 'issuer' | 'audience' | 'keys' | 'algorithms' | 'fetch' | 'now'>;
  /**
   * Ask Deputy's introspection endpoint. Alone: for every token (answers cached `cacheSeconds`).
   * With `ssf`: only for tokens issued before the receiver was listening (e.g. after a restart
   * with an in-memory revocation list).
   */
  introspection?: { clientId: string; clientSecret: string; endpoint?: string; cacheSeconds?: number };
  /** realm of the WWW-Authenticate challenges. */
  realm?: string;
  fetch?: typeof fetch;
  /** Milliseconds since the epoch (tests pass a clock). */
  clock?: () => number;
}

export interface ResourceServer {
  /**
   * Verifies the request's access token (and DPoP proof), that it is not revoked, and, when
   * given, the operation's policy. Resolves to the caller; throws AccessError otherwise.
   */
  verify(request: RequestLike, policy?: ChainPolicy): Promise<VerifiedToken>;
  /** Checks a policy on an already verified token (throws AccessError insufficient_scope). */
  authorize(token: VerifiedToken, policy: ChainPolicy): void;
  /** The status, headers and body to answer an error with; null when it is not an AccessError (a bug: let it be a 500). */
  refusalFor(error: unknown): Refusal | null;
  /** The SSF receiver, when configured (mount `ssf.handlePush`, or `ssf.startPolling()`). */
  ssf: SsfReceiver | null;
  close(): Promise<void>;
}

export function createResourceServer(options: ResourceServerOptions): ResourceServer {
  const issuer = options.issuer.replace(/\/$/, '');
  const clock = options.clock ?? Date.now;
  const now = () => Math.floor(clock() / 1000);
  const fetchImpl = options.fetch ?? globalThis.fetch;
  const algorithms = options.algorithms ?? DEFAULT_ALGORITHMS;
  // jose caches the set (10 min), refetches on an unknown kid (a rotation) at most every 30 s.
  const keys =
    options.keys ??
    createRemoteJWKSet(new URL(options.jwksUri ?? `${issuer}/jwks`), options.fetch ? { [customFetch]: options.fetch as never } : {});
  const clockToleranceSeconds = options.clockToleranceSeconds ?? 5;
  const dpopAlgorithms = options.dpop?.algorithms ?? DEFAULT_DPOP_ALGORITHMS;
  const dpopMaxAge = options.dpop?.maxAgeSeconds ?? 60;
  const replay = options.dpop?.replay ?? new MemoryJtiStore(clock);
  const challenge = { ...(options.realm ? { realm: options.realm } : {}), dpopAlgorithms };

  const ssf = options.ssf
    ? new SsfReceiver({ ...options.ssf, issuer, audience: options.audience, keys, algorithms, fetch: fetchImpl, now })
    : null;
  const introspection = options.introspection
    ? new IntrospectionClient({
        endpoint: options.introspection.endpoint ?? `${issuer}/token/introspection`,
        clientId: options.introspection.clientId,
        clientSecret: options.introspection.clientSecret,
        ...(options.introspection.cacheSeconds !== undefined ? { cacheSeconds: options.introspection.cacheSeconds } : {}),
        fetch: fetchImpl,
        now,
      })
    : null;

  function authorize(token: VerifiedToken, policy: ChainPolicy): void {
    const verdict = checkChain({ subject: token.subject, chain: token.chain, scopes: token.scopes }, policy);
    if (!verdict.allowed) {
      throw new AccessError(verdict.error, verdict.description, { scheme: token.dpopJkt ? 'DPoP' : 'Bearer', scope: verdict.scope });
    }
  }

  async function checkNotRevoked(token: VerifiedToken): Promise<void> {
    const scheme = token.dpopJkt ? 'DPoP' : 'Bearer';
    if (ssf && (await ssf.isRevoked(token.jti))) throw new AccessError('invalid_token', 'the access token was revoked', { scheme });
    const covered = ssf?.coveredSince ?? null;
    // Whole seconds on both sides: a token issued in the second the receiver began listening may
    // predate it, so that second is introspected too (fail closed).
    const needsIntrospection = introspection !== null && (ssf === null || covered === null || token.issuedAt <= covered);
    if (!needsIntrospection) return;
    let active: boolean;
    try {
      active = await introspection.isActive(token.token, token.expiresAt, token.jti);
    } catch (error) {
      if (error instanceof IntrospectionUnavailable) throw new AccessError('temporarily_unavailable', 'the token status could not be checked', { scheme });
      throw error;
    }
    if (!active) throw new AccessError('invalid_token', 'the access token is not active', { scheme });
  }

  return {
    ssf,
    authorize,
    async verify(request, policy) {
      const credentials = credentialsOf(request);
      const token = await verifyAccessToken(credentials.token, credentials.scheme, {
        issuer,
        audience: options.audience,
        keys,
        algorithms,
        clockToleranceSeconds,
        now,
      });
      if (token.dpopJkt) {
        if (credentials.scheme !== 'DPoP') throw new AccessError('invalid_token', 'a DPoP-bound token must be sent with the DPoP scheme', { scheme: 'DPoP' });
        if (!credentials.proof) throw new AccessError('invalid_dpop_proof', 'a DPoP proof is required', { scheme: 'DPoP' });
        await verifyDpopProof(
          { proof: credentials.proof, method: request.method, url: request.url, accessToken: credentials.token, jkt: token.dpopJkt },
          { algorithms: dpopAlgorithms, maxAgeSeconds: dpopMaxAge, clockToleranceSeconds, replay, now },
        );
      } else if (credentials.scheme === 'DPoP') {
        throw new AccessError('invalid_token', 'the access token is not DPoP-bound', { scheme: 'DPoP' });
      }
      await checkNotRevoked(token);
      if (policy) authorize(token, policy);
      return token;
    },
    refusalFor(error) {
      return error instanceof AccessError ? refusal(error, challenge) : null;
    },
    async close() {
      await ssf?.stop();
    },
  };
}
