/**
 * The console's landing page: counts at a glance, each linking to the list it counts.
 */
import { html } from '../html.js';
import { BASE, apiError, page } from '../layout.js';
import { render, type Pages } from '../router.js';
import type { VerificationMemo } from '../verification.js';

interface Overview {
  active_actors_by_kind: Record<string, number>;
  disabled_actors: number;
  actors_expiring_within_7_days: number;
  actors_unused_for_30_days: number;
  active_grants: number;
  tokens_minted_24h: number;
  exchanges_denied_24h: Record<string, number>;
}

function chainStatus(verification: VerificationMemo) {
  const last = verification.get();
  const verify = html`<a href="${BASE}/audit/verify">Verify now</a>`;
  if (!last) return html`<p id="chain-status"><span class="badge muted">not verified</span> since this Deputy process started. ${verify}.</p>`;
  const when = last.at.toISOString().slice(0, 16).replace('T', ' ');
  return last.ok
    ? html`<p id="chain-status"><span class="badge ok">intact</span> ${last.eventsChecked} events, verified at ${when} UTC by ${last.by}. ${verify}.</p>`
    : html`<p id="chain-status"><span class="badge bad">broken</span> ${last.problem ?? ''} (verified at ${when} UTC by ${last.by}). ${verify}.</p>`;
}

const day = (offsetDays: number) => new Date(Date.now() + offsetDays * 86_400_000).toISOString().slice(0, 10);

export function overviewPage(pages: Pages, verification: VerificationMemo): void {
  pages.get('/', async (ctx) => {
    const { api, viewer } = ctx.state.console;
    const reply = await api<Overview>({ method: 'GET', path: '/overview' });
    if (reply.status !== 200) return render(ctx, reply.status, page('Overview', viewer, '', apiError(reply.body)));
    const o = reply.body;
    const tile = (n: number, label: string, href: string) => html`<a class="tile" href="${href}"><div class="n">${n}</div><div class="l">${label}</div></a>`;
    const denied = Object.entries(o.exchanges_denied_24h).sort((a, b) => b[1] - a[1]);
    const deniedTotal = denied.reduce((sum, [, n]) => sum + n, 0);
    const body = html`<h2>Actors</h2><div class="tiles">
${['agent', 'service', 'workload'].map((kind) => tile(o.active_actors_by_kind[kind] ?? 0, `active ${kind}s`, `${BASE}/actors?kind=${kind}&status=active`))}
${tile(o.disabled_actors, 'disabled actors', `${BASE}/actors?status=disabled`)}
${tile(o.actors_expiring_within_7_days, 'expiring within 7 days', `${BASE}/actors?status=active&expiring_before=${day(8)}`)}
${tile(o.actors_unused_for_30_days, 'unused for 30 days', `${BASE}/actors?status=active&unused_since=${day(-30)}`)}
</div>
<h2>Delegations and tokens</h2><div class="tiles">
${tile(o.active_grants, 'active grants', `${BASE}/grants?active=true`)}
${tile(o.tokens_minted_24h, 'tokens minted in 24 h', `${BASE}/tokens`)}
${tile(deniedTotal, 'exchanges denied in 24 h', `${BASE}/audit?type=token.exchange_denied`)}
</div>
${denied.length ? html`<h2>Denied in the last 24 h, by reason</h2><div class="table-wrap"><table><thead><tr><th scope="col">Reason</th><th scope="col">Count</th></tr></thead><tbody>${denied.map(([reason, n]) => html`<tr><td><code>${reason}</code></td><td>${n}</td></tr>`)}</tbody></table></div>` : ''}
<h2>Audit chain</h2>${chainStatus(verification)}`;
    render(ctx, 200, page('Overview', viewer, '', body));
  });
}
