/**
 * Delegations: grants list and detail, creating one (the resource's scopes to pick from, with
 * warnings when they exceed the subject's entitlements or the actor's ceiling), and revoking.
 */
import type { AdminErrorBody } from '../dispatch.js';
import { grantWarnings, type GrantWarning } from '../grant-warnings.js';
import { html, type Html } from '../html.js';
import { BASE, apiError, badge, csrfField, enc, fieldError, link, page, pager, table, when, type Viewer } from '../layout.js';
import { fieldOf, fieldsOf, formOf, queryOf, redirect, render, renderFailure, type ConsoleState, type Pages } from '../router.js';
import { dateParam } from './actors.js';

interface Grant {
  id: string;
  subject: string;
  actor: string;
  resource: string;
  scopes: string[];
  expires_at: string | null;
  revoked_at: string | null;
  revoked_by: string | null;
  created_at: string;
}

const grantState = (g: Grant) =>
  g.revoked_at ? badge('revoked', 'bad') : g.expires_at && Date.parse(g.expires_at) <= Date.now() ? badge('expired', 'bad') : badge('active', 'ok');

export function grantRows(items: Grant[]): Html {
  return table(
    ['Grant', 'Subject', 'Actor', html`<span class="hide-narrow">Resource</span>`, 'Scopes', 'Expires', 'State'],
    items.map(
      (g) => html`<tr><td>${link(`${BASE}/grants/${enc(g.id)}`, html`<code>${g.id.slice(0, 8)}</code>`)}</td><td>${g.subject}</td>
<td>${link(`${BASE}/actors/${enc(g.actor)}`, html`<code>${g.actor}</code>`)}</td><td class="hide-narrow"><code>${g.resource}</code></td>
<td>${g.scopes.map((s) => html`<code>${s}</code> `)}</td><td>${when(g.expires_at, 'never')}</td><td>${grantState(g)}</td></tr>`,
    ),
    'No grants.',
  );
}

interface Draft {
  subject: string;
  actor: string;
  resource: string;
  scopes: string[];
  expires_at: string;
}

/** The resource's scopes, and the subject's entitlements and the actor's ceiling to warn against. */
async function draftFacts(api: ConsoleState['api'], draft: Draft) {
  const [resources, entitlements, actor] = await Promise.all([
    draft.resource ? api({ method: 'GET', path: '/resources', query: { uri: draft.resource, limit: '1' } }) : null,
    draft.subject && draft.resource ? api({ method: 'GET', path: '/entitlements', query: { subject: draft.subject, resource: draft.resource, limit: '200' } }) : null,
    draft.actor ? api({ method: 'GET', path: `/actors/${enc(draft.actor)}` }) : null,
  ]);
  const resourceScopes: string[] | null = resources?.status === 200 ? (resources.body.items[0]?.scopes ?? null) : null;
  const entitled: string[] =
    entitlements?.status === 200
      ? entitlements.body.items.filter((e: { expires_at: string | null }) => !e.expires_at || Date.parse(e.expires_at) > Date.now()).map((e: { scope: string }) => e.scope)
      : [];
  const ceiling: string[] = actor?.status === 200 ? actor.body.scope_ceiling : [];
  return { resourceScopes, entitled, ceiling };
}

