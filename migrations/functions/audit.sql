-- The audit log's hash chains (first written in migrations 0003 and 0005; see
-- src/audit/audit-log.ts). The content an event's hash covers and the formula must never change:
-- every hash already written depends on them.

-- The content an audit event's hash covers, as canonical JSON (jsonb's text form is
-- deterministic: keys sorted, no insignificant whitespace). Verification uses it too. STABLE,
-- not IMMUTABLE: to_char depends on settings.
CREATE OR REPLACE FUNCTION deputy_audit_content(e audit_events) RETURNS jsonb LANGUAGE sql STABLE AS $$
  SELECT jsonb_build_object(
    'chain_id', e.chain_id, 'seq', e.seq,
    'at', to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'type', e.type, 'request_id', e.request_id, 'admin', e.admin, 'client_id', e.client_id,
    'subject_id', e.subject_id, 'actor_ids', to_jsonb(e.actor_ids), 'resource_uri', e.resource_uri,
    'scope_requested', to_jsonb(e.scope_requested), 'scope_granted', to_jsonb(e.scope_granted),
    'scope_denied', e.scope_denied, 'jti', e.jti, 'grant_id', e.grant_id, 'error', e.error, 'details', e.details)
$$;

CREATE OR REPLACE FUNCTION deputy_audit_hash(prev_hash text, e audit_events) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT encode(sha256(convert_to(prev_hash || E'\n' || deputy_audit_content(e)::text, 'UTF8')), 'hex')
$$;

-- One link of a chain: the previous hash (the running state, or the chain head's for the first
-- event of a batch) and the event's canonical content; the same formula as deputy_audit_hash.
CREATE OR REPLACE FUNCTION deputy_chain_link(running_hash text, head_hash text, content text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  RETURN encode(sha256(convert_to(coalesce(running_hash, head_hash) || E'\n' || content, 'UTF8')), 'hex');
END;
$$;

-- As a window aggregate ordered by seq, the hash of each event of a batch.
CREATE OR REPLACE AGGREGATE deputy_chain_hash(head_hash text, content text) (SFUNC = deputy_chain_link, STYPE = text);

-- Appends events (a JSON array of objects keyed by audit_events column names) to one chain,
-- locking only that chain's head row; the hashes are chained by the window aggregate above.
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
