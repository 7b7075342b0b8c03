/**
 * Shared by the stress scenarios (`npm run test:stress`, jest.stress.config.js; never part of
 * `npm test`): Deputy as a real child process (`node --import tsx src/main.ts`) on a fresh
 * cloned database, the exchange world of test/support/exchange-world.ts built by SQL on that
 * database before Deputy starts, a small keep-alive HTTP client that records every request's
 * start, send, answer or socket error, and a figures printer.
 *
 * Everything started here is registered and stopped in `stopAll()` (called from each file's
 * afterAll) and, as a last resort, SIGKILLed synchronously when the jest worker exits.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { freePort } from '../../src/db/embedded.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import type { TestDeputy } from '../support/deputy.js';
import { PEPPER, SECRETS, buildWorld, type World } from '../support/exchange-world.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const ADMIN_TOKEN = 'stress-admin-token-0123456789abcdefghijklmnop';
export const FORM = 'application/x-www-form-urlencoded';

// ---------------------------------------------------------------- output

export function say(scenario: string, line: string): void {
  process.stdout.write(`[stress ${scenario}] ${line}\n`);
}

export function figures(scenario: string, values: Record<string, unknown>): void {
  const lines = Object.entries(values).map(([name, value]) => `  ${name}: ${typeof value === 'string' ? value : JSON.stringify(value)}`);
  process.stdout.write(`\n[stress ${scenario}] FIGURES\n${lines.join('\n')}\n\n`);
}

/** Collects failed checks so one run reports all of them, then fails with the list. */
export class Checks {
  readonly failures: string[] = [];
  constructor(private readonly scenario: string) {}
  check(ok: boolean, what: string): void {
    say(this.scenario, `${ok ? 'ok  ' : 'FAIL'} ${what}`);
    if (!ok) this.failures.push(what);
  }
  assertAll(): void {
    if (this.failures.length > 0) {
      throw new Error(`${this.scenario}: ${this.failures.length} check(s) failed:\n- ${this.failures.join('\n- ')}`);
    }
  }
}

// ---------------------------------------------------------------- cleanup

const children = new Set<ChildProcess>();
const cleanups: Array<() => Promise<void>> = [];

process.on('exit', () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
});

export function onCleanup(run: () => Promise<void>): void {
  cleanups.push(run);
}

export async function stopAll(): Promise<void> {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  while (cleanups.length > 0) {
    const run = cleanups.pop()!;
    await run().catch((error: unknown) => process.stderr.write(`stress cleanup failed: ${String(error)}\n`));
  }
}

// ---------------------------------------------------------------- Deputy child process

export interface DeputyProcess {
  pid: number;
  url: string;
  child: ChildProcess;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>;
  alive(): boolean;
  output(): string;
  /** SIGKILL if still running, and wait for the exit. */
  kill(): Promise<void>;
}

export interface Stage {
  database: TestDatabase;
  port: number;
  issuer: string;
  pool: pg.Pool;
  world: World;
  env: Record<string, string>;
}

/** A fresh database, a port, the exchange world (built before Deputy starts), and a pool on it. */
export async function prepareStage(extraEnv: Record<string, string> = {}): Promise<Stage> {
  const database = await createTestDatabase();
  onCleanup(() => database.drop());
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const pool = new pg.Pool({ connectionString: database.url, max: 8 });
  onCleanup(() => pool.end());
  // exchange-world's buildWorld needs only the pool, the issuer and the URL of a Deputy.
  const shim = { pool, url: issuer, config: { ISSUER: issuer }, database, stop: async () => {} } as unknown as TestDeputy;
  const world = await buildWorld(shim);
  const env = {
    DATABASE_URL: database.url,
    PORT: String(port),
    HOST: '127.0.0.1',
    ISSUER: issuer,
    DEMO_SEED: 'false',
    LOG_LEVEL: 'warn',
    CLIENT_SECRET_PEPPER: PEPPER,
    RATE_LIMIT_CLIENT_PER_SECOND: '0',
    RATE_LIMIT_ACTOR_PER_SECOND: '0',
    DEPUTY_ADMIN_TOKEN: ADMIN_TOKEN,
    ...extraEnv,
  };
  return { database, port, issuer, pool, world, env };
}

