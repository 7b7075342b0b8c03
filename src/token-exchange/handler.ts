/**
 * The RFC 8693 token-exchange grant, registered on oidc-provider. The handler is a list of
 * calls: parse → DPoP → subject → actor → live facts → decide (pure, every rule) → actor rate
 * limit → sign and record → respond. It reaches the world only through its ports
 * (exchange-ports.ts). Every outcome writes one audit event (exchange-audit.ts), except a rate
 * limit's refusal and a refusal for an unreachable database.
 */
import { randomUUID } from 'node:crypto';
import type Provider from 'oidc-provider';
import type { KoaContextWithOIDC } from 'oidc-provider';
import { isDatabaseUnavailable } from '../db/pool.js';
import { OAuthError, invalidRequest } from '../errors.js';
import { OAUTH_SURFACE, providerError, toDeputyError } from '../http/error-response.js';
import type { Metrics } from '../http/metrics.js';
import type { Logger } from '../log.js';
import type { DpopProof } from '../oauth/oidc-provider-internals.js';
import { decideExchange } from './decide.js';
import type { ExchangeDecision, ExchangeDecisionInput, GrantedExchange, RefusedExchange } from './decision-types.js';
import { EXCHANGE_DENIED, exchangeAuditEvent, type ExchangeTrail } from './audit-event.js';
import type { TokenExchangePorts } from './ports.js';
import { issueDelegatedToken, type IssueOutcome } from './issue.js';
import type { LiveFacts } from './live-facts.js';
import { RateLimited } from './rate-limit.js';
import type { RecordStatus } from './record.js';
import { describedAs, refusalReason, type ExchangeStage } from './refusal-reason.js';
import { EXCHANGE_PARAMETERS, TOKEN_EXCHANGE_GRANT, TOKEN_TYPE, parseExchangeRequest, type ExchangeRequest } from './request.js';
import { PresentedJtis } from './single-use-presented.js';
import type { SubjectIdentity } from './subject.js';

export interface TokenExchangeSettings {
  issuer: string;
  /** Seconds. */
  tokenTtl: number;
  maxDelegationDepth: number;
}

export interface TokenExchangeDeps {
  ports: TokenExchangePorts;
  settings: TokenExchangeSettings;
  logger: Logger;
  metrics: Pick<Metrics, 'exchanges' | 'exchangeSeconds'>;
}

/** Any failure as the OAuth surface's error (database outage, rejected value, exposed provider error, fault). */
const classify = (thrown: unknown): OAuthError => toDeputyError(thrown, OAUTH_SURFACE);

/** What ended an exchange early: the step it happened in, and what was thrown. */
class StepFailed {
  constructor(
    readonly stage: ExchangeStage,
    readonly thrown: unknown,
    /** The recording function already wrote this refusal's audit event. */
    readonly audited = false,
  ) {}
}

/** Runs one step of the exchange; anything it throws is labelled with the step. */
async function step<T>(stage: ExchangeStage, run: () => T | Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (thrown) {
    throw new StepFailed(stage, thrown);
  }
}

function liveFactsQuery(request: ExchangeRequest, subject: SubjectIdentity, actorId: string | null, clientId: string) {
  return {
    subjectId: subject.facts.subjectId,
    actorId,
    resource: request.resource,
    clientId,
    parentJti: subject.parentJti,
    subjectTokenDigest: subject.externalDigest,
  };
}

/** Once the client may present the actor, the actor's rate limit is spent, whatever the decision. */
async function limitActor(ports: TokenExchangePorts, decision: ExchangeDecision): Promise<void> {
  if (decision.actorId !== null) await ports.limitActor(decision.actorId);
}

function refusalOf(decision: RefusedExchange): StepFailed {
  return new StepFailed(decision.stage, new OAuthError(decision.error, decision.description, decision.reason));
}

/**
 * The recording function wrote a denial itself: a single-use jti of the request was used before
 * (refused as that replay), or a delegation was withdrawn meanwhile.
 */
function replayedOrWithdrawn(presented: PresentedJtis, status: RecordStatus): StepFailed {
  const replay = presented.replayOf(status);
  if (replay) return new StepFailed(replay.stage, replay.error(), true);
  return new StepFailed('issue', invalidRequest('the delegation was withdrawn while the token was being issued', status), true);
}

