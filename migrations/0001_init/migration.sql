-- Deputy's initial schema. Mirrors prisma/schema.prisma; test/db/schema-drift.test.ts keeps them equal.

CREATE TABLE "subjects" (
  "id"         TEXT        NOT NULL,
  "email"      TEXT,
  "status"     TEXT        NOT NULL DEFAULT 'active',
  "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT "subjects_pkey" PRIMARY KEY ("id"),
  CONSTRAINT "subjects_status_check" CHECK ("status" IN ('active', 'disabled'))
);
CREATE UNIQUE INDEX "subjects_email_key" ON "subjects"("email");
CREATE INDEX "subjects_created_at_idx" ON "subjects"("created_at");

CREATE TABLE "resources" (
  "id"         UUID        NOT NULL DEFAULT gen_random_uuid(),
  "uri"        TEXT        NOT NULL,
  "scopes"     TEXT[]      NOT NULL DEFAULT ARRAY[]::TEXT[],
  "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT "resources_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "resources_uri_key" ON "resources"("uri");

CREATE TABLE "actors" (
  "id"               TEXT        NOT NULL,
  "kind"             TEXT        NOT NULL,
  "owner_id"         TEXT        NOT NULL,
  "purpose"          TEXT        NOT NULL DEFAULT '',
  "status"           TEXT        NOT NULL DEFAULT 'active',
  "expires_at"       TIMESTAMPTZ(3),
  "jwks"             JSONB,
  "workload_issuer"  TEXT,
  "workload_subject" TEXT,
  "scope_ceiling"    TEXT[]      NOT NULL DEFAULT ARRAY[]::TEXT[],
  "resources"        TEXT[]      NOT NULL DEFAULT ARRAY[]::TEXT[],
  "max_token_ttl"    INTEGER,
  "may_delegate_to"  TEXT[]      NOT NULL DEFAULT ARRAY[]::TEXT[],
  "last_used_at"     TIMESTAMPTZ(3),
  "created_at"       TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "updated_at"       TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT "actors_pkey" PRIMARY KEY ("id"),
  CONSTRAINT "actors_owner_id_fkey" FOREIGN KEY ("owner_id") REFERENCES "subjects"("id") ON DELETE RESTRICT ON UPDATE CASCADE,
  CONSTRAINT "actors_kind_check" CHECK ("kind" IN ('agent', 'service', 'workload')),
  CONSTRAINT "actors_status_check" CHECK ("status" IN ('active', 'disabled')),
  CONSTRAINT "actors_max_token_ttl_check" CHECK ("max_token_ttl" IS NULL OR "max_token_ttl" > 0)
);
CREATE INDEX "actors_owner_id_idx" ON "actors"("owner_id");
CREATE UNIQUE INDEX "actors_workload_issuer_workload_subject_key" ON "actors"("workload_issuer", "workload_subject");

CREATE TABLE "clients" (
  "client_id"                  TEXT        NOT NULL,
  "client_secret_hash"         TEXT,
  "token_endpoint_auth_method" TEXT        NOT NULL,
  "jwks"                       JSONB,
  "actor_id"                   TEXT,
  "allowed_actors"             TEXT[]      NOT NULL DEFAULT ARRAY[]::TEXT[],
  "scope"                      TEXT        NOT NULL DEFAULT '',
  "created_at"                 TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "updated_at"                 TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT "clients_pkey" PRIMARY KEY ("client_id"),
  CONSTRAINT "clients_actor_id_fkey" FOREIGN KEY ("actor_id") REFERENCES "actors"("id") ON DELETE SET NULL ON UPDATE CASCADE,
  CONSTRAINT "clients_auth_method_check" CHECK ("token_endpoint_auth_method" IN ('client_secret_basic', 'client_secret_post', 'private_key_jwt'))
);
CREATE INDEX "clients_actor_id_idx" ON "clients"("actor_id");

CREATE TABLE "trusted_issuers" (
  "id"            UUID        NOT NULL DEFAULT gen_random_uuid(),
  "issuer"        TEXT        NOT NULL,
  "jwks_uri"      TEXT,
  "jwks"          JSONB,
  "audience"      TEXT        NOT NULL,
  "kind"          TEXT        NOT NULL,
  "subject_claim" TEXT        NOT NULL DEFAULT 'sub',
  "algorithms"    TEXT[]      NOT NULL DEFAULT ARRAY['ES256', 'ES384', 'RS256', 'PS256', 'EdDSA']::TEXT[],
  "created_at"    TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT "trusted_issuers_pkey" PRIMARY KEY ("id"),
  CONSTRAINT "trusted_issuers_kind_check" CHECK ("kind" IN ('user', 'workload')),
  CONSTRAINT "trusted_issuers_keys_check" CHECK ("jwks_uri" IS NOT NULL OR "jwks" IS NOT NULL)
);
CREATE UNIQUE INDEX "trusted_issuers_issuer_kind_key" ON "trusted_issuers"("issuer", "kind");

CREATE TABLE "entitlements" (
  "id"           UUID        NOT NULL DEFAULT gen_random_uuid(),
  "subject_id"   TEXT        NOT NULL,
  "resource_uri" TEXT        NOT NULL,
  "scope"        TEXT        NOT NULL,
  "expires_at"   TIMESTAMPTZ(3),
  "created_at"   TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT "entitlements_pkey" PRIMARY KEY ("id"),
  CONSTRAINT "entitlements_subject_id_fkey" FOREIGN KEY ("subject_id") REFERENCES "subjects"("id") ON DELETE CASCADE ON UPDATE CASCADE,
  CONSTRAINT "entitlements_resource_uri_fkey" FOREIGN KEY ("resource_uri") REFERENCES "resources"("uri") ON DELETE CASCADE ON UPDATE CASCADE
);
CREATE UNIQUE INDEX "entitlements_subject_id_resource_uri_scope_key" ON "entitlements"("subject_id", "resource_uri", "scope");
CREATE INDEX "entitlements_resource_uri_idx" ON "entitlements"("resource_uri");

CREATE TABLE "delegation_grants" (
  "id"           UUID        NOT NULL DEFAULT gen_random_uuid(),
  "subject_id"   TEXT        NOT NULL,
  "actor_id"     TEXT        NOT NULL,
  "resource_uri" TEXT        NOT NULL,
  "scopes"       TEXT[]      NOT NULL,
  "expires_at"   TIMESTAMPTZ(3),
  "revoked_at"   TIMESTAMPTZ(3),
  "revoked_by"   TEXT,
  "created_at"   TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT "delegation_grants_pkey" PRIMARY KEY ("id"),
  CONSTRAINT "delegation_grants_subject_id_fkey" FOREIGN KEY ("subject_id") REFERENCES "subjects"("id") ON DELETE RESTRICT ON UPDATE CASCADE,
  CONSTRAINT "delegation_grants_actor_id_fkey" FOREIGN KEY ("actor_id") REFERENCES "actors"("id") ON DELETE RESTRICT ON UPDATE CASCADE,
  CONSTRAINT "delegation_grants_resource_uri_fkey" FOREIGN KEY ("resource_uri") REFERENCES "resources"("uri") ON DELETE RESTRICT ON UPDATE CASCADE
);
CREATE INDEX "delegation_grants_subject_id_actor_id_resource_uri_idx" ON "delegation_grants"("subject_id", "actor_id", "resource_uri");
CREATE INDEX "delegation_grants_actor_id_idx" ON "delegation_grants"("actor_id");

CREATE TABLE "issued_tokens" (
  "jti"          TEXT        NOT NULL,
  "subject_id"   TEXT        NOT NULL,
  "actor_ids"    TEXT[]      NOT NULL,
  "client_id"    TEXT        NOT NULL,
  "resource_uri" TEXT        NOT NULL,
  "scope"        TEXT        NOT NULL,
  "grant_id"     UUID        NOT NULL,
  "grant_ids"    UUID[]      NOT NULL,
  "parent_jti"   TEXT,
  "ancestor_jtis" TEXT[]     NOT NULL DEFAULT ARRAY[]::TEXT[],
  "dpop_jkt"     TEXT,
  "issued_at"    TIMESTAMPTZ(3) NOT NULL,
  "expires_at"   TIMESTAMPTZ(3) NOT NULL,
  "revoked_at"   TIMESTAMPTZ(3),
  CONSTRAINT "issued_tokens_pkey" PRIMARY KEY ("jti")
);
CREATE INDEX "issued_tokens_grant_id_idx" ON "issued_tokens"("grant_id");
CREATE INDEX "issued_tokens_subject_id_idx" ON "issued_tokens"("subject_id");
CREATE INDEX "issued_tokens_issued_at_idx" ON "issued_tokens"("issued_at");
CREATE INDEX "issued_tokens_actor_ids_idx" ON "issued_tokens" USING GIN ("actor_ids");

CREATE TABLE "used_assertion_jtis" (
  "issuer"     TEXT        NOT NULL,
  "jti"        TEXT        NOT NULL,
  "expires_at" TIMESTAMPTZ(3) NOT NULL,
  CONSTRAINT "used_assertion_jtis_pkey" PRIMARY KEY ("issuer", "jti")
);
CREATE INDEX "used_assertion_jtis_expires_at_idx" ON "used_assertion_jtis"("expires_at");

CREATE TABLE "audit_chain_heads" (
  "chain_id" INTEGER NOT NULL,
  "seq"      BIGINT  NOT NULL DEFAULT 0,
  "hash"     TEXT    NOT NULL,
  CONSTRAINT "audit_chain_heads_pkey" PRIMARY KEY ("chain_id")
);

CREATE TABLE "audit_events" (
  "id"              BIGSERIAL   NOT NULL,
  "chain_id"        INTEGER     NOT NULL,
  "seq"             BIGINT      NOT NULL,
  "at"              TIMESTAMPTZ(3) NOT NULL,
  "type"            TEXT        NOT NULL,
  "request_id"      TEXT,
  "admin"           TEXT,
  "client_id"       TEXT,
  "subject_id"      TEXT,
  "actor_ids"       TEXT[]      NOT NULL DEFAULT ARRAY[]::TEXT[],
  "resource_uri"    TEXT,
  "scope_requested" TEXT[]      NOT NULL DEFAULT ARRAY[]::TEXT[],
  "scope_granted"   TEXT[]      NOT NULL DEFAULT ARRAY[]::TEXT[],
  "scope_denied"    JSONB       NOT NULL DEFAULT '[]',
  "jti"             TEXT,
  "grant_id"        UUID,
  "error"           TEXT,
  "details"         JSONB,
  "prev_hash"       TEXT        NOT NULL,
  "hash"            TEXT        NOT NULL,
  CONSTRAINT "audit_events_pkey" PRIMARY KEY ("id")
);
CREATE UNIQUE INDEX "audit_events_chain_id_seq_key" ON "audit_events"("chain_id", "seq");
CREATE INDEX "audit_events_subject_id_id_idx" ON "audit_events"("subject_id", "id");
CREATE INDEX "audit_events_client_id_id_idx" ON "audit_events"("client_id", "id");
CREATE INDEX "audit_events_type_id_idx" ON "audit_events"("type", "id");
CREATE INDEX "audit_events_at_idx" ON "audit_events"("at");
CREATE INDEX "audit_events_actor_ids_idx" ON "audit_events" USING GIN ("actor_ids");

-- Append-only: the database itself refuses edits and deletions of audit events.
CREATE FUNCTION "audit_events_append_only"() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'audit_events is append-only';
END;
$$;
CREATE TRIGGER "audit_events_no_update_delete" BEFORE UPDATE OR DELETE ON "audit_events"
  FOR EACH ROW EXECUTE FUNCTION "audit_events_append_only"();

CREATE TABLE "signing_keys" (
  "kid"         TEXT        NOT NULL,
  "alg"         TEXT        NOT NULL,
  "public_jwk"  JSONB       NOT NULL,
  "private_jwk" TEXT        NOT NULL,
  "encrypted"   BOOLEAN     NOT NULL DEFAULT false,
  "created_at"  TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  "retired_at"  TIMESTAMPTZ(3),
  CONSTRAINT "signing_keys_pkey" PRIMARY KEY ("kid")
);

CREATE TABLE "oidc_payloads" (
  "id"          TEXT        NOT NULL,
  "type"        TEXT        NOT NULL,
  "payload"     JSONB       NOT NULL,
  "grant_id"    TEXT,
  "user_code"   TEXT,
  "uid"         TEXT,
  "expires_at"  TIMESTAMPTZ(3),
  "consumed_at" TIMESTAMPTZ(3),
  CONSTRAINT "oidc_payloads_pkey" PRIMARY KEY ("id", "type")
);
CREATE INDEX "oidc_payloads_grant_id_idx" ON "oidc_payloads"("grant_id");
CREATE INDEX "oidc_payloads_expires_at_idx" ON "oidc_payloads"("expires_at");

-- Server-side secrets generated on first start (e.g. the client-secret pepper when not configured).
CREATE TABLE "server_settings" (
  "key"        TEXT        NOT NULL,
  "value"      TEXT        NOT NULL,
  "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
  CONSTRAINT "server_settings_pkey" PRIMARY KEY ("key")
);

-- The audit log is several independent hash chains, so concurrent writers (and, later, shards)
-- do not all contend on one "previous hash". Each chain starts from a fixed genesis value.
INSERT INTO "audit_chain_heads" ("chain_id", "seq", "hash")
SELECT chain_id, 0, 'genesis' FROM generate_series(0, 7) AS chain_id;
