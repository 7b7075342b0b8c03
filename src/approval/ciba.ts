/**
 * The agent's side of an approval request: OpenID CIBA (Client-Initiated Backchannel
 * Authentication) in poll mode on oidc-provider, carrying one RFC 9396 authorization detail of
 * Deputy's type `delegation`:
 *
 *   POST /backchannel  scope=openid  login_hint=<subject id>  binding_message=<short text>
 *     authorization_details=[{"type":"delegation","actor":"agent:x","resource":"https://…",
 *                             "scopes":["…"],"duration":3600,"purpose":"…"}]
 *   → { auth_req_id, expires_in, interval }
 *
 * oidc-provider authenticates the client and checks the CIBA parameters; this module supplies
 * its hooks: the subject named by login_hint must be an active subject; the detail must be
 * well-formed (validate), name an actor the client may present, a registered resource that
 * actor may target and scopes that resource defines (validateRequestContext); the request
 * becomes a pending approval request (triggerAuthenticationDevice). The token endpoint's CIBA
 * grant is Deputy's own (ciba-grant.ts). Refusals after client authentication are audited.
 *
 * Refused on purpose: ping and push delivery, login_hint_token, id_token_hint, user_code,
 * request objects, and any other authorization details type.
 */
import type { Configuration, KoaContextWithOIDC } from 'oidc-provider';
import { errors } from 'oidc-provider';
import type pg from 'pg';
import { z } from 'zod';
import { appendAuditEvents, inTransaction } from '../audit/audit-log.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import { describedAs } from '../token-exchange/refusal-reason.js';
import { createApprovalRequest, isActiveSubject, type ApprovalRequest } from './store.js';

export const DELEGATION_DETAIL_TYPE = 'delegation';
export const CIBA_GRANT = 'urn:openid:params:grant-type:ciba';
/** A binding message is shown to the person: short, one line, no control characters. */
const BINDING_MESSAGE = /^[^\p{Cc}\p{Cf}\u2028\u2029]{1,64}$/u;
const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]{1,128}$/;

export const delegationDetailSchema = z
  .object({
    type: z.literal(DELEGATION_DETAIL_TYPE),
    actor: z.string().min(1).max(256).optional(),
    resource: z.string().min(1).max(2048),
    scopes: z.array(z.string().regex(SCOPE_TOKEN)).min(1).max(32),
    duration: z.number().int().positive(),
    purpose: z.string().max(500).optional(),
  })
  .strict();
export type DelegationDetail = z.infer<typeof delegationDetailSchema>;

export interface CibaDeps {
  config: Config;
  pool: pg.Pool;
  logger: Logger;
  /** Told of every new request (the person's notification); failures are logged, never fatal. */
  onRequested?: (request: ApprovalRequest) => Promise<void>;
}

interface Checked {
  detail: DelegationDetail;
  actorId: string;
}
const checkedRequests = new WeakMap<object, Checked>();

function invalidDetails(description: string): Error {
  return new errors.InvalidAuthorizationDetails(description);
}

function detailsOf(ctx: KoaContextWithOIDC): DelegationDetail {
  const raw = ctx.oidc.params?.authorization_details;
  if (typeof raw !== 'string') {
    throw new errors.InvalidRequest(`authorization_details with one detail of type "${DELEGATION_DETAIL_TYPE}" is required`);
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    throw invalidDetails('authorization_details is not valid JSON');
  }
  if (!Array.isArray(parsed) || parsed.length !== 1) throw invalidDetails(`exactly one authorization detail of type "${DELEGATION_DETAIL_TYPE}" is accepted`);
  const detail = delegationDetailSchema.safeParse(parsed[0]);
  if (!detail.success) throw invalidDetails('the delegation authorization detail is malformed');
  return detail.data;
}

interface ContextRow {
  client_actor: string | null;
  allowed_actors: string[] | null;
  actor_status: string | null;
  actor_expired: boolean | null;
  actor_resources: string[] | null;
  resource_scopes: string[] | null;
}

export interface CibaFeatures {
  /** oidc-provider's features.ciba and features.richAuthorizationRequests (its typings do not
   * describe a CIBA-only use of authorization details, hence `never`). */
  ciba: never;
  richAuthorizationRequests: never;
  findAccount: NonNullable<Configuration['findAccount']>;
  backchannelTtl: (ctx: KoaContextWithOIDC) => number;
  /** oidc-provider's features.resourceIndicators: with authorization details it needs a resource. */
  resourceIndicators: never;
}

