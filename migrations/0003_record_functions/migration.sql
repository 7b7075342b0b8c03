-- Recording in the database itself: one statement records a batch of exchanges (re-checking
-- under row locks that their grants, subject and actors are still live, inserting the token
-- rows, appending the hash-chained audit events), so a batch commits in one round trip.

-- The content an audit event's hash covers, as canonical JSON (jsonb's text form is
-- deterministic: keys sorted, no insignificant whitespace). Verification uses it too.
CREATE FUNCTION deputy_audit_content(e audit_events) RETURNS jsonb LANGUAGE sql IMMUTABLE AS $$
  SELECT jsonb_build_object(
    'chain_id', e.chain_id, 'seq', e.seq,
    'at', to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"'),
    'type', e.type, 'request_id', e.request_id, 'admin', e.admin, 'client_id', e.client_id,
    'subject_id', e.subject_id, 'actor_ids', to_jsonb(e.actor_ids), 'resource_uri', e.resource_uri,
    'scope_requested', to_jsonb(e.scope_requested), 'scope_granted', to_jsonb(e.scope_granted),
    'scope_denied', e.scope_denied, 'jti', e.jti, 'grant_id', e.grant_id, 'error', e.error, 'details', e.details)
$$;

CREATE FUNCTION deputy_audit_hash(prev_hash text, e audit_events) RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT encode(sha256(convert_to(prev_hash || E'\n' || deputy_audit_content(e)::text, 'UTF8')), 'hex')
$$;

-- Appends events (a JSON array of objects keyed by audit_events column names) to one chain,
-- locking only that chain's head row.
CREATE FUNCTION deputy_append_audit(events jsonb) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_chain integer;
  v_seq bigint;
  v_hash text;
  v_event jsonb;
  e audit_events;
BEGIN
  IF jsonb_array_length(events) = 0 THEN RETURN; END IF;
  -- Chains are numbered 0..n-1; pick one (random() once, not per row).
  v_chain := floor(random() * (SELECT count(*) FROM audit_chain_heads))::integer;
  SELECT seq, hash INTO STRICT v_seq, v_hash FROM audit_chain_heads WHERE chain_id = v_chain FOR UPDATE;
  FOR v_event IN SELECT value FROM jsonb_array_elements(events) LOOP
    v_seq := v_seq + 1;
    e := jsonb_populate_record(NULL::audit_events, v_event);
    e.chain_id := v_chain;
    e.seq := v_seq;
    e.at := date_trunc('milliseconds', coalesce(e.at, now()));
    e.actor_ids := coalesce(e.actor_ids, '{}');
    e.scope_requested := coalesce(e.scope_requested, '{}');
    e.scope_granted := coalesce(e.scope_granted, '{}');
    e.scope_denied := coalesce(e.scope_denied, '[]');
    e.prev_hash := v_hash;
    e.hash := deputy_audit_hash(v_hash, e);
    INSERT INTO audit_events (chain_id, seq, at, type, request_id, admin, client_id, subject_id, actor_ids, resource_uri,
                              scope_requested, scope_granted, scope_denied, jti, grant_id, error, details, prev_hash, hash)
    VALUES (e.chain_id, e.seq, e.at, e.type, e.request_id, e.admin, e.client_id, e.subject_id, e.actor_ids, e.resource_uri,
            e.scope_requested, e.scope_granted, e.scope_denied, e.jti, e.grant_id, e.error, e.details, e.prev_hash, e.hash);
    v_hash := e.hash;
  END LOOP;
  UPDATE audit_chain_heads SET seq = v_seq, hash = v_hash WHERE chain_id = v_chain;
END;
$$;

