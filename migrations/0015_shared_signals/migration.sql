-- Shared Signals (OpenID SSF 1.0, issue 16). Deputy transmits a CAEP session-revoked Security
-- Event Token for every unexpired token that stops being active, to the streams of the resource
-- servers in its audience; and it receives the trusted issuers' events.
--
-- Durability: the events are written by triggers, in the transaction of the change that caused
-- them (the outbox), whichever path made the change (admin API, revocation endpoint, SQL by hand).
-- Delivery (src/ssf/) reads the outbox; a row stays until the receiver acknowledged it.

-- A receiver's stream. `audience` is its client's protected resources when it was configured:
-- the stream gets the events of the tokens whose audience is one of them.
CREATE TABLE "ssf_streams" (
  "id"                   UUID        NOT NULL DEFAULT gen_random_uuid(),
  "client_id"            TEXT        NOT NULL,
  "audience"             TEXT[]      NOT NULL,
  "delivery_method"      TEXT        NOT NULL,
  "endpoint_url"         TEXT,
  "authorization_header" TEXT,
  "events_requested"     TEXT[]      NOT NULL DEFAULT ARRAY[]::TEXT[],
  "events_delivered"     TEXT[]      NOT NULL DEFAULT ARRAY[]::TEXT[],
  "description"          TEXT,
  "status"               TEXT        NOT NULL DEFAULT 'enabled',
  "status_reason"        TEXT,
  "created_at"           TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "updated_at"           TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  -- Push delivery state: consecutive failures, when to try next, and the lease of the process
  -- delivering it now (a crashed process's lease simply runs out).
  "failures"             INTEGER     NOT NULL DEFAULT 0,
  "next_attempt_at"      TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "lease_until"          TIMESTAMPTZ(3),
  "last_error"           TEXT,
  CONSTRAINT "ssf_streams_pkey" PRIMARY KEY ("id"),
  CONSTRAINT "ssf_streams_client_id_fkey" FOREIGN KEY ("client_id") REFERENCES "clients"("client_id") ON DELETE CASCADE ON UPDATE CASCADE,
  CONSTRAINT "ssf_streams_delivery_method_check" CHECK ("delivery_method" IN ('push', 'poll')),
  CONSTRAINT "ssf_streams_endpoint_check" CHECK ("delivery_method" = 'poll' OR "endpoint_url" IS NOT NULL),
  CONSTRAINT "ssf_streams_status_check" CHECK ("status" IN ('enabled', 'paused', 'disabled'))
);
CREATE INDEX "ssf_streams_client_id_idx" ON "ssf_streams"("client_id");
CREATE INDEX "ssf_streams_audience_idx" ON "ssf_streams" USING GIN ("audience");

-- The outbox: one row per event and stream, in the order of the changes (id). `subject` is the
-- event's sub_id without the issuer (added when the SET is signed); `expires_at` is when the row
-- may be purged: the token's expiry while undelivered (after it no receiver needs the event),
-- the delivery time once delivered.
CREATE TABLE "ssf_outbox" (
  "id"              BIGSERIAL   NOT NULL,
  "stream_id"       UUID        NOT NULL,
  "jti"             UUID        NOT NULL DEFAULT gen_random_uuid(),
  "event_type"      TEXT        NOT NULL,
  "subject"         JSONB       NOT NULL,
  "payload"         JSONB       NOT NULL,
  "created_at"      TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "delivered_at"    TIMESTAMPTZ(3),
  "expires_at"      TIMESTAMPTZ(3) NOT NULL,
  CONSTRAINT "ssf_outbox_pkey" PRIMARY KEY ("id"),
  CONSTRAINT "ssf_outbox_stream_id_fkey" FOREIGN KEY ("stream_id") REFERENCES "ssf_streams"("id") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE INDEX "ssf_outbox_stream_id_delivered_at_id_idx" ON "ssf_outbox"("stream_id", "delivered_at", "id");
CREATE UNIQUE INDEX "ssf_outbox_stream_id_jti_key" ON "ssf_outbox"("stream_id", "jti");
CREATE INDEX "ssf_outbox_expires_at_idx" ON "ssf_outbox"("expires_at");

-- Descendants of a revoked token are found from their parent (the reverse of ancestor_jtis).
CREATE INDEX "issued_tokens_parent_jti_idx" ON "issued_tokens"("parent_jti");

CREATE FUNCTION deputy_ssf_session_revoked_type() RETURNS text LANGUAGE sql IMMUTABLE AS $$
  SELECT 'https://schemas.openid.net/secevent/caep/event-type/session-revoked'
$$;

-- The reason a change names, when the transaction set one (SELECT set_config('deputy.revocation_reason', ..., true)).
CREATE FUNCTION deputy_revocation_reason(fallback text) RETURNS text LANGUAGE sql STABLE AS $$
  SELECT coalesce(nullif(current_setting('deputy.revocation_reason', true), ''), fallback)
$$;

-- Queues one session-revoked event per (token, stream) for the given tokens (reasons[i] is
-- jtis[i]'s): each unexpired token goes to every stream not disabled whose audience holds the
-- token's resource and that delivers the event type. With no stream, a single index probe.
-- Wakes the delivery workers on commit.
CREATE FUNCTION deputy_ssf_enqueue_token_events(jtis text[], reasons text[]) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  v_count bigint;
  v_now bigint := floor(extract(epoch FROM clock_timestamp()))::bigint;
BEGIN
  IF jtis IS NULL OR cardinality(jtis) = 0 THEN RETURN; END IF;
  IF NOT EXISTS (SELECT 1 FROM ssf_streams WHERE status <> 'disabled') THEN RETURN; END IF;
  INSERT INTO ssf_outbox (stream_id, event_type, subject, payload, expires_at)
  SELECT s.id, deputy_ssf_session_revoked_type(),
         jsonb_build_object('format', 'jwt_id', 'jti', t.jti),
         jsonb_build_object('event_timestamp', v_now, 'reason', x.reason, 'token_exp', floor(extract(epoch FROM t.expires_at))::bigint),
         t.expires_at
    FROM unnest(jtis, reasons) AS x(jti, reason)
    JOIN issued_tokens t ON t.jti = x.jti
    JOIN ssf_streams s ON s.status <> 'disabled' AND s.audience @> ARRAY[t.resource_uri]
                      AND deputy_ssf_session_revoked_type() = ANY(s.events_delivered)
   WHERE t.expires_at > now()
   ORDER BY t.issued_at, t.jti, s.id;
  GET DIAGNOSTICS v_count = ROW_COUNT;
  IF v_count > 0 THEN PERFORM pg_notify('deputy_config', 'ssf_outbox:*'); END IF;
END;
$$;

-- The unrevoked, unexpired tokens derived from the given ones (children, grandchildren, ...).
CREATE FUNCTION deputy_token_descendants(jtis text[]) RETURNS TABLE (jti text) LANGUAGE sql STABLE AS $$
  WITH RECURSIVE d(jti) AS (
    SELECT c.jti FROM issued_tokens c WHERE c.parent_jti = ANY(jtis)
    UNION
    SELECT c.jti FROM issued_tokens c JOIN d ON c.parent_jti = d.jti
  )
  SELECT t.jti FROM d JOIN issued_tokens t ON t.jti = d.jti WHERE t.revoked_at IS NULL AND t.expires_at > now()
$$;

-- Tokens revoked (revoked_at set) by one statement, and whatever was derived from them.
CREATE FUNCTION deputy_ssf_tokens_revoked() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  v_revoked text[];
BEGIN
  IF NOT EXISTS (SELECT 1 FROM ssf_streams WHERE status <> 'disabled') THEN RETURN NULL; END IF;
  SELECT array_agg(n.jti) INTO v_revoked
    FROM new_tokens n JOIN old_tokens o ON o.jti = n.jti
   WHERE o.revoked_at IS NULL AND n.revoked_at IS NOT NULL;
  IF v_revoked IS NULL THEN RETURN NULL; END IF;
  PERFORM deputy_ssf_enqueue_token_events(array_agg(r.jti), array_agg(r.reason)) FROM (
       SELECT unnest(v_revoked) AS jti, deputy_revocation_reason('revoked') AS reason
       UNION ALL
       SELECT d.jti, 'ancestor_revoked' FROM deputy_token_descendants(v_revoked) d WHERE NOT d.jti = ANY(v_revoked)) r;
  RETURN NULL;
END;
$$;

CREATE TRIGGER "issued_tokens_ssf_revoked" AFTER UPDATE ON "issued_tokens"
  REFERENCING OLD TABLE AS old_tokens NEW TABLE AS new_tokens
  FOR EACH STATEMENT EXECUTE FUNCTION deputy_ssf_tokens_revoked();

-- A grant revoked: every live token whose chain relies on it (minted under it, or derived from one that was).
CREATE FUNCTION deputy_ssf_grant_revoked() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  v_direct text[];
BEGIN
  IF NOT EXISTS (SELECT 1 FROM ssf_streams WHERE status <> 'disabled') THEN RETURN NULL; END IF;
  SELECT array_agg(t.jti) INTO v_direct FROM issued_tokens t WHERE t.grant_id = NEW.id;
  PERFORM deputy_ssf_enqueue_token_events(array_agg(x.jti), array_fill(deputy_revocation_reason('grant_revoked'), ARRAY[count(*)::int])) FROM (
      SELECT t.jti FROM issued_tokens t
       WHERE t.grant_id = NEW.id AND t.revoked_at IS NULL AND t.expires_at > now()
      UNION
      SELECT d.jti FROM deputy_token_descendants(v_direct) d) x;
  RETURN NULL;
END;
$$;

CREATE TRIGGER "delegation_grants_ssf_revoked" AFTER UPDATE OF "revoked_at" ON "delegation_grants"
  FOR EACH ROW WHEN (OLD.revoked_at IS NULL AND NEW.revoked_at IS NOT NULL)
  EXECUTE FUNCTION deputy_ssf_grant_revoked();

-- A subject disabled: its live tokens issued before (a re-enabled subject does not revive them).
CREATE FUNCTION deputy_ssf_subject_disabled() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM ssf_streams WHERE status <> 'disabled') THEN RETURN NULL; END IF;
  PERFORM deputy_ssf_enqueue_token_events(array_agg(t.jti), array_fill(deputy_revocation_reason('subject_disabled'), ARRAY[count(*)::int]))
     FROM issued_tokens t
    WHERE t.subject_id = NEW.id AND t.revoked_at IS NULL AND t.expires_at > now() AND t.issued_at <= NEW.disabled_at;
  RETURN NULL;
END;
$$;

CREATE TRIGGER "subjects_ssf_disabled" AFTER UPDATE OF "status" ON "subjects"
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM 'disabled' AND NEW.status = 'disabled')
  EXECUTE FUNCTION deputy_ssf_subject_disabled();

-- An actor disabled: every live token whose chain names it.
CREATE FUNCTION deputy_ssf_actor_disabled() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM ssf_streams WHERE status <> 'disabled') THEN RETURN NULL; END IF;
  PERFORM deputy_ssf_enqueue_token_events(array_agg(t.jti), array_fill(deputy_revocation_reason('actor_disabled'), ARRAY[count(*)::int]))
     FROM issued_tokens t
    WHERE t.actor_ids @> ARRAY[NEW.id] AND t.revoked_at IS NULL AND t.expires_at > now() AND t.issued_at <= NEW.disabled_at;
  RETURN NULL;
