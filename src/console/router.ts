/**
 * The web console at /console (issue 12): server-rendered pages over the admin API.
 *
 * - Sign-in checks the credential with the admin API's own rules (src/admin/auth.ts `signIn`)
 *   and opens a server-side session; the browser holds only the session cookie (HttpOnly,
 *   SameSite=Strict, Secure when ISSUER is https), never the credential.
 * - Every request re-validates the session's principal (`credentialStamp`): a client that lost
 *   deputy:admin, had its secret rotated or was deleted is signed out at once.
 * - Every state change is a POST carrying the session's CSRF token, from this origin; the change
 *   itself is an admin API call made in-process as the session's admin (src/console/dispatch.ts),
 *   so its validation and audit event are the API's.
 * - Every response carries a strict Content-Security-Policy: only Deputy's own stylesheet, no
 *   script, no framing, forms only to Deputy.
 */
import { timingSafeEqual } from 'node:crypto';
import { bodyParser } from '@koa/bodyparser';
import Router from '@koa/router';
import type { Context, Next } from 'koa';
import type pg from 'pg';
import type { AdminAuthenticator } from '../admin/auth.js';
import { appendAuditEvents, inTransaction } from '../audit/audit-log.js';
import type { Config } from '../config.js';
import { isDatabaseUnavailable } from '../db/pool.js';
import type { KeyRing } from '../keys/key-ring.js';
import type { Logger } from '../log.js';
import { CONSOLE_CSS, CONSOLE_CSS_ETAG } from './assets.js';
import type { AdminCall, AdminDispatch, AdminReply } from './dispatch.js';
import { html, type Html } from './html.js';
import { BASE, page, type Viewer } from './layout.js';
import { actorPages } from './pages/actors.js';
import { auditPages } from './pages/audit.js';
import { approvalPages } from './pages/approvals.js';
import { grantPages } from './pages/grants.js';
import { overviewPage } from './pages/overview.js';
import { registryPages } from './pages/registry.js';
import { tokenPages } from './pages/tokens.js';
import { createSessionStore, csrfTokenOf } from './session.js';
import { createVerificationMemo } from './verification.js';

export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'none'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export interface ConsoleDeps {
  config: Config;
  pool: pg.Pool;
  logger: Logger;
  keyRing: KeyRing;
  auth: AdminAuthenticator;
  dispatch: AdminDispatch;
}

/** What a signed-in page handler gets. */
export interface ConsoleState {
  viewer: Viewer;
  sessionId: string;
  /** Calls the admin API as the signed-in admin. */
  api<T = any>(call: AdminCall): Promise<AdminReply<T>>;
}

export type ConsoleContext = Context & { state: { console: ConsoleState; requestId?: string }; params: Record<string, string> };

export type PageHandler = (ctx: ConsoleContext) => Promise<void>;

/** Registers signed-in pages. */
export interface Pages {
  get(path: string, handler: PageHandler): void;
  post(path: string, handler: PageHandler): void;
}

/** Form fields: @koa/bodyparser gives strings, or arrays of them for repeated names. */
export type Form = Record<string, unknown>;
export const formOf = (ctx: Context): Form => (ctx.request.body && typeof ctx.request.body === 'object' ? (ctx.request.body as Form) : {});
export const fieldOf = (form: Form, name: string): string => (typeof form[name] === 'string' ? (form[name] as string) : '');
export function fieldsOf(form: Form, name: string): string[] {
  const value = form[name];
  return (Array.isArray(value) ? value : [value]).filter((v): v is string => typeof v === 'string' && v !== '');
}
/** A single-valued query parameter ('' when absent or repeated). */
export const queryOf = (ctx: Context, name: string): string => (typeof ctx.query[name] === 'string' ? (ctx.query[name] as string) : '');

export function render(ctx: Context, status: number, body: Html): void {
  ctx.status = status;
  ctx.type = 'text/html; charset=utf-8';
  ctx.body = body.value;
}

/** A page for a failed admin API call (404, 400 ...), with the API's own message. */
export function renderFailure(ctx: ConsoleContext, reply: AdminReply, title = 'Not found'): void {
  const status = reply.status >= 400 ? reply.status : 500;
  const message = reply.body?.error_description ?? 'the request failed';
  render(ctx, status, page(title, ctx.state.console.viewer, '', html`<div class="alert bad" role="alert">${message}</div>`));
}

export function redirect(ctx: Context, location: string): void {
  ctx.status = 303;
  ctx.redirect(location);
}

