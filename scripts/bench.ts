/**
 * `npm run bench`: Deputy's throughput and latency on loopback, against its ceilings.
 *
 * 1. A database: an embedded PostgreSQL in a temp dir, or a fresh `deputy_bench_<random>`
 *    database on DATABASE_URL (dropped at the end); migrated; a world seeded with set-based SQL.
 * 2. Deputy in a CHILD process (scripts/bench/server.ts), so autocannon does not share its
 *    event loop; the ceilings (a trivial Koa handler, oidc-provider's own client_credentials
 *    with ES256 JWT access tokens) run in child processes the same way.
 * 3. autocannon at 1, 16, 32 (the latency target's level) and 64 connections (BENCH_CONNECTIONS), BENCH_SECONDS each after
 *    BENCH_WARMUP seconds of warm-up, requests pre-generated and rotated by setupRequest.
 * 4. Deputy's RSS and V8 heap in use before and after a 60 s sustained run (BENCH_MEMORY_SECONDS), each after a full GC.
 * 5. The web console's pages, one request at a time as a signed-in admin (scripts/bench/console.ts);
 *    BENCH_CONSOLE_ONLY=1 runs this phase alone (no load scenarios, no results.json).
 * 6. With BENCH_WORKERS=N: the user-JWT exchange and introspection again with N Deputy processes
 *    on one port (WORKERS=N npm start), at 32 connections.
 * 7. BENCH_SSF=1 (or `npm run bench -- --ssf`): the continuous-authorization figures alone
 *    (scripts/bench/ssf.ts: revoke → resource-server refusal latency, receiver outage, exchange
 *    rate with a live SSF stream vs none).
 *
 * Prints a table and writes bench/results.json. Everything started here is stopped here, also
 * on error, on SIGINT/SIGTERM, and by a watchdog if the run overstays.
 */
import { execFileSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes, randomUUID } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startEmbeddedPostgres } from '../src/db/embedded.js';
import { migrate } from '../src/db/migrate.js';
import { checkOutBaseline } from './bench/baseline.js';
import { OIDC_CEILING_CLIENT, rssOf, signEs256, startServerChild, type ServerChild } from './bench/common.js';
import { databaseBackendsMeter, processTreeMeter, type CpuMeter } from './bench/cpu.js';
import { benchConsole, consoleTable } from './bench/console.js';
import { measureJose, type JoseCeiling } from './bench/jose-ceiling.js';
import { runLoad, type LoadResult, type PreparedRequest } from './bench/load.js';
import { checkTargets, compareRounds, heldRate, type HeldRate, type RoundComparison, type TargetCheck } from './bench/targets.js';
import { COUNTS, resourceUri, seedWorld, type World } from './bench/world.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const RESULTS_FILE = path.join(ROOT, 'bench', 'results.json');

const envNumber = (name: string, fallback: number) => {
  const value = Number(process.env[name]);
  return Number.isFinite(value) && value > 0 ? value : fallback;
};
const SECONDS = envNumber('BENCH_SECONDS', 3);
const WARMUP = envNumber('BENCH_WARMUP', 1);
const MEMORY_SECONDS = envNumber('BENCH_MEMORY_SECONDS', 60);
const CONNECTIONS = (process.env.BENCH_CONNECTIONS ?? '1,16,32,64').split(',').map(Number).filter((n) => Number.isInteger(n) && n > 0);
const WATCHDOG_MS = envNumber('BENCH_WATCHDOG_SECONDS', 900) * 1000;
/** The previous build to compare with (BENCH_BASELINE_REF=none skips it), and its rounds. */
const BASELINE_REF = process.env.BENCH_BASELINE_REF ?? 'HEAD~1';
const BASELINE_ROUNDS = envNumber('BENCH_BASELINE_ROUNDS', 3);
const BASELINE_SECONDS = envNumber('BENCH_BASELINE_SECONDS', 5);
/** The empty-database phase: this long at the target level, in 5 s windows (0 skips it). */
const EMPTY_DB_SECONDS = process.env.BENCH_EMPTY_DB_SECONDS === '0' ? 0 : envNumber('BENCH_EMPTY_DB_SECONDS', 60);
const EMPTY_DB_WINDOW_SECONDS = 5;
const CHAIN_PARENTS = 1000;
const FEW_CLIENTS_CONNECTIONS = CONNECTIONS.includes(16) ? 16 : CONNECTIONS[0]!;
/** BENCH_WORKERS=N (N > 1): also measure N Deputy processes on one port, at one level. Off by default (time budget). */
const WORKERS = envNumber('BENCH_WORKERS', 1);
const CONSOLE_ONLY = process.env.BENCH_CONSOLE_ONLY === '1';
/** BENCH_EMPTY_DB_ONLY=1: the empty-database phase alone (no other scenarios, no results.json). */
const EMPTY_DB_ONLY = process.env.BENCH_EMPTY_DB_ONLY === '1';
/** BENCH_SSF=1 or --ssf: the Shared Signals phase alone (scripts/bench/ssf.ts). */
const SSF_ONLY = process.env.BENCH_SSF === '1' || process.argv.includes('--ssf');
/** The level the latency and ratio targets name; the one-level measurements run there too. */
const TARGET_CONNECTIONS = CONNECTIONS.includes(32) ? 32 : CONNECTIONS.at(-1)!;
const WORKERS_WARMUP = Math.max(WARMUP, 5);

const FORM = 'application/x-www-form-urlencoded';
const TOKEN_EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const JWT_TYPE = 'urn:ietf:params:oauth:token-type:jwt';
const ACCESS_TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:access_token';

const runStarted = performance.now();
const elapsed = () => `${((performance.now() - runStarted) / 1000).toFixed(1)}s`;
const log = (line: string) => process.stdout.write(`[bench ${elapsed()}] ${line}\n`);
const problems: string[] = [];
const problem = (line: string) => {
  problems.push(line);
  process.stdout.write(`\n!!!!!!!! ${line}\n\n`);
};

// ---------------------------------------------------------------- cleanup

const cleanups: Array<{ name: string; run: () => Promise<void> }> = [];
let cleaning: Promise<void> | null = null;
function cleanupAll(): Promise<void> {
  cleaning ??= (async () => {
    while (cleanups.length > 0) {
      const { name, run } = cleanups.pop()!;
      await run().catch((error: unknown) => process.stderr.write(`cleanup ${name} failed: ${String(error)}\n`));
    }
  })();
  return cleaning;
}
function onSignal(signal: string) {
  process.stderr.write(`\n${signal}: stopping everything the benchmark started\n`);
  void cleanupAll().finally(() => process.exit(130));
}
process.once('SIGINT', () => onSignal('SIGINT'));
process.once('SIGTERM', () => onSignal('SIGTERM'));
const watchdog = setTimeout(() => {
  process.stderr.write(`\nbenchmark watchdog: still running after ${WATCHDOG_MS / 1000}s, aborting\n`);
  void cleanupAll().finally(() => process.exit(3));
}, WATCHDOG_MS);
watchdog.unref();

