-- Recording, set-based: the same outcomes as 0003's functions, without a statement per item.
-- 0003 ran five checks and two INSERTs per exchange, each its own executor start inside
-- plpgsql, and called the audit hash through two SQL functions that could not be inlined
-- (declared IMMUTABLE while to_char is only STABLE). Here a batch is: one statement for its
-- advisory locks, one that judges every item, inserts the live tokens and collects the events,
-- and one that appends the events (hashes chained by a window aggregate) and moves the head.

-- Honest volatility, so the planner can inline them (to_char depends on settings). The content
-- they compute, and so every hash already written, is unchanged.
ALTER FUNCTION deputy_audit_content(audit_events) STABLE;
ALTER FUNCTION deputy_audit_hash(text, audit_events) STABLE;

-- One link of a chain: the previous hash (the running state, or the chain head's for the first
-- event of a batch) and the event's canonical content; the same formula as deputy_audit_hash.
CREATE FUNCTION deputy_chain_link(running_hash text, head_hash text, content text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  RETURN encode(sha256(convert_to(coalesce(running_hash, head_hash) || E'\n' || content, 'UTF8')), 'hex');
END;
$$;

-- As a window aggregate ordered by seq, the hash of each event of a batch.
CREATE AGGREGATE deputy_chain_hash(head_hash text, content text) (SFUNC = deputy_chain_link, STYPE = text);

CREATE OR REPLACE FUNCTION deputy_append_audit(events jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_chain integer;
  v_seq bigint;
  v_hash text;
BEGIN
  IF jsonb_array_length(events) = 0 THEN RETURN; END IF;
  -- Chains are numbered 0..n-1; pick one (random() once, not per row).
  v_chain := floor(random() * (SELECT count(*) FROM audit_chain_heads))::integer;
  SELECT seq, hash INTO STRICT v_seq, v_hash FROM audit_chain_heads WHERE chain_id = v_chain FOR UPDATE;
  WITH event AS (
    SELECT ROW(NULL, v_chain, v_seq + e.ordinality, date_trunc('milliseconds', coalesce(e.at, now())), e.type, e.request_id,
               e.admin, e.client_id, e.subject_id, coalesce(e.actor_ids, '{}'), e.resource_uri, coalesce(e.scope_requested, '{}'),
               coalesce(e.scope_granted, '{}'), coalesce(e.scope_denied, '[]'), e.jti, e.grant_id, e.error, e.details, NULL, NULL)::audit_events AS row
      FROM jsonb_populate_recordset(NULL::audit_events, events) WITH ORDINALITY AS e
  ),
  hashed AS (
    SELECT (event.row).*, deputy_chain_hash(v_hash, deputy_audit_content(event.row)::text) OVER (ORDER BY (event.row).seq) AS chained_hash
      FROM event
  ),
  appended AS (
    INSERT INTO audit_events (chain_id, seq, at, type, request_id, admin, client_id, subject_id, actor_ids, resource_uri,
                              scope_requested, scope_granted, scope_denied, jti, grant_id, error, details, prev_hash, hash)
    SELECT chain_id, seq, at, type, request_id, admin, client_id, subject_id, actor_ids, resource_uri,
           scope_requested, scope_granted, scope_denied, jti, grant_id, error, details,
           coalesce(lag(chained_hash) OVER (ORDER BY seq), v_hash), chained_hash
      FROM hashed
    RETURNING seq, hash
  )
  UPDATE audit_chain_heads h SET seq = last.seq, hash = last.hash
    FROM (SELECT seq, hash FROM appended ORDER BY seq DESC LIMIT 1) last
   WHERE h.chain_id = v_chain;
END;
$$;

-- Same contract as 0003's: items are { "token": {...} | null, "event": {...} }; one status per
-- item, in order: 'recorded', 'denied', 'revoked' (the event is written as a denial) or
-- 'stale_key' (nothing written).
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
             grant_ids uuid[], parent_jti text, ancestor_jtis text[], dpop_jkt text, issued_at timestamptz, expires_at timestamptz) ON true
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
                               parent_jti, ancestor_jtis, dpop_jkt, issued_at, expires_at)
    SELECT jti, subject_id, actor_ids, client_id, resource_uri, scope, grant_id, grant_ids,
           parent_jti, coalesce(ancestor_jtis, '{}'), dpop_jkt, issued_at, expires_at
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
