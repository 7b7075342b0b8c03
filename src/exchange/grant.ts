/**
 * The RFC 8693 token-exchange grant, registered on oidc-provider. The handler only
 * orchestrates, in order: parse → (client already authenticated) → subject → actor → live
 * facts → decide (pure) → mint → record → respond. Every outcome writes one audit event.
 */
import { randomUUID } from 'node:crypto';
import type Provider from 'oidc-provider';
import { errors as providerErrors, type KoaContextWithOIDC } from 'oidc-provider';
import type pg from 'pg';
import type { ConfigCache } from '../db/change-feed.js';
import type { AuditEventInput } from '../audit/audit-log.js';
import type { Config } from '../config.js';
import { isDatabaseUnavailable } from '../db/pool.js';
import { createSingleUseJtis } from '../db/single-use-jtis.js';
import { OAuthError, invalidRequest, temporarilyUnavailable, type OAuthErrorCode } from '../errors.js';
import type { Metrics } from '../http/metrics.js';
import type { KeyRing } from '../keys/key-ring.js';
import type { Logger } from '../log.js';
import { validateDpop } from '../oauth/oidc-provider-internals.js';
import { toProviderError } from '../oauth/provider-errors.js';
import { assertClientMayPresent, resolveActor } from './actor-identity.js';
import { createActorUsageTracker } from './actor-usage.js';
import { decide } from './decide.js';
import type { RefusalReason, SubjectTokenFacts } from './decision-types.js';
import type { IssuerKeys } from './issuer-keys.js';
import { loadLiveFacts, type LiveFacts } from './live-facts.js';
import { createIssuer } from './issue.js';
import { RateLimited, type RateLimits } from './rate-limit.js';
import { createRecorder } from './record.js';
import { describedAs, refusalReason, type ExchangeStage } from './refusal-reason.js';
import { EXCHANGE_PARAMETERS, TOKEN_EXCHANGE_GRANT, TOKEN_TYPE, parseExchangeRequest, type ExchangeRequest } from './request.js';
import { verifySubjectToken } from './subject-identity.js';
import { findTrustedIssuer } from './trusted-issuers.js';

export interface TokenExchangeDeps {
  config: Config;
  pool: pg.Pool;
  configCache: ConfigCache;
  keyRing: KeyRing;
  issuerKeys: IssuerKeys;
  logger: Logger;
  metrics: Metrics;
  /** The per-client limit is spent right after client authentication (src/oauth/client-authentication.ts). */
  rateLimits: RateLimits;
}

/** The subject-token facts with a Deputy parent token's chain taken from its live record. */
function chainFacts(subject: SubjectTokenFacts, parentJti: string | null, facts: LiveFacts): SubjectTokenFacts {
  if (parentJti === null) return subject;
  const parent = facts.parent;
  if (!parent || parent.revoked || parent.subjectId !== subject.subjectId) {
    throw invalidRequest('subject token is not active', parent ? 'parent token revoked or mismatched' : 'no issued-token record');
  }
  return {
    ...subject,
    scopes: parent.scope.split(' ').filter(Boolean),
    chain: parent.actorIds,
    chainGrantIds: parent.grantIds,
    audience: parent.resource,
    exp: Math.min(subject.exp, parent.expiresAt),
    issuedAt: parent.issuedAt,
    boundJkt: parent.dpopJkt,
  };
}

/** PostgreSQL's refusals of a value (NUL bytes, invalid text, out of range): bad input, not a fault. */
const REJECTED_VALUE_CODES = new Set(['22021', '22P05', '22P02', '22001', '22003', '22007', '22008', '54000']);

/** A refusal's detail goes to the audit event only when it is a machine-readable reason (snake_case), never free text. */
function classify(error: unknown): OAuthError {
  if (error instanceof OAuthError) return error;
  if (isDatabaseUnavailable(error)) return temporarilyUnavailable('database unavailable');
  if (error instanceof providerErrors.OIDCProviderError && error.expose) {
    // e.g. invalid_dpop_proof, use_dpop_nonce from oidc-provider's DPoP validation
    const exposed = error as unknown as { error: OAuthErrorCode; error_description?: string; status: number };
    return new OAuthError(exposed.error, exposed.error_description ?? 'the request is invalid', undefined, exposed.status);
  }
  if (REJECTED_VALUE_CODES.has((error as { code?: string }).code ?? '')) {
    return invalidRequest('the request contains a value that is not accepted', (error as Error).message);
  }
  return new OAuthError('server_error', 'the request could not be completed', error instanceof Error ? error.message : String(error));
}

