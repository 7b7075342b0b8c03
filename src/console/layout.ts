/**
 * The page shell and the small pieces every console page uses. Every page is a full HTML
 * document with one stylesheet from /console/assets and no script: forms and links do the work.
 */
import type { AdminErrorBody } from './dispatch.js';
import { html, type Html, type Interpolation } from './html.js';

export const BASE = '/console';

export interface Viewer {
  admin: string;
  csrf: string;
}

const NAV: Array<[path: string, label: string]> = [
  ['', 'Overview'],
  ['/actors', 'Actors'],
  ['/grants', 'Grants'],
  ['/approvals', 'Approvals'],
  ['/tokens', 'Tokens'],
  ['/audit', 'Audit'],
  ['/registry', 'Registry'],
];

/**
 * A whole page of Deputy's server-rendered sites (the console, the approval pages, the demo
 * identity provider): the console's one stylesheet, no script, a top bar, the main content.
 */
export function documentShell({ title, site, topBar, main }: { title: string; site: string; topBar: Html; main: Html }): Html {
  return html`<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${title} · ${site}</title>
<link rel="stylesheet" href="${BASE}/assets/console.css">
</head>
<body>
<a class="skip" href="#main">Skip to content</a>
<header class="top">
  ${topBar}
</header>
<main id="main">
${main}
</main>
</body>
</html>`;
}

export function page(title: string, viewer: Viewer | null, current: string, body: Html): Html {
  return documentShell({
    title,
    site: 'Deputy console',
    topBar: html`<a class="brand" href="${BASE}">Deputy</a>
  ${viewer
    ? html`<nav aria-label="Console">${NAV.map(
        ([path, label]) => html`<a href="${BASE}${path}"${current === path ? html` aria-current="page"` : ''}>${label}</a>`,
      )}</nav>
  <span class="who">Signed in as <strong>${viewer.admin}</strong></span>
  <form method="post" action="${BASE}/sign-out">${csrfField(viewer)}<button type="submit">Sign out</button></form>`
    : ''}`,
    main: html`<h1>${title}</h1>
${body}`,
  });
}

export const csrfField = (viewer: Viewer) => html`<input type="hidden" name="_csrf" value="${viewer.csrf}">`;

export function badge(text: string, tone: 'ok' | 'bad' | 'muted'): Html {
  return html`<span class="badge ${tone}">${text}</span>`;
}

export const statusBadge = (status: string) => badge(status, status === 'active' ? 'ok' : 'bad');

/** A timestamp as UTC to the minute, with the full value in a <time> element. */
export function when(iso: string | null | undefined, empty = '—'): Html {
  if (!iso) return html`<span class="muted">${empty}</span>`;
  return html`<time datetime="${iso}">${iso.slice(0, 16).replace('T', ' ')}</time>`;
}

export const link = (href: string, text: Interpolation) => html`<a href="${href}">${text}</a>`;
export const enc = encodeURIComponent;

/** The API's error message, and each issue under the field it is about. */
export function apiError(reply: unknown): Html {
  const error = reply as AdminErrorBody | undefined;
  if (!error?.error_description) return html``;
  return html`<div class="alert bad" role="alert"><strong>${error.error_description}</strong>${
    error.issues && error.issues.length > 1
      ? html`<ul>${error.issues.map((issue) => html`<li>${[...issue.path].join('.') || issue.in}: ${issue.message}</li>`)}</ul>`
      : ''
  }</div>`;
}

/** The API's message for one field, shown next to it. */
export function fieldError(error: AdminErrorBody | undefined, field: string): Html {
  const issue = error?.issues?.find((i) => String(i.path[0] ?? '') === field);
  return issue ? html`<span class="field-error" id="err-${field}">${issue.message}</span>` : html``;
}

export function pager(path: string, query: Record<string, string | undefined>, nextCursor: string | null): Html {
  if (!nextCursor && !query.cursor) return html``;
  const params = (cursor: string | undefined) => {
    const search = new URLSearchParams();
    for (const [name, value] of Object.entries(query)) if (value && name !== 'cursor') search.set(name, value);
    if (cursor) search.set('cursor', cursor);
    return `${path}?${search}`;
  };
  return html`<nav class="pager" aria-label="Pages">${query.cursor ? html`<a href="${params(undefined)}">First page</a>` : ''}${
    nextCursor ? html`<a href="${params(nextCursor)}" rel="next">Next page</a>` : ''
  }</nav>`;
}

export function table(headers: Interpolation[], rows: Html[], empty: string): Html {
  if (rows.length === 0) return html`<p class="muted">${empty}</p>`;
  return html`<div class="table-wrap"><table><thead><tr>${headers.map((h) => html`<th scope="col">${h}</th>`)}</tr></thead><tbody>${rows}</tbody></table></div>`;
}
