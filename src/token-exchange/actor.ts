/**
 * Who is acting: an actor assertion signed with the actor's registered key, a workload token
 * from a trusted workload issuer bound to an actor, or — with no actor token — the
 * authenticated client's own actor. Whether the client may present it is decide.ts's rule.
 */
import type pg from 'pg';
import type { ConfigCache } from '../db/change-feed.js';
import type { MarkJtiUsed } from '../db/single-use-jtis.js';
import { peekClaims } from '../jose/compact.js';
import { verifyActorAssertion, verifyWorkloadToken } from './actor-assertion.js';
import type { LocalKeySets } from '../trust/issuer-keys.js';
import type { TrustedIssuerDeps } from '../trust/trusted-issuer-token.js';

export interface ActorIdentityDeps extends TrustedIssuerDeps {
  pool: pg.Pool;
  configCache: ConfigCache;
  acceptedAudiences: string[];
  markJtiUsed: MarkJtiUsed;
  keySetFor: LocalKeySets;
}

/** An actor's registered keys, through the change-notified cache (a key change drops it). */
function findActorKeys(pool: pg.Pool, cache: ConfigCache, id: string) {
  return cache.get(`actors:${id}`, async () => {
    const { rows } = await pool.query<{ id: string; jwks: { keys: unknown[] } | null }>({
      name: 'deputy_actor_keys',
      text: 'SELECT id, jwks FROM actors WHERE id = $1',
      values: [id],
    });
    return rows[0] ?? null;
  });
}

async function findActorByWorkload(pool: pg.Pool, issuer: string, subject: string): Promise<string | null> {
  const { rows } = await pool.query<{ id: string }>({
    name: 'deputy_actor_by_workload',
    text: 'SELECT id FROM actors WHERE workload_issuer = $1 AND workload_subject = $2',
    values: [issuer, subject],
  });
  return rows[0]?.id ?? null;
}

function isWorkloadIssuer(token: string, deps: ActorIdentityDeps): Promise<boolean> {
  const iss = peekClaims(token)?.iss;
  return typeof iss === 'string' ? deps.findIssuer(iss, 'workload').then(Boolean) : Promise.resolve(false);
}

/**
 * The actor id an actor token proves (not yet checked against the client's bindings); null
 * when there is no actor token, meaning the client's own actor.
 */
export async function resolveActor(actorToken: string | null, deps: ActorIdentityDeps, now: Date): Promise<string | null> {
  if (actorToken === null) return null;
  if (await isWorkloadIssuer(actorToken, deps)) {
    return (await verifyWorkloadToken(actorToken, { ...deps, findActorByWorkload: (iss, sub) => findActorByWorkload(deps.pool, iss, sub) }, now)).actorId;
  }
  const assertion = await verifyActorAssertion(
    actorToken,
    {
      findActor: (id) => findActorKeys(deps.pool, deps.configCache, id),
      keySetFor: deps.keySetFor,
      markJtiUsed: (issuer, jti, exp) => deps.markJtiUsed('actor_assertion', issuer, jti, exp),
      acceptedAudiences: deps.acceptedAudiences,
      clockSkewSeconds: deps.clockSkewSeconds,
    },
    now,
  );
  return assertion.actorId;
}