function securityHeaders(ctx: Context, next: Next) {
  ctx.set('Content-Security-Policy', CONTENT_SECURITY_POLICY);
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('X-Frame-Options', 'DENY');
  // Not no-referrer: under it Chromium sends `Origin: null` on the console's own form posts.
  ctx.set('Referrer-Policy', 'same-origin');
  ctx.set('Cross-Origin-Opener-Policy', 'same-origin');
  ctx.set('Cross-Origin-Resource-Policy', 'same-origin');
  return next();
}

const sameText = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

export function createConsoleRouter(deps: ConsoleDeps): Router {
  const { config, pool, logger, auth, dispatch } = deps;
  const secure = new URL(config.ISSUER).protocol === 'https:';
  const cookieName = secure ? '__Host-deputy-console' : 'deputy-console';
  const cookiePath = secure ? '/' : BASE;
  const sessions = createSessionStore(pool, config.CONSOLE_SESSION_TTL);
  const issuerOrigin = new URL(config.ISSUER).origin;
  const parseForm = bodyParser({ enableTypes: ['form'], formLimit: '32kb', encoding: 'utf-8' });

  const setCookie = (ctx: Context, value: string, maxAge: number) =>
    ctx.append(
      'Set-Cookie',
      `${cookieName}=${value}; Path=${cookiePath}; Max-Age=${maxAge}; HttpOnly; SameSite=Strict${secure ? '; Secure' : ''}`,
    );

  /** A state change must come from a console page: same origin (when the browser says), form body. */
  function sameOrigin(ctx: Context): boolean {
    const origin = ctx.get('origin');
    // (Koa 3's ctx.origin is the Origin header itself: compare with the address this request reached.)
    if (origin && origin !== issuerOrigin && origin !== `${ctx.protocol}://${ctx.host}`) return false;
    const site = ctx.get('sec-fetch-site');
    return !site || site === 'same-origin' || site === 'none';
  }

  function refuse(ctx: Context, viewer: Viewer | null, message: string): void {
    render(ctx, 403, page('Refused', viewer, '', html`<div class="alert bad" role="alert">${message}</div><p><a href="${BASE}">Back to the console</a></p>`));
  }

  async function audit(ctx: Context, type: string, admin: string): Promise<void> {
    await inTransaction(pool, (db) => appendAuditEvents(db, [{ type, at: new Date(), admin, requestId: ctx.state.requestId ?? null }]));
  }

  /** The signed-in session, re-validated against the admin rules; null when there is none. */
  async function currentSession(ctx: Context): Promise<ConsoleState | null> {
    const sessionId = ctx.cookies.get(cookieName) ?? '';
    if (!sessionId) return null;
    const stored = await sessions.find(sessionId);
    if (!stored) return null;
    const stamp = await auth.credentialStamp(stored.admin);
    if (!stamp || !(stamp.length === stored.stamp.length && timingSafeEqual(stamp, stored.stamp))) {
      await sessions.destroy(sessionId);
      return null;
    }
    const requestId = String(ctx.state.requestId ?? '');
    return {
      viewer: { admin: stored.admin, csrf: csrfTokenOf(sessionId) },
      sessionId,
      api: (call) => dispatch(stored.admin, requestId, call),
    };
  }

  /** Every page past sign-in: a valid session; on POST also the session's CSRF token. */
  async function requireSession(ctx: Context, next: Next): Promise<void> {
    ctx.set('Cache-Control', 'no-store');
    const state = await currentSession(ctx);
    const changing = ctx.method !== 'GET' && ctx.method !== 'HEAD';
    if (!state) {
      if (changing) return refuse(ctx, null, 'You are not signed in: nothing was changed.');
      return redirect(ctx, `${BASE}/sign-in`);
    }
    if (changing) {
      if (!sameOrigin(ctx) || !ctx.is('application/x-www-form-urlencoded')) return refuse(ctx, state.viewer, 'This request did not come from a console page: nothing was changed.');
      await parseForm(ctx, async () => {});
      if (!sameText(fieldOf(formOf(ctx), '_csrf'), state.viewer.csrf)) return refuse(ctx, state.viewer, 'This form is out of date or did not come from the console: nothing was changed. Reload the page and try again.');
    }
    (ctx.state as { console?: ConsoleState }).console = state;
    await next();
  }

  /** Anything thrown becomes a plain page: details go to the log only. */
  async function consoleErrors(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
    } catch (error) {
      const status = (error as { status?: unknown }).status;
      let answer: [number, string];
      if (status === 413) answer = [413, 'The form is too large.'];
      else if (status === 400 || status === 415) answer = [400, 'The form could not be read.'];
      else if (isDatabaseUnavailable(error)) answer = [503, 'The service is temporarily unavailable; try again shortly.'];
      else {
        logger.error({ request_id: ctx.state.requestId, detail: error instanceof Error ? error.message : String(error) }, 'console request failed');
        answer = [500, 'Something went wrong; nothing is shown here, and the details are in the log.'];
      }
      ctx.set('Cache-Control', 'no-store');
      render(ctx, answer[0], page('Error', null, '', html`<div class="alert bad" role="alert">${answer[1]}</div><p><a href="${BASE}">Back to the console</a></p>`));
    }
  }

  const router = new Router({ prefix: BASE });
  router.use(securityHeaders, consoleErrors);

  router.get('/assets/console.css', (ctx) => {
    ctx.set('Cache-Control', 'no-cache');
    ctx.set('ETag', CONSOLE_CSS_ETAG);
    if (ctx.get('if-none-match') === CONSOLE_CSS_ETAG) {
      ctx.status = 304;
      return;
    }
    ctx.type = 'text/css; charset=utf-8';
    ctx.body = CONSOLE_CSS;
  });

  const signInPage = (ctx: Context, status: number, message: Html | string, clientId = '') => {
    ctx.set('Cache-Control', 'no-store');
    render(ctx, status, page('Sign in', null, '', html`<div class="signin card">
${message}
<form method="post" action="${BASE}/sign-in">
  <p class="muted">Use an admin client's id and secret (a client holding <code>deputy:admin</code>), or leave the client id empty and paste the bootstrap token (<code>DEPUTY_ADMIN_TOKEN</code>).</p>
  <label for="client_id">Client id <input id="client_id" name="client_id" autocomplete="username" value="${clientId}"></label>
  <label for="secret">Client secret or bootstrap token <input id="secret" name="secret" type="password" autocomplete="current-password" required></label>
  <button type="submit">Sign in</button>
</form></div>`));
  };

  router.get('/sign-in', async (ctx) => {
    if (await currentSession(ctx)) return redirect(ctx, BASE);
    const notice = queryOf(ctx, 'signed_out') ? html`<div class="alert ok" role="status">You are signed out.</div>` : html``;
    signInPage(ctx, 200, notice);
  });

  router.post('/sign-in', async (ctx) => {
    if (!sameOrigin(ctx)) return refuse(ctx, null, 'This sign-in did not come from the console’s page.');
    if (!ctx.is('application/x-www-form-urlencoded')) return refuse(ctx, null, 'Sign in with the console’s form.');
    await parseForm(ctx, async () => {});
    const form = formOf(ctx);
    const clientId = fieldOf(form, 'client_id').trim();
    const signedIn = await auth.signIn({ clientId, secret: fieldOf(form, 'secret') });
    if (!signedIn) {
      logger.warn({ request_id: ctx.state.requestId, client_id: clientId || null }, 'console sign-in refused');
      const message = html`<div class="alert bad" role="alert">These credentials do not sign in an admin: check the client id and its secret (the client must hold <code>deputy:admin</code>), or the bootstrap token.</div>`;
      return signInPage(ctx, 401, message, clientId);
    }
    const session = await sessions.create(signedIn);
    await audit(ctx, 'console.signed_in', signedIn.admin);
    setCookie(ctx, session.id, config.CONSOLE_SESSION_TTL);
    redirect(ctx, BASE);
  });

  router.post('/sign-out', requireSession, async (ctx) => {
    const state = (ctx as unknown as ConsoleContext).state.console;
    await sessions.destroy(state.sessionId);
    await audit(ctx, 'console.signed_out', state.viewer.admin);
    setCookie(ctx, '', 0);
    redirect(ctx, `${BASE}/sign-in?signed_out=1`);
  });

  // Every page below is behind requireSession (and its CSRF check on POST).
  const pages: Pages = {
    get: (path, handler) => void router.get(path, requireSession, handler as never),
    post: (path, handler) => void router.post(path, requireSession, handler as never),
  };
  const verification = createVerificationMemo();
  overviewPage(pages, verification);
  actorPages(pages);
  grantPages(pages);
  approvalPages(pages);
  tokenPages(pages, deps);
  auditPages(pages, verification);
  registryPages(pages);
  return router;
}
