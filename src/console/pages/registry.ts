/**
 * The registry: subjects, resources, entitlements, clients and trusted issuers — lists, create,
 * edit, disable (a subject), withdraw (an entitlement), stop trusting (an issuer) and rotate (a
 * client's secret). Every write
 * is the admin API's, so its validation messages appear next to the fields. A client's secret
 * is shown once, on the page answering its creation or rotation, and never again.
 */
import type { AdminErrorBody } from '../dispatch.js';
import { html, type Html } from '../html.js';
import { BASE, apiError, csrfField, enc, fieldError, page, pager, statusBadge, table, when, type Viewer } from '../layout.js';
import { fieldOf, formOf, queryOf, redirect, render, renderFailure, type ConsoleContext, type Pages } from '../router.js';

const words = (value: string) => value.split(/[\s,]+/).filter(Boolean);

interface Section {
  path: string;
  title: string;
  list(ctx: ConsoleContext, error?: AdminErrorBody, form?: Record<string, string>): Promise<Html>;
}

function secretOnce(clientId: string, secret: string): Html {
  return html`<div class="alert warn" role="alert"><strong>The secret of <code>${clientId}</code>, shown this once:</strong>
<p class="mono" id="client-secret">${secret}</p>Store it now: Deputy keeps only a keyed hash of it and cannot show it again.</div>`;
}