function decisionInput(
  settings: TokenExchangeSettings,
  nowSeconds: number,
  request: ExchangeRequest,
  subject: SubjectIdentity,
  dpop: DpopProof | undefined,
  facts: LiveFacts,
): ExchangeDecisionInput {
  return {
    now: nowSeconds,
    limits: { tokenTtl: settings.tokenTtl, maxDelegationDepth: settings.maxDelegationDepth },
    requestedResource: request.resource,
    requestedScopes: request.scopes,
    subjectToken: subject.facts,
    parentJti: subject.parentJti,
    dpopJkt: dpop?.thumbprint ?? null,
    actorId: facts.actorId,
    live: facts,
  };
}

function tokenResponse(token: string, decision: GrantedExchange, dpop: DpopProof | undefined, nowSeconds: number) {
  return {
    access_token: token,
    issued_token_type: TOKEN_TYPE.accessToken,
    token_type: dpop ? 'DPoP' : 'Bearer',
    expires_in: decision.exp - nowSeconds,
    scope: decision.scopes.join(' '),
  };
}

interface Issue {
  trail: ExchangeTrail;
  /** Marked used by the statement that records the outcome. */
  presented: PresentedJtis;
  request: ExchangeRequest;
  subject: SubjectIdentity;
  facts: LiveFacts;
  decision: GrantedExchange;
  dpop: DpopProof | undefined;
  nowSeconds: number;
}

/** Signs the token and records it with its audit event (issue.ts, the one issuing path). */
function issueToken(ports: TokenExchangePorts, settings: TokenExchangeSettings, issue: Issue): Promise<IssueOutcome> {
  const { trail, presented, request, subject, facts, decision, dpop, nowSeconds } = issue;
  const jti = randomUUID();
  return issueDelegatedToken(ports, {
    issuer: settings.issuer,
    jti,
    subjectId: subject.facts.subjectId,
    clientId: trail.clientId,
    resource: request.resource,
    decision,
    now: trail.at,
    issuedAt: nowSeconds,
    parentJti: subject.parentJti,
    ancestorJtis: facts.parent ? [facts.parent.jti, ...facts.parent.ancestorJtis] : [],
    dpopJkt: dpop?.thumbprint ?? null,
    // Provenance: the IdP token presented, or the one the chain started from.
    subjectTokenDigest: subject.externalDigest ?? facts.parent?.subjectTokenDigest ?? null,
    event: exchangeAuditEvent(trail, { granted: true, jti }),
    singleUse: presented.entries,
  });
}

