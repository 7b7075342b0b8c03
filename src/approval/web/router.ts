/**
 * The person's approval pages at /approve (issue 15, item e): sign in at the configured OpenID
 * Connect IdP, see one's pending requests, approve (possibly fewer scopes, shorter) or deny, list
 * and revoke one's own delegations. Server-rendered, no script (the console's CSP), a server-side
 * session behind an HttpOnly SameSite=Lax cookie (Lax: the IdP's redirect back is a cross-site
 * navigation), the session's CSRF token and a same-origin check on every POST. Another person's
 * request or grant is a 404: the store reads only the signed-in subject's rows.
 */
import { timingSafeEqual } from 'node:crypto';
import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type pg from 'pg';
import { appendAuditEvents, inTransaction } from '../../audit/audit-log.js';
import type { Config } from '../../config.js';
import { CONTENT_SECURITY_POLICY, fieldOf, fieldsOf, formOf, redirect, render } from '../../console/router.js';
import type { Html } from '../../console/html.js';
import type { Logger } from '../../log.js';
import { ApprovalError, approveApprovalRequest, denyApprovalRequest, getApprovalRequest, isActiveSubject, listApprovalRequests } from '../store.js';
import type { TrustedIssuerRecord } from '../../trust/trusted-issuer-token.js';
import { createLogin, signedInSubjectOf, type LoginSettings } from './login.js';
import { APPROVE_BASE, approvalCallbackUrl, approvalPage, delegationsBody, notice, pendingListBody, requestBody, type DelegationRow, type PageViewer } from './pages.js';
import { approvalCsrfOf, createApprovalSessions, redeemApprovalLink } from './web-store.js';

export interface ApprovalWebDeps {
  config: Config;
  pool: pg.Pool;
  logger: Logger;
  /** The person's sign-in (APPROVAL_LOGIN_*, or the quickstart's demo IdP); null: not configured. */
  login: LoginSettings | null;
  /** The trusted issuer of people (kind `user`) with this identifier, if any. */
  findPeopleIssuer(iss: string): Promise<TrustedIssuerRecord | null>;
}

/** A path under /approve to come back to after sign-in; anything else goes to /approve. */
export function safeReturnPath(value: string): string {
  return /^\/approve(\/[A-Za-z0-9/_-]*)?$/.test(value) ? value : APPROVE_BASE;
}

const DECISION_MESSAGES: Record<string, string> = {
  not_found: 'There is no such request.',
  not_pending: 'This request was already answered, withdrawn or has expired.',
  scope_not_requested: 'Only scopes the agent asked for can be granted.',
  duration_not_allowed: 'The duration must be between one second and what the agent asked for.',
  nothing_to_grant: 'Choose at least one scope you are entitled to, or deny the request.',
};

/** How long a sign-in at the IdP may take. */
const LOGIN_TTL_SECONDS = 600;

const sameText = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

interface Signed {
  viewer: PageViewer;
  sessionId: string;
}