export function registerTokenExchange(provider: Provider, deps: TokenExchangeDeps): void {
  const { config, pool, keyRing, logger, metrics, rateLimits } = deps;
  const trusted = {
    findIssuer: (iss: string, kind: 'user' | 'workload') => findTrustedIssuer(pool, deps.configCache, iss, kind),
    keysFor: deps.issuerKeys.keysFor,
    clockSkewSeconds: config.CLOCK_SKEW,
    ownIssuer: config.ISSUER,
  };
  const subjectDeps = { ...trusted, keyRing, issuer: config.ISSUER };
  const actorDeps = {
    ...trusted,
    pool,
    configCache: deps.configCache,
    acceptedAudiences: [config.ISSUER, `${config.ISSUER}/token`],
    markJtiUsed: createSingleUseJtis(pool),
  };
  const touchActors = createActorUsageTracker(pool, logger);
  const recorder = createRecorder(pool);
  const issueDelegatedToken = createIssuer(keyRing, recorder);

  async function handler(ctx: KoaContextWithOIDC): Promise<void> {
    const started = process.hrtime.bigint();
    const now = new Date();
    const nowSeconds = Math.floor(now.getTime() / 1000);
    const clientId = ctx.oidc.client!.clientId;
    const event: AuditEventInput = { type: 'token.exchange_denied', at: now, requestId: ctx.state.requestId ?? null, clientId };
    let request: ExchangeRequest | null = null;
    let audited = false;
    let stage: ExchangeStage = 'request';
    let refusal: RefusalReason | undefined;
    ctx.state.exchangeHandled = true;
    try {
      request = parseExchangeRequest(ctx.oidc.params as Record<string, unknown>);
      event.resourceUri = request.resource;
      event.scopeRequested = request.scopes ?? [];
      stage = 'dpop';
      const dpop = await validateDpop(provider, ctx);

      stage = 'subject_token';
      const subject = await verifySubjectToken(request.subjectToken, request.subjectTokenKind, subjectDeps, now);
      event.subjectId = subject.facts.subjectId;
      stage = 'actor_token';
      const claimedActorId = await resolveActor(request.actorToken, actorDeps, now);

      stage = 'live_facts';
      const facts = await loadLiveFacts(pool, {
        subjectId: subject.facts.subjectId,
        actorId: claimedActorId,
        resource: request.resource,
        clientId,
        parentJti: subject.parentJti,
      });
      const actorId = facts.actorId;
      stage = 'actor';
      assertClientMayPresent(facts.client, actorId);
      await rateLimits.actor(actorId);
      event.actorIds = [...(facts.parent?.actorIds ?? []), actorId];
      stage = 'live_facts';
      const subjectToken = chainFacts(subject.facts, subject.parentJti, facts);

      const decision = decide({
        now: nowSeconds,
        limits: { tokenTtl: config.TOKEN_TTL, maxDelegationDepth: config.MAX_DELEGATION_DEPTH },
        requestedResource: request.resource,
        requestedScopes: request.scopes,
        subjectToken,
        dpopJkt: dpop?.thumbprint ?? null,
        actorId,
        live: facts,
      });
      event.scopeDenied = decision.dropped;
      stage = 'decision';
      if (!decision.granted) {
        refusal = decision.reason;
        throw new OAuthError(decision.error, decision.description, decision.reason);
      }
      stage = 'issue';

      const jti = randomUUID();
      Object.assign(event, {
        type: 'token.exchanged',
        actorIds: decision.actorIds,
        scopeRequested: request.scopes ?? decision.scopes.concat(decision.dropped.map((d) => d.scope)),
        scopeGranted: decision.scopes,
        jti,
        grantId: decision.grantId,
      });
      const issued = await issueDelegatedToken({
        issuer: config.ISSUER,
        jti,
        subjectId: subjectToken.subjectId,
        clientId,
        resource: request.resource,
        decision,
        now,
        issuedAt: nowSeconds,
        parentJti: subject.parentJti,
        ancestorJtis: facts.parent ? [facts.parent.jti, ...facts.parent.ancestorJtis] : [],
        dpopJkt: dpop?.thumbprint ?? null,
        event,
      });
      if (issued.status !== 'recorded') {
        audited = true;
        throw invalidRequest('the delegation was withdrawn while the token was being issued', issued.status);
      }
      const accessToken = issued.token;
      touchActors(decision.actorIds);
      ctx.body = {
        access_token: accessToken,
        issued_token_type: TOKEN_TYPE.accessToken,
        token_type: dpop ? 'DPoP' : 'Bearer',
        expires_in: decision.exp - nowSeconds,
        scope: decision.scopes.join(' '),
      };
      observe('granted');
    } catch (thrown) {
      const error = classify(thrown);
      event.type = 'token.exchange_denied';
      event.error = error.code;
      event.jti = null;
      event.scopeGranted = [];
      event.details = { reason: refusalReason(stage, error, refusal) };
      logger.debug({ request_id: event.requestId, error: error.code, reason: event.details.reason }, 'token exchange refused');
      if (error.status >= 500) logger.warn({ request_id: event.requestId, error: error.code, detail: error.detail }, 'token exchange failed');
      if (error instanceof RateLimited) {
        // Not audited: a flood of refusals must not become a flood of writes (see SECURITY.md).
        ctx.set('Retry-After', String(error.retryAfterSeconds));
      } else if (!audited && !isDatabaseUnavailable(thrown)) {
        await recorder.record({ token: null, event }).catch((auditError: unknown) => {
          logger.error({ request_id: event.requestId, detail: (auditError as Error).message }, 'could not write the denial audit event');
        });
      }
      observe(error instanceof RateLimited ? 'rate_limited' : error.code);
      throw toProviderError(error);
    }

    function observe(outcome: string) {
      metrics.exchanges.inc({ outcome });
      metrics.exchangeSeconds.observe({ outcome }, Number(process.hrtime.bigint() - started) / 1e9);
    }
  }

  provider.registerGrantType(TOKEN_EXCHANGE_GRANT, handler, [...EXCHANGE_PARAMETERS]);

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
    await recorder
      .record({
        token: null,
        event: { type: 'token.exchange_denied', at: new Date(), requestId: ctx.state.requestId ?? null, clientId: oidc.client!.clientId, error, details: { reason } },
      })
      .catch((auditError: unknown) => logger.error({ request_id: ctx.state.requestId, detail: (auditError as Error).message }, 'could not write the denial audit event'));
  });
}