// ---------------------------------------------------------------- database

interface Database {
  url: string;
  kind: string;
  /** The postmaster's pid (embedded PostgreSQL only), to account the database's CPU time. */
  postmasterPid?: number;
  /** Another fresh database on the same server (the empty-database phase), dropped at the end. */
  another(name: string): Promise<string>;
}

/** PostgreSQL's CPU for the main database: the embedded postmaster's tree, or the database's backends. */
let dbMeter: CpuMeter | undefined;

/** How PostgreSQL's CPU is accounted for a database of this run. */
function meterFor(database: Database, url: string): CpuMeter | undefined {
  if (database.postmasterPid !== undefined) return processTreeMeter(database.postmasterPid);
  const host = new URL(url).hostname;
  if (host !== '127.0.0.1' && host !== 'localhost' && host !== '::1') return undefined; // not on this machine: no /proc
  const meter = databaseBackendsMeter(url);
  cleanups.push({ name: 'close the CPU meter connection', run: () => meter.close() });
  return meter;
}

async function createDatabase(serverUrl: string, name: string): Promise<string> {
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${admin.escapeIdentifier(name)}`);
  } finally {
    await admin.end();
  }
  cleanups.push({
    name: `drop database ${name}`,
    run: async () => {
      const client = new pg.Client({ connectionString: serverUrl });
      await client.connect();
      try {
        await client.query(`DROP DATABASE IF EXISTS ${client.escapeIdentifier(name)} WITH (FORCE)`);
      } finally {
        await client.end();
      }
    },
  });
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

async function provisionDatabase(): Promise<Database> {
  const external = process.env.DATABASE_URL;
  if (external) {
    const name = `deputy_bench_${randomBytes(6).toString('hex')}`;
    return {
      url: await createDatabase(external, name),
      kind: `DATABASE_URL, fresh database ${name}`,
      another: (suffix) => createDatabase(external, `${name}_${suffix}`),
    };
  }
  const home = await mkdtemp(path.join(os.tmpdir(), 'deputy-bench-'));
  cleanups.push({ name: `remove ${home}`, run: () => rm(home, { recursive: true, force: true }) });
  const embedded = await startEmbeddedPostgres(home);
  cleanups.push({ name: 'stop embedded PostgreSQL', run: () => embedded.stop() });
  const postmaster = Number.parseInt((await readFile(path.join(home, 'pg', 'postmaster.pid'), 'utf8').catch(() => '')).split('\n')[0] ?? '', 10);
  return {
    url: embedded.url,
    kind: `embedded PostgreSQL in ${home}`,
    ...(Number.isInteger(postmaster) ? { postmasterPid: postmaster } : {}),
    another: (name) => createDatabase(embedded.url, `deputy_${name}`),
  };
}

async function postgresVersion(url: string): Promise<string> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const { rows } = await client.query<{ version: string }>('SELECT version()');
    return rows[0]!.version;
  } finally {
    await client.end();
  }
}

// ---------------------------------------------------------------- children

async function startChild(mode: 'deputy' | 'koa' | 'oidc', env: Record<string, string> = {}): Promise<ServerChild> {
  const child = await startServerChild(mode, env);
  cleanups.push({ name: `stop ${mode} server`, run: () => child.stop() });
  return child;
}

async function stopChild(child: ServerChild): Promise<void> {
  await child.stop();
  const index = cleanups.findIndex((c) => c.run === child.stop);
  if (index >= 0) cleanups.splice(index, 1);
}

// ---------------------------------------------------------------- requests

function form(fields: Record<string, string>): string {
  return new URLSearchParams(fields).toString();
}

function tokenRequest(auth: string, fields: Record<string, string>): PreparedRequest {
  return { method: 'POST', path: '/token', headers: { 'content-type': FORM, authorization: auth }, body: form(fields) };
}

/** One request sent outside the measurement, to show a scenario works before it is timed. */
async function probe(url: string, request: PreparedRequest): Promise<{ status: number; body: string }> {
  const response = await fetch(`${url}${request.path}`, {
    method: request.method,
    headers: request.headers,
    ...(request.body === undefined ? {} : { body: request.body }),
  });
  return { status: response.status, body: await response.text() };
}

function rotate<T>(items: readonly T[]): () => T {
  let index = 0;
  return () => items[index++ % items.length]!;
}

interface ScenarioResult {
  name: string;
  description: string;
  probe: { status: number; body: string };
  levels: Array<LoadResult & { ratioToClientCredentials?: number; generatedOnTheFly?: number }>;
}

async function runScenario(
  name: string,
  description: string,
  server: ServerChild,
  nextFor: (connections: number) => { next: () => PreparedRequest; onTheFly?: () => number },
  check?: (body: string) => boolean,
  connectionLevels: readonly number[] = CONNECTIONS,
  warmupSeconds = WARMUP,
): Promise<ScenarioResult> {
  const probeRequest = nextFor(1).next();
  const url = server.url;
  const probed = await probe(url, probeRequest);
  const probeOk = probed.status >= 200 && probed.status < 300 && (check ? check(probed.body) : true);
  log(`${name}: probe → ${probed.status} ${probed.body.slice(0, 160)}`);
  if (!probeOk) problem(`${name}: the probe request failed: HTTP ${probed.status} ${probed.body.slice(0, 400)}`);
  const levels: ScenarioResult['levels'] = [];
  for (const connections of connectionLevels) {
    const source = nextFor(connections);
    const result = await runLoad({ url, connections, seconds: SECONDS, warmupSeconds, next: source.next, serverCpu: processTreeMeter(server.pid), ...(dbMeter ? { dbCpu: dbMeter } : {}), ...(check ? { check } : {}) });
    const onTheFly = source.onTheFly?.() ?? 0;
    levels.push({ ...result, ...(source.onTheFly ? { generatedOnTheFly: onTheFly } : {}) });
    log(
      `${name} c=${connections}: ${result.rps} req/s, server CPU ${result.serverCpuMsPerRequest} ms/req (${result.serverCpuPercent}% of a core), DB CPU ${result.dbCpuMsPerRequest ?? '-'} ms/req, load avg ${result.loadAverage1m}, p50 ${result.latencyMs.p50} ms, p99 ${result.latencyMs.p99} ms, max ${result.latencyMs.max} ms, ` +
        `non-2xx ${result.non2xx}, errors ${result.errors}, timeouts ${result.timeouts}${result.badBodies ? `, bad bodies ${result.badBodies}` : ''}`,
    );
    if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0 || result.badBodies > 0) {
      problem(
        `${name} c=${connections}: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts, ${result.badBodies} bad bodies; ` +
          `status codes ${JSON.stringify(result.statusCodes)}; samples ${JSON.stringify(result.failureSamples)}`,
      );
    }
  }
  return { name, description, probe: { status: probed.status, body: probed.body.slice(0, 400) }, levels };
}

// ---------------------------------------------------------------- scenarios against Deputy

interface DeputyScenarios {
  scenarios: ScenarioResult[];
  memory: MemoryCheck;
  chainParents: { requested: number; obtained: number; failures: Record<string, number> };
  /** Reused against Deputy with several workers. */
  requests: { userExchange: PreparedRequest[]; introspections: PreparedRequest[]; chain: PreparedRequest[] };
}

interface MemoryCheck {
  workload: string;
  connections: number;
  seconds: number;
  measuredAfter: string;
  rssAfterWarmupMiB: number;
  rssAfterSustainedMiB: number;
  driftPercent: number;
  /**
   * V8's heap in use at the same two points (nodejs_heap_size_used_bytes from /metrics): RSS can
   * stay up after a GC (pages V8 or the allocator keep), a growing heap after GC is a leak.
   */
  heapUsedAfterWarmupMiB: number;
  heapUsedAfterSustainedMiB: number;
  heapDriftPercent: number;
  samplesMiB: number[];
  sustained: LoadResult;
}

const MiB = (bytes: number) => Math.round((bytes / 1024 / 1024) * 10) / 10;

/** Deputy's V8 heap in use, from its own /metrics (prom-client's default metrics). */
async function heapUsed(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const value = Number(/^deputy_nodejs_heap_size_used_bytes (\S+)$/m.exec(text)?.[1]);
  if (!Number.isFinite(value)) throw new Error('no deputy_nodejs_heap_size_used_bytes in /metrics');
  return value;
}

/** The server's RSS after it ran a full garbage collection (scripts/bench/server.ts, SIGUSR2). */
async function rssAfterGc(pid: number): Promise<number> {
  process.kill(pid, 'SIGUSR2');
  await new Promise((resolve) => setTimeout(resolve, 1000));
  return rssOf(pid);
}

async function benchDeputy(world: World, deputy: ServerChild): Promise<DeputyScenarios> {
  const url = deputy.url;
  const scenarios: ScenarioResult[] = [];

  // 1. Trusted-issuer user JWT, the client's own actor; every subject in turn.
  log(`signing ${COUNTS.subjects} user tokens`);
  const userExchange = Array.from({ length: COUNTS.subjects }, (_, i) =>
    tokenRequest(world.basicAuth(i % COUNTS.actors), {
      grant_type: TOKEN_EXCHANGE,
      subject_token: world.userToken(i),
      subject_token_type: JWT_TYPE,
      resource: resourceUri(i % COUNTS.resources),
      scope: 'read write',
    }),
  );
  const nextUser = rotate(userExchange);
  scenarios.push(
    await runScenario(
      'exchange: user JWT, client as actor',
      `subject_token = trusted-issuer ES256 user JWT (${COUNTS.subjects} subjects rotated), client_secret_basic of the client bound to the actor (${COUNTS.clients} distinct clients rotated)`,
      deputy,
      () => ({ next: nextUser }),
    ),
  );
  const userRps = new Map(scenarios[0]!.levels.map((level) => [level.connections, level.rps]));

  // 1b. The same with only the 100 keyed actors' clients and their 1,000 subjects: the same
  //     population as the actor-assertion case, and few enough clients for oidc-provider's
  //     client cache (an LRU of 100 entries), so the two isolate the assertion's cost.
  const fewClientSubjects: number[] = [];
  for (let i = 0; i < COUNTS.subjects; i++) if (i % COUNTS.actors < COUNTS.keyedActors) fewClientSubjects.push(i);
  const nextFewClients = rotate(fewClientSubjects.map((i) => userExchange[i]!));
  scenarios.push(
    await runScenario(
      'exchange: user JWT, 100 clients',
      `as above, but only the ${COUNTS.keyedActors} clients of the keyed actors and their ${fewClientSubjects.length} subjects (the actor-assertion population); one level only`,
      deputy,
      () => ({ next: nextFewClients }),
      undefined,
      [FEW_CLIENTS_CONNECTIONS],
    ),
  );

  // 2. Actor assertion: a fresh jti on every request, pre-signed per level; topped up on the fly if short.
  const assertionSubjects: number[] = [];
  for (let i = 0; i < COUNTS.subjects; i++) if (i % COUNTS.actors < COUNTS.keyedActors) assertionSubjects.push(i);
  const assertionUserTokens = new Map(assertionSubjects.map((i) => [i, world.userToken(i)]));
  const assertionRequest = (k: number) => {
    const i = assertionSubjects[k % assertionSubjects.length]!;
    const j = i % COUNTS.actors;
    return tokenRequest(world.basicAuth(j), {
      grant_type: TOKEN_EXCHANGE,
      subject_token: assertionUserTokens.get(i)!,
      subject_token_type: JWT_TYPE,
      actor_token: world.actorAssertion(j, url),
      actor_token_type: JWT_TYPE,
      resource: resourceUri(i % COUNTS.resources),
      scope: 'read',
    });
  };
  let assertionCounter = 0;
  scenarios.push(
    await runScenario(
      'exchange: actor assertion',
      `actor_token = ES256 assertion (iss=sub=actor, aud=issuer, exp 240 s, fresh jti each) by ${COUNTS.keyedActors} keyed actors via their own ${COUNTS.keyedActors} clients, ${assertionSubjects.length} subjects`,
      deputy,
      (connections) => {
        const expected = Math.ceil((userRps.get(connections) ?? 1000) * 1.5 * (SECONDS + WARMUP)) + 1000;
        const count = Math.min(expected, 100_000);
        const pool = Array.from({ length: count }, () => assertionRequest(assertionCounter++));
        let used = 0;
        let onTheFly = 0;
        return {
          next: () => {
            if (used < pool.length) return pool[used++]!;
            onTheFly++;
            return assertionRequest(assertionCounter++);
          },
          onTheFly: () => onTheFly,
        };
      },
    ),
  );
  for (const level of scenarios.at(-1)!.levels) {
    if (level.generatedOnTheFly) log(`note: actor assertion c=${level.connections} ran out of pre-signed assertions; ${level.generatedOnTheFly} signed during the run`);
  }

  // 2b. DPoP-bound exchange: the client-as-actor exchange with a DPoP proof (fresh jti, ES256)
  //     on every request, pre-signed per level like the assertions.
  const dpopKeys = Array.from({ length: 8 }, () => generateKeyPairSync('ec', { namedCurve: 'P-256' }));
  const dpopJwks = dpopKeys.map(({ publicKey }) => {
    const { kty, crv, x, y } = publicKey.export({ format: 'jwk' });
    return { kty, crv, x, y };
  });
  const htu = `${url}/token`;
  const dpopRequest = (k: number) => {
    const plain = userExchange[k % userExchange.length]!;
    const proof = signEs256(
      { typ: 'dpop+jwt', jwk: dpopJwks[k % dpopJwks.length] },
      { jti: randomUUID(), htm: 'POST', htu, iat: Math.floor(Date.now() / 1000) },
      dpopKeys[k % dpopKeys.length]!.privateKey,
    );
    return { ...plain, headers: { ...plain.headers, dpop: proof } };
  };
  let dpopCounter = 0;
  scenarios.push(
    await runScenario(
      'exchange: DPoP-bound, client as actor',
      'as the first scenario, with a DPoP proof (ES256, fresh jti, one of 8 keys) on every request: the token is bound to the proof key (token_type DPoP) and the proof jti recorded as used',
      deputy,
      (connections) => {
        const expected = Math.ceil((userRps.get(connections) ?? 1000) * 1.5 * (SECONDS + WARMUP)) + 1000;
        const pool = Array.from({ length: Math.min(expected, 100_000) }, () => dpopRequest(dpopCounter++));
        let used = 0;
        let onTheFly = 0;
        return {
          next: () => {
            if (used < pool.length) return pool[used++]!;
            onTheFly++;
            return dpopRequest(dpopCounter++);
          },
          onTheFly: () => onTheFly,
        };
      },
      (body) => body.includes('"token_type":"DPoP"'),
    ),
  );

  // 3. Two-hop chain: step-one tokens obtained now (they live TOKEN_TTL = 300 s), then exchanged by the next actor.
  log(`obtaining ${CHAIN_PARENTS} step-one delegated tokens`);
  const parents: Array<{ i: number; token: string }> = [];
  const parentFailures: Record<string, number> = {};
  const stride = Math.floor(COUNTS.subjects / CHAIN_PARENTS);
  const pending = Array.from({ length: CHAIN_PARENTS }, (_, k) => k * stride);
  await Promise.all(
    Array.from({ length: 16 }, async () => {
      for (let i = pending.shift(); i !== undefined; i = pending.shift()) {
        const response = await probe(url, userExchange[i]!);
        if (response.status === 200) parents.push({ i, token: (JSON.parse(response.body) as { access_token: string }).access_token });
        else {
          const key = `${response.status} ${response.body.slice(0, 200)}`;
          parentFailures[key] = (parentFailures[key] ?? 0) + 1;
        }
      }
    }),
  );
  if (Object.keys(parentFailures).length > 0) problem(`step-one exchanges failed: ${JSON.stringify(parentFailures)}`);
  if (parents.length === 0) throw new Error('no step-one delegated token: cannot run the chain and introspection scenarios');
  const chainRequests = parents.map(({ i, token }) =>
    tokenRequest(world.basicAuth((i + 1) % COUNTS.actors), {
      grant_type: TOKEN_EXCHANGE,
      subject_token: token,
      subject_token_type: ACCESS_TOKEN_TYPE,
      resource: resourceUri(i % COUNTS.resources),
      scope: 'read',
    }),
  );
  const nextChain = rotate(chainRequests);
  scenarios.push(
    await runScenario(
      'exchange: two-hop chain',
      `subject_token = Deputy token from step one (${parents.length} rotated), presented by the client of the next actor (may_delegate_to); ${new Set(parents.map(({ i }) => (i + 1) % COUNTS.actors)).size} distinct clients`,
      deputy,
      () => ({ next: nextChain }),
    ),
  );

  // 4. Introspection of delegated tokens.
  const introspections = parents.map(({ i, token }) => ({
    method: 'POST' as const,
    path: '/token/introspection',
    headers: { 'content-type': FORM, authorization: world.basicAuth(i % COUNTS.actors) },
    body: form({ token }),
  }));
  const nextIntrospection = rotate(introspections);
  scenarios.push(
    await runScenario(
      'introspection',
      `POST /token/introspection of step-one delegated tokens (${parents.length} rotated), client_secret_basic; ${new Set(parents.map(({ i }) => i % COUNTS.actors)).size} distinct clients`,
      deputy,
      () => ({ next: nextIntrospection }),
      (body) => body.includes('"active":true'),
    ),
  );

  // 5. Memory: RSS after everything above (the warm-up) vs after a sustained user-JWT exchange
  //    run, each read after a full garbage collection (the server runs with --expose-gc and
  //    collects on SIGUSR2): a point sample of a garbage-collected heap lands anywhere on its
  //    sawtooth (runs here swung by ±25% with no growth), retained memory does not. The raw
  //    samples every 5 s are kept beside it.
  const memoryConnections = 16;
  const rssAfterWarmup = await rssAfterGc(deputy.pid);
  const heapAfterWarmup = await heapUsed(url);
  const samples: number[] = [MiB(rssAfterWarmup)];
  const sampler = setInterval(() => {
    try {
      samples.push(MiB(rssOf(deputy.pid)));
    } catch {
      // the process is gone; the run will report the failure
    }
  }, 5000);
  log(`memory: Deputy RSS after warm-up ${MiB(rssAfterWarmup)} MiB (after a full GC); sustained user-JWT exchange for ${MEMORY_SECONDS}s at c=${memoryConnections}`);
  let sustained: LoadResult;
  try {
    sustained = await runLoad({ url, connections: memoryConnections, seconds: MEMORY_SECONDS, warmupSeconds: 0, next: nextUser, serverCpu: processTreeMeter(deputy.pid), ...(dbMeter ? { dbCpu: dbMeter } : {}) });
  } finally {
    clearInterval(sampler);
  }
  const rssBeforeGc = rssOf(deputy.pid);
  const rssAfterSustained = await rssAfterGc(deputy.pid);
  const heapAfterSustained = await heapUsed(url);
  samples.push(MiB(rssBeforeGc));
  if (sustained.non2xx > 0 || sustained.errors > 0 || sustained.timeouts > 0) {
    problem(`memory run: ${sustained.non2xx} non-2xx, ${sustained.errors} errors, ${sustained.timeouts} timeouts; ${JSON.stringify(sustained.statusCodes)} ${JSON.stringify(sustained.failureSamples)}`);
  }
  const memory: MemoryCheck = {
    workload: 'exchange: user JWT, client as actor',
    connections: memoryConnections,
    seconds: MEMORY_SECONDS,
    measuredAfter: 'a full garbage collection (global.gc via SIGUSR2), 1 s settle',
    rssAfterWarmupMiB: MiB(rssAfterWarmup),
    rssAfterSustainedMiB: MiB(rssAfterSustained),
    driftPercent: Math.round(((rssAfterSustained - rssAfterWarmup) / rssAfterWarmup) * 1000) / 10,
    heapUsedAfterWarmupMiB: MiB(heapAfterWarmup),
    heapUsedAfterSustainedMiB: MiB(heapAfterSustained),
    heapDriftPercent: Math.round(((heapAfterSustained - heapAfterWarmup) / heapAfterWarmup) * 1000) / 10,
    samplesMiB: samples,
    sustained,
  };
  log(`memory: RSS ${memory.rssAfterWarmupMiB} → ${memory.rssAfterSustainedMiB} MiB (${memory.driftPercent}%), heap in use ${memory.heapUsedAfterWarmupMiB} → ${memory.heapUsedAfterSustainedMiB} MiB (${memory.heapDriftPercent}%), ${sustained.requests} requests at ${sustained.rps} req/s`);
  return {
    scenarios,
    memory,
    chainParents: { requested: CHAIN_PARENTS, obtained: parents.length, failures: parentFailures },
    requests: { userExchange, introspections, chain: chainRequests },
  };
}

/**
 * Deputy as `WORKERS=2 npm start` runs it (src/cluster.ts): the user-JWT exchange and
 * introspection again, at the latency target's level only, to show what a second core buys when
 * PostgreSQL and the load generator share the machine.
 */
async function benchDeputyWorkers(requests: DeputyScenarios['requests'], env: Record<string, string>, issuer: string): Promise<ScenarioResult[]> {
  // Same database and issuer as the single-process Deputy, so its step-one tokens introspect.
  const deputy = await startChild('deputy', { ...env, BENCH_WORKERS: String(WORKERS), BENCH_ISSUER: issuer });
  log(`Deputy with ${WORKERS} workers (supervisor pid ${deputy.pid}) at ${deputy.url}`);
  try {
    const levels = [TARGET_CONNECTIONS];
    const nextUser = rotate(requests.userExchange);
    const nextIntrospection = rotate(requests.introspections);
    return [
      await runScenario(
        `exchange: user JWT, client as actor, WORKERS=${WORKERS}`,
        `as the first scenario, served by ${WORKERS} Deputy processes on one port (node:cluster); CPU summed over them; ` +
          `${WORKERS_WARMUP} s warm-up, as fresh processes each fill their client cache`,
        deputy,
        () => ({ next: nextUser }),
        undefined,
        levels,
        WORKERS_WARMUP,
      ),
      await runScenario(
        `introspection, WORKERS=${WORKERS}`,
        `as the introspection scenario, served by ${WORKERS} Deputy processes on one port; CPU summed over them`,
        deputy,
        () => ({ next: nextIntrospection }),
        (body) => body.includes('"active":true'),
        levels,
      ),
    ];
  } finally {
    await stopChild(deputy);
  }
}

// ---------------------------------------------------------------- ceilings

async function benchCeilings(): Promise<{ koa: ScenarioResult; clientCredentials: ScenarioResult; jose: JoseCeiling }> {
  const koaServer = await startChild('koa');
  let koa: ScenarioResult;
  try {
    const request: PreparedRequest = { method: 'GET', path: '/', headers: {} };
    // One level: the HTTP stack's ceiling is far above everything else (and the run has a time budget).
    koa = await runScenario('ceiling: trivial Koa handler', 'GET / answered {"ok":true} by one Koa 3 middleware', koaServer, () => ({ next: () => request }), undefined, [TARGET_CONNECTIONS]);
  } finally {
    await stopChild(koaServer);
  }

  const oidcServer = await startChild('oidc');
  let clientCredentials: ScenarioResult;
  try {
    const auth = `Basic ${Buffer.from(`${OIDC_CEILING_CLIENT.id}:${OIDC_CEILING_CLIENT.secret}`).toString('base64')}`;
    const request = tokenRequest(auth, { grant_type: 'client_credentials', scope: 'read' });
    clientCredentials = await runScenario(
      'ceiling: oidc-provider client_credentials',
      'oidc-provider 9, static client, in-memory store, ES256 JWT access tokens (resourceIndicators)',
      oidcServer,
      () => ({ next: () => request }),
      (body) => body.includes('"access_token"'),
    );
  } finally {
    await stopChild(oidcServer);
  }

  log('jose ES256 sign/verify loops');
  const jose = await measureJose(2);
  log(`jose ES256: sign ${jose.signPerSecond}/s, verify ${jose.verifyPerSecond}/s (one process, sequential)`);
  return { koa, clientCredentials, jose };
}

// ---------------------------------------------------------------- report

function table(rows: ScenarioResult[], ceiling: ScenarioResult): string {
  const ceilingRps = new Map(ceiling.levels.map((level) => [level.connections, level.rps]));
  const header = ['scenario', 'conns', 'req/s', 'p50 ms', 'p99 ms', 'max ms', 'non-2xx', 'errors', 'vs cc ceiling', 'srv CPU ms/req', 'DB CPU ms/req', 'load avg'];
  const lines = [header];
  for (const scenario of rows) {
    for (const level of scenario.levels) {
      const ceilingAt = ceilingRps.get(level.connections);
      const ratio = ceilingAt ? level.rps / ceilingAt : undefined;
      if (ratio !== undefined && scenario !== ceiling) level.ratioToClientCredentials = Math.round(ratio * 1000) / 1000;
      lines.push([
        scenario.name,
        String(level.connections),
        level.rps.toFixed(0),
        String(level.latencyMs.p50),
        String(level.latencyMs.p99),
        String(level.latencyMs.max),
        String(level.non2xx),
        String(level.errors + level.timeouts),
        ratio === undefined ? '-' : `${(ratio * 100).toFixed(0)}%`,
        level.serverCpuMsPerRequest === undefined ? '-' : level.serverCpuMsPerRequest.toFixed(2),
        level.dbCpuMsPerRequest === undefined ? '-' : level.dbCpuMsPerRequest.toFixed(2),
        level.loadAverage1m.toFixed(1),
      ]);
    }
  }
  const widths = header.map((_, c) => Math.max(...lines.map((line) => line[c]!.length)));
  return lines.map((line) => line.map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!))).join('  ')).join('\n');
}

// ---------------------------------------------------------------- previous build

interface PathComparison {
  path: string;
  currentRps: number[];
  previousRps: number[];
  current: LoadResult[];
  previous: LoadResult[];
  comparison: RoundComparison;
}

interface PreviousBuildComparison {
  ref: string;
  commit: string;
  connections: number;
  secondsPerRound: number;
  /** The client-as-actor exchange first (the target's), then the other compared paths. */
  paths: PathComparison[];
}

/**
 * Paths measured against the previous build (BENCH_BASELINE_REF, default HEAD~1), checked out
 * and started by the bench on the same database and issuer (so it accepts this build's chain
 * tokens), in alternating rounds with this build, so both see the same machine, load and table
 * sizes. The first path is the client-as-actor exchange, whose target this is.
 */
async function compareWithPreviousBuild(
  deputy: ServerChild,
  env: Record<string, string>,
  paths: Array<{ name: string; requests: PreparedRequest[] }>,
): Promise<PreviousBuildComparison | null> {
  if (BASELINE_REF === 'none') return null;
  let checkout;
  try {
    checkout = await checkOutBaseline(ROOT, BASELINE_REF);
  } catch (error) {
    problem(`previous build ${BASELINE_REF}: could not check it out: ${(error as Error).message.split('\n')[0]}`);
    return null;
  }
  cleanups.push({ name: `remove ${checkout.dir}`, run: checkout.remove });
  log(`previous build: ${BASELINE_REF} = ${checkout.commit.slice(0, 12)} in ${checkout.dir}`);
  let previous: ServerChild;
  try {
    previous = await startServerChild('deputy', { ...env, BENCH_ISSUER: deputy.url }, 60_000, checkout.serverScript);
  } catch (error) {
    problem(`previous build ${BASELINE_REF}: did not start: ${(error as Error).message.slice(0, 600)}`);
    return null;
  }
  cleanups.push({ name: 'stop the previous build', run: () => previous.stop() });
  try {
    const at = TARGET_CONNECTIONS;
    const compared: PathComparison[] = [];
    for (const path of paths) {
      const next = rotate(path.requests);
      const probed = await probe(previous.url, next());
      if (probed.status !== 200) {
        problem(`previous build ${BASELINE_REF}, ${path.name}: probe → ${probed.status} ${probed.body.slice(0, 300)}`);
        continue;
      }
      const rounds: Record<'current' | 'previous', LoadResult[]> = { current: [], previous: [] };
      for (let round = 0; round < BASELINE_ROUNDS; round++) {
        // Alternate which goes first, so neither always runs right after the other.
        const order = round % 2 === 0 ? (['previous', 'current'] as const) : (['current', 'previous'] as const);
        for (const which of order) {
          const server = which === 'current' ? deputy : previous;
          const result = await runLoad({
            url: server.url,
            connections: at,
            seconds: BASELINE_SECONDS,
            warmupSeconds: round === 0 ? Math.max(WARMUP, 2) : 1,
            next,
            serverCpu: processTreeMeter(server.pid),
            ...(dbMeter ? { dbCpu: dbMeter } : {}),
          });
          rounds[which].push(result);
          log(`${path.name} vs ${BASELINE_REF}, round ${round + 1} ${which}: ${result.rps} req/s, srv ${result.serverCpuMsPerRequest} + DB ${result.dbCpuMsPerRequest ?? '-'} ms/req, p99 ${result.latencyMs.p99} ms`);
          if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0) {
            problem(`${path.name} vs ${BASELINE_REF} (${which}): ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts; ${JSON.stringify(result.failureSamples)}`);
          }
        }
      }
      const currentRps = rounds.current.map((r) => r.rps);
      const previousRps = rounds.previous.map((r) => r.rps);
      compared.push({ path: path.name, currentRps, previousRps, current: rounds.current, previous: rounds.previous, comparison: compareRounds(currentRps, previousRps) });
    }
    return { ref: BASELINE_REF, commit: checkout.commit, connections: at, secondsPerRound: BASELINE_SECONDS, paths: compared };
  } finally {
    await previous.stop();
  }
}

// ---------------------------------------------------------------- empty database

interface EmptyDatabasePhase {
  description: string;
  connections: number;
  windowSeconds: number;
  windows: LoadResult[];
  issuedTokensAtEnd: number;
  issuedTokensSeqScans: number;
  held: HeldRate;
}

/**
 * A new database with the world seeded and analyzed but NO issued tokens (a new installation;
 * statistics gathered while issued_tokens was empty, as before any auto-analyze), a Deputy
 * started on it, and the client-as-actor exchange held at the target level for
 * BENCH_EMPTY_DB_SECONDS in 5 s windows: the rate must not fall as issued_tokens grows.
 */
async function emptyDatabasePhase(database: Database, migrationsFor: (url: string) => Promise<unknown>): Promise<EmptyDatabasePhase | null> {
  if (EMPTY_DB_SECONDS === 0) return null;
  const url = await database.another('empty');
  await migrationsFor(url);
  const pepper = randomBytes(32).toString('base64url');
  const world = await seedWorld(url, pepper, { pastTokens: 0 });
  log(`empty-database phase: seeded ${JSON.stringify(world.rowCounts)} in ${(world.seedMs / 1000).toFixed(1)} s; analyzed with issued_tokens empty`);
  const deputy = await startChild('deputy', { BENCH_DATABASE_URL: url, BENCH_PEPPER: pepper, BENCH_WORKERS: '1' });
  const meter = database.postmasterPid !== undefined ? dbMeter : meterFor(database, url);
  try {
    const requests = Array.from({ length: COUNTS.subjects }, (_, i) =>
      tokenRequest(world.basicAuth(i % COUNTS.actors), {
        grant_type: TOKEN_EXCHANGE,
        subject_token: world.userToken(i),
        subject_token_type: JWT_TYPE,
        resource: resourceUri(i % COUNTS.resources),
        scope: 'read write',
      }),
    );
    const next = rotate(requests);
    const at = TARGET_CONNECTIONS;
    const windows: LoadResult[] = [];
    for (let elapsedSeconds = 0; elapsedSeconds < EMPTY_DB_SECONDS; elapsedSeconds += EMPTY_DB_WINDOW_SECONDS) {
      // 5 s of warm-up before the first window (JIT, connections): issued_tokens grows meanwhile, its statistics do not.
      const result = await runLoad({ url: deputy.url, connections: at, seconds: EMPTY_DB_WINDOW_SECONDS, warmupSeconds: elapsedSeconds === 0 ? 5 : 0, next, serverCpu: processTreeMeter(deputy.pid), ...(meter ? { dbCpu: meter } : {}) });
      windows.push(result);
      log(`empty database, ${elapsedSeconds + EMPTY_DB_WINDOW_SECONDS}s: ${result.rps} req/s, srv ${result.serverCpuMsPerRequest} + DB ${result.dbCpuMsPerRequest ?? '-'} ms/req, p99 ${result.latencyMs.p99} ms`);
      if (result.non2xx > 0 || result.errors > 0 || result.timeouts > 0) {
        problem(`empty-database phase: ${result.non2xx} non-2xx, ${result.errors} errors, ${result.timeouts} timeouts; ${JSON.stringify(result.failureSamples)}`);
      }
    }
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    let counts: { tokens: number; seqScans: number };
    try {
      await client.query('SELECT pg_stat_clear_snapshot()');
      const { rows } = await client.query<{ tokens: string; seq_scans: string }>(
        `SELECT (SELECT count(*) FROM issued_tokens) AS tokens, (SELECT seq_scan FROM pg_stat_user_tables WHERE relname = 'issued_tokens') AS seq_scans`,
      );
      counts = { tokens: Number(rows[0]!.tokens), seqScans: Number(rows[0]!.seq_scans) };
    } finally {
      await client.end();
    }
    const held = heldRate(windows.map((w) => w.rps));
    log(`empty database: ${counts.tokens} tokens issued, ${counts.seqScans} sequential scans of issued_tokens; rate ${held.firstQuarterRps} → ${held.lastQuarterRps} req/s`);
    return {
      description: `fresh database: world seeded and ANALYZEd with issued_tokens empty; client-as-actor exchange at c=${at} for ${EMPTY_DB_SECONDS}s after 5 s of warm-up`,
      connections: at,
      windowSeconds: EMPTY_DB_WINDOW_SECONDS,
      windows,
      issuedTokensAtEnd: counts.tokens,
      issuedTokensSeqScans: counts.seqScans,
      held,
    };
  } finally {
    await stopChild(deputy);
  }
}

// ---------------------------------------------------------------- targets

const EXCHANGE_PATHS = ['exchange: user JWT, client as actor', 'exchange: actor assertion', 'exchange: two-hop chain', 'exchange: DPoP-bound, client as actor'];

/** The issue's targets, each checked against this run (at 32 connections where it names a level). */
function targets(scenarios: ScenarioResult[], memory: MemoryCheck, previousBuild: PreviousBuildComparison | null, emptyDatabase: EmptyDatabasePhase | null): TargetCheck[] {
  const at = TARGET_CONNECTIONS;
  const level = (name: string) => scenarios.find((s) => s.name === name)?.levels.find((l) => l.connections === at);
  const exchange = level(EXCHANGE_PATHS[0]!);
  const assertion = level(EXCHANGE_PATHS[1]!);
  const dpop = level(EXCHANGE_PATHS[3]!);
  const failures = scenarios.flatMap((s) => s.levels).reduce((sum, l) => sum + l.errors + l.timeouts + l.non2xx + l.badBodies, 0);
  const previousExchange = previousBuild?.paths.find((p) => p.path === EXCHANGE_PATHS[0]);
  return checkTargets({
    connections: at,
    ...(exchange ? { exchange } : {}),
    ...(assertion ? { assertion } : {}),
    ...(dpop ? { dpop } : {}),
    exchangePaths: EXCHANGE_PATHS.flatMap((name) => {
      const found = level(name);
      return found ? [{ name, level: found }] : [];
    }),
    introspection: scenarios.find((s) => s.name === 'introspection')?.levels ?? [],
    ...(previousBuild && previousExchange
      ? { previousBuild: { ref: `${previousBuild.ref} (${previousBuild.commit.slice(0, 7)})`, comparison: previousExchange.comparison } }
      : {}),
    ...(emptyDatabase ? { emptyDatabase: emptyDatabase.held } : {}),
    failures,
    memoryDriftPercent: memory.driftPercent,
  });
}

// ---------------------------------------------------------------- main

/** Which code was measured: the commit, and whether src/ or migrations/ differed from it. */
function codeUnderTest(): { commit: string; uncommittedChanges: string[] } {
  const git = (...args: string[]) => execFileSync('git', args, { cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  try {
    const changed = git('status', '--porcelain', '--', 'src', 'migrations', 'package.json');
    return { commit: git('rev-parse', 'HEAD'), uncommittedChanges: changed ? changed.split('\n') : [] };
  } catch {
    // Not a git checkout (e.g. a `git archive` snapshot): the caller may say which commit it is.
    return { commit: process.env.BENCH_SOURCE_COMMIT ?? 'unknown', uncommittedChanges: [] };
  }
}

async function main(): Promise<void> {
  if (SSF_ONLY) return (await import('./bench/ssf.js')).runSsfBench();
  const loadAtStart = os.loadavg().map((n) => Math.round(n * 100) / 100);
  log(`load average at start ${loadAtStart.join(' ')} on ${os.cpus().length} CPUs${loadAtStart[0]! > os.cpus().length * 0.5 ? ' — OTHER WORK IS RUNNING ON THIS MACHINE; figures will be depressed and noisy' : ''}`);
  log(`connections ${CONNECTIONS.join(', ')}; ${SECONDS}s measured after ${WARMUP}s warm-up each; memory run ${MEMORY_SECONDS}s`);
  const database = await provisionDatabase();
  log(`database: ${database.kind}`);
  dbMeter = meterFor(database, database.url);
  const migrated = await migrate(database.url);
  log(`migrations applied: ${migrated.applied.join(', ') || 'none'}`);
  const pgVersion = await postgresVersion(database.url);

  if (EMPTY_DB_ONLY) {
    const phase = await emptyDatabasePhase(database, migrate);
    if (phase) process.stdout.write(`\n  ${phase.held.met ? 'met    ' : 'NOT MET'}  empty database holds its rate: ${phase.held.firstQuarterRps} → ${phase.held.lastQuarterRps} req/s (${phase.held.ratio})\n`);
    return;
  }
  const pepper = randomBytes(32).toString('base64url');
  const world = await seedWorld(database.url, pepper);
  log(`seeded in ${(world.seedMs / 1000).toFixed(2)} s: ${JSON.stringify(world.rowCounts)}`);

  const deputyEnv = { BENCH_DATABASE_URL: database.url, BENCH_PEPPER: pepper, BENCH_WORKERS: '1' };
  const deputy = await startChild('deputy', deputyEnv);
  log(`Deputy (child process, pid ${deputy.pid}) at ${deputy.url}`);
  let deputyResults: DeputyScenarios;
  let previousBuild: PreviousBuildComparison | null = null;
  let consolePages: Awaited<ReturnType<typeof benchConsole>>;
  try {
    if (CONSOLE_ONLY) {
      consolePages = await benchConsole(deputy.url, database.url, pepper);
      process.stdout.write(`\n${consoleTable(consolePages.pages)}\n\n  ${consolePages.met ? 'met    ' : 'NOT MET'}  ${consolePages.target}: ${consolePages.largestListMs} ms\n`);
      return;
    }
    deputyResults = await benchDeputy(world, deputy);
    previousBuild = await compareWithPreviousBuild(deputy, deputyEnv, [
      { name: EXCHANGE_PATHS[0]!, requests: deputyResults.requests.userExchange },
      { name: EXCHANGE_PATHS[2]!, requests: deputyResults.requests.chain },
    ]);
    log('console pages');
    consolePages = await benchConsole(deputy.url, database.url, pepper);
  } finally {
    await stopChild(deputy);
  }
  const workerScenarios = WORKERS > 1 ? await benchDeputyWorkers(deputyResults.requests, deputyEnv, deputy.url) : [];
  const emptyDatabase = await emptyDatabasePhase(database, migrate);

  const ceilings = await benchCeilings();
  const all = [...deputyResults.scenarios, ...workerScenarios, ceilings.koa, ceilings.clientCredentials];
  const printed = table(all, ceilings.clientCredentials);
  const checks = targets(deputyResults.scenarios, deputyResults.memory, previousBuild, emptyDatabase);
  checks.push({ target: consolePages.target, measured: `${consolePages.largestListMs} ms (largest list p95)`, met: consolePages.met });
  if (!consolePages.met) problem(`console: ${consolePages.target} not met (${consolePages.largestListMs} ms)`);

  const results = {
    date: new Date().toISOString(),
    durationSeconds: Math.round((performance.now() - runStarted) / 100) / 10,
    machine: {
      os: `${os.type()} ${os.release()} ${os.arch()}`,
      cpuModel: os.cpus()[0]?.model ?? 'unknown',
      cpuCount: os.cpus().length,
      totalMemoryMiB: Math.round(os.totalmem() / 1024 / 1024),
      loadAverageAtStart: loadAtStart,
      loadAverageAtEnd: os.loadavg().map((n) => Math.round(n * 100) / 100),
    },
    node: process.version,
    code: codeUnderTest(),
    postgres: pgVersion,
    database: database.kind.replace(/ in \/.*$/, '').replace(/, fresh database .*$/, ', fresh database'),
    deputy: {
      process: 'child process (node --import tsx scripts/bench/server.ts deputy); load generator in the parent',
      workers: WORKERS > 1 ? `1, and ${WORKERS} in the scenarios marked WORKERS=${WORKERS} (node:cluster, src/cluster.ts)` : 1,
      config: { DATABASE_POOL_SIZE: 20, LOG_LEVEL: 'silent', DEMO_SEED: false, NODE_ENV: 'production', other: 'defaults of src/config.ts (TOKEN_TTL 300, ES256, rate limits)' },
    },
    method: {
      tool: 'autocannon 8 (programmatic), pipelining 1, loopback',
      connections: CONNECTIONS,
      secondsPerLevel: SECONDS,
      warmupSecondsPerLevel: WARMUP,
      requests: 'pre-generated, rotated by setupRequest; actor assertions signed per level with a fresh jti each',
    },
    world: { counts: world.rowCounts, seedSeconds: Math.round(world.seedMs) / 1000, chainParents: deputyResults.chainParents },
    scenarios: [...deputyResults.scenarios, ...workerScenarios],
    ceilings,
    memory: deputyResults.memory,
    previousBuild,
    emptyDatabase,
    console: consolePages,
    targets: checks,
    problems,
  };

  process.stdout.write(`\n${printed}\n\n${consoleTable(consolePages.pages)}\n\n`);
  if (previousBuild) {
    const med = (values: Array<number | undefined>) => {
      const known = values.filter((v): v is number => v !== undefined).sort((x, y) => x - y);
      return known.length ? known[Math.floor(known.length / 2)] : undefined;
    };
    process.stdout.write(`against ${previousBuild.ref} (${previousBuild.commit.slice(0, 7)}), c=${previousBuild.connections}, ${BASELINE_ROUNDS} alternating rounds of ${previousBuild.secondsPerRound}s (medians):\n`);
    for (const p of previousBuild.paths) {
      const cpu = (results: LoadResult[]) => `Deputy ${med(results.map((r) => r.serverCpuMsPerRequest))} + PostgreSQL ${med(results.map((r) => r.dbCpuMsPerRequest)) ?? '-'} ms/req`;
      process.stdout.write(
        `  ${p.path}: ${p.comparison.currentMedian} vs ${p.comparison.previousMedian} req/s (${Math.round(p.comparison.ratio * 100)}%); CPU ${cpu(p.current)} vs ${cpu(p.previous)}\n`,
      );
    }
    process.stdout.write('\n');
  }
  if (emptyDatabase) {
    process.stdout.write(
      `empty database: ${emptyDatabase.windows.map((w) => w.rps.toFixed(0)).join(', ')} req/s per ${emptyDatabase.windowSeconds}s; ` +
        `${emptyDatabase.issuedTokensAtEnd} tokens issued, ${emptyDatabase.issuedTokensSeqScans} sequential scans of issued_tokens\n\n`,
    );
  }
  process.stdout.write(`targets:\n${checks.map((t) => `  ${t.met ? 'met    ' : 'NOT MET'}  ${t.target}: ${t.measured}`).join('\n')}\n\n`);
  process.stdout.write(
    `jose ES256 (one process): sign ${ceilings.jose.signPerSecond}/s, verify ${ceilings.jose.verifyPerSecond}/s\n` +
      `seeding: ${results.world.seedSeconds} s for ${JSON.stringify(world.rowCounts)}\n` +
      `memory: Deputy RSS ${results.memory.rssAfterWarmupMiB} MiB after warm-up → ${results.memory.rssAfterSustainedMiB} MiB after ${MEMORY_SECONDS}s sustained (${results.memory.driftPercent}%); V8 heap in use ${results.memory.heapUsedAfterWarmupMiB} → ${results.memory.heapUsedAfterSustainedMiB} MiB (${results.memory.heapDriftPercent}%); samples ${results.memory.samplesMiB.join(', ')}\n`,
  );
  if (problems.length > 0) {
    process.stdout.write(`\n!!!!!!!! ${problems.length} PROBLEM(S) — see above and "problems" in bench/results.json\n`);
    process.exitCode = 1;
  } else {
    process.stdout.write('\nall requests answered 2xx, no errors or timeouts\n');
  }
  await mkdir(path.dirname(RESULTS_FILE), { recursive: true });
  await writeFile(RESULTS_FILE, `${JSON.stringify(results, null, 2)}\n`);
  log(`wrote ${path.relative(ROOT, RESULTS_FILE)}`);
}

try {
  await main();
} catch (error) {
  process.exitCode = 1;
  process.stderr.write(`\nbenchmark failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
} finally {
  await cleanupAll();
  clearTimeout(watchdog);
  log('stopped everything it started');
}
// pg / autocannon may keep handles briefly; the work is done.
process.exit();
