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
