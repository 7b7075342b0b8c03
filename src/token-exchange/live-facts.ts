/**
 * Everything the decision needs that can change at any moment, read in ONE round trip:
 * the subject, the actor and every earlier actor of the chain, the resource, the subject's
 * entitlements on it, the grants subject→actor on it and every grant the chain relied on,
 * the client's actor bindings and, for chains, the parent token's record and which of the
 * tokens it derives from were revoked, and whether the person's IdP token the exchange rests on was
 * revoked at Deputy (decide.ts rules on all of these). No cache: a
 * revocation or an entitlement change shows on the very next request.
 */
import type pg from 'pg';
import type { LiveActor, LiveEntitlement, LiveExchangeFacts, LiveGrant, LiveResource, LiveSubject, ParentTokenRecord } from './decision-types.js';

export interface LiveFactsQuery {
  subjectId: string;
  /** null: the authenticated client's own actor. */
  actorId: string | null;
  resource: string;
  clientId: string;
  /** A Deputy subject token's jti: its record names the chain's actors and grants. */
  parentJti: string | null;
  /** SHA-256 (hex) of an external subject token; a chain's comes from its parent's record. */
  subjectTokenDigest: string | null;
}

export type { ParentTokenRecord };

/** The live rows `decideExchange` rules on, and which actor they are about. */
export interface LiveFacts extends LiveExchangeFacts {
  /** The actor the facts are about (the client's own when the query named none). */
  actorId: string | null;
}

const epoch = (column: string) => `floor(extract(epoch from ${column}))::bigint`;
/** Kill-switch times are compared with a token's issue time to the millisecond. */
const preciseEpoch = (column: string) => `extract(epoch from ${column})::float8`;
const actorJson = `json_build_object('id', a.id, 'status', a.status, 'disabledAt', ${preciseEpoch('a.disabled_at')}, 'expiresAt', ${epoch('a.expires_at')},
  'scopeCeiling', a.scope_ceiling, 'resources', a.resources, 'maxTokenTtl', a.max_token_ttl, 'mayDelegateTo', a.may_delegate_to)`;
const grantJson = `json_build_object('id', g.id, 'actorId', g.actor_id, 'scopes', g.scopes,
  'expiresAt', ${epoch('g.expires_at')}, 'revokedAt', ${epoch('g.revoked_at')}, 'justInTime', g.just_in_time)`;

// $5 IS NOT NULL gates the parent lookup as a whole (a one-time filter, evaluated with the
// parameter's value even in a generic plan): an exchange that is not a chain never touches
// issued_tokens, however its plan was made.
const LIVE_FACTS_SQL = `
WITH target AS (SELECT coalesce($2::text, (SELECT c.actor_id FROM clients c WHERE c.client_id = $4)) AS actor_id),
     parent AS (SELECT * FROM issued_tokens t WHERE $5::text IS NOT NULL AND t.jti = $5)
SELECT
  (SELECT actor_id FROM target) AS actor_id,
  (SELECT json_build_object('id', s.id, 'status', s.status, 'disabledAt', ${preciseEpoch('s.disabled_at')}) FROM subjects s WHERE s.id = $1) AS subject,
  (SELECT coalesce(json_agg(${actorJson}), '[]') FROM actors a
     WHERE a.id = ANY(array_append(coalesce((SELECT actor_ids FROM parent), '{}'), (SELECT actor_id FROM target)))) AS actors,
  (SELECT json_build_object('uri', r.uri, 'scopes', r.scopes, 'approvalScopes', r.approval_scopes) FROM resources r WHERE r.uri = $3) AS resource,
  (SELECT coalesce(json_agg(json_build_object('scope', e.scope, 'expiresAt', ${epoch('e.expires_at')})), '[]')
     FROM entitlements e WHERE e.subject_id = $1 AND e.resource_uri = $3) AS entitlements,
  (SELECT coalesce(json_agg(${grantJson}), '[]') FROM delegation_grants g
     WHERE g.subject_id = $1 AND g.actor_id = (SELECT actor_id FROM target) AND g.resource_uri = $3 AND g.revoked_at IS NULL) AS grants,
  (SELECT coalesce(json_agg(${grantJson}), '[]') FROM delegation_grants g
     WHERE g.id = ANY(coalesce((SELECT grant_ids FROM parent), '{}'))) AS chain_grants,
  (SELECT json_build_object('actorId', c.actor_id, 'allowedActors', c.allowed_actors) FROM clients c WHERE c.client_id = $4) AS client,
  (SELECT json_build_object('jti', t.jti, 'subjectId', t.subject_id, 'actorIds', t.actor_ids, 'grantIds', t.grant_ids,
      'ancestorJtis', t.ancestor_jtis,
      'resource', t.resource_uri, 'scope', t.scope, 'expiresAt', ${epoch('t.expires_at')},
      'issuedAt', ${preciseEpoch('t.issued_at')}, 'dpopJkt', t.dpop_jkt, 'digest', encode(t.token_sha256, 'hex'),
      'revoked', t.revoked_at IS NOT NULL, 'subjectTokenDigest', encode(t.subject_token_sha256, 'hex'),
      'revokedAncestorJtis', (SELECT coalesce(json_agg(a.jti), '[]') FROM issued_tokens a
         WHERE a.jti = ANY(coalesce(t.ancestor_jtis, '{}'::text[])) AND a.revoked_at IS NOT NULL))
     FROM parent t) AS parent,
  EXISTS (SELECT 1 FROM revoked_subject_tokens r
           WHERE r.sha256 = coalesce(decode($6::text, 'hex'), (SELECT subject_token_sha256 FROM parent))) AS subject_token_revoked`;

interface Row {
  actor_id: string | null;
  subject: LiveSubject | null;
  actors: LiveActor[];
  resource: LiveResource | null;
  entitlements: LiveEntitlement[];
  grants: LiveGrant[];
  chain_grants: LiveGrant[];
  client: LiveFacts['client'];
  parent: ParentTokenRecord | null;
  subject_token_revoked: boolean;
}

export async function loadLiveFacts(pool: pg.Pool, query: LiveFactsQuery): Promise<LiveFacts> {
  const { rows } = await pool.query<Row>({
    name: 'deputy_live_facts',
    text: LIVE_FACTS_SQL,
    values: [query.subjectId, query.actorId, query.resource, query.clientId, query.parentJti, query.subjectTokenDigest],
  });
  const row = rows[0]!;
  const byId = new Map(row.actors.map((actor) => [actor.id, actor]));
  return {
    actorId: row.actor_id,
    subject: row.subject,
    actor: row.actor_id === null ? null : (byId.get(row.actor_id) ?? null),
    resource: row.resource,
    entitlements: row.entitlements,
    grants: row.grants,
    chainActors: (row.parent?.actorIds ?? []).flatMap((id) => byId.get(id) ?? []),
    chainGrants: row.chain_grants,
    client: row.client,
    parent: row.parent,
    subjectTokenRevoked: row.subject_token_revoked,
  };
}