export function createApprovalRouter(deps: ApprovalWebDeps): Router {
  const { config, pool, logger } = deps;
  const secure = new URL(config.ISSUER).protocol === 'https:';
  const cookieName = secure ? '__Host-deputy-approve' : 'deputy-approve';
  const cookiePath = secure ? '/' : APPROVE_BASE;
  const issuerOrigin = new URL(config.ISSUER).origin;
  const sessions = createApprovalSessions(pool, config.CONSOLE_SESSION_TTL);
  const login = deps.login ? createLogin(deps.login, approvalCallbackUrl(config.ISSUER)) : null;
  const parseForm = bodyParser({ enableTypes: ['form'], formLimit: '16kb', encoding: 'utf-8' });

  const setCookie = (ctx: Context, value: string, maxAge: number) =>
    ctx.append('Set-Cookie', `${cookieName}=${value}; Path=${cookiePath}; Max-Age=${maxAge}; HttpOnly; SameSite=Lax${secure ? '; Secure' : ''}`);

  const show = (ctx: Context, status: number, title: string, viewer: PageViewer | null, body: Html) => render(ctx, status, approvalPage(title, viewer, body));

  function sameOrigin(ctx: Context): boolean {
    const origin = ctx.get('origin');
    if (origin && origin !== issuerOrigin && origin !== `${ctx.protocol}://${ctx.host}`) return false;
    const site = ctx.get('sec-fetch-site');
    return !site || site === 'same-origin' || site === 'none';
  }

  async function signedIn(ctx: Context): Promise<Signed | null> {
    const sessionId = ctx.cookies.get(cookieName) ?? '';
    const session = sessionId ? await sessions.find(sessionId) : null;
    if (!session?.subjectId) return null;
    return { viewer: { subjectId: session.subjectId, csrf: approvalCsrfOf(sessionId) }, sessionId };
  }

  /** Signed in (else to sign-in, coming back here); on POST also same origin and the CSRF token. */
  async function requireSignIn(ctx: Context, next: Next): Promise<void> {
    const signed = await signedIn(ctx);
    const changing = ctx.method !== 'GET' && ctx.method !== 'HEAD';
    if (!signed) {
      if (changing) return show(ctx, 403, 'Refused', null, notice('You are not signed in: nothing was changed.'));
      return redirect(ctx, `${APPROVE_BASE}/sign-in?return_to=${encodeURIComponent(ctx.path)}`);
    }
    if (changing) {
      if (!sameOrigin(ctx) || !ctx.is('application/x-www-form-urlencoded')) return show(ctx, 403, 'Refused', signed.viewer, notice('This request did not come from an approval page: nothing was changed.'));
      await parseForm(ctx, async () => {});
      if (!sameText(fieldOf(formOf(ctx), '_csrf'), signed.viewer.csrf)) return show(ctx, 403, 'Refused', signed.viewer, notice('This form is out of date or did not come from an approval page: nothing was changed.'));
    }
    ctx.state.approver = signed;
    await next();
  }
  const signedOf = (ctx: Context) => ctx.state.approver as Signed;

  const router = new Router({ prefix: APPROVE_BASE });
  router.use(async (ctx, next) => {
    ctx.set('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('Referrer-Policy', 'same-origin');
    ctx.set('Cache-Control', 'no-store');
    try {
      // Not configured: every page says so (a link stays unused, for when sign-in is).
      if (!login) {
        return show(ctx, 503, 'Approval sign-in is not configured', null, notice('Approval sign-in is not configured: ask the operator to set APPROVAL_LOGIN_ISSUER, APPROVAL_LOGIN_CLIENT_ID and APPROVAL_LOGIN_CLIENT_SECRET.'));
      }
      await next();
    } catch (error) {
      const status = (error as { status?: unknown }).status;
      if (status === 400 || status === 413 || status === 415) return show(ctx, 400, 'Error', null, notice('The form could not be read.'));
      logger.error({ request_id: ctx.state.requestId, detail: error instanceof Error ? error.message : String(error) }, 'approval page failed');
      show(ctx, 500, 'Error', null, notice('Something went wrong; the details are in the log.'));
    }
  });

  router.get('/sign-in', async (ctx) => {
    let started: Awaited<ReturnType<NonNullable<typeof login>['start']>>;
    try {
      started = await login!.start(safeReturnPath(typeof ctx.query.return_to === 'string' ? ctx.query.return_to : ''));
    } catch (error) {
      // The IdP's discovery failed (unreachable, or not an OpenID Provider): nobody can sign in.
      logger.warn({ request_id: ctx.state.requestId, detail: (error as Error).message }, 'approval sign-in unavailable: the identity provider could not be reached');
      ctx.set('Retry-After', '30');
      return show(ctx, 503, 'Sign-in unavailable', null, notice('The sign-in service cannot be reached right now. Try again in a moment.'));
    }
    setCookie(ctx, await sessions.create(started.login, null, LOGIN_TTL_SECONDS), LOGIN_TTL_SECONDS);
    redirect(ctx, started.url.href);
  });

  router.get('/callback', async (ctx) => {
    const sessionId = ctx.cookies.get(cookieName) ?? '';
    const session = sessionId ? await sessions.find(sessionId) : null;
    if (!session?.login) return show(ctx, 400, 'Sign-in failed', null, notice('This sign-in was not started here or has expired. Open the link again.'));
    await sessions.destroy(sessionId);
    let subjectId: string | null = null;
    try {
      const claims = await login!.finish(new URL(`${config.ISSUER}${ctx.url}`), session.login);
      const signedIn = claims ? signedInSubjectOf(await deps.findPeopleIssuer(String(claims.iss)), claims) : { refused: 'no_subject' as const };
      // issuer_not_trusted: APPROVAL_LOGIN_ISSUER has no trusted-issuer row of kind user (the operator's fix).
      if ('refused' in signedIn) logger.warn({ request_id: ctx.state.requestId, detail: signedIn.refused, issuer: claims?.iss }, 'approval sign-in refused');
      else if (!(await isActiveSubject(pool, signedIn.subjectId))) logger.warn({ request_id: ctx.state.requestId, detail: 'subject_not_active' }, 'approval sign-in refused');
      else subjectId = signedIn.subjectId;
    } catch (error) {
      logger.warn({ request_id: ctx.state.requestId, detail: (error as Error).message }, 'approval sign-in refused');
    }
    if (!subjectId) {
      setCookie(ctx, '', 0);
      return show(ctx, 401, 'Sign-in failed', null, notice('The sign-in did not succeed. Open the link again.'));
    }
    setCookie(ctx, await sessions.create(null, subjectId), config.CONSOLE_SESSION_TTL);
    redirect(ctx, safeReturnPath(session.login.returnTo));
  });

  // The notification's link: used once, then the request after sign-in.
  router.get('/link/:token', async (ctx) => {
    const redeemed = await redeemApprovalLink(pool, ctx.params.token ?? '', new Date());
    if (!redeemed.ok) {
      const why = redeemed.reason === 'used' ? 'This link was already used.' : redeemed.reason === 'expired' ? 'This link has expired.' : 'This link is not valid.';
      return show(ctx, 410, 'Link not valid', null, notice(`${why} Sign in at ${config.ISSUER}${APPROVE_BASE} to see your pending requests.`));
    }
    const target = `${APPROVE_BASE}/requests/${redeemed.approvalRequestId}`;
    if (await signedIn(ctx)) return redirect(ctx, target);
    redirect(ctx, `${APPROVE_BASE}/sign-in?return_to=${encodeURIComponent(target)}`);
  });

  router.post('/sign-out', requireSignIn, async (ctx) => {
    await sessions.destroy(signedOf(ctx).sessionId);
    setCookie(ctx, '', 0);
    show(ctx, 200, 'Signed out', null, notice('You are signed out.', 'ok'));
  });

  router.get('/', requireSignIn, async (ctx) => {
    const { viewer } = signedOf(ctx);
    const pending = await listApprovalRequests(pool, { subjectId: viewer.subjectId, status: 'pending', limit: 100 });
    show(ctx, 200, 'Pending requests', viewer, pendingListBody(pending));
  });

  async function entitledScopes(subjectId: string, resource: string): Promise<Set<string>> {
    const { rows } = await pool.query<{ scope: string }>(
      'SELECT DISTINCT scope FROM entitlements WHERE subject_id = $1 AND resource_uri = $2 AND (expires_at IS NULL OR expires_at > now())',
      [subjectId, resource],
    );
    return new Set(rows.map((r) => r.scope));
  }

  router.get('/requests/:id', requireSignIn, async (ctx) => {
    const { viewer } = signedOf(ctx);
    const request = await getApprovalRequest(pool, ctx.params.id ?? '', viewer.subjectId);
    if (!request) return show(ctx, 404, 'Not found', viewer, notice('There is no such request.'));
    show(ctx, 200, 'Approval request', viewer, requestBody(request, await entitledScopes(viewer.subjectId, request.resource), viewer));
  });

  async function decide(ctx: Context, approve: boolean): Promise<void> {
    const { viewer } = signedOf(ctx);
    const id = ctx.params.id ?? '';
    const form = formOf(ctx);
    try {
      const base = { id, subjectId: viewer.subjectId, now: new Date(), requestId: (ctx.state.requestId as string | undefined) ?? null };
      if (approve) {
        const duration = Number(fieldOf(form, 'duration'));
        await approveApprovalRequest(pool, { ...base, scopes: fieldsOf(form, 'scope'), durationSeconds: Number.isSafeInteger(duration) ? duration : 0, justInTimeTtl: config.APPROVAL_GRANT_TTL });
      } else {
        await denyApprovalRequest(pool, base);
      }
    } catch (error) {
      if (!(error instanceof ApprovalError)) throw error;
      return show(ctx, error.code === 'not_found' ? 404 : 400, error.code === 'not_found' ? 'Not found' : 'Not done', viewer, notice(DECISION_MESSAGES[error.code] ?? 'Not done.'));
    }
    show(ctx, 200, approve ? 'Approved' : 'Denied', viewer, notice(approve ? 'You approved the request; the agent can now get its token.' : 'You denied the request.', 'ok'));
  }
  router.post('/requests/:id/approve', requireSignIn, (ctx) => decide(ctx, true));
  router.post('/requests/:id/deny', requireSignIn, (ctx) => decide(ctx, false));

  router.get('/delegations', requireSignIn, async (ctx) => {
    const { viewer } = signedOf(ctx);
    const { rows } = await pool.query<{ id: string; actor_id: string; resource_uri: string; scopes: string[]; expires_at: Date | null }>(
      `SELECT id, actor_id, resource_uri, scopes, expires_at FROM delegation_grants
        WHERE subject_id = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()) ORDER BY created_at DESC LIMIT 200`,
      [viewer.subjectId],
    );
    const grants: DelegationRow[] = rows.map((r) => ({ id: r.id, actorId: r.actor_id, resource: r.resource_uri, scopes: r.scopes, expiresAt: r.expires_at }));
    show(ctx, 200, 'My delegations', viewer, delegationsBody(grants, viewer));
  });

  router.post('/delegations/:id/revoke', requireSignIn, async (ctx) => {
    const { viewer } = signedOf(ctx);
    const id = ctx.params.id ?? '';
    const revoked = /^[0-9a-f-]{36}$/i.test(id)
      ? await inTransaction(pool, async (db) => {
          const { rows } = await db.query<{ id: string; actor_id: string; resource_uri: string }>(
            `UPDATE delegation_grants SET revoked_at = now(), revoked_by = $2 WHERE id = $1 AND subject_id = $3 AND revoked_at IS NULL RETURNING id, actor_id, resource_uri`,
            [id, `subject:${viewer.subjectId}`, viewer.subjectId],
          );
          const grant = rows[0];
          if (!grant) return false;
          await appendAuditEvents(db, [
            {
              type: 'grant.revoked',
              at: new Date(),
              requestId: (ctx.state.requestId as string | undefined) ?? null,
              subjectId: viewer.subjectId,
              actorIds: [grant.actor_id],
              resourceUri: grant.resource_uri,
              grantId: grant.id,
              details: { reason: 'revoked by the subject', revoked_by: viewer.subjectId },
            },
          ]);
          return true;
        })
      : false;
    if (!revoked) return show(ctx, 404, 'Not found', viewer, notice('There is no such active delegation of yours.'));
    show(ctx, 200, 'Revoked', viewer, notice('The delegation is revoked; tokens minted under it are inactive now.', 'ok'));
  });

  return router;
}
