/**
 * The audit timeline with the API's filters, each event expandable, and chain verification.
 */
import { html, type Html } from '../html.js';
import { BASE, apiError, badge, enc, link, page, pager, when } from '../layout.js';
import { queryOf, render, type Pages } from '../router.js';
import type { VerificationMemo } from '../verification.js';
import { dateParam } from './actors.js';

interface AuditEvent {
  id: number;
  at: string;
  type: string;
  request_id: string | null;
  admin: string | null;
  client_id: string | null;
  subject: string | null;
  actors: string[];
  resource: string | null;
  scope_requested: string[];
  scope_granted: string[];
  scope_denied: Array<{ scope: string; reason: string }>;
  jti: string | null;
  grant_id: string | null;
  error: string | null;
  details: Record<string, unknown> | null;
  chain_id: number;
  seq: number;
  hash: string;
}

const scopes = (list: string[]) => (list.length ? list.map((s) => html`<code>${s}</code> `) : html`<span class="muted">none</span>`);

function summary(e: AuditEvent): Html {
  const who = e.admin ? html`by <strong>${e.admin}</strong>` : e.client_id ? html`client <code>${e.client_id}</code>` : '';
  return html`${when(e.at)} <strong>${e.type}</strong> ${e.error ? badge(e.error, 'bad') : ''} ${who} ${e.subject ? html`· ${e.subject}` : ''} ${e.actors.length ? html`· ${e.actors.join(' → ')}` : ''}`;
}

export function auditRows(events: AuditEvent[]): Html {
  if (events.length === 0) return html`<p class="muted">No events.</p>`;
  return html`<div class="card">${events.map(
    (e) => html`<details><summary>${summary(e)}</summary><dl class="facts">
<dt>Requester</dt><dd>${e.admin ? html`admin <strong>${e.admin}</strong>` : ''}${e.client_id ? html` client <code>${e.client_id}</code>` : ''}${!e.admin && !e.client_id ? html`<span class="muted">—</span>` : ''}</dd>
<dt>Subject</dt><dd>${e.subject ?? '—'}</dd>
<dt>Actors</dt><dd>${e.actors.length ? e.actors.map((a, i) => html`${i ? ' → ' : ''}${link(`${BASE}/actors/${enc(a)}`, html`<code>${a}</code>`)}`) : '—'}</dd>
<dt>Resource</dt><dd>${e.resource ? html`<code>${e.resource}</code>` : '—'}</dd>
<dt>Scopes requested</dt><dd>${scopes(e.scope_requested)}</dd>
<dt>Scopes granted</dt><dd>${scopes(e.scope_granted)}</dd>
<dt>Scopes denied</dt><dd>${e.scope_denied.length ? html`<ul>${e.scope_denied.map((d) => html`<li><code>${d.scope}</code>: ${d.reason}</li>`)}</ul>` : html`<span class="muted">none</span>`}</dd>
${e.error ? html`<dt>Error</dt><dd>${e.error}</dd>` : ''}
${e.jti ? html`<dt>Token</dt><dd>${link(`${BASE}/tokens/${enc(e.jti)}`, html`<code>${e.jti}</code>`)}</dd>` : ''}
${e.grant_id ? html`<dt>Grant</dt><dd>${link(`${BASE}/grants/${enc(e.grant_id)}`, html`<code>${e.grant_id}</code>`)}</dd>` : ''}
${e.details ? html`<dt>Details</dt><dd><code>${JSON.stringify(e.details)}</code></dd>` : ''}
<dt>Request</dt><dd class="mono">${e.request_id ?? '—'}</dd>
<dt>Chain</dt><dd class="mono">${e.chain_id}#${e.seq} ${e.hash.slice(0, 16)}…</dd>
</dl></details>`,
  )}</div>`;
}

export function auditPages(pages: Pages, verification: VerificationMemo): void {
  pages.get('/audit', async (ctx) => {
    const { api, viewer } = ctx.state.console;
    const names = ['subject', 'actor', 'client', 'type', 'admin', 'since', 'until', 'cursor'] as const;
    const filters = Object.fromEntries(names.map((n) => [n, queryOf(ctx, n)])) as Record<(typeof names)[number], string>;
    const reply = await api({
      method: 'GET',
      path: '/audit',
      query: { ...filters, since: dateParam(filters.since), until: dateParam(filters.until), limit: '50' },
    });
    const failed = reply.status !== 200 ? reply.body : undefined;
    const input = (name: (typeof names)[number], label: string, type = 'text') =>
      html`<label for="f-${name}">${label} <input id="f-${name}" name="${name}" type="${type}" value="${filters[name]}"></label>`;
    const body = html`<p class="actions"><a class="button secondary" href="${BASE}/audit/verify">Verify the hash chains</a></p>
<form class="filters" method="get" action="${BASE}/audit" role="search">
${input('subject', 'Subject')}${input('actor', 'Actor')}${input('client', 'Client')}${input('type', 'Type')}${input('admin', 'Admin')}${input('since', 'Since', 'date')}${input('until', 'Until', 'date')}
<button type="submit">Filter</button> <a href="${BASE}/audit">Clear</a></form>
${apiError(failed)}
${failed ? '' : html`${auditRows(reply.body.items)}${pager(`${BASE}/audit`, filters, reply.body.next_cursor)}`}`;
    render(ctx, failed ? 400 : 200, page('Audit', viewer, '/audit', body));
  });

  pages.get('/audit/verify', async (ctx) => {
    const { api, viewer } = ctx.state.console;
    const reply = await api({ method: 'GET', path: '/audit/verify' });
    const report = reply.body as { ok: boolean; events_checked: number; chains: number; first_broken_link: { chain_id: number; seq: number; event_id: number | null; problem: string } | null };
    if (reply.status === 200) {
      const link = report.first_broken_link;
      verification.set({
        at: new Date(),
        by: viewer.admin,
        ok: report.ok,
        eventsChecked: report.events_checked,
        problem: link ? `chain ${link.chain_id}, position ${link.seq}: ${link.problem}` : null,
      });
    }
    const body =
      reply.status !== 200
        ? apiError(reply.body)
        : report.ok
          ? html`<div class="alert ok" role="status" id="verify-result"><strong>The audit log is intact.</strong> ${report.events_checked} events in ${report.chains} chains checked; every hash matches.</div>`
          : html`<div class="alert bad" role="alert" id="verify-result"><strong>The audit log was altered.</strong> First broken link: chain ${report.first_broken_link?.chain_id}, position ${report.first_broken_link?.seq}${report.first_broken_link?.event_id ? html` (event ${report.first_broken_link.event_id})` : ''}: ${report.first_broken_link?.problem}. ${report.events_checked} events checked.</div>`;
    render(ctx, 200, page('Audit chain verification', viewer, '/audit', html`${body}<p><a href="${BASE}/audit">Back to the timeline</a></p>`));
  });
}
