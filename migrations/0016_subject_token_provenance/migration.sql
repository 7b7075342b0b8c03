-- Provenance of issued tokens and revocation of the person's IdP token (issue 16, item 3).
-- Each token records the SHA-256 of the external (trusted-issuer) subject token it was derived
-- from; a chain inherits its root's. NULL for tokens with no external subject token (CIBA) and
-- for tokens issued before this migration. Revoking that IdP token at Deputy's RFC 7009 endpoint
-- (src/oauth/subject-token-revocation.ts) revokes every unexpired token carrying its digest.
ALTER TABLE "issued_tokens" ADD COLUMN "subject_token_sha256" BYTEA;
CREATE INDEX "issued_tokens_subject_token_sha256_idx" ON "issued_tokens" ("subject_token_sha256");

-- IdP tokens revoked at Deputy: a later exchange presenting one is refused (live-facts.ts,
-- decide.ts) and the recording statement refuses to record a token derived from one. Kept
-- until the IdP token expires (src/db/purge.ts deletes them after that): an expired token is
-- refused anyway.
CREATE TABLE "revoked_subject_tokens" (
  "sha256"     BYTEA       NOT NULL,
  "issuer"     TEXT        NOT NULL,
  "expires_at" TIMESTAMPTZ(3) NOT NULL,
  CONSTRAINT "revoked_subject_tokens_pkey" PRIMARY KEY ("sha256")
);
CREATE INDEX "revoked_subject_tokens_expires_at_idx" ON "revoked_subject_tokens" ("expires_at");