-- Revocations and exchanges meet on advisory locks, not row locks: an exchange being recorded
-- holds a SHARED lock on its subject and on each actor of its chain; every change that can
-- withdraw a token's basis (a grant revoked or narrowed, an entitlement withdrawn, a subject or
-- actor disabled, a token revoked) takes the EXCLUSIVE lock on that subject or actor (triggers
-- below) and so waits for the exchanges in flight, which either commit first or see the change.
-- Advisory locks live in memory: unlike FOR SHARE on hot rows, they write no WAL and create no
-- MultiXacts.
CREATE FUNCTION deputy_subject_lock_key(subject_id text) RETURNS integer LANGUAGE sql IMMUTABLE AS $$ SELECT hashtext('subject:' || subject_id) $$;
CREATE FUNCTION deputy_actor_lock_key(actor_id text) RETURNS integer LANGUAGE sql IMMUTABLE AS $$ SELECT hashtext('actor:' || actor_id) $$;

CREATE FUNCTION deputy_lock_withdrawal() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'actors' THEN
    PERFORM pg_advisory_xact_lock(7300102, deputy_actor_lock_key(OLD.id));
  ELSIF TG_TABLE_NAME = 'subjects' THEN
    PERFORM pg_advisory_xact_lock(7300101, deputy_subject_lock_key(OLD.id));
  ELSE
    PERFORM pg_advisory_xact_lock(7300101, deputy_subject_lock_key(OLD.subject_id));
  END IF;
  RETURN NULL;
END;
$$;

CREATE TRIGGER "delegation_grants_withdrawal_lock" AFTER UPDATE OR DELETE ON "delegation_grants"
  FOR EACH ROW EXECUTE FUNCTION deputy_lock_withdrawal();
CREATE TRIGGER "entitlements_withdrawal_lock" AFTER UPDATE OR DELETE ON "entitlements"
  FOR EACH ROW EXECUTE FUNCTION deputy_lock_withdrawal();
CREATE TRIGGER "subjects_withdrawal_lock" AFTER UPDATE OF "status" ON "subjects"
  FOR EACH ROW EXECUTE FUNCTION deputy_lock_withdrawal();
CREATE TRIGGER "actors_withdrawal_lock" AFTER UPDATE OF "status", "expires_at" ON "actors"
  FOR EACH ROW EXECUTE FUNCTION deputy_lock_withdrawal();
CREATE TRIGGER "issued_tokens_withdrawal_lock" AFTER UPDATE OF "revoked_at" ON "issued_tokens"
  FOR EACH ROW EXECUTE FUNCTION deputy_lock_withdrawal();

-- Records a batch of exchange outcomes: a JSON array of { "token": {...} | null, "event": {...} }.
-- A token is recorded only if, after taking its shared locks, every grant of its chain is
-- unrevoked and unexpired, its subject and every actor are active, every scope it carries is
-- still entitled, and no ancestor token was revoked; otherwise it is not recorded and its event
-- becomes a denial. A token signed with a key another process has retired is neither recorded
-- nor audited: the caller re-signs it. Returns one status per item: 'recorded', 'denied' (the
-- event was a denial), 'revoked', or 'stale_key'.
CREATE FUNCTION deputy_record_exchanges(items jsonb) RETURNS text[] LANGUAGE plpgsql AS $$
DECLARE
  v_item jsonb;
  v_token jsonb;
  v_event jsonb;
  v_events jsonb := '[]';
  v_statuses text[] := '{}';
  v_grant_ids uuid[];
  v_actor_ids text[];
  v_scopes text[];
  v_live integer;