function grantForm(viewer: Viewer, draft: Draft, facts: Awaited<ReturnType<typeof draftFacts>>, warnings: GrantWarning[], error?: AdminErrorBody, confirming = false): Html {
  const scopeChoices = facts.resourceScopes
    ? html`<fieldset><legend>Scopes of <code>${draft.resource}</code></legend>${facts.resourceScopes.map((scope) => {
        const notes = grantWarnings([scope], { subject: draft.subject || 'the subject', actor: draft.actor || 'the actor', entitled: facts.entitled, ceiling: facts.ceiling });
        return html`<label><span><input type="checkbox" name="scopes" value="${scope}"${draft.scopes.includes(scope) ? html` checked` : ''}> <code>${scope}</code>${notes.map((n) => html` <span class="badge bad">${n.reason === 'not_entitled' ? 'not entitled' : 'above ceiling'}</span>`)}</span></label>`;
      })}${fieldError(error, 'scopes')}</fieldset>`
    : html`<p class="muted">${draft.resource ? 'No resource with this URI: check it.' : 'Choose the resource first, then its scopes.'}</p>`;
  return html`${apiError(error)}
${warnings.length ? html`<div class="alert warn" role="alert"><strong>This grant exceeds what the exchange will honour:</strong><ul>${warnings.map((w) => html`<li>${w.message}</li>`)}</ul>Tokens minted under it carry only the intersection.</div>` : ''}
<form method="get" action="${BASE}/grants/new" class="filters card">
  <label for="g-subject">Subject <input id="g-subject" name="subject" value="${draft.subject}" required></label>
  <label for="g-actor">Actor <input id="g-actor" name="actor" value="${draft.actor}" required></label>
  <label for="g-resource">Resource URI <input id="g-resource" name="resource" value="${draft.resource}" required size="40"></label>
  <button type="submit" class="secondary">Show the resource's scopes</button>
</form>
<form method="post" action="${BASE}/grants" class="card">${csrfField(viewer)}
  <input type="hidden" name="subject" value="${draft.subject}"><input type="hidden" name="actor" value="${draft.actor}"><input type="hidden" name="resource" value="${draft.resource}">
  <p><strong>${draft.subject || '?'}</strong> lets <strong><code>${draft.actor || '?'}</code></strong> act on <code>${draft.resource || '?'}</code> with:</p>
  ${fieldError(error, 'subject')} ${fieldError(error, 'actor')} ${fieldError(error, 'resource')}
  ${scopeChoices}
  <p><label for="g-expires">Expires (optional, UTC date) <input id="g-expires" name="expires_at" type="date" value="${draft.expires_at}"></label>${fieldError(error, 'expires_at')}</p>
  ${confirming ? html`<p><label><span><input type="checkbox" name="confirm" value="yes"> Create it anyway</span></label></p>` : ''}
  <p class="actions"><button type="submit">Create grant</button> <a href="${BASE}/grants">Cancel</a></p>
</form>`;
}

