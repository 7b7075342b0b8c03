/**
 * Issued tokens: the list, a token's page (its delegation chain, and whether it is active now
 * and why not), and "paste a token": a Deputy JWT decoded and verified by this server against
 * its published keys, then shown with its status from the database.
 */
import { checkDeputyToken, deputyTokenAuthentic, readDeputyToken, type DeputyTokenClaims } from '../../oauth/deputy-token.js';
import { html, type Html } from '../html.js';
import { BASE, apiError, badge, csrfField, enc, link, page, pager, table, when } from '../layout.js';
import { fieldOf, formOf, queryOf, render, renderFailure, type ConsoleDeps, type Pages } from '../router.js';

interface Token {
  jti: string;
  subject: string;
  actors: string[];
  client_id: string;
  resource: string;
  scope: string;
  grant_id: string;
  grant_ids: string[];
  issued_at: string;
  expires_at: string;
  revoked_at: string | null;
}

interface TokenStatus {
  jti: string;
  active: boolean;
  reasons: Array<{ code: string; message: string }>;
  subject: string;
  subject_status: string | null;
  hops: Array<{ actor: string; actor_status: string | null; grant: { id: string; scopes: string[]; expires_at: string | null; revoked_at: string | null } | null }>;
  ancestors: Array<{ jti: string; revoked_at: string | null }>;
}

export function tokenRows(items: Token[]): Html {
  return table(
    ['Token', 'Subject', 'Chain', 'Scope', html`<span class="hide-narrow">Resource</span>`, 'Issued', 'Expires'],
    items.map(
      (t) => html`<tr><td>${link(`${BASE}/tokens/${enc(t.jti)}`, html`<code>${t.jti.slice(0, 8)}…</code>`)}${t.revoked_at ? html` ${badge('revoked', 'bad')}` : ''}</td>
<td>${t.subject}</td><td>${t.actors.map((a, i) => html`${i ? ' → ' : ''}<code>${a}</code>`)}</td><td><code>${t.scope}</code></td>
<td class="hide-narrow"><code>${t.resource}</code></td><td>${when(t.issued_at)}</td><td>${when(t.expires_at)}</td></tr>`,
    ),
    'No tokens.',
  );
}

function chain(token: Token, status: TokenStatus): Html {
  const node = (bad: boolean, kind: string, body: Html) => html`<div class="node${bad ? ' bad' : ''}"><div class="k">${kind}</div>${body}</div>`;
  return html`<ol class="chain" aria-label="Delegation chain">
<li>${node(status.subject_status !== 'active', 'subject (person)', html`<strong>${status.subject}</strong>${status.subject_status !== 'active' ? html` ${badge(status.subject_status ?? 'deleted', 'bad')}` : ''}`)}</li>
${status.hops.map((hop, index) => {
  const grantBad = !hop.grant || hop.grant.revoked_at !== null || (hop.grant.expires_at !== null && Date.parse(hop.grant.expires_at) <= Date.now());
  return html`<li><span class="arrow" aria-hidden="true">→</span>${node(
    hop.actor_status !== 'active' || grantBad,
    `hop ${index + 1}: actor`,
    html`${link(`${BASE}/actors/${enc(hop.actor)}`, html`<strong><code>${hop.actor}</code></strong>`)} ${hop.actor_status === 'active' ? '' : badge(hop.actor_status ?? 'deleted', 'bad')}
<div class="k">grant ${hop.grant ? link(`${BASE}/grants/${enc(hop.grant.id)}`, hop.grant.id.slice(0, 8)) : 'none'}${hop.grant?.revoked_at ? html` ${badge('revoked', 'bad')}` : ''}</div>
<div>${hop.grant ? hop.grant.scopes.map((s) => html`<code>${s}</code> `) : ''}</div>`,
  )}</li>`;
})}
<li><span class="arrow" aria-hidden="true">→</span>${node(!status.active, 'this token', html`<code>${token.scope}</code><div class="k">on <code>${token.resource}</code> via client <code>${token.client_id}</code></div>`)}</li>
</ol>`;
}

function verdict(status: TokenStatus): Html {
  if (status.active) return html`<div class="alert ok" role="status"><strong>Active now.</strong> Introspection answers <code>active: true</code>.</div>`;
  return html`<div class="alert bad" role="status"><strong>Inactive.</strong> Introspection answers <code>active: false</code> because:<ul>${status.reasons.map((r) => html`<li data-reason="${r.code}">${r.message}</li>`)}</ul></div>`;
}

