/**
 * Approval requests: agents' asks for a delegation (CIBA), filtered by status, subject and actor;
 * a pending one can be cancelled. Every read and write is the admin API's (`/approvals`).
 */
import { APPROVAL_STATUSES } from '../../approval/statuses.js';
import { html, type Html } from '../html.js';
import { BASE, apiError, badge, csrfField, enc, page, pager, table, when, type Viewer } from '../layout.js';
import { queryOf, redirect, render, renderFailure, type Pages } from '../router.js';

interface Approval {
  id: string;
  client_id: string;
  subject: string;
  actor: string;
  resource: string;
  scopes: string[];
  purpose: string;
  binding_message: string | null;
  status: 'pending' | 'approved' | 'denied' | 'expired' | 'cancelled';
  requested_at: string;
  expires_at: string;
  decided_by: string | null;
  approved_scopes: string[];
}

const TONE: Record<Approval['status'], 'ok' | 'bad' | 'muted'> = { pending: 'muted', approved: 'ok', denied: 'bad', expired: 'muted', cancelled: 'bad' };

function approvalRows(viewer: Viewer, items: Approval[]): Html {
  return table(
    ['Requested', 'Subject', 'Actor', 'Client', 'Resource and scopes', 'Purpose', 'Status', ''],
    items.map(
      (a) => html`<tr><td>${when(a.requested_at)}</td><td>${a.subject}</td><td><code class="id">${a.actor}</code></td><td><code class="id">${a.client_id}</code></td>
<td><code>${a.resource}</code><br>${a.scopes.map((s) => html`<code class="id">${s}</code> `)}</td><td>${a.purpose}${a.binding_message ? html`<br><span class="muted">“${a.binding_message}”</span>` : ''}</td>
<td>${badge(a.status, TONE[a.status])}${a.status === 'approved' ? html`<br><span class="muted">by ${a.decided_by ?? '?'}: ${a.approved_scopes.join(' ')}</span>` : ''}</td>
<td class="actions">${a.status === 'pending' ? html`<form method="post" action="${BASE}/approvals/${enc(a.id)}/cancel">${csrfField(viewer)}<button type="submit" class="secondary">Cancel</button></form>` : ''}</td></tr>`,
    ),
    'No approval requests.',
  );
}

export function approvalPages(pages: Pages): void {
  pages.get('/approvals', async (ctx) => {
    const { api, viewer } = ctx.state.console;
    const filters = { status: queryOf(ctx, 'status'), subject: queryOf(ctx, 'subject'), actor: queryOf(ctx, 'actor'), cursor: queryOf(ctx, 'cursor') };
    const reply = await api({ method: 'GET', path: '/approvals', query: { ...filters, limit: '50' } });
    const failed = reply.status !== 200 ? reply.body : undefined;
    const done = queryOf(ctx, 'done') === 'cancelled' ? html`<div class="alert ok" role="status">The request was cancelled.</div>` : '';
    const body = html`${done}<form class="filters" method="get" action="${BASE}/approvals" role="search">
  <label for="f-status">Status <select id="f-status" name="status"><option value="">any</option>${APPROVAL_STATUSES.map((s) => html`<option value="${s}"${filters.status === s ? html` selected` : ''}>${s}</option>`)}</select></label>
  <label for="f-subject">Subject <input id="f-subject" name="subject" value="${filters.subject}"></label>
  <label for="f-actor">Actor <input id="f-actor" name="actor" value="${filters.actor}"></label>
  <button type="submit">Filter</button> <a href="${BASE}/approvals">Clear</a>
</form>
${apiError(failed)}
${failed ? '' : html`${approvalRows(viewer, reply.body.items)}${pager(`${BASE}/approvals`, filters, reply.body.next_cursor)}`}`;
    render(ctx, failed ? 400 : 200, page('Approval requests', viewer, '/approvals', body));
  });

  pages.post('/approvals/:id/cancel', async (ctx) => {
    const { api } = ctx.state.console;
    const reply = await api<Approval>({ method: 'POST', path: `/approvals/${enc(ctx.params.id!)}/cancel` });
    if (reply.status !== 200) return renderFailure(ctx, reply, 'Not cancelled');
    redirect(ctx, `${BASE}/approvals?done=cancelled`);
  });
}
