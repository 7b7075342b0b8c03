/**
 * The NHI inventory: actors with the API's filters, a page per actor, and the kill switch.
 */
import { html, type Html } from '../html.js';
import { BASE, apiError, badge, csrfField, enc, link, page, pager, statusBadge, table, when } from '../layout.js';
import { fieldOf, formOf, queryOf, redirect, render, renderFailure, type ConsoleContext, type Pages } from '../router.js';
import { auditRows } from './audit.js';
import { grantRows } from './grants.js';
import { tokenRows } from './tokens.js';

interface Actor {
  id: string;
  kind: string;
  owner: string;
  purpose: string;
  status: string;
  expires_at: string | null;
  jwks: { keys: Array<{ kid?: string; kty?: string; alg?: string }> } | null;
  workload: { issuer: string; subject: string } | null;
  scope_ceiling: string[];
  resources: string[];
  max_token_ttl: number | null;
  may_delegate_to: string[];
  last_used_at: string | null;
  created_at: string;
}

const SORTS = ['created_at', 'id', 'owner', 'kind', 'status', 'expires_at', 'last_used_at'] as const;
type Sort = (typeof SORTS)[number];

/** A date from an <input type="date"> as the API's timestamp; anything else as typed, for the API to judge. */
export const dateParam = (value: string) => (/^\d{4}-\d{2}-\d{2}$/.test(value) ? `${value}T00:00:00Z` : value || undefined);

function sortPage(items: Actor[], sort: Sort, descending: boolean): Actor[] {
  const key = (actor: Actor) => actor[sort] ?? '';
  const sorted = [...items].sort((a, b) => key(a).localeCompare(key(b)));
  return descending ? sorted.reverse() : sorted;
}