/** Starts `node --import tsx src/main.ts` and waits until GET /readyz answers 200. */
export async function startDeputyProcess(stage: Stage, timeoutMs = 60_000): Promise<DeputyProcess> {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries(process.env)) if (value !== undefined) env[name] = value;
  delete env.NODE_OPTIONS; // jest's --experimental-vm-modules is not Deputy's
  for (const name of Object.keys(env)) if (name.startsWith('DEPUTY_TEST_') || name.startsWith('JEST_')) delete env[name];
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: { ...env, NODE_ENV: 'production', ...stage.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.add(child);
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) =>
    child.once('exit', (code, signal) => {
      children.delete(child);
      resolve({ code, signal, at: performance.now() });
    }),
  );
  const alive = () => child.exitCode === null && child.signalCode === null;
  const kill = async () => {
    if (alive()) child.kill('SIGKILL');
    await exited;
  };
  const url = stage.issuer;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!alive()) throw new Error(`Deputy exited before it was ready: ${output.slice(-3000)}`);
    if (Date.now() > deadline) {
      await kill();
      throw new Error(`Deputy was not ready within ${timeoutMs} ms: ${output.slice(-3000)}`);
    }
    try {
      const response = await fetch(`${url}/readyz`);
      await response.arrayBuffer();
      if (response.status === 200) break;
    } catch {
      // not listening yet
    }
    await sleep(100);
  }
  return { pid: child.pid!, url, child, exited, alive, output: () => output, kill };
}

// ---------------------------------------------------------------- requests

export interface PreparedRequest {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: string;
}

