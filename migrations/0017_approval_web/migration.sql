-- The person's side of approval requests (issue 15, item e). The browser holds a random session id
-- in an HttpOnly cookie; the database keeps its SHA-256, the signed-in subject (NULL while the
-- OpenID Connect sign-in is under way) and that sign-in's state, nonce and PKCE verifier.
CREATE TABLE "approval_sessions" (
    "id_sha256" BYTEA NOT NULL,
    "subject_id" TEXT,
    "login" JSONB,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "approval_sessions_pkey" PRIMARY KEY ("id_sha256")
);

CREATE INDEX "approval_sessions_expires_at_idx" ON "approval_sessions"("expires_at");

-- The single-use links of the notification (approve_url): only the token's SHA-256 is kept.
CREATE TABLE "approval_links" (
    "token_sha256" BYTEA NOT NULL,
    "approval_request_id" UUID NOT NULL,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "used_at" TIMESTAMPTZ(3),

    CONSTRAINT "approval_links_pkey" PRIMARY KEY ("token_sha256")
);

ALTER TABLE "approval_links" ADD CONSTRAINT "approval_links_approval_request_id_fkey" FOREIGN KEY ("approval_request_id") REFERENCES "approval_requests"("id") ON DELETE CASCADE ON UPDATE CASCADE;