function tokenView(token: Token, status: TokenStatus, claims: DeputyTokenClaims | null): Html {
  return html`${verdict(status)}
<section class="card"><h2>Delegation chain</h2>${chain(token, status)}
${status.ancestors.length ? html`<p>Exchanged from ${status.ancestors.map((a, i) => html`${i ? ', ' : ''}${link(`${BASE}/tokens/${enc(a.jti)}`, html`<code>${a.jti.slice(0, 8)}…</code>`)}${a.revoked_at ? html` ${badge('revoked', 'bad')}` : ''}`)}</p>` : ''}
</section>
<section class="card"><h2>Record</h2><dl class="facts">
<dt>jti</dt><dd class="mono">${token.jti}</dd>
<dt>Subject</dt><dd>${token.subject}</dd>
<dt>Actors</dt><dd>${token.actors.join(' → ')}</dd>
<dt>Client</dt><dd><code>${token.client_id}</code></dd>
<dt>Resource</dt><dd><code>${token.resource}</code></dd>
<dt>Scope</dt><dd><code>${token.scope}</code></dd>
<dt>Issued</dt><dd>${when(token.issued_at)}</dd>
<dt>Expires</dt><dd>${when(token.expires_at)}</dd>
<dt>Revoked</dt><dd>${when(token.revoked_at, 'no')}</dd>
</dl>
${claims ? html`<h2>Claims of the pasted token</h2><pre class="mono">${JSON.stringify(claims, null, 2)}</pre>` : ''}
<p>${link(`${BASE}/audit?actor=${enc(token.actors.at(-1) ?? '')}`, 'Audit events of its last actor')}</p></section>`;
}

export function tokenPages(pages: Pages, { keyRing, config }: Pick<ConsoleDeps, 'keyRing' | 'config'>): void {
  pages.get('/tokens', async (ctx) => {
    const { api, viewer } = ctx.state.console;
    const filters = { subject: queryOf(ctx, 'subject'), actor: queryOf(ctx, 'actor'), client: queryOf(ctx, 'client'), cursor: queryOf(ctx, 'cursor') };
    const reply = await api({ method: 'GET', path: '/tokens', query: { ...filters, limit: '50' } });
    const failed = reply.status !== 200 ? reply.body : undefined;
    const body = html`<p><a href="${BASE}/tokens/inspect">Paste a token…</a></p>
<form class="filters" method="get" action="${BASE}/tokens" role="search">
  <label for="f-subject">Subject <input id="f-subject" name="subject" value="${filters.subject}"></label>
  <label for="f-actor">Actor in chain <input id="f-actor" name="actor" value="${filters.actor}"></label>
  <label for="f-client">Client <input id="f-client" name="client" value="${filters.client}"></label>
  <button type="submit">Filter</button> <a href="${BASE}/tokens">Clear</a>
</form>
${apiError(failed)}
${failed ? '' : html`${tokenRows(reply.body.items)}${pager(`${BASE}/tokens`, filters, reply.body.next_cursor)}`}`;
    render(ctx, failed ? 400 : 200, page('Tokens', viewer, '/tokens', body));
  });

  const inspectForm = (csrf: Html, message: Html = html``) => html`${message}<form method="post" action="${BASE}/tokens/inspect" class="card">${csrf}
<label for="token">A Deputy access token (JWT). It is decoded and verified by this server against its published keys (<code>/jwks</code>); its status comes from the database. Nothing is stored.
<textarea id="token" name="token" required spellcheck="false" autocomplete="off"></textarea></label>
<p><button type="submit">Inspect</button></p></form>`;

  pages.get('/tokens/inspect', async (ctx) => {
    const { viewer } = ctx.state.console;
    render(ctx, 200, page('Inspect a token', viewer, '/tokens', inspectForm(csrfField(viewer))));
  });

  pages.post('/tokens/inspect', async (ctx) => {
    const { api, viewer } = ctx.state.console;
    const token = fieldOf(formOf(ctx), 'token').trim();
    const now = Math.floor(Date.now() / 1000);
    let check = await checkDeputyToken(token, keyRing, config.ISSUER, now);
    if (!check.valid && check.reason === 'expired') {
      // Still worth showing: read it as of before its expiry, and verify its signature now.
      const reading = readDeputyToken(token, config.ISSUER, 0);
      if (reading.valid && (await deputyTokenAuthentic(token, reading, keyRing, now))) check = { valid: true, claims: reading.claims };
    }
    if (!check.valid) {
      const message = html`<div class="alert bad" role="alert">This is not a valid Deputy token (${check.reason}).</div>`;
      return render(ctx, 400, page('Inspect a token', viewer, '/tokens', inspectForm(csrfField(viewer), message)));
    }
    const [record, status] = await Promise.all([
      api<Token>({ method: 'GET', path: `/tokens/${enc(check.claims.jti)}` }),
      api<TokenStatus>({ method: 'GET', path: `/tokens/${enc(check.claims.jti)}/status` }),
    ]);
    if (record.status !== 200 || status.status !== 200) return renderFailure(ctx, record.status !== 200 ? record : status, 'No record of this token');
    render(ctx, 200, page(`Token ${check.claims.jti}`, viewer, '/tokens', html`<div class="alert ok" role="status">Signature verified with Deputy's published key.</div>${tokenView(record.body, status.body, check.claims)}`));
  });

  pages.get('/tokens/:jti', async (ctx) => {
    const { api, viewer } = ctx.state.console;
    const jti = ctx.params.jti!;
    const [record, status] = await Promise.all([
      api<Token>({ method: 'GET', path: `/tokens/${enc(jti)}` }),
      api<TokenStatus>({ method: 'GET', path: `/tokens/${enc(jti)}/status` }),
    ]);
    if (record.status !== 200) return renderFailure(ctx, record);
    if (status.status !== 200) return renderFailure(ctx, status);
    render(ctx, 200, page(`Token ${jti}`, viewer, '/tokens', tokenView(record.body, status.body, null)));
  });
}
