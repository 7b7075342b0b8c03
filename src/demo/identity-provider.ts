/**
 * The quickstart's identity provider for people: an OpenID Provider (oidc-provider) at
 * `ISSUER/demo-idp`, served by the quickstart process, where the demo users sign in with their
 * demo passwords (kept in DEPUTY_HOME/demo.json, printed only by `npm run -s demo:secret -- <user>`).
 * The approval pages at /approve use it for the person's sign-in when APPROVAL_LOGIN_* is unset,
 * so an approval can be tried end to end on a fresh machine. ID tokens are signed with the demo
 * issuer's key; `sub` is the user's name, which is the Deputy subject id. The demo issuer is a
 * trusted issuer of people limited to the demo users (src/demo/seed.ts), so the sign-in accepts
 * nobody else whatever this provider asserts.
 *
 * It is part of the demo world: composed only when the demo world is (DEMO_SEED), never in
 * production unless DEMO_SEED=true is set explicitly. Its one client (Deputy's approval pages)
 * gets a secret drawn when the process starts: both ends live in this process. Interactions,
 * codes and sessions are held in this process's memory (at most MAX_ENTRIES), so it serves one
 * process.
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import { bodyParser } from '@koa/bodyparser';
import type { JWK } from 'jose';
import type { Context, Next } from 'koa';
import Provider, { type Adapter, type AdapterPayload, type KoaContextWithOIDC } from 'oidc-provider';
import type { LoginSettings } from '../approval/web/login.js';
import { html, type Html } from '../console/html.js';
import { documentShell } from '../console/layout.js';
import { CONTENT_SECURITY_POLICY, fieldOf, formOf, render } from '../console/router.js';
import type { Logger } from '../log.js';
import { DEMO, demoIssuerOf } from './seed.js';

export const DEMO_IDP_PATH = DEMO.idpPath;
export const DEMO_IDP_CLIENT_ID = 'deputy-approvals';

export interface DemoIdentityProviderOptions {
  /** Deputy's ISSUER: the provider's issuer is ISSUER/demo-idp. */
  deputyIssuer: string;
  /** Where the IdP sends the browser back: Deputy's approval callback. */
  redirectUri: string;
  /** The only accounts, by name, with their passwords. */
  passwords: Readonly<Record<string, string>>;
  /** The demo issuer's private key (ES256, with `kid`). */
  signingKey: JWK;
  trustProxy: boolean;
  logger: Logger;
}

export interface DemoIdentityProvider {
  issuer: string;
  /** Serves everything under /demo-idp; passes every other request on. */
  middleware: (ctx: Context, next: Next) => Promise<void>;
  /** The approval pages' sign-in at this provider. */
  login: LoginSettings;
}

/**
 * oidc-provider's storage for this provider: in this process's memory, each entry dropped once
 * expired (its interactions, sessions and codes live minutes), the oldest dropped beyond
 * MAX_ENTRIES so unauthenticated authorization requests cannot grow it without bound. Given
 * explicitly, so oidc-provider does not warn about its development adapter on every quickstart.
 */
export const MAX_ENTRIES = 10_000;

