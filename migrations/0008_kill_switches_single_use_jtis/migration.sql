-- Kill switches are final for the tokens issued before them (SECURITY.md, review item 15).
-- `disabled_at` is the last time a subject or actor went to `disabled`; a token issued at or
-- before it stays inactive even after the status is `active` again. A trigger stamps it, so
-- every path that changes a status (admin API, SQL by hand) is covered. Rows disabled today
-- get the migration's time: whatever they issued before stays dead if they are re-enabled.
ALTER TABLE "subjects" ADD COLUMN "disabled_at" TIMESTAMPTZ(3);
ALTER TABLE "actors" ADD COLUMN "disabled_at" TIMESTAMPTZ(3);
UPDATE "subjects" SET "disabled_at" = now() WHERE "status" = 'disabled';
UPDATE "actors" SET "disabled_at" = now() WHERE "status" = 'disabled';

-- clock_timestamp(), not now(): the time of the change itself, not the start of its transaction
-- (an exchange started in between is then caught by the recording re-check below).
CREATE FUNCTION deputy_stamp_disabled_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NEW.status = 'disabled' AND (TG_OP = 'INSERT' OR OLD.status IS DISTINCT FROM 'disabled') THEN
    NEW.disabled_at := clock_timestamp();
  ELSIF TG_OP = 'UPDATE' AND NEW.disabled_at IS DISTINCT FROM OLD.disabled_at THEN
    -- Only the trigger moves it: an update cannot clear or rewind a kill switch.
    NEW.disabled_at := OLD.disabled_at;
  END IF;
  RETURN NEW;
END;
$$;

CREATE TRIGGER "subjects_stamp_disabled_at" BEFORE INSERT OR UPDATE OF "status", "disabled_at" ON "subjects"
  FOR EACH ROW EXECUTE FUNCTION deputy_stamp_disabled_at();
CREATE TRIGGER "actors_stamp_disabled_at" BEFORE INSERT OR UPDATE OF "status", "disabled_at" ON "actors"
  FOR EACH ROW EXECUTE FUNCTION deputy_stamp_disabled_at();

-- One single-use store for every jti Deputy must see only once (review item 16): actor
-- assertions, and — through oidc-provider's ReplayDetection, replaced in
-- src/oauth/oidc-provider-internals.ts — DPoP proofs and client assertions. One INSERT ... ON
-- CONFLICT DO NOTHING decides, so two concurrent presentations cannot both pass. Keyed by a
-- namespace, the issuer (actor or client id) and the jti's SHA-256, so any jti length fits the
-- index. The table keeps its name: all three are signed assertions.
ALTER TABLE "used_assertion_jtis" ADD COLUMN "namespace" TEXT NOT NULL DEFAULT 'actor_assertion';
ALTER TABLE "used_assertion_jtis" ALTER COLUMN "namespace" DROP DEFAULT;
ALTER TABLE "used_assertion_jtis" ADD COLUMN "jti_sha256" BYTEA;
UPDATE "used_assertion_jtis" SET "jti_sha256" = sha256(convert_to("jti", 'UTF8'));
ALTER TABLE "used_assertion_jtis" ALTER COLUMN "jti_sha256" SET NOT NULL;
ALTER TABLE "used_assertion_jtis" DROP CONSTRAINT "used_assertion_jtis_pkey";
ALTER TABLE "used_assertion_jtis" DROP COLUMN "jti";
ALTER TABLE "used_assertion_jtis" ADD CONSTRAINT "used_assertion_jtis_pkey" PRIMARY KEY ("namespace", "issuer", "jti_sha256");

-- 0006's recording function; the subject and every actor must also not have been disabled at
-- or after the new token's issue time (a disable and re-enable racing the exchange kills it).
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
             WHERE a.id = ANY(item.actor_ids) AND a.status = 'active' AND (a.expires_at IS NULL OR a.expires_at > now())
               AND (a.disabled_at IS NULL OR a.disabled_at < item.issued_at)) = cardinality(item.actor_ids)
       AND EXISTS (SELECT 1 FROM subjects s WHERE s.id = item.subject_id AND s.status = 'active'
                     AND (s.disabled_at IS NULL OR s.disabled_at < item.issued_at))
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
