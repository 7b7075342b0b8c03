/**
 * The person's approval pages, as HTML (pure: data in, markup out). Every value goes through the
 * console's escaping `html` template, so an agent's binding_message or purpose is shown as text.
 */
import { html, type Html } from '../../console/html.js';
import { documentShell } from '../../console/layout.js';
import type { ApprovalRequest } from '../store.js';

export const APPROVE_BASE = '/approve';

/** Where the person's IdP sends the browser back after sign-in (the redirect URI to register there). */
export const approvalCallbackUrl = (deputyIssuer: string) => `${deputyIssuer}${APPROVE_BASE}/callback`;

export interface PageViewer {
  subjectId: string;
  csrf: string;
}

export function approvalPage(title: string, viewer: PageViewer | null, body: Html): Html {
  return documentShell({
    title,
    site: 'Deputy approvals',
    topBar: html`<a class="brand" href="${APPROVE_BASE}">Deputy approvals</a>
  ${viewer
    ? html`<nav aria-label="Approvals"><a href="${APPROVE_BASE}">Pending requests</a><a href="${APPROVE_BASE}/delegations">My delegations</a></nav>
  <span class="who">Signed in as <strong>${viewer.subjectId}</strong></span>
  <form method="post" action="${APPROVE_BASE}/sign-out">${csrfInput(viewer)}<button type="submit">Sign out</button></form>`
    : ''}`,
    main: html`<h1>${title}</h1>
${body}`,
  });
}

const csrfInput = (viewer: PageViewer) => html`<input type="hidden" name="_csrf" value="${viewer.csrf}">`;

export const notice = (text: string, tone: 'ok' | 'bad' = 'bad') => html`<div class="alert ${tone}" role="${tone === 'bad' ? 'alert' : 'status'}">${text}</div>`;

const humanDuration = (seconds: number) =>
  seconds % 86400 === 0 ? `${seconds / 86400} day(s)` : seconds % 3600 === 0 ? `${seconds / 3600} hour(s)` : seconds % 60 === 0 ? `${seconds / 60} minute(s)` : `${seconds} second(s)`;

export function pendingListBody(requests: readonly ApprovalRequest[]): Html {
  if (requests.length === 0) return html`<p>No request is waiting for you.</p>`;
  return html`<ul class="approvals">${requests.map(
    (r) => html`<li><a href="${APPROVE_BASE}/requests/${r.id}">${r.actorId} asks for ${r.scopes.join(' ')} on ${r.resource}</a> <span class="muted">(via ${r.clientId}, until ${r.expiresAt.toISOString()})</span></li>`,
  )}</ul>`;
}

/** One request; scopes the person holds no entitlement for are marked and not offered. */
export function requestBody(request: ApprovalRequest, entitled: ReadonlySet<string>, viewer: PageViewer): Html {
  const facts = html`<dl class="facts">
<dt>Who asks</dt><dd>Agent <strong>${request.actorId}</strong>, through the application <strong>${request.clientId}</strong></dd>
<dt>Resource</dt><dd><code>${request.resource}</code></dd>
<dt>For how long</dt><dd>${humanDuration(request.durationSeconds)}</dd>
<dt>Why</dt><dd>${request.purpose || html`<span class="muted">(not given)</span>`}</dd>
<dt>Code shown by the agent</dt><dd><strong class="binding-message">${request.bindingMessage ?? '(none)'}</strong></dd>
<dt>Status</dt><dd>${request.status}</dd>
</dl>`;
  if (request.status !== 'pending') return html`${facts}<p><a href="${APPROVE_BASE}">Back to pending requests</a></p>`;
  const scopes = request.scopes.map((scope) =>
    entitled.has(scope)
      ? html`<label class="check"><input type="checkbox" name="scope" value="${scope}" checked> ${scope}</label>`
      : html`<label class="check muted"><input type="checkbox" disabled> ${scope} <span class="badge bad">you are not entitled to this</span></label>`,
  );
  return html`${facts}
<form method="post" action="${APPROVE_BASE}/requests/${request.id}/approve" class="decision">${csrfInput(viewer)}
<fieldset class="scopes"><legend>Scopes to grant</legend>${scopes}</fieldset>
<label for="duration">Duration, seconds (at most ${request.durationSeconds})
<input id="duration" name="duration" type="number" min="1" max="${request.durationSeconds}" value="${request.durationSeconds}"></label>
<div class="actions"><button type="submit">Approve</button><button type="submit" form="deny" class="danger">Deny</button></div>
</form>
<form id="deny" method="post" action="${APPROVE_BASE}/requests/${request.id}/deny">${csrfInput(viewer)}</form>`;
}

export interface DelegationRow {
  id: string;
  actorId: string;
  resource: string;
  scopes: string[];
  expiresAt: Date | null;
}

export function delegationsBody(grants: readonly DelegationRow[], viewer: PageViewer): Html {
  if (grants.length === 0) return html`<p>You have no active delegations.</p>`;
  return html`<table><thead><tr><th>Agent</th><th>Resource</th><th>Scopes</th><th>Until</th><th></th></tr></thead><tbody>${grants.map(
    (g) => html`<tr><td>${g.actorId}</td><td><code>${g.resource}</code></td><td>${g.scopes.join(' ')}</td><td>${g.expiresAt?.toISOString() ?? 'no expiry'}</td>
<td><form method="post" action="${APPROVE_BASE}/delegations/${g.id}/revoke">${csrfInput(viewer)}<button type="submit" class="danger">Revoke</button></form></td></tr>`,
  )}</tbody></table>`;
}
