-- What counts as live, written once. Recording (deputy_record_exchanges), introspection
-- (src/exchange/token-status.ts), the admin token status (src/admin/routes/tokens.ts) and the
-- admin grants' `active` filter call these; the pure decision (src/exchange/decide.ts,
-- isActiveGrant, isActiveActor, disabledSince) states the same rules for the rows it is given,
-- and test/exchange/liveness.properties.test.ts checks that both agree.
--
-- Written so the planner inlines them: the row predicates are single expressions (LANGUAGE sql,
-- STABLE, not STRICT), so a call becomes its expression and an index on the caller's columns
-- still applies. The token predicates hold subqueries; PostgreSQL inlines a scalar SQL function
-- only without subqueries, but it inlines a set-returning one called in FROM, so they return a
-- one-row table: call them as `FROM issued_tokens t, deputy_token_is_live(t, now()) l`.
-- (A scalar call would re-plan the function body on every statement.)

-- A delegation grant is live at `at` while it is unrevoked and unexpired.
CREATE OR REPLACE FUNCTION deputy_grant_is_live(g delegation_grants, at timestamptz) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT g.revoked_at IS NULL AND (g.expires_at IS NULL OR g.expires_at > at)
$$;

-- An actor is live at `at` for a token issued at `issued_at` while it is active, unexpired, and
-- was not disabled at or after that issue time: a kill switch is final for the tokens issued
-- before it, even once the actor is active again. issued_at NULL: no token yet, status only.
CREATE OR REPLACE FUNCTION deputy_actor_is_live(a actors, at timestamptz, issued_at timestamptz) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT a.status = 'active' AND (a.expires_at IS NULL OR a.expires_at > at)
     AND (issued_at IS NULL OR a.disabled_at IS NULL OR a.disabled_at < issued_at)
$$;

-- A subject is live for a token issued at `issued_at` while it is active and was not disabled
-- at or after that issue time (subjects do not expire).
CREATE OR REPLACE FUNCTION deputy_subject_is_live(s subjects, issued_at timestamptz) RETURNS boolean LANGUAGE sql STABLE AS $$
  SELECT s.status = 'active' AND (issued_at IS NULL OR s.disabled_at IS NULL OR s.disabled_at < issued_at)
$$;

-- Everything an issued token (or one about to be recorded) stands on, at `at`: every grant of
-- its chain live, its subject and every actor of its chain live for its issue time, and no
-- token it was derived from revoked. The token's own revocation and expiry are not part of it.
CREATE OR REPLACE FUNCTION deputy_token_chain_is_live(t issued_tokens, at timestamptz) RETURNS TABLE (live boolean) LANGUAGE sql STABLE AS $$
  SELECT (SELECT count(*) FROM delegation_grants g WHERE g.id = ANY(t.grant_ids) AND deputy_grant_is_live(g, at)) = cardinality(t.grant_ids)
     AND EXISTS (SELECT FROM subjects s WHERE s.id = t.subject_id AND deputy_subject_is_live(s, t.issued_at))
     AND (SELECT count(*) FROM actors a WHERE a.id = ANY(t.actor_ids) AND deputy_actor_is_live(a, at, t.issued_at)) = cardinality(t.actor_ids)
     AND NOT EXISTS (SELECT FROM issued_tokens p WHERE p.jti = ANY(t.ancestor_jtis) AND p.revoked_at IS NOT NULL)
$$;

-- An issued token is live (introspection's `active`) at `at` while it is unrevoked, unexpired
-- and its chain is live.
CREATE OR REPLACE FUNCTION deputy_token_is_live(t issued_tokens, at timestamptz) RETURNS TABLE (live boolean) LANGUAGE sql STABLE AS $$
  SELECT t.revoked_at IS NULL AND t.expires_at > at AND c.live FROM deputy_token_chain_is_live(t, at) c
$$;