BEGIN
  FOR v_item IN SELECT value FROM jsonb_array_elements(items) LOOP
    v_token := v_item -> 'token';
    v_event := v_item -> 'event';
    IF v_token IS NULL OR jsonb_typeof(v_token) = 'null' THEN
      v_statuses := array_append(v_statuses, 'denied');
      v_events := v_events || jsonb_build_array(v_event);
      CONTINUE;
    END IF;
    IF NOT EXISTS (SELECT 1 FROM signing_keys k WHERE k.kid = v_token ->> 'kid' AND k.retired_at IS NULL) THEN
      v_statuses := array_append(v_statuses, 'stale_key');
      CONTINUE;
    END IF;
    v_grant_ids := ARRAY(SELECT jsonb_array_elements_text(v_token -> 'grant_ids'))::uuid[];
    v_actor_ids := ARRAY(SELECT jsonb_array_elements_text(v_token -> 'actor_ids'));
    PERFORM pg_advisory_xact_lock_shared(7300101, deputy_subject_lock_key(v_token ->> 'subject_id'));
    PERFORM pg_advisory_xact_lock_shared(7300102, deputy_actor_lock_key(actor_id)) FROM unnest(v_actor_ids) AS actor_id;
    SELECT count(*) INTO v_live FROM (
      SELECT 1 FROM delegation_grants g
       WHERE g.id = ANY(v_grant_ids) AND g.revoked_at IS NULL AND (g.expires_at IS NULL OR g.expires_at > now())) live_grants;
    IF v_live = cardinality(v_grant_ids) THEN
      SELECT count(*) INTO v_live FROM (
        SELECT 1 FROM actors a
         WHERE a.id = ANY(v_actor_ids) AND a.status = 'active' AND (a.expires_at IS NULL OR a.expires_at > now())) live_actors;
      IF v_live = cardinality(v_actor_ids) THEN
        SELECT count(*) INTO v_live FROM (
          SELECT 1 FROM subjects s WHERE s.id = v_token ->> 'subject_id' AND s.status = 'active') live_subject;
        v_scopes := ARRAY(SELECT DISTINCT unnest(string_to_array(v_token ->> 'scope', ' ')));
        IF v_live = 1 AND (SELECT count(*) FROM (
              SELECT 1 FROM entitlements e
               WHERE e.subject_id = v_token ->> 'subject_id' AND e.resource_uri = v_token ->> 'resource_uri'
                 AND e.scope = ANY(v_scopes) AND (e.expires_at IS NULL OR e.expires_at > now())) live_entitlements) >= cardinality(v_scopes)
           AND NOT EXISTS (
              SELECT 1 FROM issued_tokens t
               WHERE t.jti = ANY(ARRAY(SELECT jsonb_array_elements_text(v_token -> 'ancestor_jtis'))) AND t.revoked_at IS NOT NULL) THEN
          v_live := -1;
        ELSE
          v_live := 0;
        END IF;
      ELSE
        v_live := 0;
      END IF;
    ELSE
      v_live := 0;
    END IF;
    IF v_live = -1 THEN
      INSERT INTO issued_tokens (jti, subject_id, actor_ids, client_id, resource_uri, scope, grant_id, grant_ids,
                                 parent_jti, ancestor_jtis, dpop_jkt, issued_at, expires_at)
      VALUES (v_token ->> 'jti', v_token ->> 'subject_id', v_actor_ids, v_token ->> 'client_id', v_token ->> 'resource_uri',
              v_token ->> 'scope', (v_token ->> 'grant_id')::uuid, v_grant_ids, v_token ->> 'parent_jti',
              ARRAY(SELECT jsonb_array_elements_text(v_token -> 'ancestor_jtis')), v_token ->> 'dpop_jkt',
              (v_token ->> 'issued_at')::timestamptz, (v_token ->> 'expires_at')::timestamptz);
      v_statuses := array_append(v_statuses, 'recorded');
      v_events := v_events || jsonb_build_array(v_event);
    ELSE
      v_statuses := array_append(v_statuses, 'revoked');
      v_events := v_events || jsonb_build_array(v_event || jsonb_build_object(
        'type', 'token.exchange_denied', 'error', 'invalid_request', 'jti', NULL, 'scope_granted', '[]'::jsonb,
        'details', jsonb_build_object('reason', 'revoked_while_minting')));
    END IF;
  END LOOP;
  PERFORM deputy_append_audit(v_events);
  RETURN v_statuses;
END;
$$;
