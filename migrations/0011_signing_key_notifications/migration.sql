-- Every process keeps the signing keys in memory (src/keys/key-ring.ts). A rotation made by one
-- process (the admin API, or the KEY_ROTATION_DAYS schedule) notifies the others on the
-- configuration channel, so each reloads its key ring at once: its /jwks publishes the new key
-- and it stops signing with the retired one.
CREATE FUNCTION deputy_notify_signing_keys_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM pg_notify('deputy_config', 'signing_keys:*');
  RETURN NULL;
END;
$$;

CREATE TRIGGER "signing_keys_notify_change" AFTER INSERT OR UPDATE OR DELETE ON "signing_keys"
  FOR EACH STATEMENT EXECUTE FUNCTION deputy_notify_signing_keys_change();