export function basicAuth(clientId: string, secret = SECRETS[clientId] ?? ''): string {
  return `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;
}

export function tokenRequest(clientId: string, fields: Record<string, string>): PreparedRequest {
  return {
    method: 'POST',
    path: '/token',
    headers: { 'content-type': FORM, accept: 'application/json', authorization: basicAuth(clientId) },
    body: new URLSearchParams(fields).toString(),
  };
}

/** One request's life, times from performance.now(). */
export interface Outcome {
  startedAt: number;
  /** The request was fully handed to the socket ('finish'). */
  sentAt?: number;
  respondedAt?: number;
  status?: number;
  body?: string;
  /** A socket or protocol error instead of an answer (ECONNRESET, 'socket hang up', ECONNREFUSED...). */
  error?: string;
  /** Whether the socket had carried earlier requests (keep-alive reuse). */
  reusedSocket?: boolean;
  /** The response's Connection header (`close` asks the client to stop reusing the socket). */
  connection?: string;
}

export function keepAliveAgent(maxSockets: number): http.Agent {
  return new http.Agent({ keepAlive: true, maxSockets, maxFreeSockets: maxSockets });
}

export function send(baseUrl: string, agent: http.Agent, request: PreparedRequest, timeoutMs = 30_000): Promise<Outcome> {
  const outcome: Outcome = { startedAt: performance.now() };
  return new Promise((resolve) => {
    let settled = false;
    const settle = () => {
      if (!settled) {
        settled = true;
        resolve(outcome);
      }
    };
    const target = new URL(request.path, baseUrl);
    const req = http.request(
      {
        agent,
        host: target.hostname,
        port: target.port,
        path: target.pathname + target.search,
        method: request.method,
        headers: { ...request.headers, ...(request.body === undefined ? {} : { 'content-length': String(Buffer.byteLength(request.body)) }) },
        timeout: timeoutMs,
      },
      (res) => {
        if (res.headers.connection !== undefined) outcome.connection = res.headers.connection;
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          outcome.respondedAt = performance.now();
          outcome.status = res.statusCode ?? 0;
          outcome.body = Buffer.concat(chunks).toString('utf8');
          settle();
        });
        res.on('error', (error: NodeJS.ErrnoException) => {
          outcome.error = error.code ?? error.message;
          settle();
        });
        res.on('aborted', () => {
          outcome.error ??= 'response aborted';
        });
      },
    );
    req.on('socket', (socket) => {
      outcome.reusedSocket = req.reusedSocket;
      void socket;
    });
    req.on('finish', () => {
      outcome.sentAt = performance.now();
    });
    req.on('timeout', () => {
      outcome.error = 'client timeout';
      req.destroy();
    });
    req.on('error', (error: NodeJS.ErrnoException) => {
      outcome.error ??= error.code ?? error.message;
      settle();
    });
    req.end(request.body);
  });
}

/**
 * `concurrency` workers, each sending `next()` back to back while `keepGoing()` holds, on
 * keep-alive sockets. A worker whose request fails with a socket error pauses `errorPauseMs`.
 */
export async function runWorkers(options: {
  baseUrl: string;
  concurrency: number;
  next(): PreparedRequest;
  keepGoing(): boolean;
  onOutcome(outcome: Outcome): void;
  errorPauseMs?: number;
  agent?: http.Agent;
}): Promise<void> {
  const agent = options.agent ?? keepAliveAgent(options.concurrency);
  try {
    await Promise.all(
      Array.from({ length: options.concurrency }, async () => {
        while (options.keepGoing()) {
          const outcome = await send(options.baseUrl, agent, options.next());
          options.onOutcome(outcome);
          if (outcome.error) await sleep(options.errorPauseMs ?? 20);
        }
      }),
    );
  } finally {
    if (!options.agent) agent.destroy();
  }
}

/** Maps over items with bounded concurrency. */
export async function mapBounded<T, R>(items: readonly T[], concurrency: number, work: (item: T) => Promise<R>): Promise<R[]> {
  const results: R[] = new Array(items.length);
  let index = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      for (let i = index++; i < items.length; i = index++) results[i] = await work(items[i]!);
    }),
  );
  return results;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** The jti of a 200 token response body, or null. */
export function jtiOf(body: string | undefined): string | null {
  if (!body) return null;
  try {
    const token = (JSON.parse(body) as { access_token?: string }).access_token;
    if (!token) return null;
    const payload = JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { jti?: string };
    return payload.jti ?? null;
  } catch {
    return null;
  }
}

export function accessTokenOf(body: string | undefined): string | null {
  try {
    return (JSON.parse(body ?? '') as { access_token?: string }).access_token ?? null;
  } catch {
    return null;
  }
}

/** Resident set size of a process, KiB (Linux /proc). */
export function rssKiB(pid: number): number {
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]);
}

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export const round = (value: number, digits = 1) => Math.round(value * 10 ** digits) / 10 ** digits;

export function tally(values: Iterable<string>): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const value of values) counts[value] = (counts[value] ?? 0) + 1;
  return counts;
}

/** How each jti is recorded: issued_tokens rows and token.exchanged events per jti. */
export async function reconcile(pool: pg.Pool, jtis: readonly string[]): Promise<{
  received: number;
  distinct: number;
  withoutRow: string[];
  withoutEvent: string[];
  withSeveralEvents: string[];
  issuedRows: number;
  exchangedEvents: number;
  exchangedEventsWithoutRow: number;
  rowsWithoutEvent: number;
}> {
  const distinct = [...new Set(jtis)];
  const { rows: rowHits } = await pool.query<{ jti: string }>('SELECT jti FROM issued_tokens WHERE jti = ANY($1)', [distinct]);
  const { rows: eventHits } = await pool.query<{ jti: string; n: number }>(
    `SELECT jti, count(*)::int AS n FROM audit_events WHERE type = 'token.exchanged' AND jti = ANY($1) GROUP BY jti`,
    [distinct],
  );
  const haveRow = new Set(rowHits.map((r) => r.jti));
  const events = new Map(eventHits.map((r) => [r.jti, r.n]));
  const [totals] = (
    await pool.query<{ rows: number; events: number; orphan_events: number; orphan_rows: number }>(
      `SELECT (SELECT count(*) FROM issued_tokens)::int AS rows,
              (SELECT count(*) FROM audit_events WHERE type = 'token.exchanged')::int AS events,
              (SELECT count(*) FROM audit_events e WHERE e.type = 'token.exchanged'
                 AND NOT EXISTS (SELECT 1 FROM issued_tokens t WHERE t.jti = e.jti))::int AS orphan_events,
              (SELECT count(*) FROM issued_tokens t WHERE NOT EXISTS
                 (SELECT 1 FROM audit_events e WHERE e.type = 'token.exchanged' AND e.jti = t.jti))::int AS orphan_rows`,
    )
  ).rows;
  return {
    received: jtis.length,
    distinct: distinct.length,
    withoutRow: distinct.filter((jti) => !haveRow.has(jti)),
    withoutEvent: distinct.filter((jti) => !events.has(jti)),
    withSeveralEvents: distinct.filter((jti) => (events.get(jti) ?? 0) > 1),
    issuedRows: totals!.rows,
    exchangedEvents: totals!.events,
    exchangedEventsWithoutRow: totals!.orphan_events,
    rowsWithoutEvent: totals!.orphan_rows,
  };
}

/** Subjects `prefix-0..n-1`, each entitled to read/write on RESOURCE and granted them to agent:a. */
export async function addLoadSubjects(world: World, prefix: string, n: number): Promise<{ ids: string[]; grants: string[] }> {
  const ids: string[] = [];
  const grants: string[] = [];
  for (let i = 0; i < n; i++) {
    const id = `${prefix}-${i}`;
    const granted = await world.addSubject(id, { entitlements: ['read', 'write'], grants: { 'agent:a': ['read', 'write'] } });
    ids.push(id);
    grants.push(granted['agent:a']!);
  }
  return { ids, grants };
}
