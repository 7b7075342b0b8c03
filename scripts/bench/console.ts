/**
 * The console phase of `npm run bench`: each main page's time, as a signed-in admin sees it
 * over loopback (request sent → last byte of HTML received; one request at a time, so the
 * figure is the server's work plus a loopback round trip), with the bench world loaded. The
 * target (issue 12): the largest list under 200 ms.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { hashClientSecret } from '../../src/oauth/client-secrets.js';

export interface ConsolePageTiming {
  page: string;
  path: string;
  status: number;
  bytes: number;
  medianMs: number;
  p95Ms: number;
  maxMs: number;
}

const ROUNDS = 30;
const WARMUP_ROUNDS = 3;
const LIST_TARGET_MS = 200;

async function signIn(url: string, clientId: string, secret: string): Promise<string> {
  const response = await fetch(`${url}/console/sign-in`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', origin: url },
    body: new URLSearchParams({ client_id: clientId, secret }),
  });
  const cookie = response.headers.getSetCookie()[0]?.split(';')[0];
  if (response.status !== 303 || !cookie) throw new Error(`console sign-in failed: ${response.status}`);
  return cookie;
}

async function time(url: string, cookie: string): Promise<{ ms: number; status: number; bytes: number }> {
  const started = performance.now();
  const response = await fetch(url, { headers: { cookie }, redirect: 'manual' });
  const body = await response.arrayBuffer();
  return { ms: performance.now() - started, status: response.status, bytes: body.byteLength };
}

const round1 = (n: number) => Math.round(n * 10) / 10;

export async function benchConsole(url: string, databaseUrl: string, pepper: string): Promise<{ pages: ConsolePageTiming[]; largestListMs: number; target: string; met: boolean }> {
  const clientId = 'bench-console-admin';
  const secret = randomBytes(32).toString('base64url');
  const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  let jti: string;
  try {
    await pool.query(
      `INSERT INTO clients (client_id, client_secret_hash, token_endpoint_auth_method, scope) VALUES ($1, $2, 'client_secret_basic', 'deputy:admin')
       ON CONFLICT (client_id) DO UPDATE SET client_secret_hash = EXCLUDED.client_secret_hash`,
      [clientId, hashClientSecret(secret, pepper)],
    );
    const { rows } = await pool.query<{ jti: string }>('SELECT jti FROM issued_tokens ORDER BY issued_at DESC LIMIT 1');
    jti = rows[0]?.jti ?? 'past-1';
  } finally {
    await pool.end();
  }
  const cookie = await signIn(url, clientId, secret);

  const pages: Array<[name: string, path: string, list: boolean]> = [
    ['overview', '/console', false],
    ['actors (50 of 1,000)', '/console/actors', true],
    ['actors by owner', '/console/actors?owner=user-00042', true],
    ['actors unused since', '/console/actors?status=active&unused_since=2030-01-01', true],
    ['actor page', '/console/actors/actor-0042', false],
    ['grants (50 of 20,000+)', '/console/grants', true],
    ['grants of a subject', '/console/grants?subject=user-00042', true],
    ['tokens (50 of 100,000+)', '/console/tokens', true],
    ['tokens of an actor', '/console/tokens?actor=actor-0042', true],
    ['token page (chain)', `/console/tokens/${encodeURIComponent(jti)}`, false],
    ['audit timeline', '/console/audit', true],
    ['subjects (50 of 10,000)', '/console/registry/subjects', true],
    ['entitlements (50 of 200,000)', '/console/registry/entitlements', true],
    ['clients', '/console/registry/clients', true],
  ];
  const timings: ConsolePageTiming[] = [];
  for (const [page, path] of pages) {
    for (let i = 0; i < WARMUP_ROUNDS; i++) await time(`${url}${path}`, cookie);
    const samples: number[] = [];
    let last = { status: 0, bytes: 0 };
    for (let i = 0; i < ROUNDS; i++) {
      const result = await time(`${url}${path}`, cookie);
      samples.push(result.ms);
      last = result;
    }
    samples.sort((a, b) => a - b);
    timings.push({
      page,
      path,
      status: last.status,
      bytes: last.bytes,
      medianMs: round1(samples[Math.floor(samples.length / 2)]!),
      p95Ms: round1(samples[Math.ceil(samples.length * 0.95) - 1]!),
      maxMs: round1(samples.at(-1)!),
    });
  }
  const lists = timings.filter((_, i) => pages[i]![2]);
  const largestListMs = Math.max(...lists.map((t) => t.p95Ms));
  return {
    pages: timings,
    largestListMs,
    target: `every console list page's p95 < ${LIST_TARGET_MS} ms with the bench world`,
    met: largestListMs < LIST_TARGET_MS && timings.every((t) => t.status === 200),
  };
}

export function consoleTable(pages: ConsolePageTiming[]): string {
  const header = ['console page', 'status', 'KiB', 'median ms', 'p95 ms', 'max ms'];
  const rows = pages.map((t) => [t.page, String(t.status), (t.bytes / 1024).toFixed(1), String(t.medianMs), String(t.p95Ms), String(t.maxMs)]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ');
  return [line(header), ...rows.map(line)].join('\n');
}