/** The token endpoint's handler for the token-exchange grant. */
export function createTokenExchangeHandler(deps: TokenExchangeDeps): (ctx: KoaContextWithOIDC) => Promise<void> {
  const { ports, settings, logger, metrics } = deps;

  return async function tokenExchange(ctx: KoaContextWithOIDC): Promise<void> {
    const started = process.hrtime.bigint();
    const now = new Date();
    const nowSeconds = Math.floor(now.getTime() / 1000);
    const trail: ExchangeTrail = { at: now, requestId: ctx.state.requestId ?? null, clientId: ctx.oidc.client!.clientId, request: null, subjectId: null, decision: null };
    const presented = new PresentedJtis();
    ctx.state.exchangeHandled = true;
    const observe = (outcome: string) => {
      metrics.exchanges.inc({ outcome });
      metrics.exchangeSeconds.observe({ outcome }, Number(process.hrtime.bigint() - started) / 1e9);
    };
    try {
      const request = (trail.request = await step('request', () => parseExchangeRequest(ctx.oidc.params as Record<string, unknown>)));
      const dpop = await step('dpop', () => ports.validateDpop(ctx));
      if (dpop) presented.dpopProof(trail.clientId, dpop.jti, nowSeconds);
      const subject = await step('subject_token', () => ports.verifySubject(request.subjectToken, request.subjectTokenKind, now));
      trail.subjectId = subject.facts.subjectId;
      const actorId = await step('actor_token', () => ports.resolveActor(request.actorToken, now, presented.markActorAssertion));
      const facts = await step('live_facts', () => ports.loadLiveFacts(liveFactsQuery(request, subject, actorId, trail.clientId)));
      await step('subject_token', () => ports.authenticateParent(subject, facts.parent, now));
      const decision = (trail.decision = decideExchange(decisionInput(settings, nowSeconds, request, subject, dpop, facts)));
      await step('actor', () => limitActor(ports, decision));
      if (!decision.granted) throw refusalOf(decision);
      const issued = await step('issue', () => issueToken(ports, settings, { trail, presented, request, subject, facts, decision, dpop, nowSeconds }));
      if (issued.status !== 'recorded') throw replayedOrWithdrawn(presented, issued.status);
      ports.touchActors(decision.actorIds);
      ctx.body = tokenResponse(issued.token, decision, dpop, nowSeconds);
      observe('granted');
    } catch (failure) {
      const { stage, thrown, audited } = failure instanceof StepFailed ? failure : new StepFailed('issue', failure);
      let error = classify(thrown);
      const event = exchangeAuditEvent(trail, { granted: false, stage, error });
      const reason = (event.details as { reason: string }).reason;
      logger.debug({ request_id: trail.requestId, error: error.code, reason }, 'token exchange refused');
      if (error.status >= 500) logger.warn({ request_id: trail.requestId, error: error.code, detail: error.detail }, 'token exchange failed');
      // A rate-limit refusal is not audited: a flood of refusals must not become a flood of writes (see SECURITY.md).
      if (!(error instanceof RateLimited) && !audited && !isDatabaseUnavailable(thrown)) {
        const status = await ports.record({ token: null, event, singleUse: presented.entries }).catch((auditError: unknown) => {
          logger.error({ request_id: trail.requestId, detail: (auditError as Error).message }, 'could not write the denial audit event');
          return null;
        });
        // A replayed assertion or proof is refused as such, whatever else failed: its event says so.
        const replay = status === null ? null : presented.replayOf(status);
        if (replay) {
          error = classify(replay.error());
          logger.debug({ request_id: trail.requestId, error: error.code, reason: refusalReason(replay.stage, error) }, 'token exchange refused');
        }
      }
      observe(error instanceof RateLimited ? 'rate_limited' : error.code);
      throw providerError(ctx, error);
    }
  };
}

/** Registers the grant, and audits the exchanges oidc-provider refuses before the handler runs. */
export function registerTokenExchange(provider: Provider, deps: TokenExchangeDeps): void {
  const { ports, logger, metrics } = deps;
  provider.registerGrantType(TOKEN_EXCHANGE_GRANT, createTokenExchangeHandler(deps), [...EXCHANGE_PARAMETERS]);

  // oidc-provider refuses some exchanges itself, after client authentication but before the
  // handler runs (duplicated parameters, scope syntax): audit those too. Requests whose client
  // did not authenticate, or that a rate limit refused, write nothing (metrics count them).
  provider.use(async (ctx, next) => {
    await next();
    const oidc = (ctx as unknown as Partial<KoaContextWithOIDC>).oidc;
    if (oidc?.route !== 'token' || !ctx.state.clientAuthenticated || ctx.state.exchangeHandled || ctx.state.rateLimited) return;
    if (ctx.status < 400 || ctx.status >= 500 || (oidc.params as Record<string, unknown> | undefined)?.grant_type !== TOKEN_EXCHANGE_GRANT) return;
    const body = ctx.body as { error?: string; error_description?: string } | undefined;
    const error = body?.error ?? 'invalid_request';
    const reason = `request.${describedAs('request', body?.error_description ?? error)}`;
    metrics.exchanges.inc({ outcome: error });
    logger.debug({ request_id: ctx.state.requestId, error, reason }, 'token exchange refused');
    await ports
      .record({
        token: null,
        event: { type: EXCHANGE_DENIED, at: new Date(), requestId: ctx.state.requestId ?? null, clientId: oidc.client!.clientId, error, details: { reason } },
      })
      .catch((auditError: unknown) => logger.error({ request_id: ctx.state.requestId, detail: (auditError as Error).message }, 'could not write the denial audit event'));
  });
}