export function cibaFeatures(deps: CibaDeps): CibaFeatures {
  const { config, pool, logger } = deps;

  async function validateRequestContext(ctx: KoaContextWithOIDC, requestContext: unknown): Promise<void> {
    if (requestContext !== undefined) throw new errors.InvalidRequest('request_context is not supported');
    if (ctx.oidc.params?.user_code !== undefined) throw new errors.InvalidRequest('user_code is not supported');
    const detail = detailsOf(ctx);
    if (detail.duration > config.APPROVAL_MAX_DURATION) throw invalidDetails('the requested duration is longer than allowed');
    const clientId = ctx.oidc.client!.clientId;
    const { rows } = await pool.query<ContextRow>(
      `SELECT c.actor_id AS client_actor, c.allowed_actors,
              a.status AS actor_status, (a.expires_at IS NOT NULL AND a.expires_at <= now()) AS actor_expired, a.resources AS actor_resources,
              r.scopes AS resource_scopes
         FROM (SELECT 1) one
         LEFT JOIN clients c ON c.client_id = $1
         LEFT JOIN actors a ON a.id = coalesce($2::text, c.actor_id)
         LEFT JOIN resources r ON r.uri = $3`,
      [clientId, detail.actor ?? null, detail.resource],
    );
    const row = rows[0]!;
    const actorId = detail.actor ?? row.client_actor;
    if (actorId === null) throw new errors.InvalidRequest('the client is not registered as an actor; name one in the authorization detail');
    if (row.client_actor !== actorId && !(row.allowed_actors ?? []).includes(actorId)) throw new errors.InvalidRequest('the client may not act as this actor');
    if (row.actor_status !== 'active' || row.actor_expired) throw new errors.InvalidRequest('the actor is not active');
    if (row.resource_scopes === null) throw invalidDetails('the requested resource is not registered');
    if (!(row.actor_resources ?? []).includes(detail.resource)) throw invalidDetails('the actor is not allowed to target the requested resource');
    if (!detail.scopes.every((scope) => row.resource_scopes!.includes(scope))) throw invalidDetails('a requested scope is not defined by the resource');
    checkedRequests.set(ctx, { detail, actorId });
  }

  async function processLoginHint(_ctx: KoaContextWithOIDC, loginHint: string): Promise<string | undefined> {
    if (loginHint.length > 256) return undefined;
    return (await isActiveSubject(pool, loginHint)) ? loginHint : undefined;
  }

  async function triggerAuthenticationDevice(ctx: KoaContextWithOIDC, _request: unknown, account: { accountId: string }): Promise<void> {
    const checked = checkedRequests.get(ctx);
    const body = ctx.body as { auth_req_id: string; expires_in: number; interval?: number };
    if (!checked) throw new Error('the backchannel request was not checked');
    const now = new Date();
    const bindingMessage = ctx.oidc.params!.binding_message;
    const request = await createApprovalRequest(pool, {
      authReqId: body.auth_req_id,
      clientId: ctx.oidc.client!.clientId,
      subjectId: account.accountId,
      actorId: checked.actorId,
      resource: checked.detail.resource,
      scopes: checked.detail.scopes,
      durationSeconds: checked.detail.duration,
      purpose: checked.detail.purpose ?? '',
      bindingMessage: typeof bindingMessage === 'string' ? bindingMessage : null,
      requestedAt: now,
      expiresAt: new Date(now.getTime() + body.expires_in * 1000),
      requestId: ctx.state.requestId ?? null,
    });
    // CIBA §7.3: the minimum seconds between polls (the grant answers slow_down below it).
    body.interval = config.APPROVAL_POLL_INTERVAL_S;
    deps.onRequested?.(request).catch((error: unknown) => {
      logger.warn({ request_id: ctx.state.requestId, detail: (error as Error).message }, 'could not notify the approval request');
    });
  }

  return {
    ciba: {
      enabled: true,
      deliveryModes: ['poll'],
      processLoginHint,
      processLoginHintToken: async () => {
        throw new errors.InvalidRequest('login_hint_token is not supported; use login_hint');
      },
      validateBindingMessage: async (_ctx: KoaContextWithOIDC, bindingMessage?: string) => {
        if (bindingMessage !== undefined && !BINDING_MESSAGE.test(bindingMessage)) {
          throw new errors.InvalidBindingMessage('binding_message must be 1 to 64 characters on one line');
        }
      },
      validateRequestContext,
      verifyUserCode: async (_ctx: KoaContextWithOIDC, _account: unknown, userCode?: string) => {
        if (userCode !== undefined) throw new errors.InvalidRequest('user_code is not supported');
      },
      triggerAuthenticationDevice,
    } as never,
    richAuthorizationRequests: {
      enabled: true,
      types: {
        [DELEGATION_DETAIL_TYPE]: {
          validate: (_ctx: KoaContextWithOIDC, detail: unknown) => {
            if (!delegationDetailSchema.safeParse(detail).success) throw invalidDetails('the delegation authorization detail is malformed');
          },
        },
      },
      // Authorization details are accepted at the backchannel endpoint only; no token
      // oidc-provider issues itself (admin tokens) carries any.
      authorizationDetailsForAccessToken: async () => {
        throw invalidDetails('authorization_details are accepted only at the backchannel authentication endpoint');
      },
      authorizationDetailsForGrantSource: async () => undefined,
      authorizationDetailsForIntrospection: async () => undefined,
    } as never,
    // CIBA needs an account for login_hint; processLoginHint has already checked the subject.
    findAccount: async (ctx, id) =>
      ctx.oidc?.route === 'backchannel_authentication' ? { accountId: id, claims: async () => ({ sub: id }) } : undefined,
    // oidc-provider wants a resource indicator with authorization details: at the backchannel
    // endpoint it is the delegation detail's resource (checked by validateRequestContext). Any
    // other resource indicator is refused as before (oidc-provider's default).
    resourceIndicators: {
      enabled: true,
      defaultResource: async (ctx: KoaContextWithOIDC, _client: unknown, oneOf?: string) => {
        if (oneOf) return oneOf;
        if (ctx.oidc.route !== 'backchannel_authentication') return undefined;
        try {
          const details = JSON.parse(String(ctx.oidc.params?.authorization_details)) as Array<{ resource?: unknown }>;
          return typeof details[0]?.resource === 'string' ? details[0].resource : undefined;
        } catch {
          return undefined;
        }
      },
      getResourceServerInfo: async (ctx: KoaContextWithOIDC) => {
        if (ctx.oidc.route === 'backchannel_authentication') return { scope: '' };
        throw new errors.InvalidTarget();
      },
    } as never,
    backchannelTtl: (ctx) => {
      const requested = Number(ctx?.oidc?.params?.requested_expiry);
      return Number.isSafeInteger(requested) && requested > 0 ? Math.min(requested, config.APPROVAL_REQUEST_TTL) : config.APPROVAL_REQUEST_TTL;
    },
  };
}

