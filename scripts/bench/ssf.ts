/**
 * The continuous-authorization figures of issue 16 (item 4), on loopback, printed (never asserted):
 *
 * 1. latency: BENCH_SSF_REVOKES tokens revoked one at a time (RFC 7009 and admin revoke,
 *    alternating); for each, the time from the revoke call returning to the resource server
 *    (this process, node:http + deputy/resource-server, push stream) refusing the token: p50/p99/max.
 * 2. outage: the resource server goes down for BENCH_SSF_OUTAGE_SECONDS (30) while tokens are
 *    revoked; it comes back on the same endpoint; how many events arrive, in order, and how long
 *    after the restart the last one did (Deputy's retry backoff is its default).
 * 3. exchange rate: token exchanges with autocannon (BENCH_SSF_CONNECTIONS, BENCH_SECONDS) with no
 *    stream, then with the live push stream attached and revocations flowing, alternating twice.
 *
 * Run alone: `npm run bench -- --ssf` (or BENCH_SSF=1 npm run bench), or
 * `node --import tsx scripts/bench/ssf.ts`. Database: a fresh database on DATABASE_URL (dropped at
 * the end), else an embedded PostgreSQL in a temp dir. Deputy runs in a child process
 * (`scripts/bench/ssf.ts --deputy`). Everything started here is stopped here.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import pg from 'pg';
import { loadConfig } from '../../src/config.js';
import { freePort, startEmbeddedPostgres } from '../../src/db/embedded.js';
import { migrate } from '../../src/db/migrate.js';
import { createLogger } from '../../src/log.js';
import { hashClientSecret } from '../../src/oauth/client-secrets.js';
import { createResourceServer, ssfPushHandler, verifyNode, type ResourceServer } from '../../src/resource-server/index.js';
import { startDeputy } from '../../src/server.js';
import { runLoad, type LoadResult } from './load.js';
import { processTreeMeter } from './cpu.js';

const READY = 'SSF_BENCH_READY ';
const RESOURCE = 'https://api.bench/tickets';
const USER_ISSUER = 'https://idp.bench';
const ADMIN_TOKEN = `ssf-bench-${'c'.repeat(40)}`;
const PUSH_SECRET = `Bearer ${randomBytes(16).toString('hex')}`;
const SECRETS = { app: 'secret-of-bench-app-0123456789', rs: 'secret-of-bench-rs-0123456789' };
const envNumber = (name: string, fallback: number) => {
  const value = Number(process.env[name]);
  return Number.isFinite(value) && value > 0 ? value : fallback;
};

// ---------------------------------------------------------------- child: Deputy

async function deputyChild(): Promise<void> {
  const port = Number(process.env.SSF_BENCH_PORT);
  const config = loadConfig({
    NODE_ENV: 'production',
    PORT: String(port),
    HOST: '127.0.0.1',
    ISSUER: `http://127.0.0.1:${port}`,
    DEMO_SEED: 'false',
    LOG_LEVEL: 'silent',
    DATABASE_POOL_SIZE: '20',
    CLIENT_SECRET_PEPPER: process.env.SSF_BENCH_PEPPER!,
    KEY_ENCRYPTION_KEY: process.env.SSF_BENCH_KEK!,
    DEPUTY_ADMIN_TOKEN: ADMIN_TOKEN,
    SSF_ALLOW_PRIVATE_NETWORK: 'true',
    RATE_LIMIT_CLIENT_PER_SECOND: '0',
    RATE_LIMIT_ACTOR_PER_SECOND: '0',
  });
  const deputy = await startDeputy(config, process.env.SSF_BENCH_DATABASE_URL!, createLogger('silent'));
  const stop = () => void deputy.close().finally(() => process.exit(0));
  process.once('SIGTERM', stop);
  process.stdin.on('close', stop);
  process.stdout.write(`${READY}${JSON.stringify({ url: deputy.url, pid: process.pid })}\n`);
}

// ---------------------------------------------------------------- parent

const SELF = fileURLToPath(import.meta.url);
const started = performance.now();
const log = (line: string) => process.stdout.write(`[ssf bench ${((performance.now() - started) / 1000).toFixed(1)}s] ${line}\n`);
const cleanups: Array<() => Promise<void>> = [];

function startDeputyChild(env: Record<string, string>): Promise<{ url: string; pid: number; child: ChildProcess }> {
  const child = spawn(process.execPath, ['--import', 'tsx', SELF, '--deputy'], { env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'inherit'] });
  cleanups.push(async () => {
    if (child.exitCode !== null) return;
    child.kill('SIGTERM');
    await new Promise((resolve) => child.once('exit', resolve));
  });
  return new Promise((resolve, reject) => {
    let buffered = '';
    child.once('exit', (code) => reject(new Error(`Deputy exited (${code}) before it was ready`)));
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const line = buffered.split('\n').find((l) => l.startsWith(READY));
      if (line) resolve({ ...(JSON.parse(line.slice(READY.length)) as { url: string; pid: number }), child });
    });
  });
}

async function provisionDatabase(): Promise<string> {
  const external = process.env.DATABASE_URL;
  if (external) {
    const name = `deputy_ssf_bench_${randomBytes(6).toString('hex')}`;
    const run = async (sql: string) => {
      const client = new pg.Client({ connectionString: external });
      await client.connect();
      try {
        await client.query(sql);
      } finally {
        await client.end();
      }
    };
    await run(`CREATE DATABASE ${name}`);
    cleanups.push(() => run(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
    const url = new URL(external);
    url.pathname = `/${name}`;
    return url.toString();
  }
  const home = await mkdtemp(path.join(os.tmpdir(), 'deputy-ssf-bench-'));
  cleanups.push(() => rm(home, { recursive: true, force: true }));
  const embedded = await startEmbeddedPostgres(home);
  cleanups.push(() => embedded.stop());
  return embedded.url;
}

async function seed(databaseUrl: string, pepper: string, deputyIssuer: string) {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const userJwk = { ...(await exportJWK(publicKey)), kid: 'bench-idp', alg: 'ES256', use: 'sig' };
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query(`INSERT INTO trusted_issuers (issuer, jwks, audience, kind, subject_claim, algorithms) VALUES ($1, $2, $3, 'user', 'sub', ARRAY['ES256'])`, [USER_ISSUER, { keys: [userJwk] }, deputyIssuer]);
    await client.query(`INSERT INTO resources (uri, scopes) VALUES ($1, ARRAY['read'])`, [RESOURCE]);
    await client.query(`INSERT INTO subjects (id, email) VALUES ('alice', 'alice@bench.test')`);
    await client.query(`INSERT INTO entitlements (subject_id, resource_uri, scope) VALUES ('alice', $1, 'read')`, [RESOURCE]);
    await client.query(`INSERT INTO actors (id, kind, owner_id, purpose, scope_ceiling, resources) VALUES ('agent:bench', 'agent', 'alice', 'bench', ARRAY['read'], ARRAY[$1])`, [RESOURCE]);
    await client.query(`INSERT INTO delegation_grants (subject_id, actor_id, resource_uri, scopes) VALUES ('alice', 'agent:bench', $1, ARRAY['read'])`, [RESOURCE]);
    await client.query(`INSERT INTO clients (client_id, client_secret_hash, token_endpoint_auth_method, actor_id) VALUES ('bench-app', $1, 'client_secret_basic', 'agent:bench')`, [hashClientSecret(SECRETS.app, pepper)]);
    await client.query(`INSERT INTO clients (client_id, client_secret_hash, token_endpoint_auth_method, protected_resources) VALUES ('bench-rs', $1, 'client_secret_basic', ARRAY[$2])`, [hashClientSecret(SECRETS.rs, pepper), RESOURCE]);
  } finally {
    await client.end();
  }
  return async () => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ iss: USER_ISSUER, sub: 'alice', aud: deputyIssuer, iat: now, exp: now + 900, jti: randomUUID() }).setProtectedHeader({ alg: 'ES256', kid: 'bench-idp', typ: 'JWT' }).sign(privateKey);
  };
}

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;

function exchangeBody(userToken: string): string {
  return new URLSearchParams({
    grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
    subject_token: userToken,
    subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
    resource: RESOURCE,
    scope: 'read',
  }).toString();
}

interface Api {
  rs: ResourceServer;
  /** jti → when its revocation event was recorded (performance.now()). */
  arrivals: Map<string, number>;
  order: string[];
  url: string;
  port: number;
  close(): Promise<void>;
}

