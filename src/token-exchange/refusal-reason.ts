/**
 * The machine-readable reason of a refused exchange, kept in its audit event's `details` and in
 * the debug log: `<stage>.<what>`, where the stage is the step of the exchange that refused and
 * `what` is the decision's own reason code (src/token-exchange/decide.ts) or else the refusal's safe,
 * fixed description in snake_case. Built only from those, never from the request, so it never
 * carries a token or a secret and takes a bounded set of values.
 */
import type { OAuthError } from '../errors.js';
import type { ExchangeRefusalReason } from './decision-types.js';
import { ISSUER_SUBJECT_NOT_ALLOWED } from '../trust/trusted-issuer-token.js';

/** The steps of an exchange, in order. */
export type ExchangeStage = 'request' | 'dpop' | 'subject_token' | 'actor_token' | 'live_facts' | 'actor' | 'decision' | 'issue';

const MAX_WHAT_LENGTH = 64;

/** Refusals whose `detail` is itself a reason code, more precise than their description. */
// subject_token_revoked: the person's IdP token was revoked at Deputy (decide.ts); its description
// ("subject token is not active") is shared with the parent-token refusals.
const REASON_CODE_DETAILS: ReadonlySet<string | undefined> = new Set([ISSUER_SUBJECT_NOT_ALLOWED, 'subject_token_revoked']);

/** "Subject token signature is invalid" at stage subject_token → "signature_is_invalid". */
export function describedAs(stage: string, description: string): string {
  const words = description
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '_')
    .replace(/^_+|_+$/g, '');
  const withoutStage = words.startsWith(`${stage}_`) ? words.slice(stage.length + 1) : words;
  const what = withoutStage.replace(/^is_/, '').slice(0, MAX_WHAT_LENGTH).replace(/_+$/, '');
  return what || 'refused';
}

export function refusalReason(stage: ExchangeStage, error: OAuthError, decision?: ExchangeRefusalReason): string {
  if (decision) return `decision.${decision}`;
  if (error.status === 429) return `${stage}.rate_limited`;
  if (error.code === 'temporarily_unavailable') return `${stage}.unavailable`;
  if (REASON_CODE_DETAILS.has(error.detail)) return `${stage}.${error.detail}`;
  return `${stage}.${describedAs(stage, error.description)}`;
}
