/**
 * The console in a real browser (issue 12): Debian's Chromium driven by playwright-core, against
 * a Deputy started here on 127.0.0.1. One browser for the file; one page reused by the flows,
 * which run in order (each starts where the previous one left the console).
 *
 * With CONSOLE_SCREENSHOTS=<dir>, the flows also save screenshots of the main pages there.
 */
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { ADMIN_TOKEN } from '../admin/support.js';
import { RESOURCE, TT, claimsOf, startExchangeWorld, type HttpResult, type World } from '../support/exchange-world.js';

const CHROMIUM = '/usr/bin/chromium';
const AXE_SOURCE = createRequire(import.meta.url)('node:fs').readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8') as string;
const SHOTS = process.env.CONSOLE_SCREENSHOTS;

/** The few DOM globals the tests read inside the page (the project's lib has no DOM types). */
interface BrowserGlobals {
  innerWidth: number;
  document: { activeElement: { textContent: string | null } | null; documentElement: { scrollWidth: number } };
}

function tokenOf(result: HttpResult): string {
  if (result.status !== 200) throw new Error(`expected a token, got ${result.status} ${result.text}`);
  return result.json.access_token as string;
}

describe('console in Chromium', () => {
  let w: World;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  let base: string;
  /** Every request the browser tried to send anywhere but this Deputy. */
  const offsite: string[] = [];
  const axeViolations: Array<{ page: string; id: string; impact: string | null | undefined }> = [];
  const axeScanned: string[] = [];
  let agentToken: string;
  let twoHopToken: string;

  beforeAll(async () => {
    w = await startExchangeWorld({ DEPUTY_ADMIN_TOKEN: ADMIN_TOKEN });
    base = w.deputy.url;
    agentToken = tokenOf(await w.exchangeAs('alice', { scope: 'read' }));

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: ['--no-sandbox', '--disable-background-networking', '--disable-gpu', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
    await context.route('**/*', (route) => {
      const url = new URL(route.request().url());
      if (url.hostname === '127.0.0.1' && url.origin === base) return route.continue();
      offsite.push(url.href);
      return route.abort();
    });
    page = await context.newPage();
    if (SHOTS) mkdirSync(SHOTS, { recursive: true });
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await w?.stop();
  });

  async function shot(name: string): Promise<void> {
    if (SHOTS) await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
  }

  /** axe-core run in the page (CDP evaluation, which the page's CSP does not govern). */
  async function axe(label: string): Promise<void> {
    await page.evaluate(AXE_SOURCE);
    const violations = await page.evaluate(async () => {
      const result = await (globalThis as unknown as { axe: { run(): Promise<{ violations: Array<{ id: string; impact?: string | null }> }> } }).axe.run();
      return result.violations.map((v) => ({ id: v.id, impact: v.impact }));
    });
    axeViolations.push(...violations.map((v) => ({ page: label, ...v })));
    axeScanned.push(label);
  }

  const main = () => page.locator('main');

  it('signs in by keyboard alone, with the strict CSP on every page', async () => {
    const response = await page.goto(`${base}/console/actors`);
    expect(page.url()).toBe(`${base}/console/sign-in`);
    expect(response!.headers()['content-security-policy']).toContain("script-src 'none'");
    expect(response!.headers()['content-security-policy']).toContain("frame-ancestors 'none'");
    await axe('sign-in');
    await shot('console-sign-in');

    await page.keyboard.press('Tab');
    expect(await page.evaluate(() => (globalThis as unknown as BrowserGlobals).document.activeElement?.textContent)).toBe('Skip to content');
    await page.locator('#secret').focus();
    await page.keyboard.type('wrong-' + 'z'.repeat(40));
    await page.keyboard.press('Enter');
    await page.waitForURL(`${base}/console/sign-in`);
    await expect(main().getByRole('alert').textContent()).resolves.toContain('These credentials do not sign in an admin');

    await page.locator('#secret').fill(ADMIN_TOKEN);
    await page.keyboard.press('Enter');
    await page.waitForURL(`${base}/console`);
    await expect(page.locator('header').textContent()).resolves.toContain('Signed in as bootstrap');
    const cookies = await context.cookies();
    expect(cookies.map((c) => [c.name, c.httpOnly, c.sameSite])).toEqual([['deputy-console', true, 'Strict']]);
    expect(JSON.stringify(cookies)).not.toContain(ADMIN_TOKEN);
    await axe('overview');
    await shot('console-overview');
  }, 60_000);

  it('finds an agent by owner, disables it, and sees its token inactive on the token page', async () => {
    await page.getByRole('link', { name: 'Actors', exact: true }).click();
    await page.getByLabel('Owner').fill('alice');
    await page.getByRole('button', { name: 'Filter' }).click();
    await page.waitForURL(/owner=alice/);
    const rows = await main().locator('tbody tr').allTextContents();
    expect(rows.length).toBe(3);
    expect(rows.every((row) => row.includes('alice'))).toBe(true);
    await axe('actors');
    await shot('console-actors');

    await main().getByRole('link', { name: 'agent:a', exact: true }).click();
    await page.waitForURL(`${base}/console/actors/agent%3Aa`);
    await expect(main().textContent()).resolves.toContain('test agent');
    await axe('actor');
    await shot('console-actor');

    await page.getByRole('link', { name: 'Disable (kill switch)…' }).click();
    await expect(main().textContent()).resolves.toContain('every token already issued whose delegation chain names it');
    await page.getByRole('button', { name: 'Disable agent:a' }).click();
    await page.waitForURL(/done=disabled/);
    await expect(main().getByRole('status').textContent()).resolves.toContain('now disabled');

    await page.goto(`${base}/console/tokens/${claimsOf(agentToken).jti}`);
    const verdict = await main().getByRole('status').first().textContent();
    expect(verdict).toContain('Inactive');
    expect(verdict).toContain('the actor agent:a is disabled');
    expect((await w.introspect(agentToken)).json).toEqual({ active: false });
    await shot('console-token-inactive');

    // Re-enable, for the flows below. A kill switch is final: the old token stays inactive, and its page says why.
    await page.goto(`${base}/console/actors/agent%3Aa`);
    await page.getByRole('button', { name: 'Re-enable' }).click();
    await page.waitForURL(/done=active/);
    expect((await w.introspect(agentToken)).json).toEqual({ active: false });
    await page.goto(`${base}/console/tokens/${claimsOf(agentToken).jti}`);
    expect(await main().getByRole('status').first().textContent()).toContain('was disabled after this token was issued');
  }, 60_000);

  it('creates a grant (warned when it exceeds entitlements) and revokes it', async () => {
    await page.goto(`${base}/console/grants/new`);
    await page.getByLabel('Subject').fill('bob');
    await page.getByLabel('Actor').fill('agent:c');
    await page.getByLabel('Resource URI').fill(RESOURCE);
    await page.getByRole('button', { name: "Show the resource's scopes" }).click();
    await page.getByRole('checkbox', { name: 'read' }).check();
    await page.getByRole('checkbox', { name: /write/ }).check();
    await axe('grant-new');
    await page.getByRole('button', { name: 'Create grant' }).click();
    // bob is entitled to read only: a warning, and a confirmation before anything is created.
    await expect(main().getByRole('alert').first().textContent()).resolves.toContain('bob is not entitled to write');
    expect(await w.sql("SELECT id FROM delegation_grants WHERE subject_id = 'bob'")).toEqual([]);
    await shot('console-grant-warning');
    await page.getByRole('checkbox', { name: /write/ }).uncheck();
    await page.getByRole('button', { name: 'Create grant' }).click();
    await page.waitForURL(/\/console\/grants\/[0-9a-f-]{36}\?done=created/);
    const [grant] = await w.sql<{ id: string; scopes: string[] }>("SELECT id, scopes FROM delegation_grants WHERE subject_id = 'bob'");
    expect(grant!.scopes).toEqual(['read']);
    const [created] = await w.sql("SELECT admin FROM audit_events WHERE type = 'grant.created' AND grant_id = $1", [grant!.id]);
    expect(created).toEqual({ admin: 'bootstrap' });

    await page.getByRole('link', { name: 'Revoke…' }).click();
    await page.getByLabel(/Reason/).fill('no longer needed');
    await page.getByRole('button', { name: 'Revoke grant' }).click();
    await page.waitForURL(/done=revoked/);
    await expect(main().textContent()).resolves.toContain('by bootstrap');
    const [revoked] = await w.sql<{ revoked_by: string }>('SELECT revoked_by FROM delegation_grants WHERE id = $1', [grant!.id]);
    expect(revoked!.revoked_by).toBe('bootstrap');
    await page.goto(`${base}/console/grants`);
    await shot('console-grants');
  }, 60_000);

  it('follows a two-hop token\'s chain, and pastes a token to see the same', async () => {
    // Minted now: agent:a was disabled and re-enabled above, which a token issued before stays dead for.
    const first = tokenOf(await w.exchangeAs('alice', { scope: 'read write' }));
    twoHopToken = tokenOf(await w.exchange({ subject_token: first, subject_token_type: TT.accessToken, resource: RESOURCE }, { clientId: 'app-b' }));
    await page.goto(`${base}/console/tokens?actor=agent%3Ab`);
    await shot('console-tokens');
    await main().getByRole('link', { name: new RegExp(`^${String(claimsOf(twoHopToken).jti).slice(0, 8)}`) }).click();
    const chain = main().getByRole('list', { name: 'Delegation chain' });
    const nodes = await chain.locator(':scope > li').allTextContents();
    expect(nodes).toHaveLength(4);
    expect(nodes[0]).toContain('alice');
    expect(nodes[1]).toContain('agent:a');
    expect(nodes[2]).toContain('agent:b');
    expect(nodes[3]).toContain('read write');
    await expect(main().getByRole('status').first().textContent()).resolves.toContain('Active now');
    await axe('token');
    await shot('console-token-chain');
    await chain.getByRole('link', { name: 'agent:b' }).click();
    await page.waitForURL(`${base}/console/actors/agent%3Ab`);

    await page.goto(`${base}/console/tokens/inspect`);
    await page.getByLabel(/A Deputy access token/).fill(twoHopToken);
    await page.getByRole('button', { name: 'Inspect' }).click();
    await expect(main().textContent()).resolves.toContain("Signature verified with Deputy's published key");
    expect(await main().getByRole('list', { name: 'Delegation chain' }).locator(':scope > li').count()).toBe(4);
    expect(await page.content()).not.toContain(twoHopToken);
  }, 60_000);

  it('shows the audit timeline and verifies the chain', async () => {
    await page.goto(`${base}/console/audit`);
    const first = main().locator('details').first();
    await first.locator('summary').click();
    await expect(first.textContent()).resolves.toContain('Scopes requested');
    await axe('audit');
    await shot('console-audit');
    await page.getByRole('link', { name: 'Verify the hash chains' }).click();
    await expect(page.locator('#verify-result').textContent()).resolves.toContain('The audit log is intact');
  }, 60_000);

  it('refuses a forged POST from the browser without the CSRF token: 403, nothing changed', async () => {
    const reply = await page.request.post(`${base}/console/actors/agent%3Ac/status`, { form: { status: 'disabled' }, headers: { origin: base } });
    expect(reply.status()).toBe(403);
    const [actor] = await w.sql<{ status: string }>("SELECT status FROM actors WHERE id = 'agent:c'");
    expect(actor!.status).toBe('active');
  });

  it('is readable at phone width: nothing wider than the screen', async () => {
    await page.setViewportSize({ width: 390, height: 844 });
    for (const path of ['/console', '/console/actors', `/console/tokens/${claimsOf(twoHopToken).jti}`, '/console/audit']) {
      const response = await page.goto(`${base}${path}`);
      expect({ path, status: response!.status(), url: page.url() }).toEqual({ path, status: 200, url: `${base}${path}` });
      const overflow = await page.evaluate(() => {
        const { document, innerWidth } = globalThis as unknown as BrowserGlobals;
        return document.documentElement.scrollWidth - innerWidth;
      });
      expect({ path, overflow }).toEqual({ path, overflow: 0 });
      if (path.startsWith('/console/tokens/')) await shot('console-phone-token');
    }
    await page.setViewportSize({ width: 1280, height: 900 });
  }, 60_000);

  it('signs out and is refused afterwards', async () => {
    await page.goto(`${base}/console`);
    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.waitForURL(`${base}/console/sign-in?signed_out=1`);
    await expect(main().getByRole('status').textContent()).resolves.toContain('You are signed out');
    await page.goto(`${base}/console/actors`);
    expect(page.url()).toBe(`${base}/console/sign-in`);
    expect(await context.cookies()).toEqual([]);
  }, 60_000);

  it('sent no request anywhere but this Deputy, and axe found no serious or critical violation', () => {
    expect(offsite).toEqual([]);
    expect(axeScanned).toEqual(['sign-in', 'overview', 'actors', 'actor', 'grant-new', 'token', 'audit']);
    expect(axeViolations.filter((v) => v.impact === 'serious' || v.impact === 'critical')).toEqual([]);
  });
});
