-- Records a batch of exchange outcomes in one statement, so one transaction (src/exchange/record.ts;
-- first written in migration 0003, set-based since 0005). Items are
--   { "token": {...} | null, "event": {...}, "single_use": [{ namespace, issuer, jti_sha256 (hex),
--     expires_at (epoch seconds), error, reason }] }
-- and the result is one status per item, in order:
--   'recorded'  the token row and its event are written;
--   'denied'    the item was a refusal: its event is written;
--   'revoked'   the token's chain (deputy_token_chain_is_live, liveness.sql) or an entitlement of
--               its scope was withdrawn meanwhile, or the IdP token it derives from (the item's
--               token.subject_sha256, hex; stored as subject_token_sha256) was revoked at Deputy
--               (revoked_subject_tokens, migration 0016): no token, the event is written as a denial;
--   'replayed:<i>' the item's i-th single-use jti (0-based; an actor assertion's, a DPoP proof's)
--               was used before, by an earlier batch or an earlier item of this one: no token,
--               the event is written as a denial with that entry's error and reason;
--   'stale_key' signed with a key another process retired: nothing written, the caller re-signs.
-- The single-use jtis go into the same atomic store as src/db/single-use-jtis.ts (INSERT ... ON
-- CONFLICT DO NOTHING into used_assertion_jtis): of any number of concurrent presentations
-- exactly one inserts it, and it is inserted for every item whose event is written.
-- SET enable_seqscan = off (issue 17, "a fresh database degrades"): a session keeps this
-- function's generic plans until a table's statistics change. On a database analyzed while
-- issued_tokens was nearly empty (autovacuum off, or before the first auto-analyze) the chain
-- check's `issued_tokens p WHERE p.jti = ANY(t.ancestor_jtis)` was planned as a sequential scan
-- and kept as the table grew (measured: 4,602 scans for the first 3,013 tokens, the exchange
-- rate falling to a quarter within a minute). Every lookup here has an index that answers it
-- (primary keys, the entitlements' unique key, used_assertion_jtis' key), so with sequential
-- scans disabled the plans are those index lookups whatever the statistics say; a table with
-- no usable index would still be scanned, so no statement can fail for it.
-- test/db/fresh-database-plans.test.ts counts the scans.
CREATE OR REPLACE FUNCTION deputy_record_exchanges(items jsonb) RETURNS text[] LANGUAGE plpgsql SET enable_seqscan = off AS $$
DECLARE
  v_statuses text[];
  v_events jsonb;