export function grantPages(pages: Pages): void {
  pages.get('/grants', async (ctx) => {
    const { api, viewer } = ctx.state.console;
    const filters = { subject: queryOf(ctx, 'subject'), actor: queryOf(ctx, 'actor'), resource: queryOf(ctx, 'resource'), active: queryOf(ctx, 'active'), cursor: queryOf(ctx, 'cursor') };
    const reply = await api({ method: 'GET', path: '/grants', query: { ...filters, limit: '50' } });
    const failed = reply.status !== 200 ? reply.body : undefined;
    const body = html`<p><a class="button" href="${BASE}/grants/new">New grant…</a></p>
<form class="filters" method="get" action="${BASE}/grants" role="search">
  <label for="f-subject">Subject <input id="f-subject" name="subject" value="${filters.subject}"></label>
  <label for="f-actor">Actor <input id="f-actor" name="actor" value="${filters.actor}"></label>
  <label for="f-resource">Resource <input id="f-resource" name="resource" value="${filters.resource}"></label>
  <label for="f-active">State <select id="f-active" name="active"><option value="">any</option><option value="true"${filters.active === 'true' ? html` selected` : ''}>active</option><option value="false"${filters.active === 'false' ? html` selected` : ''}>revoked or expired</option></select></label>
  <button type="submit">Filter</button> <a href="${BASE}/grants">Clear</a>
</form>
${apiError(failed)}
${failed ? '' : html`${grantRows(reply.body.items)}${pager(`${BASE}/grants`, filters, reply.body.next_cursor)}`}`;
    render(ctx, failed ? 400 : 200, page('Grants', viewer, '/grants', body));
  });

  pages.get('/grants/new', async (ctx) => {
    const { api, viewer } = ctx.state.console;
    const draft: Draft = { subject: queryOf(ctx, 'subject'), actor: queryOf(ctx, 'actor'), resource: queryOf(ctx, 'resource'), scopes: [], expires_at: '' };
    render(ctx, 200, page('New grant', viewer, '/grants', grantForm(viewer, draft, await draftFacts(api, draft), [])));
  });

  pages.post('/grants', async (ctx) => {
    const { api, viewer } = ctx.state.console;
    const form = formOf(ctx);
    const draft: Draft = {
      subject: fieldOf(form, 'subject'),
      actor: fieldOf(form, 'actor'),
      resource: fieldOf(form, 'resource'),
      scopes: fieldsOf(form, 'scopes'),
      expires_at: fieldOf(form, 'expires_at'),
    };
    const facts = await draftFacts(api, draft);
    const warnings = grantWarnings(draft.scopes, { subject: draft.subject, actor: draft.actor, entitled: facts.entitled, ceiling: facts.ceiling });
    if (warnings.length && fieldOf(form, 'confirm') !== 'yes') {
      return render(ctx, 200, page('New grant', viewer, '/grants', grantForm(viewer, draft, facts, warnings, undefined, true)));
    }
    const reply = await api<Grant>({
      method: 'POST',
      path: '/grants',
      body: { subject: draft.subject, actor: draft.actor, resource: draft.resource, scopes: draft.scopes, ...(draft.expires_at ? { expires_at: dateParam(draft.expires_at) } : {}) },
    });
    if (reply.status !== 201) return render(ctx, 400, page('New grant', viewer, '/grants', grantForm(viewer, draft, facts, warnings, reply.body as never, warnings.length > 0)));
    redirect(ctx, `${BASE}/grants/${enc(reply.body.id)}?done=created`);
  });

  pages.get('/grants/:id', async (ctx) => {
    const { api, viewer } = ctx.state.console;
    const reply = await api<Grant>({ method: 'GET', path: `/grants/${enc(ctx.params.id!)}` });
    if (reply.status !== 200) return renderFailure(ctx, reply);
    const g = reply.body;
    const done = queryOf(ctx, 'done');
    const active = !g.revoked_at && !(g.expires_at && Date.parse(g.expires_at) <= Date.now());
    const tokens = await api({ method: 'GET', path: '/tokens', query: { grant: g.id, limit: '1' } });
    const body = html`${done ? html`<div class="alert ok" role="status">Grant ${done}.</div>` : ''}
<section class="card"><p class="chain-line"><strong>${g.subject}</strong> → ${link(`${BASE}/actors/${enc(g.actor)}`, html`<code>${g.actor}</code>`)} → <code>${g.resource}</code></p>
<dl class="facts"><dt>Scopes</dt><dd>${g.scopes.map((s) => html`<code>${s}</code> `)}</dd><dt>State</dt><dd>${grantState(g)}</dd>
<dt>Expires</dt><dd>${when(g.expires_at, 'never')}</dd><dt>Created</dt><dd>${when(g.created_at)}</dd>
<dt>Revoked</dt><dd>${g.revoked_at ? html`${when(g.revoked_at)} by ${g.revoked_by ?? '?'}` : 'no'}</dd><dt>id</dt><dd class="mono">${g.id}</dd></dl>
<p class="actions">${active ? html`<a class="button danger" href="${BASE}/grants/${enc(g.id)}/revoke">Revoke…</a>` : ''} ${link(`${BASE}/tokens?subject=${enc(g.subject)}&actor=${enc(g.actor)}`, 'Tokens of this subject and actor')}
${tokens.status === 200 && tokens.body.items.length ? '' : html`<span class="muted">No token was minted under it.</span>`}</p></section>`;
    render(ctx, 200, page('Grant', viewer, '/grants', body));
  });

  pages.get('/grants/:id/revoke', async (ctx) => {
    const { api, viewer } = ctx.state.console;
    const reply = await api<Grant>({ method: 'GET', path: `/grants/${enc(ctx.params.id!)}` });
    if (reply.status !== 200) return renderFailure(ctx, reply);
    const g = reply.body;
    const body = html`<section class="card"><p>Revoking this grant (<strong>${g.subject}</strong> → <code>${g.actor}</code> on <code>${g.resource}</code>, ${g.scopes.join(' ')}) stops at once:</p>
<ul><li>every exchange that relies on it;</li><li>every token minted under it, or derived from such a token: introspection answers <code>active: false</code>.</li></ul>
<p>It cannot be undone (a new grant can be created). Recorded in the audit log as done by <strong>${viewer.admin}</strong>.</p>
<form method="post" action="${BASE}/grants/${enc(g.id)}/revoke">${csrfField(viewer)}
<p><label for="reason">Reason (recorded in the audit log, optional) <input id="reason" name="reason" maxlength="500" size="50"></label></p>
<p class="actions"><button type="submit" class="danger">Revoke grant</button> <a href="${BASE}/grants/${enc(g.id)}">Cancel</a></p></form></section>`;
    render(ctx, 200, page('Revoke grant?', viewer, '/grants', body));
  });

  pages.post('/grants/:id/revoke', async (ctx) => {
    const { api } = ctx.state.console;
    const reason = fieldOf(formOf(ctx), 'reason').trim();
    const reply = await api<Grant>({ method: 'POST', path: `/grants/${enc(ctx.params.id!)}/revoke`, body: reason ? { reason } : {} });
    if (reply.status !== 200) return renderFailure(ctx, reply, 'Not revoked');
    redirect(ctx, `${BASE}/grants/${enc(reply.body.id)}?done=revoked`);
  });
}