END;
$$;

CREATE TRIGGER "actors_ssf_disabled" AFTER UPDATE OF "status" ON "actors"
  FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM 'disabled' AND NEW.status = 'disabled')
  EXECUTE FUNCTION deputy_ssf_actor_disabled();

-- An entitlement withdrawn: the subject's live tokens for that resource carrying that scope are
-- revoked (so introspection and the resource servers agree), and their descendants with them.
CREATE FUNCTION deputy_entitlement_withdrawn() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  v_previous text := current_setting('deputy.revocation_reason', true);
BEGIN
  PERFORM set_config('deputy.revocation_reason', 'entitlement_withdrawn', true);
  UPDATE issued_tokens t SET revoked_at = now()
   WHERE t.subject_id = OLD.subject_id AND t.resource_uri = OLD.resource_uri AND t.revoked_at IS NULL
     AND t.expires_at > now() AND OLD.scope = ANY(string_to_array(t.scope, ' '));
  PERFORM set_config('deputy.revocation_reason', coalesce(v_previous, ''), true);
  RETURN NULL;
END;
$$;

CREATE TRIGGER "entitlements_withdrawn" AFTER DELETE ON "entitlements"
  FOR EACH ROW EXECUTE FUNCTION deputy_entitlement_withdrawn();

-- Upstream: Deputy as a receiver of a trusted issuer's events (one stream per issuer). The
-- transmitter pushes to {ISSUER}/ssf/receiver/{id}, or Deputy polls `poll_url`.
CREATE TABLE "ssf_upstream_streams" (
  "id"                   UUID        NOT NULL DEFAULT gen_random_uuid(),
  "trusted_issuer_id"    UUID        NOT NULL,
  "delivery_method"      TEXT        NOT NULL,
  "poll_url"             TEXT,
  "authorization_header" TEXT,
  "audience"             TEXT        NOT NULL,
  "created_at"           TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "last_event_at"        TIMESTAMPTZ(3),
  "last_error"           TEXT,
  CONSTRAINT "ssf_upstream_streams_pkey" PRIMARY KEY ("id"),
  CONSTRAINT "ssf_upstream_streams_trusted_issuer_id_fkey" FOREIGN KEY ("trusted_issuer_id") REFERENCES "trusted_issuers"("id") ON DELETE CASCADE ON UPDATE CASCADE,
  CONSTRAINT "ssf_upstream_streams_delivery_method_check" CHECK ("delivery_method" IN ('push', 'poll')),
  CONSTRAINT "ssf_upstream_streams_poll_check" CHECK ("delivery_method" = 'push' OR "poll_url" IS NOT NULL)
);
CREATE UNIQUE INDEX "ssf_upstream_streams_trusted_issuer_id_key" ON "ssf_upstream_streams"("trusted_issuer_id");