export function memoryAdapter(): new (name: string) => Adapter {
  const entries = new Map<string, { payload: AdapterPayload; expiresAt: number }>();
  const live = (key: string) => {
    const entry = entries.get(key);
    if (entry && entry.expiresAt <= Date.now()) entries.delete(key);
    return entry && entry.expiresAt > Date.now() ? entry.payload : undefined;
  };
  return class DemoMemoryAdapter implements Adapter {
    constructor(readonly name: string) {}
    private key = (id: string) => `${this.name}:${id}`;
    async upsert(id: string, payload: AdapterPayload, expiresIn: number) {
      for (const [key, entry] of entries) if (entry.expiresAt <= Date.now()) entries.delete(key);
      entries.delete(this.key(id)); // re-inserted last: the map's order is the order of last writes
      entries.set(this.key(id), { payload, expiresAt: Date.now() + expiresIn * 1000 });
      for (const key of entries.keys()) {
        if (entries.size <= MAX_ENTRIES) break;
        entries.delete(key);
      }
    }
    async find(id: string) {
      return live(this.key(id));
    }
    async findByUid(uid: string) {
      for (const key of entries.keys()) if (key.startsWith(`${this.name}:`) && live(key)?.uid === uid) return live(key);
      return undefined;
    }
    async findByUserCode() {
      return undefined;
    }
    async consume(id: string) {
      const payload = live(this.key(id));
      if (payload) payload.consumed = Math.floor(Date.now() / 1000);
    }
    async destroy(id: string) {
      entries.delete(this.key(id));
    }
    async revokeByGrantId(grantId: string) {
      for (const [key, entry] of entries) if (entry.payload.grantId === grantId) entries.delete(key);
    }
  };
}

const INTERACTION = new RegExp(`^${DEMO_IDP_PATH}/interaction/([A-Za-z0-9_-]{1,64})$`);
const digest = (text: string) => createHash('sha256').update(text, 'utf8').digest();