BEGIN
  -- The shared locks first (locks.sql): the next statement takes a new snapshot, so it sees every
  -- withdrawal that committed before its lock was released. Sorted, so batches lock in one order.
  PERFORM pg_advisory_xact_lock_shared(k.space, k.key)
     FROM (SELECT 7300101 AS space, deputy_subject_lock_key(x.value #>> '{token,subject_id}') AS key
             FROM jsonb_array_elements(items) x WHERE jsonb_typeof(x.value -> 'token') = 'object'
           UNION
           SELECT 7300102, deputy_actor_lock_key(actor.id)
             FROM jsonb_array_elements(items) x, jsonb_array_elements_text(x.value #> '{token,actor_ids}') AS actor(id)
            WHERE jsonb_typeof(x.value -> 'token') = 'object') k
    ORDER BY k.space, k.key;

  WITH judged AS (
    SELECT x.ordinality AS n, x.value -> 'event' AS event, coalesce(x.value -> 'single_use', '[]') AS single_use, t.*,
           x.value #>> '{token,sha256}' AS sha256, x.value #>> '{token,subject_sha256}' AS subject_sha256, CASE
      WHEN jsonb_typeof(x.value -> 'token') <> 'object' THEN 'denied'
      WHEN NOT EXISTS (SELECT 1 FROM signing_keys k WHERE k.kid = x.value #>> '{token,kid}' AND k.retired_at IS NULL) THEN 'stale_key'
      WHEN chain.live
       AND NOT EXISTS (SELECT 1 FROM revoked_subject_tokens r WHERE r.sha256 = decode(x.value #>> '{token,subject_sha256}', 'hex'))
       AND (SELECT count(*) FROM entitlements e
             WHERE e.subject_id = t.subject_id AND e.resource_uri = t.resource_uri AND e.scope = ANY(requested.scopes)
               AND (e.expires_at IS NULL OR e.expires_at > now())) >= cardinality(requested.scopes)
      THEN 'recorded' ELSE 'revoked' END AS status
      FROM jsonb_array_elements(items) WITH ORDINALITY AS x(value, ordinality)
      CROSS JOIN LATERAL jsonb_populate_record(NULL::issued_tokens,
                   CASE WHEN jsonb_typeof(x.value -> 'token') = 'object' THEN x.value -> 'token' ELSE '{}' END) AS t
      CROSS JOIN LATERAL (SELECT ARRAY(SELECT DISTINCT unnest(string_to_array(t.scope, ' '))) AS scopes) requested
      CROSS JOIN LATERAL deputy_token_chain_is_live(t, now()) chain
  ),
  presented AS (
    SELECT j.n, u.ordinality - 1 AS i, u.value ->> 'namespace' AS namespace, u.value ->> 'issuer' AS issuer,
           decode(u.value ->> 'jti_sha256', 'hex') AS jti_sha256, to_timestamp((u.value ->> 'expires_at')::float8) AS expires_at,
           u.value ->> 'error' AS error, u.value ->> 'reason' AS reason
      FROM judged j, jsonb_array_elements(j.single_use) WITH ORDINALITY AS u(value, ordinality)
     WHERE j.status <> 'stale_key'
  ),
  -- The first item of the batch naming a jti claims it; the insert says whether it is fresh.
  claimed AS (
    SELECT DISTINCT ON (namespace, issuer, jti_sha256) n, namespace, issuer, jti_sha256, expires_at
      FROM presented ORDER BY namespace, issuer, jti_sha256, n
  ),
  fresh AS (
    INSERT INTO used_assertion_jtis (namespace, issuer, jti_sha256, expires_at)
    SELECT namespace, issuer, jti_sha256, expires_at FROM claimed ORDER BY namespace, issuer, jti_sha256
    ON CONFLICT (namespace, issuer, jti_sha256) DO NOTHING
    RETURNING namespace, issuer, jti_sha256
  ),
  replayed AS (
    SELECT DISTINCT ON (p.n) p.n, p.i, p.error, p.reason
      FROM presented p
     WHERE NOT EXISTS (SELECT FROM claimed c JOIN fresh f USING (namespace, issuer, jti_sha256)
                        WHERE c.n = p.n AND c.namespace = p.namespace AND c.issuer = p.issuer AND c.jti_sha256 = p.jti_sha256)
     ORDER BY p.n, p.i
  ),
  final AS (
    SELECT j.*, r.i AS replayed_i, r.error AS replay_error, r.reason AS replay_reason,
           CASE WHEN r.n IS NOT NULL AND j.status <> 'stale_key' THEN 'replayed:' || r.i ELSE j.status END AS outcome
      FROM judged j LEFT JOIN replayed r ON r.n = j.n
  ),
  recorded AS (
    INSERT INTO issued_tokens (jti, subject_id, actor_ids, client_id, resource_uri, scope, grant_id, grant_ids,
                               parent_jti, ancestor_jtis, dpop_jkt, issued_at, expires_at, token_sha256, subject_token_sha256)
    SELECT jti, subject_id, actor_ids, client_id, resource_uri, scope, grant_id, grant_ids,
           parent_jti, coalesce(ancestor_jtis, '{}'), dpop_jkt, issued_at, expires_at, decode(sha256, 'hex'), decode(subject_sha256, 'hex')
      FROM final WHERE outcome = 'recorded'
  )
  SELECT array_agg(outcome ORDER BY n),
         coalesce(jsonb_agg(CASE
                    WHEN outcome = 'revoked' THEN event || jsonb_build_object(
                      'type', 'token.exchange_denied', 'error', 'invalid_request', 'jti', NULL, 'scope_granted', '[]'::jsonb,
                      'details', jsonb_build_object('reason', 'revoked_while_minting'))
                    WHEN replayed_i IS NOT NULL THEN event || jsonb_build_object(
                      'type', 'token.exchange_denied', 'error', replay_error, 'jti', NULL, 'scope_granted', '[]'::jsonb,
                      'details', jsonb_build_object('reason', replay_reason))
                    ELSE event END ORDER BY n) FILTER (WHERE outcome <> 'stale_key'), '[]')
    INTO v_statuses, v_events
    FROM final;

  PERFORM deputy_append_audit(v_events);
  RETURN v_statuses;
END;
$$;