export function actorPages(pages: Pages): void {
  pages.get('/actors', async (ctx) => {
    const { api, viewer } = ctx.state.console;
    const filters = {
      owner: queryOf(ctx, 'owner'),
      kind: queryOf(ctx, 'kind'),
      status: queryOf(ctx, 'status'),
      expiring_before: queryOf(ctx, 'expiring_before'),
      unused_since: queryOf(ctx, 'unused_since'),
    };
    const cursor = queryOf(ctx, 'cursor');
    const sort: Sort = (SORTS as readonly string[]).includes(queryOf(ctx, 'sort')) ? (queryOf(ctx, 'sort') as Sort) : 'created_at';
    const descending = queryOf(ctx, 'order') !== 'asc';
    const reply = await api<{ items: Actor[]; next_cursor: string | null }>({
      method: 'GET',
      path: '/actors',
      query: {
        owner: filters.owner || undefined,
        kind: filters.kind || undefined,
        status: filters.status || undefined,
        expiring_before: dateParam(filters.expiring_before),
        unused_since: dateParam(filters.unused_since),
        cursor: cursor || undefined,
        limit: '50',
      },
    });
    const failed = reply.status !== 200 ? reply.body : undefined;
    const items = failed ? [] : sortPage(reply.body.items, sort, descending);
    const here = { ...filters, cursor };
    const sortLink = (column: Sort, label: string) => {
      const search = new URLSearchParams(Object.entries({ ...here, sort: column, order: sort === column && descending ? 'asc' : 'desc' }).filter(([, v]) => v));
      const current = sort === column ? (descending ? 'descending' : 'ascending') : undefined;
      return html`<a href="${BASE}/actors?${search.toString()}"${current ? html` aria-sort="${current}"` : ''}>${label}${current ? (descending ? ' ▼' : ' ▲') : ''}</a>`;
    };
    const option = (value: string, selected: string, label = value) => html`<option value="${value}"${value === selected ? html` selected` : ''}>${label}</option>`;
    const body = html`
<form class="filters" method="get" action="${BASE}/actors" role="search">
  <label for="f-owner">Owner <input id="f-owner" name="owner" value="${filters.owner}"></label>
  <label for="f-kind">Kind <select id="f-kind" name="kind">${option('', filters.kind, 'any')}${['agent', 'service', 'workload'].map((k) => option(k, filters.kind))}</select></label>
  <label for="f-status">Status <select id="f-status" name="status">${option('', filters.status, 'any')}${['active', 'disabled'].map((s) => option(s, filters.status))}</select></label>
  <label for="f-exp">Expiring before <input id="f-exp" name="expiring_before" type="date" value="${filters.expiring_before}"></label>
  <label for="f-unused">Unused since <input id="f-unused" name="unused_since" type="date" value="${filters.unused_since}"></label>
  <button type="submit">Filter</button> <a href="${BASE}/actors">Clear</a>
</form>
${apiError(failed)}
<p class="muted">Sorting orders the page shown; pages follow the API's order (newest first).</p>
${table(
  [sortLink('id', 'Actor'), sortLink('kind', 'Kind'), sortLink('owner', 'Owner'), sortLink('status', 'Status'), sortLink('expires_at', 'Expires'), sortLink('last_used_at', 'Last used'), html`<span class="hide-narrow">Purpose</span>`],
  items.map(
    (a) => html`<tr><td>${link(`${BASE}/actors/${enc(a.id)}`, html`<code>${a.id}</code>`)}</td><td>${a.kind}</td><td>${a.owner}</td><td>${statusBadge(a.status)}</td><td>${when(a.expires_at, 'never')}</td><td>${when(a.last_used_at, 'never')}</td><td class="hide-narrow">${a.purpose}</td></tr>`,
  ),
  'No actors match.',
)}
${failed ? '' : pager(`${BASE}/actors`, here, reply.body.next_cursor)}`;
    render(ctx, failed ? 400 : 200, page('Actors', viewer, '/actors', body));
  });

  pages.get('/actors/:id', async (ctx) => {
    const { api, viewer } = ctx.state.console;
    const id = ctx.params.id!;
    const reply = await api<Actor>({ method: 'GET', path: `/actors/${enc(id)}` });
    if (reply.status !== 200) return renderFailure(ctx, reply);
    const actor = reply.body;
    const [grants, tokens, events] = await Promise.all([
      api({ method: 'GET', path: '/grants', query: { actor: id, limit: '20' } }),
      api({ method: 'GET', path: '/tokens', query: { actor: id, limit: '10' } }),
      api({ method: 'GET', path: '/audit', query: { actor: id, limit: '10' } }),
    ]);
    const done = queryOf(ctx, 'done');
    const body = html`
${done ? html`<div class="alert ok" role="status">The actor is now ${done === 'disabled' ? 'disabled' : 'active'}.</div>` : ''}
<section class="card" aria-labelledby="facts">
<h2 id="facts"><code>${actor.id}</code> ${statusBadge(actor.status)}</h2>
<dl class="facts">
  <dt>Kind</dt><dd>${actor.kind}</dd>
  <dt>Owner</dt><dd>${link(`${BASE}/actors?owner=${enc(actor.owner)}`, actor.owner)}</dd>
  <dt>Purpose</dt><dd>${actor.purpose || html`<span class="muted">none given</span>`}</dd>
  <dt>Expires</dt><dd>${when(actor.expires_at, 'never')}</dd>
  <dt>Last used</dt><dd>${when(actor.last_used_at, 'never')}</dd>
  <dt>Authenticates with</dt><dd>${credentials(actor)}</dd>
  <dt>Scope ceiling</dt><dd>${actor.scope_ceiling.length ? actor.scope_ceiling.map((s) => html`<code>${s}</code> `) : html`<span class="muted">none (no scope can be delegated)</span>`}</dd>
  <dt>Resources</dt><dd>${actor.resources.length ? actor.resources.map((r) => html`<code>${r}</code> `) : html`<span class="muted">none</span>`}</dd>
  <dt>May delegate to</dt><dd>${actor.may_delegate_to.length ? actor.may_delegate_to.map((a) => html`${link(`${BASE}/actors/${enc(a)}`, html`<code>${a}</code>`)} `) : html`<span class="muted">nobody</span>`}</dd>
  <dt>Max token lifetime</dt><dd>${actor.max_token_ttl === null ? html`<span class="muted">server default</span>` : `${actor.max_token_ttl} s`}</dd>
  <dt>Created</dt><dd>${when(actor.created_at)}</dd>
</dl>
<p class="actions">${
  actor.status === 'active'
    ? html`<a class="button danger" href="${BASE}/actors/${enc(actor.id)}/disable">Disable (kill switch)…</a>`
    : html`<form method="post" action="${BASE}/actors/${enc(actor.id)}/status">${csrfField(viewer)}<input type="hidden" name="status" value="active"><button type="submit">Re-enable</button></form>`
} <a class="button secondary" href="${BASE}/grants/new?actor=${enc(actor.id)}&amp;subject=${enc(actor.owner)}">New grant…</a></p>
</section>
<h2>Grants</h2>
${grants.status === 200 ? grantRows(grants.body.items) : apiError(grants.body)}
<h2>Recent tokens</h2>
${tokens.status === 200 ? tokenRows(tokens.body.items) : apiError(tokens.body)}
<p>${link(`${BASE}/tokens?actor=${enc(actor.id)}`, 'All its tokens')}</p>
<h2>Recent audit events</h2>
${events.status === 200 ? auditRows(events.body.items) : apiError(events.body)}
<p>${link(`${BASE}/audit?actor=${enc(actor.id)}`, 'All its audit events')}</p>`;
    render(ctx, 200, page(`Actor ${actor.id}`, viewer, '/actors', body));
  });

  pages.get('/actors/:id/disable', async (ctx) => {
    const { api, viewer } = ctx.state.console;
    const id = ctx.params.id!;
    const reply = await api<Actor>({ method: 'GET', path: `/actors/${enc(id)}` });
    if (reply.status !== 200) return renderFailure(ctx, reply);
    const grants = await api({ method: 'GET', path: '/grants', query: { actor: id, active: 'true', limit: '100' } });
    const grantCount = grants.status === 200 ? `${grants.body.items.length}${grants.body.next_cursor ? '+' : ''}` : 'its';
    const body = html`<section class="card">
<p>Disabling <strong><code>${id}</code></strong> (owner ${reply.body.owner}) stops, at once and in every Deputy process:</p>
<ul>
  <li>every token exchange by this actor, and by any actor whose chain passes through it;</li>
  <li>every token already issued whose delegation chain names it: introspection answers <code>active: false</code>;</li>
  <li>the use of its ${grantCount} active grant(s) (they stay recorded, and work again if it is re-enabled).</li>
</ul>
<p>The change is recorded in the audit log as made by <strong>${viewer.admin}</strong>.</p>
<form method="post" action="${BASE}/actors/${enc(id)}/status" class="actions">${csrfField(viewer)}
  <input type="hidden" name="status" value="disabled">
  <button type="submit" class="danger">Disable ${id}</button>
  <a href="${BASE}/actors/${enc(id)}">Cancel</a>
</form></section>`;
    render(ctx, 200, page(`Disable ${id}?`, viewer, '/actors', body));
  });

  pages.post('/actors/:id/status', async (ctx: ConsoleContext) => {
    const { api } = ctx.state.console;
    const id = ctx.params.id!;
    const status = fieldOf(formOf(ctx), 'status');
    const reply = await api<Actor>({ method: 'PATCH', path: `/actors/${enc(id)}`, body: { status } });
    if (reply.status !== 200) return renderFailure(ctx, reply, 'Not changed');
    redirect(ctx, `${BASE}/actors/${enc(id)}?done=${enc(reply.body.status)}`);
  });
}

function credentials(actor: Actor): Html {
  const parts: Html[] = [];
  if (actor.jwks?.keys.length) {
    parts.push(html`keys ${actor.jwks.keys.map((k) => html`<code>${k.kid ?? '(no kid)'}</code> (${k.kty ?? '?'}${k.alg ? ` ${k.alg}` : ''}) `)}`);
  }
  if (actor.workload) parts.push(html`workload <code>${actor.workload.subject}</code> from <code>${actor.workload.issuer}</code>`);
  return parts.length ? html`${parts.map((p, i) => html`${i ? '; ' : ''}${p}`)}` : badge('its client only', 'muted');
}
