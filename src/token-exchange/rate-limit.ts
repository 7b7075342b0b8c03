/**
 * Per-client and per-actor rate limits on the token endpoint (rate-limiter-flexible, in
 * process memory). Each Deputy process enforces its own budget: N processes together allow up to
 * N times the configured rate. The trade-off is deliberate: a shared (PostgreSQL) counter would
 * add a write to every exchange, which is the hot path the limit protects.
 */
import { RateLimiterMemory, RateLimiterRes } from 'rate-limiter-flexible';
import { OAuthError } from '../errors.js';

/** RFC 6749 has no code for "slow down": temporarily_unavailable, with HTTP 429 and Retry-After. */
export class RateLimited extends OAuthError {
  constructor(readonly retryAfterSeconds: number, what: 'client' | 'actor') {
    super('temporarily_unavailable', `too many requests for this ${what}; retry later`, undefined, 429, { headers: { 'Retry-After': String(retryAfterSeconds) } });
  }
}

export interface RateLimitConfig {
  /** Requests per second per client; 0 disables. */
  perClient: number;
  /** Requests per second per actor; 0 disables. */
  perActor: number;
}

function limiter(points: number): RateLimiterMemory | null {
  return points > 0 ? new RateLimiterMemory({ points, duration: 1 }) : null;
}

async function consume(limit: RateLimiterMemory | null, key: string, what: 'client' | 'actor'): Promise<void> {
  if (!limit) return;
  try {
    await limit.consume(key);
  } catch (rejection) {
    if (rejection instanceof RateLimiterRes) throw new RateLimited(Math.max(1, Math.ceil(rejection.msBeforeNext / 1000)), what);
    throw rejection;
  }
}

export interface RateLimits {
  /** Spends one unit of the client's budget; throws RateLimited when it is spent. */
  client(clientId: string): Promise<void>;
  actor(actorId: string): Promise<void>;
}

export function createRateLimits(config: RateLimitConfig): RateLimits {
  const clients = limiter(config.perClient);
  const actors = limiter(config.perActor);
  return {
    client: (clientId: string) => consume(clients, clientId, 'client'),
    actor: (actorId: string) => consume(actors, actorId, 'actor'),
  };
}
