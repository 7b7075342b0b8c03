/**
 * The CIBA grant (`urn:openid:params:grant-type:ciba`, poll mode) on Deputy's token endpoint,
 * replacing oidc-provider's own: the agent polls with its auth_req_id and, once the person has
 * approved, receives a delegated token exactly like a token exchange's: `sub` the person, `act`
 * the actor, the live intersection of scopes, RFC 9068, recorded with its audit event. It goes
 * through the exchange's own decision (decide.ts, under the approval's grant only) and its one
 * issuing path (exchange/issue.ts).
 *
 * Answers, in order: unknown auth_req_id or another client's → invalid_grant; a poll sooner than
 * APPROVAL_POLL_INTERVAL_S after the previous one → slow_down; pending → authorization_pending;
 * expired → expired_token; denied or cancelled → access_denied; already used → invalid_grant;
 * approved → the token, once. Pending and slow_down are not audited (a poll is not a step);
 * every other outcome writes its event.
 */
import { randomUUID } from 'node:crypto';
import type Provider from 'oidc-provider';
import { errors as providerErrors, type KoaContextWithOIDC } from 'oidc-provider';
import type pg from 'pg';
import type { AuditEventInput } from '../audit/audit-log.js';
import type { Config } from '../config.js';
import { isDatabaseUnavailable } from '../db/pool.js';
import { OAuthError, invalidRequest } from '../errors.js';
import { decideExchange } from '../token-exchange/decide.js';
import type { TokenExchangePorts } from '../token-exchange/ports.js';
import { issueDelegatedToken } from '../token-exchange/issue.js';
import { OAUTH_SURFACE, providerError, toDeputyError } from '../http/error-response.js';
import type { Logger } from '../log.js';
import { CIBA_GRANT, DELEGATION_DETAIL_TYPE } from './ciba.js';
import { claimTokenIssue, findApprovalByAuthReqId, notePoll, releaseTokenIssue, type ApprovalRequest } from './store.js';

export interface CibaGrantDeps {
  config: Config;
  pool: pg.Pool;
  /** The token exchange's own ports: DPoP, live facts, signing and recording. */
  ports: TokenExchangePorts;
  logger: Logger;
}

const MAX_AUTH_REQ_ID_LENGTH = 512;

