-- Human approval (issue 15): agents ask, people approve, high-risk scopes need a fresh yes.
--
-- approval_requests: one row per OpenID CIBA backchannel authentication request carrying a
-- Deputy `delegation` authorization detail (RFC 9396). The auth_req_id the agent polls with is
-- kept only as its SHA-256. A request is pending until the person approves or denies it, an
-- admin cancels it, its actor or subject is revoked (cancelled), or it expires. An approval
-- creates a delegation grant (grant_id) and the agent's next poll receives one token
-- (token_jti), once.
CREATE TABLE "approval_requests" (
    "id" UUID NOT NULL DEFAULT gen_random_uuid(),
    "auth_req_sha256" BYTEA,
    "client_id" TEXT NOT NULL,
    "subject_id" TEXT NOT NULL,
    "actor_id" TEXT NOT NULL,
    "resource_uri" TEXT NOT NULL,
    "scopes" TEXT[] NOT NULL,
    "duration_seconds" INTEGER NOT NULL,
    "purpose" TEXT NOT NULL DEFAULT '',
    "binding_message" TEXT,
    "status" TEXT NOT NULL DEFAULT 'pending',
    "requested_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expires_at" TIMESTAMPTZ(3) NOT NULL,
    "decided_at" TIMESTAMPTZ(3),
    "decided_by" TEXT,
    "approved_scopes" TEXT[] NOT NULL DEFAULT ARRAY[]::TEXT[],
    "approved_duration_seconds" INTEGER,
    "grant_id" UUID,
    "cancel_reason" TEXT,
    "token_jti" TEXT,
    "last_polled_at" TIMESTAMPTZ(3),

    CONSTRAINT "approval_requests_pkey" PRIMARY KEY ("id"),
    CONSTRAINT "approval_requests_status_check" CHECK ("status" IN ('pending', 'approved', 'denied', 'expired', 'cancelled')),
    CONSTRAINT "approval_requests_duration_check" CHECK ("duration_seconds" > 0),
    CONSTRAINT "approval_requests_subject_id_fkey" FOREIGN KEY ("subject_id") REFERENCES "subjects"("id") ON DELETE CASCADE ON UPDATE CASCADE,
    CONSTRAINT "approval_requests_actor_id_fkey" FOREIGN KEY ("actor_id") REFERENCES "actors"("id") ON DELETE CASCADE ON UPDATE CASCADE
);

CREATE UNIQUE INDEX "approval_requests_auth_req_sha256_key" ON "approval_requests"("auth_req_sha256");
CREATE INDEX "approval_requests_subject_id_status_idx" ON "approval_requests"("subject_id", "status");
CREATE INDEX "approval_requests_actor_id_status_idx" ON "approval_requests"("actor_id", "status");
CREATE INDEX "approval_requests_requested_at_id_idx" ON "approval_requests"("requested_at", "id");

-- Scopes of a resource that a standing grant never carries: only a just-in-time grant from an
-- approval does (step-up).
ALTER TABLE "resources" ADD COLUMN "approval_scopes" TEXT[] NOT NULL DEFAULT ARRAY[]::TEXT[];

-- A grant created by an approval names its approver and its request. A just-in-time grant may
-- carry approval scopes, lives at most APPROVAL_GRANT_TTL and cannot be chained beyond its actor.
ALTER TABLE "delegation_grants"
    ADD COLUMN "approved_by" TEXT,
    ADD COLUMN "approval_request_id" UUID,
    ADD COLUMN "just_in_time" BOOLEAN NOT NULL DEFAULT false,
    ADD CONSTRAINT "delegation_grants_approval_request_id_fkey" FOREIGN KEY ("approval_request_id") REFERENCES "approval_requests"("id") ON DELETE SET NULL ON UPDATE CASCADE;
CREATE INDEX "delegation_grants_approval_request_id_idx" ON "delegation_grants"("approval_request_id");

ALTER TABLE "approval_requests"
    ADD CONSTRAINT "approval_requests_grant_id_fkey" FOREIGN KEY ("grant_id") REFERENCES "delegation_grants"("id") ON DELETE SET NULL ON UPDATE CASCADE;