async function startApi(deputyUrl: string, port = 0): Promise<Api> {
  const arrivals = new Map<string, number>();
  const order: string[] = [];
  const rs = createResourceServer({
    issuer: deputyUrl,
    audience: RESOURCE,
    ssf: {
      pushAuthorization: PUSH_SECRET,
      accessToken: async () => {
        const response = await fetch(`${deputyUrl}/token`, {
          method: 'POST',
          headers: { authorization: basic('bench-rs', SECRETS.rs), 'content-type': 'application/x-www-form-urlencoded' },
          body: 'grant_type=client_credentials&scope=ssf%3Astream',
        });
        return ((await response.json()) as { access_token: string }).access_token;
      },
      onEvent: (event) => {
        if (event.kind !== 'token-revoked') return;
        if (!arrivals.has(event.jti)) arrivals.set(event.jti, performance.now());
        order.push(event.jti);
      },
    },
  });
  const push = ssfPushHandler(rs);
  const server = http.createServer((req, res) => {
    if (req.url === '/ssf') return push(req, res);
    void verifyNode(rs, req, res).then((caller) => caller && res.end('ok'));
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const bound = (server.address() as AddressInfo).port;
  rs.ssf!.markListening();
  return {
    rs,
    arrivals,
    order,
    url: `http://127.0.0.1:${bound}`,
    port: bound,
    close: async () => {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await rs.close();
    },
  };
}

const percentile = (sorted: number[], p: number) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

export async function benchSsf(): Promise<void> {
  const revokes = envNumber('BENCH_SSF_REVOKES', 100);
  const outageSeconds = envNumber('BENCH_SSF_OUTAGE_SECONDS', 30);
  const outageRevokes = envNumber('BENCH_SSF_OUTAGE_REVOKES', 30);
  const connections = envNumber('BENCH_SSF_CONNECTIONS', 16);
  const seconds = envNumber('BENCH_SECONDS', 5);
  log(`load average ${os.loadavg().map((n) => n.toFixed(2)).join(' ')} on ${os.cpus().length} CPUs`);
  const databaseUrl = await provisionDatabase();
  await migrate(databaseUrl);
  const pepper = randomBytes(32).toString('base64url');
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  const userToken = await seed(databaseUrl, pepper, issuer);
  const deputy = await startDeputyChild({ SSF_BENCH_DATABASE_URL: databaseUrl, SSF_BENCH_PORT: String(port), SSF_BENCH_PEPPER: pepper, SSF_BENCH_KEK: randomBytes(32).toString('base64url') });
  log(`Deputy (child pid ${deputy.pid}) at ${deputy.url}`);

  const exchange = async () => {
    const response = await fetch(`${deputy.url}/token`, {
      method: 'POST',
      headers: { authorization: basic('bench-app', SECRETS.app), 'content-type': 'application/x-www-form-urlencoded' },
      body: exchangeBody(await userToken()),
    });
    const body = (await response.json()) as { access_token?: string };
    if (!body.access_token) throw new Error(`exchange failed: ${response.status}`);
    return body.access_token;
  };
  const jtiOf = (token: string) => (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { jti: string }).jti;
  const revoke7009 = (token: string) =>
    fetch(`${deputy.url}/token/revocation`, { method: 'POST', headers: { authorization: basic('bench-app', SECRETS.app), 'content-type': 'application/x-www-form-urlencoded' }, body: `token=${token}` }).then((r) => r.text());
  const revokeAdmin = (token: string) =>
    fetch(`${deputy.url}/admin/v1/tokens/${jtiOf(token)}/revoke`, { method: 'POST', headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' }, body: '{}' }).then((r) => r.text());
  const refuses = async (api: Api, token: string) => (await fetch(`${api.url}/x`, { headers: { authorization: `Bearer ${token}` } })).status === 401;

  let api = await startApi(deputy.url);
  const stream = await api.rs.ssf!.ensureStream({ method: 'push', endpointUrl: `${api.url}/ssf`, authorizationHeader: PUSH_SECRET });
  await api.rs.ssf!.verifyStream(30_000);
  log(`push stream ${stream.stream_id} verified`);

  // 1. latency
  const latencies: number[] = [];
  for (let i = 0; i < revokes; i += 1) {
    const token = await exchange();
    if (await refuses(api, token)) throw new Error('a fresh token was refused');
    const jti = jtiOf(token);
    await (i % 2 === 0 ? revoke7009(token) : revokeAdmin(token));
    const returned = performance.now();
    const deadline = returned + 30_000;
    while (!api.arrivals.has(jti) && performance.now() < deadline) await sleep(1);
    if (!api.arrivals.has(jti)) throw new Error(`no event for ${jti} within 30 s`);
    latencies.push(Math.max(0, api.arrivals.get(jti)! - returned));
    if (!(await refuses(api, token))) throw new Error('the API still accepts a revoked token after its event');
  }
  latencies.sort((a, b) => a - b);
  const latency = { count: latencies.length, p50: +percentile(latencies, 50).toFixed(1), p99: +percentile(latencies, 99).toFixed(1), max: +latencies.at(-1)!.toFixed(1) };
  log(`latency revoke-return → API refuses (push, ms): ${JSON.stringify(latency)}`);

  // 2. outage
  const outageTokens: string[] = [];
  for (let i = 0; i < outageRevokes; i += 1) outageTokens.push(await exchange());
  const apiPort = api.port;
  await api.close();
  log(`API down for ${outageSeconds} s; revoking ${outageRevokes} tokens meanwhile`);
  const downAt = performance.now();
  for (const [i, token] of outageTokens.entries()) {
    await (i % 2 === 0 ? revoke7009(token) : revokeAdmin(token));
    await sleep((outageSeconds * 1000) / outageRevokes);
  }
  await sleep(Math.max(0, outageSeconds * 1000 - (performance.now() - downAt)));
  api = await startApi(deputy.url, apiPort);
  const backAt = performance.now();
  // BENCH_SSF_RESUME=1: the API tells Deputy it is back (stream status enabled) instead of
  // waiting for Deputy's next retry.
  if (process.env.BENCH_SSF_RESUME === '1') {
    await api.rs.ssf!.ensureStream({ method: 'push', endpointUrl: `${api.url}/ssf`, authorizationHeader: PUSH_SECRET });
    await api.rs.ssf!.resume();
  }
  const expected = outageTokens.map(jtiOf);
  const drainDeadline = backAt + 10 * 60_000;
  while (!expected.every((jti) => api.arrivals.has(jti)) && performance.now() < drainDeadline) await sleep(20);
  const delivered = expected.filter((jti) => api.arrivals.has(jti)).length;
  const firstArrivals = [...new Set(api.order)].filter((jti) => expected.includes(jti));
  const outage = {
    seconds: outageSeconds,
    revoked: expected.length,
    delivered,
    inOrder: JSON.stringify(firstArrivals) === JSON.stringify(expected.filter((jti) => api.arrivals.has(jti))),
    lastArrivalAfterRestartMs: delivered ? Math.round(Math.max(...expected.filter((j) => api.arrivals.has(j)).map((j) => api.arrivals.get(j)!)) - backAt) : null,
  };
  log(`outage: ${JSON.stringify(outage)}`);

  // 3. exchange rate, no stream vs live stream (alternating)
  const prepared = async (count: number) => Promise.all(Array.from({ length: count }, () => userToken()));
  const rates: Array<{ stream: boolean; result: LoadResult }> = [];
  let background: Promise<void> | null = null;
  let stopBackground = false;
  for (const withStream of [false, true, false, true]) {
    if (withStream) {
      await api.rs.ssf!.ensureStream({ method: 'push', endpointUrl: `${api.url}/ssf`, authorizationHeader: PUSH_SECRET });
      stopBackground = false;
      background = (async () => {
        while (!stopBackground) {
          await revoke7009(await exchange()).catch(() => undefined);
          await sleep(100);
        }
      })();
    } else if (api.rs.ssf!.stream) {
      await api.rs.ssf!.deleteStream();
    }
    const tokens = await prepared(Math.ceil(seconds + 2) * 400);
    let next = 0;
    const result = await runLoad({
      url: deputy.url,
      connections,
      seconds,
      warmupSeconds: 1,
      serverCpu: processTreeMeter(deputy.pid),
      next: () => ({
        method: 'POST',
        path: '/token',
        headers: { authorization: basic('bench-app', SECRETS.app), 'content-type': 'application/x-www-form-urlencoded' },
        body: exchangeBody(tokens[next++ % tokens.length]!),
      }),
    });
    stopBackground = true;
    await background;
    background = null;
    rates.push({ stream: withStream, result });
    log(`exchanges ${withStream ? 'with a live stream (10 revocations/s)' : 'with no stream'}: ${Math.round(result.rps)}/s, p99 ${result.latencyMs.p99} ms, non-2xx ${result.non2xx}`);
  }
  const mean = (flag: boolean) => Math.round(rates.filter((r) => r.stream === flag).reduce((sum, r) => sum + r.result.rps, 0) / 2);
  process.stdout.write(
    `\nSSF figures (loopback, ${os.cpus().length} CPUs, Node ${process.version}):\n` +
      `  revoke returned → resource server refuses (push): p50 ${latency.p50} ms, p99 ${latency.p99} ms, max ${latency.max} ms over ${latency.count} revocations\n` +
      `  receiver outage ${outage.seconds} s: ${outage.delivered}/${outage.revoked} events delivered, in order: ${outage.inOrder}, last one ${outage.lastArrivalAfterRestartMs} ms after the restart\n` +
      `  exchange rate (${connections} connections, ${seconds} s x2 each): no stream ${mean(false)}/s, live stream ${mean(true)}/s (runs: ${rates.map((r) => `${r.stream ? 'stream' : 'none'} ${Math.round(r.result.rps)}`).join(', ')})\n`,
  );
  await api.close();
}

async function main(): Promise<void> {
  try {
    await benchSsf();
  } finally {
    while (cleanups.length) await cleanups.pop()!().catch((error: unknown) => process.stderr.write(`cleanup failed: ${String(error)}\n`));
  }
}

if (process.argv[1] === SELF) {
  if (process.argv.includes('--deputy')) await deputyChild();
  else await main();
}

export { main as runSsfBench };
