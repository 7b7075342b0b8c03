-- Change notifications for the configuration Deputy processes cache: clients, trusted issuers
-- and actors' keys or workload bindings. Each committed change sends
-- NOTIFY deputy_config, '<table>:<id>' so every process drops its copy (src/db/change-feed.ts).
-- Live facts (grants, entitlements, subject and actor status) are never cached.

CREATE FUNCTION deputy_notify_config_change() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE TRIGGER "clients_notify_change" AFTER INSERT OR UPDATE OR DELETE ON "clients"
  FOR EACH ROW EXECUTE FUNCTION deputy_notify_config_change();
CREATE TRIGGER "trusted_issuers_notify_change" AFTER INSERT OR UPDATE OR DELETE ON "trusted_issuers"
  FOR EACH ROW EXECUTE FUNCTION deputy_notify_config_change();
CREATE TRIGGER "actors_notify_key_change" AFTER UPDATE OF "jwks", "workload_issuer", "workload_subject" ON "actors"
  FOR EACH ROW WHEN (OLD.jwks IS DISTINCT FROM NEW.jwks OR OLD.workload_issuer IS DISTINCT FROM NEW.workload_issuer
                     OR OLD.workload_subject IS DISTINCT FROM NEW.workload_subject)
  EXECUTE FUNCTION deputy_notify_config_change();
CREATE TRIGGER "actors_notify_delete" AFTER DELETE ON "actors"
  FOR EACH ROW EXECUTE FUNCTION deputy_notify_config_change();
