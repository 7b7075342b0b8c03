-- A trusted issuer may be limited in whom it speaks for: the subjects it may name (a list),
-- a prefix every subject it names must start with, or both (a subject passes if it is listed
-- or has the prefix). No list (empty) and no prefix (NULL): any subject, as before.
ALTER TABLE "trusted_issuers" ADD COLUMN "allowed_subjects" TEXT[] NOT NULL DEFAULT ARRAY[]::TEXT[];
ALTER TABLE "trusted_issuers" ADD COLUMN "subject_prefix" TEXT;

-- The demo identity provider (its private key sits on disk in DEPUTY_HOME/demo.json) speaks
-- only for the demo users, in databases seeded before this migration too.
UPDATE "trusted_issuers" SET "allowed_subjects" = ARRAY['alice', 'bob']
 WHERE "issuer" = 'https://idp.demo.deputy.local' AND "kind" = 'user' AND "allowed_subjects" = ARRAY[]::TEXT[] AND "subject_prefix" IS NULL;