/**
 * Audits the backchannel endpoint's refusals of an authenticated client (`approval.request_denied`).
 * Client-authentication failures write nothing, as on /token.
 */
export function auditBackchannelRefusals(pool: pg.Pool, logger: Logger) {
  return async function backchannelRefusals(ctx: KoaContextWithOIDC, next: () => Promise<void>): Promise<void> {
    await next();
    const oidc = (ctx as Partial<KoaContextWithOIDC>).oidc;
    if (oidc?.route !== 'backchannel_authentication' || ctx.status < 400 || ctx.status >= 500) return;
    const body = ctx.body as { error?: string; error_description?: string } | undefined;
    // A failed client authentication or a rate-limited request writes nothing.
    if (!oidc.client || !body?.error || body.error === 'invalid_client' || ctx.state.rateLimited) return;
    await inTransaction(pool, (db) =>
      appendAuditEvents(db, [
        {
          type: 'approval.request_denied',
          at: new Date(),
          requestId: ctx.state.requestId ?? null,
          clientId: oidc.client!.clientId,
          error: body.error,
          details: { reason: `request.${describedAs('request', body.error_description ?? body.error ?? 'refused')}` },
        },
      ]),
    ).catch((error: unknown) => logger.error({ request_id: ctx.state.requestId, detail: (error as Error).message }, 'could not write the denial audit event'));
  };
}
