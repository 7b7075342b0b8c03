-- A client may be linked to the resources it protects (resource servers): introspection answers
-- it about tokens whose audience is one of them (RFC 7662 §4). Values are resource URIs; the
-- admin API checks that each names a registered resource.
ALTER TABLE "clients" ADD COLUMN "protected_resources" TEXT[] NOT NULL DEFAULT ARRAY[]::TEXT[];
