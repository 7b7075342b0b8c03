/**
 * What the token-exchange grant (grant.ts) needs from the outside world, as narrow ports, and
 * their implementations over PostgreSQL, the key ring, the rate limits and oidc-provider. The
 * grant sees only the ports, so its unit tests run on fakes (test/token-exchange/handler.test.ts); the
 * composition root (src/composition.ts) builds the real ones.
 */
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import type pg from 'pg';
import type { ConfigCache } from '../db/change-feed.js';
import type { MarkJtiUsed } from '../db/single-use-jtis.js';
import type { KeyRing } from '../keys/key-ring.js';
import { validateDpop, type DpopProof } from '../oauth/oidc-provider-internals.js';
import { resolveActor } from './actor.js';
import type { IssuerKeys } from '../trust/issuer-keys.js';
import { loadLiveFacts, type LiveFacts, type LiveFactsQuery } from './live-facts.js';
import { mintAccessToken, type AccessTokenContent } from './mint.js';
import type { RateLimits } from './rate-limit.js';
import type { ExchangeOutcome, RecordStatus, Recorder } from './record.js';
import type { SubjectTokenKind } from './request.js';
import { authenticateParentToken, verifySubjectToken, type SubjectIdentity } from './subject.js';
import { findTrustedIssuer } from '../trust/trusted-issuers.js';

export interface SignedAccessToken {
  token: string;
  /** The key that signed it: the recording refuses a key retired meanwhile ('stale_key'). */
  kid: string;
}

export interface TokenExchangePorts {
  /** The request's DPoP proof, validated (its jti is marked used with the outcome); undefined without one. */
  validateDpop(ctx: KoaContextWithOIDC): Promise<DpopProof | undefined>;
  verifySubject(token: string, kind: SubjectTokenKind, now: Date): Promise<SubjectIdentity>;
  /** The actor an actor token proves, its single-use jti handed to `markJtiUsed`; null without an actor token. */
  resolveActor(actorToken: string | null, now: Date, markJtiUsed: MarkJtiUsed): Promise<string | null>;
  loadLiveFacts(query: LiveFactsQuery): Promise<LiveFacts>;
  /** A Deputy subject token is authentic by its record's digest (or signature): throws when it is not. */
  authenticateParent(subject: SubjectIdentity, parent: LiveFacts['parent'], now: Date): Promise<void>;
  /** Spends one unit of the actor's rate limit; throws RateLimited beyond it. */
  limitActor(actorId: string): Promise<void>;
  /** Signs with the active key. */
  sign(content: AccessTokenContent): SignedAccessToken;
  /** Learns a signing key another process rotated in. */
  reloadSigningKeys(): Promise<void>;
  /** Writes a token with its audit event, or a refusal's audit event alone, durably. */
  record(outcome: ExchangeOutcome): Promise<RecordStatus>;
  /** Notes that actors were used (off the response path). */
  touchActors(actorIds: readonly string[]): void;
}

export interface ExchangePortDeps {
  issuer: string;
  clockSkewSeconds: number;
  provider: Provider;
  pool: pg.Pool;
  configCache: ConfigCache;
  keyRing: KeyRing;
  issuerKeys: IssuerKeys;
  rateLimits: RateLimits;
  recorder: Recorder;
  touchActors(actorIds: readonly string[]): void;
}

export function createExchangePorts(deps: ExchangePortDeps): TokenExchangePorts {
  const { issuer, pool, keyRing } = deps;
  const trusted = {
    findIssuer: (iss: string, kind: 'user' | 'workload') => findTrustedIssuer(pool, deps.configCache, iss, kind),
    keysFor: deps.issuerKeys.keysFor,
    clockSkewSeconds: deps.clockSkewSeconds,
    ownIssuer: issuer,
  };
  const subjectDeps = { ...trusted, keyRing, issuer };
  const actorDeps = {
    ...trusted,
    pool,
    configCache: deps.configCache,
    acceptedAudiences: [issuer, `${issuer}/token`],
    keySetFor: deps.issuerKeys.localKeySet,
  };
  return {
    validateDpop: (ctx) => validateDpop(deps.provider, ctx),
    verifySubject: (token, kind, now) => verifySubjectToken(token, kind, subjectDeps, now),
    resolveActor: (actorToken, now, markJtiUsed) => resolveActor(actorToken, { ...actorDeps, markJtiUsed }, now),
    loadLiveFacts: (query) => loadLiveFacts(pool, query),
    authenticateParent: (subject, parent, now) => authenticateParentToken(subject, parent, keyRing, now),
    limitActor: (actorId) => deps.rateLimits.actor(actorId),
    sign(content) {
      const key = keyRing.active;
      return { token: mintAccessToken(key, content), kid: key.kid };
    },
    reloadSigningKeys: () => keyRing.reload(),
    record: (outcome) => deps.recorder.record(outcome),
    touchActors: deps.touchActors,
  };
}
