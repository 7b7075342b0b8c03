-- Pending approval requests past their expiry are marked `expired` (with their `approval.expired`
-- audit event) by a background job every APPROVAL_EXPIRY_INTERVAL_S (src/approval/expiry.ts),
-- which finds them by status and expiry.
CREATE INDEX "approval_requests_status_expires_at_idx" ON "approval_requests"("status", "expires_at");

-- The approval links of expired requests are purged with the other expiring rows (src/db/purge.ts).
CREATE INDEX "approval_links_expires_at_idx" ON "approval_links"("expires_at");
