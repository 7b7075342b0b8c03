-- Revocations and exchanges meet on advisory locks, not row locks (first written in migration
-- 0003): an exchange being recorded holds a SHARED lock on its subject and on each actor of its
-- chain; every change that can withdraw it (a grant revoked or deleted, an entitlement changed,
-- the subject or an actor disabled, a token revoked) takes the EXCLUSIVE lock on that subject or
-- actor (the triggers calling deputy_lock_withdrawal, created in 0003) and so waits for the
-- exchanges in flight, which either commit first or see the change. Advisory locks live in
-- memory: unlike FOR SHARE on hot rows, they write no WAL and create no MultiXacts.
CREATE OR REPLACE FUNCTION deputy_subject_lock_key(subject_id text) RETURNS integer LANGUAGE sql IMMUTABLE AS $$ SELECT hashtext('subject:' || subject_id) $$;
CREATE OR REPLACE FUNCTION deputy_actor_lock_key(actor_id text) RETURNS integer LANGUAGE sql IMMUTABLE AS $$ SELECT hashtext('actor:' || actor_id) $$;

CREATE OR REPLACE FUNCTION deputy_lock_withdrawal() RETURNS trigger LANGUAGE plpgsql AS $$
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
