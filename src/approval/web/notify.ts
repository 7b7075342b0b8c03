/**
 * The person's notification of a new approval request (APPROVAL_WEBHOOK_URL): one POST of JSON
 * with a single-use approve_url, a short timeout, no retry. The target follows the same network
 * rules as a jwks_uri (src/exchange/network-target.ts): https, no private, loopback or reserved
 * address unless APPROVAL_ALLOW_PRIVATE_NETWORK; each resolved address is checked before the call.
 * A failure is logged (without the link) and never affects the agent's CIBA request.
 */
import type pg from 'pg';
import type { Logger } from '../../log.js';
import { jwksUriRefusal } from '../../trust/network-target.js';
import type { ApprovalRequest } from '../store.js';
import { createTargetClient } from '../../ssf/http-target.js';
import { createApprovalLink } from './web-store.js';

export const WEBHOOK_TIMEOUT_MS = 5000;

export interface NotificationBody {
  approval_request_id: string;
  subject: string;
  actor: string;
  client_id: string;
  binding_message: string | null;
  approve_url: string;
  expires_at: string;
}

export function notificationBody(request: ApprovalRequest, approveUrl: string): NotificationBody {
  return {
    approval_request_id: request.id,
    subject: request.subjectId,
    actor: request.actorId,
    client_id: request.clientId,
    binding_message: request.bindingMessage,
    approve_url: approveUrl,
    expires_at: request.expiresAt.toISOString(),
  };
}

/**
 * Why the webhook may not be called, as far as the URL alone tells, or null. The addresses its
 * host resolves to are checked by the target client on every call, which connects only to those.
 */
export async function webhookRefusal(url: string, allowPrivateNetwork: boolean): Promise<string | null> {
  const refusal = jwksUriRefusal(url, allowPrivateNetwork);
  return refusal ? refusal.replace('JWKS_ALLOW_PRIVATE_NETWORK', 'APPROVAL_ALLOW_PRIVATE_NETWORK') : null;
}

export interface NotifierDeps {
  pool: pg.Pool;
  logger: Logger;
  webhookUrl: string | undefined;
  allowPrivateNetwork: boolean;
  /** The address of the link page: `${ISSUER}/approve/link/`. */
  linkBase: string;
}

export function createApprovalNotifier(deps: NotifierDeps): (request: ApprovalRequest) => Promise<void> {
  // Connects only to the addresses it checked after DNS (no second lookup to rebind).
  const send = createTargetClient({ allowPrivateNetwork: deps.allowPrivateNetwork });
  return async (request) => {
    if (!deps.webhookUrl) return;
    const token = await createApprovalLink(deps.pool, request.id, request.expiresAt);
    const body = notificationBody(request, `${deps.linkBase}${token}`);
    try {
      const refusal = await webhookRefusal(deps.webhookUrl, deps.allowPrivateNetwork);
      if (refusal) throw new Error(`APPROVAL_WEBHOOK_URL ${refusal}`);
      const response = await send(deps.webhookUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
        timeoutMs: WEBHOOK_TIMEOUT_MS,
      });
      if (response.status < 200 || response.status > 299) throw new Error(`the webhook answered ${response.status}`);
    } catch (error) {
      // Never the approve_url: it is a bearer link to the request.
      deps.logger.warn({ approval_request_id: request.id, detail: error instanceof Error ? error.message : String(error) }, 'approval notification failed');
    }
  };
}
