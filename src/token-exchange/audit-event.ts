/**
 * The audit event of one token exchange, built from what the exchange learnt before it ended
 * (the request, the verified subject, the decision) and how it ended. Pure: the grant handler
 * (grant.ts) records the event; the recording function may still turn a grant into a denial
 * when a delegation is withdrawn while the token is being minted.
 */
import type { AuditEventInput } from '../audit/audit-log.js';
import type { OAuthError } from '../errors.js';
import type { ExchangeDecision } from './decision-types.js';
import { refusalReason, type ExchangeStage } from './refusal-reason.js';
import type { ExchangeRequest } from './request.js';

/** What an exchange knows so far; each step of the handler fills in its part. */
export interface ExchangeTrail {
  at: Date;
  requestId: string | null;
  clientId: string;
  /** null until the request parsed. */
  request: ExchangeRequest | null;
  /** null until the subject token verified. */
  subjectId: string | null;
  /** null until the decision ran. */
  decision: ExchangeDecision | null;
}

export type ExchangeEnd =
  | { granted: true; jti: string }
  | {
      granted: false;
      /** The step that refused or failed. */
      stage: ExchangeStage;
      error: OAuthError;
    };

export const EXCHANGED = 'token.exchanged';
export const EXCHANGE_DENIED = 'token.exchange_denied';

export function exchangeAuditEvent(trail: ExchangeTrail, end: ExchangeEnd): AuditEventInput {
  const { request, decision } = trail;
  const event: AuditEventInput = {
    type: end.granted ? EXCHANGED : EXCHANGE_DENIED,
    at: trail.at,
    requestId: trail.requestId,
    clientId: trail.clientId,
  };
  if (request) {
    event.resourceUri = request.resource;
    event.scopeRequested = request.scopes ?? [];
  }
  if (trail.subjectId !== null) event.subjectId = trail.subjectId;
  if (decision) {
    if (decision.actorIds) event.actorIds = decision.actorIds;
    event.scopeDenied = decision.dropped;
    if (decision.granted) {
      // Without a `scope` parameter, the grant's scopes were requested.
      event.scopeRequested = request?.scopes ?? decision.scopes.concat(decision.dropped.map((dropped) => dropped.scope));
      event.grantId = decision.grantId;
    }
  }
  if (end.granted) {
    if (!decision?.granted) throw new Error('a granted exchange needs a granted decision');
    return { ...event, scopeGranted: decision.scopes, jti: end.jti };
  }
  const decisionReason = end.stage === 'decision' && decision && !decision.granted ? decision.reason : undefined;
  return {
    ...event,
    error: end.error.code,
    jti: null,
    scopeGranted: [],
    details: { reason: refusalReason(end.stage, end.error, decisionReason) },
  };
}
