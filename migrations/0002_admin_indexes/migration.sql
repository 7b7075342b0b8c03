-- Keyset (cursor) paging of the admin API's lists, newest first: each list is ordered by
-- (created_at, id) DESC and a page starts strictly below the previous page's last key.
-- subjects (created_at) and issued_tokens (issued_at) already have a leading time index;
-- resources and trusted_issuers are small configuration tables.
CREATE INDEX "actors_created_at_id_idx" ON "actors"("created_at", "id");
CREATE INDEX "clients_created_at_client_id_idx" ON "clients"("created_at", "client_id");
CREATE INDEX "entitlements_created_at_id_idx" ON "entitlements"("created_at", "id");
CREATE INDEX "delegation_grants_created_at_id_idx" ON "delegation_grants"("created_at", "id");