export function registerCibaGrant(provider: Provider, deps: CibaGrantDeps): void {
  const { config, pool, ports, logger } = deps;

  async function audit(event: AuditEventInput): Promise<void> {
    await ports.record({ token: null, event }).catch((error: unknown) => {
      logger.error({ request_id: event.requestId, detail: (error as Error).message }, 'could not write the CIBA audit event');
    });
  }

  function refusalEvent(ctx: KoaContextWithOIDC, approval: ApprovalRequest, error: string, reason: string): AuditEventInput {
    return {
      type: 'token.exchange_denied',
      at: new Date(),
      requestId: ctx.state.requestId ?? null,
      clientId: approval.clientId,
      subjectId: approval.subjectId,
      actorIds: [approval.actorId],
      resourceUri: approval.resource,
      scopeRequested: approval.approvedScopes.length > 0 ? approval.approvedScopes : approval.scopes,
      error,
      details: { reason, grant_type: CIBA_GRANT, approval_request_id: approval.id },
    };
  }

  async function issue(ctx: KoaContextWithOIDC, approval: ApprovalRequest): Promise<void> {
    const now = new Date();
    const nowSeconds = Math.floor(now.getTime() / 1000);
    const clientId = ctx.oidc.client!.clientId;
    const jti = randomUUID();
    if (!(await claimTokenIssue(pool, approval.id, jti))) throw new providerErrors.InvalidGrant('the auth_req_id was already used');
    let issued = false;
    let reason = 'issue.refused';
    try {
      reason = 'dpop.invalid';
      const dpop = await ports.validateDpop(ctx);
      reason = 'live_facts.refused';
      const facts = await ports.loadLiveFacts({ subjectId: approval.subjectId, actorId: approval.actorId, resource: approval.resource, clientId, parentJti: null, subjectTokenDigest: null });
      // The exchange's own decision: the client may present the actor, then every rule of decide.ts.
      const decision = decideExchange({
        now: nowSeconds,
        limits: { tokenTtl: config.TOKEN_TTL, maxDelegationDepth: config.MAX_DELEGATION_DEPTH },
        requestedResource: approval.resource,
        requestedScopes: approval.approvedScopes,
        // The person's approval stands where a subject token would: issued when it was decided,
        // so a kill switch on the subject after the approval is final for it too.
        subjectToken: {
          subjectId: approval.subjectId,
          exp: nowSeconds + config.TOKEN_TTL,
          scopes: null,
          chain: [],
          chainGrantIds: [],
          audience: null,
          mayActSub: approval.actorId,
          issuedAt: approval.decidedAt!.getTime() / 1000,
          externalIssuedAt: null,
          boundJkt: null,
        },
        parentJti: null,
        dpopJkt: dpop?.thumbprint ?? null,
        actorId: facts.actorId,
        // Under the approval's own grant only, never another standing grant.
        live: { ...facts, grants: facts.grants.filter((grant) => grant.id === approval.grantId) },
      });
      if (!decision.granted) {
        reason = `${decision.stage}.${decision.reason}`;
        throw new OAuthError(decision.error, decision.description, decision.reason);
      }
      reason = 'issue.withdrawn';
      const event: AuditEventInput = {
        type: 'token.exchanged',
        at: now,
        requestId: ctx.state.requestId ?? null,
        clientId,
        subjectId: approval.subjectId,
        actorIds: decision.actorIds,
        resourceUri: approval.resource,
        scopeRequested: approval.approvedScopes,
        scopeGranted: decision.scopes,
        scopeDenied: decision.dropped,
        jti,
        grantId: decision.grantId,
        details: { grant_type: CIBA_GRANT, approval_request_id: approval.id },
      };
      const outcome = await issueDelegatedToken(ports, {
        issuer: config.ISSUER,
        jti,
        subjectId: approval.subjectId,
        clientId,
        resource: approval.resource,
        decision,
        now,
        issuedAt: nowSeconds,
        parentJti: null,
        ancestorJtis: [],
        dpopJkt: dpop?.thumbprint ?? null,
        event,
      });
      if (outcome.status !== 'recorded') throw invalidRequest('the delegation was withdrawn while the token was being issued', outcome.status);
      issued = true;
      ctx.body = {
        access_token: outcome.token,
        token_type: dpop ? 'DPoP' : 'Bearer',
        expires_in: decision.exp - nowSeconds,
        scope: decision.scopes.join(' '),
        authorization_details: [
          {
            type: DELEGATION_DETAIL_TYPE,
            actor: approval.actorId,
            resource: approval.resource,
            scopes: decision.scopes,
            duration: approval.approvedDurationSeconds,
            ...(approval.purpose ? { purpose: approval.purpose } : {}),
          },
        ],
      };
    } catch (thrown) {
      const error = toDeputyError(thrown, OAUTH_SURFACE);
      // 'revoked' from recording already wrote its denial event.
      if (!(thrown instanceof OAuthError && thrown.detail === 'revoked') && !isDatabaseUnavailable(thrown)) {
        await audit(refusalEvent(ctx, approval, error.code, reason));
      }
      throw providerError(ctx, error);
    } finally {
      if (!issued) await releaseTokenIssue(pool, approval.id, jti).catch(() => {});
    }
  }

  async function handler(ctx: KoaContextWithOIDC): Promise<void> {
    const authReqId = ctx.oidc.params!.auth_req_id;
    if (typeof authReqId !== 'string' || authReqId.length === 0 || authReqId.length > MAX_AUTH_REQ_ID_LENGTH) {
      throw new providerErrors.InvalidRequest('auth_req_id is required');
    }
    const approval = await findApprovalByAuthReqId(pool, authReqId);
    // Another client's auth_req_id is as unknown as a made-up one.
    if (!approval || approval.clientId !== ctx.oidc.client!.clientId) throw new providerErrors.InvalidGrant('the auth_req_id is invalid');
    if ((await notePoll(pool, approval.id, new Date(), config.APPROVAL_POLL_INTERVAL_S)) === 'slow_down') throw new providerErrors.SlowDown();
    switch (approval.status) {
      case 'pending':
        throw new providerErrors.AuthorizationPending();
      case 'expired':
        await audit(refusalEvent(ctx, approval, 'expired_token', 'approval.expired'));
        throw new providerErrors.ExpiredToken('the approval request has expired');
      case 'denied':
      case 'cancelled':
        await audit(refusalEvent(ctx, approval, 'access_denied', `approval.${approval.status}`));
        throw new providerErrors.AccessDenied(approval.status === 'denied' ? 'the person denied the request' : 'the request was cancelled');
      case 'approved':
        if (approval.tokenIssued) throw new providerErrors.InvalidGrant('the auth_req_id was already used');
        return issue(ctx, approval);
    }
  }

  provider.registerGrantType(CIBA_GRANT, handler, ['auth_req_id']);
}
