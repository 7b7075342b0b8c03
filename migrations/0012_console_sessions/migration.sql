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