export function createDemoIdentityProvider(options: DemoIdentityProviderOptions): DemoIdentityProvider {
  const issuer = demoIssuerOf(options.deputyIssuer);
  const clientSecret = randomBytes(32).toString('base64url');
  const passwords = new Map(Object.entries(options.passwords).map(([name, password]) => [name, digest(password)]));
  const users = [...passwords.keys()];
  const provider = new Provider(issuer, {
    adapter: memoryAdapter(),
    clients: [
      {
        client_id: DEMO_IDP_CLIENT_ID,
        client_secret: clientSecret,
        redirect_uris: [options.redirectUri],
        grant_types: ['authorization_code'],
        response_types: ['code'],
        id_token_signed_response_alg: 'ES256',
      },
    ],
    findAccount: async (_ctx, id) => (passwords.has(id) ? { accountId: id, claims: async () => ({ sub: id }) } : undefined),
    interactions: { url: (_ctx, interaction) => `${DEMO_IDP_PATH}/interaction/${interaction.uid}` },
    // The demo users consent to `openid` for Deputy's own pages by signing in.
    loadExistingGrant: async (ctx) => {
      const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client!.clientId, accountId: ctx.oidc.session!.accountId! });
      grant.addOIDCScope('openid');
      await grant.save();
      return grant;
    },
    features: { devInteractions: { enabled: false } },
    pkce: { required: () => true },
    responseTypes: ['code'],
    scopes: ['openid'],
    claims: { openid: ['sub'] },
    jwks: { keys: [{ ...options.signingKey, use: 'sig' }] } as never,
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    ttl: { Interaction: 600, Grant: 600, Session: 600, AuthorizationCode: 60, AccessToken: 60, IdToken: 60 },
    renderError: (ctx, out) => {
      render(ctx as unknown as Context, ctx.status || 400, signInPage('Sign-in failed', html`<div class="alert bad" role="alert">${String(out.error_description ?? out.error)}</div>`));
    },
  });
  provider.proxy = options.trustProxy;
  // Logged as one line, like Deputy's own app: never Koa's default stack trace on stderr.
  (provider as unknown as NodeJS.EventEmitter).on('server_error', (_ctx: KoaContextWithOIDC, error: Error) =>
    options.logger.error({ detail: error.message }, 'demo identity provider failed'),
  );
  (provider as unknown as NodeJS.EventEmitter).on('error', (error: Error & { status?: number; expose?: boolean }) => {
    if (error.status && error.status < 500 && error.expose) return;
    options.logger.error({ detail: error.message }, 'demo identity provider failed');
  });
  const callback = provider.callback();
  const parseForm = bodyParser({ enableTypes: ['form'], formLimit: '4kb', encoding: 'utf-8' });

  function passwordMatches(name: string, password: string): boolean {
    const expected = passwords.get(name);
    // The comparison runs for unknown names too, so timing does not tell which names exist.
    const matches = timingSafeEqual(digest(password), expected ?? digest(randomBytes(16).toString('hex')));
    return expected !== undefined && matches;
  }

  async function interaction(ctx: Context, uid: string): Promise<void> {
    ctx.set('Content-Security-Policy', CONTENT_SECURITY_POLICY);
    ctx.set('Cache-Control', 'no-store');
    ctx.set('X-Frame-Options', 'DENY');
    let details: Awaited<ReturnType<Provider['interactionDetails']>>;
    try {
      details = await provider.interactionDetails(ctx.req, ctx.res);
    } catch {
      return render(ctx, 400, signInPage('Sign-in expired', html`<div class="alert bad" role="alert">This sign-in has expired or was opened in another browser. Start again from the approval page.</div>`));
    }
    if (details.uid !== uid) return render(ctx, 400, signInPage('Sign-in expired', html`<div class="alert bad" role="alert">This sign-in is not the current one. Start again from the approval page.</div>`));
    if (ctx.method === 'GET') return render(ctx, 200, signInPage('Sign in', loginForm(users, uid, '', null)));
    if (ctx.method !== 'POST') {
      ctx.status = 405;
      return;
    }
    const origin = ctx.get('origin');
    if (origin && origin !== new URL(issuer).origin) return render(ctx, 403, signInPage('Refused', html`<div class="alert bad" role="alert">This form did not come from this page.</div>`));
    await parseForm(ctx, async () => {});
    const form = formOf(ctx);
    const name = fieldOf(form, 'login');
    if (!passwordMatches(name, fieldOf(form, 'password'))) {
      return render(ctx, 401, signInPage('Sign in', loginForm(users, uid, name, 'The name or the password is wrong.')));
    }
    const to = await provider.interactionResult(ctx.req, ctx.res, { login: { accountId: name } }, { mergeWithLastSubmission: false });
    ctx.status = 303;
    ctx.redirect(to);
  }

  return {
    issuer,
    login: { issuer, clientId: DEMO_IDP_CLIENT_ID, clientSecret, allowInsecure: new URL(issuer).protocol === 'http:' },
    async middleware(ctx, next) {
      if (ctx.path !== DEMO_IDP_PATH && !ctx.path.startsWith(`${DEMO_IDP_PATH}/`)) return next();
      const uid = INTERACTION.exec(ctx.path)?.[1];
      if (uid) return interaction(ctx, uid);
      // oidc-provider's own routes, seen from under the mount path (it reads originalUrl for
      // the URLs it writes).
      ctx.respond = false;
      const req = ctx.req as IncomingMessage & { originalUrl?: string };
      req.originalUrl = req.url;
      req.url = req.url!.slice(DEMO_IDP_PATH.length) || '/';
      await callback(req, ctx.res);
    },
  };
}

function signInPage(title: string, body: Html): Html {
  return documentShell({
    title,
    site: 'Deputy demo identity provider',
    topBar: html`<span class="brand">Demo identity provider</span>`,
    main: html`<div class="signin card">
<h1>${title}</h1>
${body}
</div>`,
  });
}

function loginForm(users: readonly string[], uid: string, name: string, error: string | null): Html {
  return html`${error ? html`<div class="alert bad" role="alert">${error}</div>` : ''}
<p>The quickstart's people sign in here: ${users.map((user, i) => html`${i > 0 ? ', ' : ''}<strong>${user}</strong>`)}.
Their passwords are printed by <code>npm run -s demo:secret -- ${users[0] ?? 'alice'}</code> (and so on).</p>
<form method="post" action="${DEMO_IDP_PATH}/interaction/${uid}">
<label>Name <input name="login" autocomplete="username" required value="${name}"></label>
<label>Password <input name="password" type="password" autocomplete="current-password" required></label>
<button type="submit">Sign in</button>
</form>`;
}
