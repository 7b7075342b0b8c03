-- The SHA-256 of each token as minted. Introspection finds a token's record by its jti anyway;
-- a presented token whose digest equals the recorded one is exactly the token Deputy signed, so
-- the signature need not be verified again (about 90 µs of CPU per call). Tokens recorded
-- before this migration have none, and are verified by signature as before.
ALTER TABLE "issued_tokens" ADD COLUMN "token_sha256" BYTEA;

-- 0005's function, now also storing the token's digest (token.sha256, hex).
CREATE OR REPLACE FUNCTION deputy_record_exchanges(items jsonb) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
  v_statuses text[];
  v_events jsonb;
BEGIN
  -- The shared locks first (see 0003): the next statement takes a new snapshot, so it sees every
  -- withdrawal that committed before its lock was released. Sorted, so batches lock in one order.
  PERFORM pg_advisory_xact_lock_shared(k.space, k.key)
     FROM (SELECT 7300101 AS space, deputy_subject_lock_key(x.value #>> '{token,subject_id}') AS key
             FROM jsonb_array_elements(items) x WHERE jsonb_typeof(x.value -> 'token') = 'object'
           UNION
           SELECT 7300102, deputy_actor_lock_key(actor.id)
             FROM jsonb_array_elements(items) x, jsonb_array_elements_text(x.value #> '{token,actor_ids}') AS actor(id)
            WHERE jsonb_typeof(x.value -> 'token') = 'object') k
    ORDER BY k.space, k.key;

  WITH item AS (
    SELECT x.ordinality AS n, x.value -> 'event' AS event, jsonb_typeof(x.value -> 'token') = 'object' AS has_token, t.*,
           ARRAY(SELECT DISTINCT unnest(string_to_array(t.scope, ' '))) AS scopes
      FROM jsonb_array_elements(items) WITH ORDINALITY AS x(value, ordinality)
      LEFT JOIN LATERAL jsonb_to_record(CASE WHEN jsonb_typeof(x.value -> 'token') = 'object' THEN x.value -> 'token' ELSE '{}' END)
        AS t(jti text, kid text, subject_id text, actor_ids text[], client_id text, resource_uri text, scope text, grant_id uuid,
             grant_ids uuid[], parent_jti text, ancestor_jtis text[], dpop_jkt text, issued_at timestamptz, expires_at timestamptz,
             sha256 text) ON true
  ),
  judged AS (
    SELECT item.*, CASE
      WHEN NOT has_token THEN 'denied'
      WHEN NOT EXISTS (SELECT 1 FROM signing_keys k WHERE k.kid = item.kid AND k.retired_at IS NULL) THEN 'stale_key'
      WHEN (SELECT count(*) FROM delegation_grants g
             WHERE g.id = ANY(item.grant_ids) AND g.revoked_at IS NULL AND (g.expires_at IS NULL OR g.expires_at > now())) = cardinality(item.grant_ids)
       AND (SELECT count(*) FROM actors a
             WHERE a.id = ANY(item.actor_ids) AND a.status = 'active' AND (a.expires_at IS NULL OR a.expires_at > now())) = cardinality(item.actor_ids)
       AND (SELECT s.status FROM subjects s WHERE s.id = item.subject_id) = 'active'
       AND (SELECT count(*) FROM entitlements e
             WHERE e.subject_id = item.subject_id AND e.resource_uri = item.resource_uri AND e.scope = ANY(item.scopes)
               AND (e.expires_at IS NULL OR e.expires_at > now())) >= cardinality(item.scopes)
       AND NOT EXISTS (SELECT 1 FROM issued_tokens t WHERE t.jti = ANY(item.ancestor_jtis) AND t.revoked_at IS NOT NULL)
      THEN 'recorded' ELSE 'revoked' END AS status
      FROM item
  ),
  recorded AS (
    INSERT INTO issued_tokens (jti, subject_id, actor_ids, client_id, resource_uri, scope, grant_id, grant_ids,
                               parent_jti, ancestor_jtis, dpop_jkt, issued_at, expires_at, token_sha256)
    SELECT jti, subject_id, actor_ids, client_id, resource_uri, scope, grant_id, grant_ids,
           parent_jti, coalesce(ancestor_jtis, '{}'), dpop_jkt, issued_at, expires_at, decode(sha256, 'hex')
      FROM judged WHERE status = 'recorded'
  )
  SELECT array_agg(status ORDER BY n),
         coalesce(jsonb_agg(CASE WHEN status = 'revoked' THEN event || jsonb_build_object(
                    'type', 'token.exchange_denied', 'error', 'invalid_request', 'jti', NULL, 'scope_granted', '[]'::jsonb,
                    'details', jsonb_build_object('reason', 'revoked_while_minting'))
                  ELSE event END ORDER BY n) FILTER (WHERE status <> 'stale_key'), '[]')
    INTO v_statuses, v_events
    FROM judged;

  PERFORM deputy_append_audit(v_events);
  RETURN v_statuses;
END;
$$;