export function registryPages(pages: Pages): void {
  const input = (form: Record<string, string>, error: AdminErrorBody | undefined, name: string, label: string, extra: Html = html``) =>
    html`<label for="n-${name}">${label} <input id="n-${name}" name="${name}" value="${form[name] ?? ''}"${extra}>${fieldError(error, name)}</label>`;

  const listOf = async (ctx: ConsoleContext, path: string, query: Record<string, string> = {}) =>
    ctx.state.console.api({ method: 'GET', path, query: { ...query, cursor: queryOf(ctx, 'cursor') || undefined, limit: '50' } });

  const sections: Section[] = [
    {
      path: '/subjects',
      title: 'Subjects',
      async list(ctx, error, form = {}) {
        const { viewer } = ctx.state.console;
        const reply = await listOf(ctx, '/subjects');
        return html`<form method="post" action="${BASE}/registry/subjects" class="filters card">${csrfField(viewer)}
${input(form, error, 'id', 'New subject id', html` required`)}${input(form, error, 'email', 'Email')}<button type="submit">Create subject</button></form>
${reply.status === 200 ? html`${table(['Subject', 'Email', 'Status', 'Created', ''], reply.body.items.map((s: { id: string; email: string | null; status: string; created_at: string }) => html`<tr><td><a href="${BASE}/actors?owner=${enc(s.id)}">${s.id}</a></td><td>${s.email ?? ''}</td><td>${statusBadge(s.status)}</td><td>${when(s.created_at)}</td>
<td class="actions"><a href="${BASE}/registry/subjects/${enc(s.id)}/edit">Edit</a> <form method="post" action="${BASE}/registry/subjects/${enc(s.id)}/status">${csrfField(viewer)}<input type="hidden" name="status" value="${s.status === 'active' ? 'disabled' : 'active'}"><button type="submit" class="secondary">${s.status === 'active' ? 'Disable' : 'Re-enable'}</button></form></td></tr>`), 'No subjects.')}${pager(`${BASE}/registry/subjects`, { cursor: queryOf(ctx, 'cursor') }, reply.body.next_cursor)}` : apiError(reply.body)}`;
      },
    },
    {
      path: '/resources',
      title: 'Resources',
      async list(ctx, error, form = {}) {
        const reply = await listOf(ctx, '/resources');
        return html`<form method="post" action="${BASE}/registry/resources" class="filters card">${csrfField(ctx.state.console.viewer)}
${input(form, error, 'uri', 'New resource URI', html` required size="40"`)}${input(form, error, 'scopes', 'Scopes (space-separated)')}<button type="submit">Create resource</button></form>
${reply.status === 200 ? html`${table(['URI', 'Scopes', 'Created', ''], reply.body.items.map((r: { id: string; uri: string; scopes: string[]; created_at: string }) => html`<tr><td><code>${r.uri}</code></td><td>${r.scopes.map((s) => html`<code>${s}</code> `)}</td><td>${when(r.created_at)}</td><td><a href="${BASE}/registry/resources/${enc(r.id)}/edit">Edit</a></td></tr>`), 'No resources.')}${pager(`${BASE}/registry/resources`, { cursor: queryOf(ctx, 'cursor') }, reply.body.next_cursor)}` : apiError(reply.body)}`;
      },
    },
    {
      path: '/entitlements',
      title: 'Entitlements',
      async list(ctx, error, form = {}) {
        const reply = await listOf(ctx, '/entitlements');
        return html`<form method="post" action="${BASE}/registry/entitlements" class="filters card">${csrfField(ctx.state.console.viewer)}
${input(form, error, 'subject', 'Subject', html` required`)}${input(form, error, 'resource', 'Resource URI', html` required size="36"`)}${input(form, error, 'scope', 'Scope', html` required`)}<button type="submit">Entitle</button></form>
${reply.status === 200 ? html`${table(['Subject', 'Resource', 'Scope', 'Expires', ''], reply.body.items.map((e: { id: string; subject: string; resource: string; scope: string; expires_at: string | null }) => html`<tr><td>${e.subject}</td><td><code>${e.resource}</code></td><td><code>${e.scope}</code></td><td>${when(e.expires_at, 'never')}</td><td class="actions"><a href="${BASE}/registry/entitlements/${enc(e.id)}/withdraw">Withdraw…</a></td></tr>`), 'No entitlements.')}${pager(`${BASE}/registry/entitlements`, { cursor: queryOf(ctx, 'cursor') }, reply.body.next_cursor)}` : apiError(reply.body)}`;
      },
    },
    {
      path: '/clients',
      title: 'Clients',
      async list(ctx, error, form = {}) {
        const { viewer } = ctx.state.console;
        const reply = await listOf(ctx, '/clients');
        return html`<form method="post" action="${BASE}/registry/clients" class="filters card">${csrfField(viewer)}
${input(form, error, 'client_id', 'New client id', html` required`)}${input(form, error, 'actor', 'Acts as actor')}${input(form, error, 'scope', 'Scope (e.g. deputy:admin)')}<button type="submit">Create client</button></form>
${reply.status === 200 ? html`${table(['Client', 'Auth', 'Actor', 'Scope', 'Created', ''], reply.body.items.map((c: { client_id: string; token_endpoint_auth_method: string; actor: string | null; scope: string; created_at: string }) => html`<tr><td><code>${c.client_id}</code></td><td>${c.token_endpoint_auth_method}</td><td>${c.actor ?? ''}</td><td><code>${c.scope}</code></td><td>${when(c.created_at)}</td>
<td class="actions"><a href="${BASE}/registry/clients/${enc(c.client_id)}/edit">Edit</a> ${c.token_endpoint_auth_method.startsWith('client_secret') ? html`<form method="post" action="${BASE}/registry/clients/${enc(c.client_id)}/secret">${csrfField(viewer)}<button type="submit" class="secondary">Rotate secret</button></form>` : ''}</td></tr>`), 'No clients.')}${pager(`${BASE}/registry/clients`, { cursor: queryOf(ctx, 'cursor') }, reply.body.next_cursor)}` : apiError(reply.body)}`;
      },
    },
    {
      path: '/issuers',
      title: 'Trusted issuers',
      async list(ctx, error, form = {}) {
        const { viewer } = ctx.state.console;
        const reply = await listOf(ctx, '/issuers');
        const kind = form.kind ?? 'user';
        return html`<form method="post" action="${BASE}/registry/issuers" class="card">${csrfField(viewer)}
<div class="filters">${input(form, error, 'issuer', 'Issuer (iss)', html` required size="30"`)}
<label for="n-kind">Kind <select id="n-kind" name="kind"><option value="user"${kind === 'user' ? html` selected` : ''}>user</option><option value="workload"${kind === 'workload' ? html` selected` : ''}>workload</option></select>${fieldError(error, 'kind')}</label>
${input(form, error, 'audience', 'Audience (aud for Deputy)', html` required`)}${input(form, error, 'subject_claim', 'Subject claim (default sub)')}</div>
<div class="filters">${input(form, error, 'jwks_uri', 'JWKS URI', html` size="40"`)}</div>
<label for="n-jwks">or an inline JWKS (JSON) <textarea id="n-jwks" name="jwks" spellcheck="false">${form.jwks ?? ''}</textarea>${fieldError(error, 'jwks')}</label>
<p><button type="submit">Trust this issuer</button></p></form>
${reply.status === 200 ? html`${table(['Issuer', 'Kind', 'Audience', 'Keys from', ''], reply.body.items.map((i: { id: string; issuer: string; kind: string; audience: string; jwks_uri: string | null }) => html`<tr><td><code>${i.issuer}</code></td><td>${i.kind}</td><td><code>${i.audience}</code></td><td>${i.jwks_uri ? html`<code>${i.jwks_uri}</code>` : 'inline JWKS'}</td>
<td class="actions"><a href="${BASE}/registry/issuers/${enc(i.id)}/edit">Edit</a> <a href="${BASE}/registry/issuers/${enc(i.id)}/delete">Stop trusting…</a></td></tr>`), 'No trusted issuers.')}${pager(`${BASE}/registry/issuers`, { cursor: queryOf(ctx, 'cursor') }, reply.body.next_cursor)}` : apiError(reply.body)}`;
      },
    },
  ];

  const tabs = (viewer: Viewer, current: string) =>
    html`<nav aria-label="Registry" class="actions">${sections.map((s) => html`<a href="${BASE}/registry${s.path}"${s.path === current ? html` aria-current="page"` : ''}>${s.title}</a>`)}</nav>`;

  const show = async (ctx: ConsoleContext, section: Section, status: number, notice: Html = html``, error?: AdminErrorBody, form?: Record<string, string>) =>
    render(ctx, status, page(section.title, ctx.state.console.viewer, '/registry', html`${tabs(ctx.state.console.viewer, section.path)}${notice}${error ? apiError(error) : ''}${await section.list(ctx, error, form)}`));

  pages.get('/registry', async (ctx) => redirect(ctx, `${BASE}/registry/subjects`));
  for (const section of sections) pages.get(`/registry${section.path}`, (ctx) => show(ctx, section, 200));

  const [subjects, resources, entitlements, clients, issuers] = sections as [Section, Section, Section, Section, Section];

  /** A create form: the API's body from the form, then the list again (with the API's messages on failure). */
  const create = (section: Section, toBody: (form: Record<string, string>) => unknown, done: (ctx: ConsoleContext, body: any) => Html) =>
    pages.post(`/registry${section.path}`, async (ctx) => {
      const form = Object.fromEntries(Object.entries(formOf(ctx)).filter(([, v]) => typeof v === 'string')) as Record<string, string>;
      const reply = await ctx.state.console.api({ method: 'POST', path: section.path, body: toBody(form) });
      if (reply.status !== 201) return show(ctx, section, reply.status === 409 ? 409 : 400, html``, reply.body, form);
      await show(ctx, section, 201, done(ctx, reply.body));
    });

  create(subjects, (f) => ({ id: f.id ?? '', ...(f.email ? { email: f.email } : {}) }), (_ctx, s) => html`<div class="alert ok" role="status">Subject ${s.id} created.</div>`);
  create(resources, (f) => ({ uri: f.uri ?? '', scopes: words(f.scopes ?? '') }), (_ctx, r) => html`<div class="alert ok" role="status">Resource ${r.uri} created.</div>`);
  create(entitlements, (f) => ({ subject: f.subject ?? '', resource: f.resource ?? '', scope: f.scope ?? '' }), (_ctx, e) => html`<div class="alert ok" role="status">${e.subject} is entitled to ${e.scope}.</div>`);
  create(
    clients,
    (f) => ({ client_id: f.client_id ?? '', ...(f.actor ? { actor: f.actor } : {}), scope: f.scope ?? '' }),
    (_ctx, c) => (c.client_secret ? secretOnce(c.client_id, c.client_secret) : html`<div class="alert ok" role="status">Client ${c.client_id} created.</div>`),
  );

  /** Edit pages: the object's current values in a form; a PATCH of the API on submit. */
  const editors: Array<{
    section: Section;
    apiPath: string;
    label: (body: any) => string;
    fields: Array<{ name: string; label: string; value: (body: any) => string }>;
    toBody: (form: Record<string, string>) => unknown;
  }> = [
    {
      section: subjects,
      apiPath: '/subjects',
      label: (b) => `subject ${b.id}`,
      fields: [{ name: 'email', label: 'Email (empty: none)', value: (b) => b.email ?? '' }],
      toBody: (f) => ({ email: f.email ? f.email : null }),
    },
    {
      section: resources,
      apiPath: '/resources',
      label: (b) => `resource ${b.uri}`,
      fields: [{ name: 'scopes', label: 'Scopes (space-separated; the full new list)', value: (b) => b.scopes.join(' ') }],
      toBody: (f) => ({ scopes: words(f.scopes ?? '') }),
    },
    {
      section: clients,
      apiPath: '/clients',
      label: (b) => `client ${b.client_id}`,
      fields: [
        { name: 'scope', label: 'Scope (e.g. deputy:admin; empty: none)', value: (b) => b.scope },
        { name: 'actor', label: 'Acts as actor (empty: none)', value: (b) => b.actor ?? '' },
        { name: 'allowed_actors', label: 'May present actors (space-separated)', value: (b) => b.allowed_actors.join(' ') },
      ],
      toBody: (f) => ({ scope: f.scope ?? '', actor: f.actor ? f.actor : null, allowed_actors: words(f.allowed_actors ?? '') }),
    },
    {
      section: issuers,
      apiPath: '/issuers',
      label: (b) => `issuer ${b.issuer}`,
      fields: [
        { name: 'audience', label: 'Audience', value: (b) => b.audience },
        { name: 'subject_claim', label: 'Subject claim', value: (b) => b.subject_claim },
        { name: 'jwks_uri', label: 'JWKS URI (empty: keep the inline JWKS)', value: (b) => b.jwks_uri ?? '' },
      ],
      toBody: (f) => ({ audience: f.audience ?? '', subject_claim: f.subject_claim ?? '', ...(f.jwks_uri ? { jwks_uri: f.jwks_uri, jwks: null } : {}) }),
    },
  ];

  for (const editor of editors) {
    const path = `/registry${editor.section.path}/:id/edit`;
    const editPage = (ctx: ConsoleContext, status: number, current: any, form: Record<string, string>, error?: AdminErrorBody) =>
      render(ctx, status, page(`Edit ${editor.label(current)}`, ctx.state.console.viewer, '/registry', html`${apiError(error)}
<form method="post" action="${BASE}/registry${editor.section.path}/${enc(ctx.params.id!)}/edit" class="card">${csrfField(ctx.state.console.viewer)}
${editor.fields.map((field) => html`<p>${input(form, error, field.name, field.label, html` size="50"`)}</p>`)}
<p class="actions"><button type="submit">Save</button> <a href="${BASE}/registry${editor.section.path}">Cancel</a></p></form>`));
    const current = (ctx: ConsoleContext) => ctx.state.console.api({ method: 'GET', path: `${editor.apiPath}/${enc(ctx.params.id!)}` });

    pages.get(path, async (ctx) => {
      const reply = await current(ctx);
      if (reply.status !== 200) return renderFailure(ctx, reply);
      editPage(ctx, 200, reply.body, Object.fromEntries(editor.fields.map((f) => [f.name, f.value(reply.body)])));
    });
    pages.post(path, async (ctx) => {
      const form = Object.fromEntries(editor.fields.map((f) => [f.name, fieldOf(formOf(ctx), f.name)]));
      const reply = await ctx.state.console.api({ method: 'PATCH', path: `${editor.apiPath}/${enc(ctx.params.id!)}`, body: editor.toBody(form) });
      if (reply.status === 200) return show(ctx, editor.section, 200, html`<div class="alert ok" role="status">Saved ${editor.label(reply.body)}.</div>`);
      const before = await current(ctx);
      if (before.status !== 200) return renderFailure(ctx, before);
      editPage(ctx, reply.status === 409 ? 409 : 400, before.body, form, reply.body);
    });
  }

  /** An inline JWKS as typed: JSON when it parses, else the text, for the API to refuse with its message. */
  const jwksOf = (text: string): unknown => {
    try {
      return JSON.parse(text);
    } catch {
      return text;
    }
  };
  create(
    issuers,
    (f) => ({
      issuer: f.issuer ?? '',
      kind: f.kind ?? '',
      audience: f.audience ?? '',
      ...(f.subject_claim ? { subject_claim: f.subject_claim } : {}),
      ...(f.jwks_uri ? { jwks_uri: f.jwks_uri } : {}),
      ...(f.jwks?.trim() ? { jwks: jwksOf(f.jwks) } : {}),
    }),
    (_ctx, i) => html`<div class="alert ok" role="status">${i.issuer} is trusted for ${i.kind} tokens.</div>`,
  );

  pages.get('/registry/issuers/:id/delete', async (ctx) => {
    const { api, viewer } = ctx.state.console;
    const reply = await api({ method: 'GET', path: `/issuers/${enc(ctx.params.id!)}` });
    if (reply.status !== 200) return renderFailure(ctx, reply);
    render(ctx, 200, page('Stop trusting this issuer?', viewer, '/registry', html`<section class="card">
<p>Deputy will refuse every ${reply.body.kind} token from <code>${reply.body.issuer}</code> at once: no exchange presenting one succeeds. Tokens Deputy already minted are not revoked.</p>
<form method="post" action="${BASE}/registry/issuers/${enc(ctx.params.id!)}/delete" class="actions">${csrfField(viewer)}<button type="submit" class="danger">Stop trusting it</button> <a href="${BASE}/registry/issuers">Cancel</a></form></section>`));
  });

  pages.post('/registry/issuers/:id/delete', async (ctx) => {
    const reply = await ctx.state.console.api({ method: 'DELETE', path: `/issuers/${enc(ctx.params.id!)}` });
    if (reply.status !== 204) return renderFailure(ctx, reply, 'Not changed');
    await show(ctx, issuers, 200, html`<div class="alert ok" role="status">The issuer is no longer trusted.</div>`);
  });

  pages.get('/registry/entitlements/:id/withdraw', async (ctx) => {
    const { api, viewer } = ctx.state.console;
    const reply = await api({ method: 'GET', path: `/entitlements/${enc(ctx.params.id!)}` });
    if (reply.status !== 200) return renderFailure(ctx, reply);
    const e = reply.body;
    render(ctx, 200, page('Withdraw this entitlement?', viewer, '/registry', html`<section class="card">
<p><strong>${e.subject}</strong> will no longer hold <code>${e.scope}</code> on <code>${e.resource}</code>: from now on no exchange grants it. Tokens already minted with it stay valid until they expire (at most <code>TOKEN_TTL</code>) unless you revoke them.</p>
<form method="post" action="${BASE}/registry/entitlements/${enc(ctx.params.id!)}/withdraw" class="actions">${csrfField(viewer)}<button type="submit" class="danger">Withdraw it</button> <a href="${BASE}/registry/entitlements">Cancel</a></form></section>`));
  });

  pages.post('/registry/entitlements/:id/withdraw', async (ctx) => {
    const reply = await ctx.state.console.api({ method: 'DELETE', path: `/entitlements/${enc(ctx.params.id!)}` });
    if (reply.status !== 204) return renderFailure(ctx, reply, 'Not changed');
    await show(ctx, entitlements, 200, html`<div class="alert ok" role="status">The entitlement is withdrawn.</div>`);
  });

  pages.post('/registry/subjects/:id/status', async (ctx) => {
    const reply = await ctx.state.console.api({ method: 'PATCH', path: `/subjects/${enc(ctx.params.id!)}`, body: { status: fieldOf(formOf(ctx), 'status') } });
    if (reply.status !== 200) return renderFailure(ctx, reply, 'Not changed');
    await show(ctx, subjects, 200, html`<div class="alert ok" role="status">Subject ${reply.body.id} is now ${reply.body.status}.</div>`);
  });

  pages.post('/registry/clients/:id/secret', async (ctx) => {
    const reply = await ctx.state.console.api({ method: 'POST', path: `/clients/${enc(ctx.params.id!)}/secret` });
    if (reply.status !== 200) return renderFailure(ctx, reply, 'Not rotated');
    await show(ctx, clients, 200, secretOnce(reply.body.client_id, reply.body.client_secret));
  });
}
