/**
 * `node --import tsx scripts/bench-admin.ts`: the admin API's throughput and latency on loopback,
 * in the benchmark's world (scripts/bench/world.ts: 10k subjects, 1k actors, 20k grants, 100k
 * past tokens), to compare data-access layers with the same harness.
 *
 * A fresh `deputy_admin_bench_<random>` database on DATABASE_URL (default the local PostgreSQL,
 * postgres://postgres@127.0.0.1:5432/postgres), migrated and seeded, dropped at the end; Deputy
 * in a child process (scripts/bench/admin-server.ts); autocannon at BENCH_CONNECTIONS (8) for
 * BENCH_SECONDS (5) after 1 s of warm-up per scenario. Prints one JSON line per scenario.
 * Bounded: everything started here is stopped here, also on error.
 */
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { migrate } from '../src/db/migrate.js';
import { READY_MARK } from './bench/common.js';
import { runLoad, type PreparedRequest } from './bench/load.js';
import { processTreeMeter } from './bench/cpu.js';
import { COUNTS, actorId, resourceUri, seedWorld, subjectId } from './bench/world.js';

const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const CONNECTIONS = Number(process.env.BENCH_CONNECTIONS ?? 8);
const ONLY = process.env.BENCH_SCENARIOS?.split(',');
const ADMIN_TOKEN = randomBytes(32).toString('base64url');
const PEPPER = randomBytes(32).toString('base64url');
const SERVER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'bench', 'admin-server.ts');

async function onDatabase<T>(url: string, work: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await work(client);
  } finally {
    await client.end();
  }
}

function startServer(databaseUrl: string): Promise<{ url: string; pid: number; stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', SERVER], {
    env: { ...process.env, NODE_ENV: 'production', BENCH_DATABASE_URL: databaseUrl, BENCH_PEPPER: PEPPER, BENCH_ADMIN_TOKEN: ADMIN_TOKEN },
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => void stop().then(() => reject(new Error('the admin bench server did not start in 60 s'))), 60_000);
    child.once('exit', (code) => reject(new Error(`the admin bench server exited (${code})`)));
    let buffered = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const line = buffered.split('\n').find((l) => l.startsWith(READY_MARK));
      if (!line) return;
      clearTimeout(timer);
      const { url, pid } = JSON.parse(line.slice(READY_MARK.length)) as { url: string; pid: number };
      resolve({ url, pid, stop });
    });
  });
}

const auth = { authorization: `Bearer ${ADMIN_TOKEN}` };
const get = (p: string): PreparedRequest => ({ method: 'GET', path: `/admin/v1${p}`, headers: auth });
let counter = 0;
const pick = (n: number) => Math.floor(Math.random() * n);
const runTag = randomBytes(4).toString('hex');

const SCENARIOS: Record<string, () => PreparedRequest> = {
  'list subjects (50)': () => get('/subjects?limit=50'),
  'get subject': () => get(`/subjects/${subjectId(pick(COUNTS.subjects))}`),
  'list actors by owner': () => get(`/actors?owner=${subjectId(pick(COUNTS.subjects))}&limit=20`),
  'list grants of a subject (active)': () => get(`/grants?subject=${subjectId(pick(COUNTS.subjects))}&active=true`),
  'list tokens of an actor (50)': () => get(`/tokens?actor=${actorId(pick(COUNTS.actors))}&limit=50`),
  'list entitlements of a subject': () => get(`/entitlements?subject=${subjectId(pick(COUNTS.subjects))}`),
  'create subject': () => ({
    method: 'POST',
    path: '/admin/v1/subjects',
    headers: { ...auth, 'content-type': 'application/json' },
    body: JSON.stringify({ id: `bench-${runTag}-${counter++}` }),
  }),
  'create grant': () => {
    const i = pick(COUNTS.subjects);
    return {
      method: 'POST',
      path: '/admin/v1/grants',
      headers: { ...auth, 'content-type': 'application/json' },
      body: JSON.stringify({ subject: subjectId(i), actor: actorId(pick(COUNTS.actors)), resource: resourceUri(i % COUNTS.resources), scopes: ['read'] }),
    };
  },
};

const name = `deputy_admin_bench_${randomBytes(6).toString('hex')}`;
const url = new URL(DATABASE_URL);
url.pathname = `/${name}`;
await onDatabase(DATABASE_URL, (c) => c.query(`CREATE DATABASE ${c.escapeIdentifier(name)}`));
let server: Awaited<ReturnType<typeof startServer>> | undefined;
try {
  await migrate(url.toString());
  const world = await seedWorld(url.toString(), PEPPER);
  process.stderr.write(`seeded in ${Math.round(world.seedMs)} ms: ${JSON.stringify(world.rowCounts)}\n`);
  server = await startServer(url.toString());
  for (const [scenario, next] of Object.entries(SCENARIOS)) {
    if (ONLY && !ONLY.includes(scenario)) continue;
    const result = await runLoad({ url: server.url, connections: CONNECTIONS, seconds: SECONDS, warmupSeconds: 1, next, serverCpu: processTreeMeter(server.pid) });
    const { rps, latencyMs, non2xx, errors, serverCpuMsPerRequest, loadAverage1m, failureSamples } = result;
    process.stdout.write(
      `${JSON.stringify({ scenario, rps, p50: latencyMs.p50, p99: latencyMs.p99, serverCpuMsPerRequest, non2xx, errors, loadAverage1m, ...(non2xx > 0 ? { failureSamples } : {}) })}\n`,
    );
  }
} finally {
  await server?.stop();
  await onDatabase(DATABASE_URL, (c) => c.query(`DROP DATABASE IF EXISTS ${c.escapeIdentifier(name)} WITH (FORCE)`));
}
