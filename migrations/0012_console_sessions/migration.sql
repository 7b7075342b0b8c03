-- Console sessions (issue 12). The browser holds a random session id in an HttpOnly cookie; the
-- database keeps only its SHA-256, the admin principal it signed in as, and a stamp of the
-- credential's current state (a digest of the bootstrap token's digest, or of the client's secret
-- hash), so rotating the secret or withdrawing deputy:admin ends the session at its next request.
-- Never the credential itself.
CREATE TABLE "console_sessions" (
    "id_sha256" BYTEA NOT NULL,
    "admin" TEXT NOT NULL,
    "credential_stamp" BYTEA NOT NULL,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "console_sessions_pkey" PRIMARY KEY ("id_sha256")
);

CREATE INDEX "console_sessions_expires_at_idx" ON "console_sessions"("expires_at");

-- The console's first pages of tokens and subjects (issue 12): their keyset order is
-- (issued_at, jti) / (created_at, id), but the leading time index alone makes PostgreSQL sort
-- every row sharing the newest timestamp (a bulk import, a burst within one millisecond): with
-- the bench world's 100,000 tokens of one instant, 140 ms for a page of 50. The index on the
-- full key replaces the time-only one (same count of indexes to maintain on each insert; the
-- time prefix still serves range filters).
DROP INDEX "issued_tokens_issued_at_idx";
CREATE INDEX "issued_tokens_issued_at_jti_idx" ON "issued_tokens"("issued_at", "jti");
DROP INDEX "subjects_created_at_idx";
CREATE INDEX "subjects_created_at_id_idx" ON "subjects"("created_at", "id");
