-- Trigger functions; the triggers themselves are created by the numbered migrations named below.

-- Append-only (0001): the database itself refuses edits and deletions of audit events.
CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only';
END;
$$;

-- Change notifications (0004) for the configuration Deputy processes cache: clients, trusted
-- issuers and actors' keys or workload bindings. Each committed change sends
-- NOTIFY deputy_config, '<table>:<id>' so every process drops its copy (src/db/change-feed.ts).
CREATE OR REPLACE FUNCTION deputy_notify_config_change() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  v_id text;
BEGIN
  IF TG_TABLE_NAME = 'clients' THEN
    v_id := coalesce(NEW.client_id, OLD.client_id);
  ELSIF TG_TABLE_NAME = 'trusted_issuers' THEN
    v_id := coalesce(NEW.issuer, OLD.issuer);
  ELSE
    v_id := coalesce(NEW.id, OLD.id);
  END IF;
  PERFORM pg_notify('deputy_config', TG_TABLE_NAME || ':' || v_id);
  RETURN NULL;
END;
$$;

-- Kill switches (0008): `disabled_at` is the last time a subject or actor went to `disabled`.
-- clock_timestamp(), not now(): the time of the change itself, not the start of its transaction
-- (an exchange started in between is then caught by the recording re-check).
CREATE OR REPLACE FUNCTION deputy_stamp_disabled_at() RETURNS trigger LANGUAGE plpgsql AS $$
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

-- Signing-key rotations (0011) notify every process, which reloads its key ring at once.
CREATE OR REPLACE FUNCTION deputy_notify_signing_keys_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('deputy_config', 'signing_keys:*');
  RETURN NULL;
END;
$$;
