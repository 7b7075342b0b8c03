/**
 * Process-wide preparation, made explicitly once at start-up by the composition root
 * (src/composition.ts) rather than as a side effect of importing a module. Idempotent. Tests that
 * build parts without starting a Deputy call it through their support code (test/support/database.ts).
 *
 * - pg reads bigint columns as numbers (src/db/pool.ts).
 * - oidc-provider's module-level action arrays get Deputy's steps: observed client
 *   authentication and structured-token introspection/revocation (src/oauth/oidc-provider-internals.ts).
 */
import { parseInt8AsNumber } from './db/pool.js';
import { prepareProviderSteps } from './oauth/oidc-provider-internals.js';

export function prepareProcess(): void {
  parseInt8AsNumber();
  prepareProviderSteps();
}
