/**
 * A server for the benchmark, run in a child process so the load generator does not share its
 * event loop: `node --import tsx scripts/bench/server.ts <deputy|koa|oidc>`.
 *
 * - deputy: Deputy itself (startDeputy) on BENCH_DATABASE_URL with BENCH_PEPPER; with
 *           BENCH_WORKERS=N, N such processes on one port under src/cluster.ts's supervisor.
 * - koa:    a trivial Koa 3 handler (the HTTP-stack ceiling).
 * - oidc:   a bare oidc-provider 9 with a static client, in-memory store and ES256 JWT access
 *           tokens for client_credentials (the OAuth-server ceiling).
 *
 * Prints one line `BENCH_READY {"url":...}` on stdout when listening. Stops on SIGTERM/SIGINT,
 * and when its stdin closes (the parent died), so it never outlives the benchmark.
 */
import cluster from 'node:cluster';
import { createHash, generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import Provider from 'oidc-provider';
import { startWorkers, type WorkerListening } from '../../src/cluster.js';
import { loadConfig } from '../../src/config.js';
import { freePort } from '../../src/db/embedded.js';
import { createLogger } from '../../src/log.js';
import { startDeputy } from '../../src/server.js';
import { OIDC_CEILING_CLIENT, OIDC_CEILING_RESOURCE, READY_MARK } from './common.js';


type Mode = 'deputy' | 'koa' | 'oidc';

function listen(server: Server, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

async function start(mode: Mode, fixedPort?: number): Promise<{ url: string; close(): Promise<void> }> {
  const port = fixedPort ?? (await freePort());
  if (mode === 'deputy') {
    const databaseUrl = process.env.BENCH_DATABASE_URL;
    const pepper = process.env.BENCH_PEPPER;
    if (!databaseUrl || !pepper) throw new Error('BENCH_DATABASE_URL and BENCH_PEPPER are required');
    const config = loadConfig({
      NODE_ENV: 'production',
      PORT: String(port),
      HOST: '127.0.0.1',
      // BENCH_ISSUER: another Deputy on the same database whose tokens this one must accept.
      ISSUER: process.env.BENCH_ISSUER ?? `http://127.0.0.1:${port}`,
      DEMO_SEED: 'false',
      LOG_LEVEL: 'silent',
      DATABASE_POOL_SIZE: '20',
      CLIENT_SECRET_PEPPER: pepper,
      // Required in production since signing keys are sealed; derived from the run's pepper so
      // every Deputy process of one run shares it.
      KEY_ENCRYPTION_KEY: createHash('sha256').update(`key-encryption:${pepper}`).digest('hex'),
    });
    const deputy = await startDeputy(config, databaseUrl, createLogger('silent'));
    return { url: deputy.url, close: () => deputy.close() };
  }
  if (mode === 'koa') {
    const app = new Koa();
    app.use((ctx) => {
      ctx.body = { ok: true };
    });
    const server = createServer(app.callback());
    server.keepAliveTimeout = 65_000;
    const bound = await listen(server, port);
    return { url: `http://127.0.0.1:${bound}`, close: () => closeServer(server) };
  }
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const signingJwk = { ...privateKey.export({ format: 'jwk' }), kid: 'ceiling-es256', alg: 'ES256', use: 'sig' };
  const issuer = `http://127.0.0.1:${port}`;
  const provider = new Provider(issuer, {
    clients: [
      {
        client_id: OIDC_CEILING_CLIENT.id,
        client_secret: OIDC_CEILING_CLIENT.secret,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
        id_token_signed_response_alg: 'ES256',
        scope: 'read',
      },
    ],
    jwks: { keys: [signingJwk as never] },
    scopes: ['read'],
    routes: { token: '/token' },
    features: {
      devInteractions: { enabled: false },
      clientCredentials: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource: () => OIDC_CEILING_RESOURCE,
        getResourceServerInfo: () => ({ scope: 'read', accessTokenFormat: 'jwt', jwt: { sign: { alg: 'ES256' } } }),
      },
    },
  });
  const server = createServer(provider.callback());
  server.keepAliveTimeout = 65_000;
  const bound = await listen(server, port);
  return { url: `http://127.0.0.1:${bound}`, close: () => closeServer(server) };
}

/** BENCH_WORKERS > 1: Deputy as `WORKERS=N npm start` runs it, N processes on one port (src/cluster.ts). */
async function startDeputyWorkers(count: number): Promise<{ url: string; close(): Promise<void> }> {
  const port = await freePort();
  const workers = startWorkers({ count, env: { BENCH_PORT: String(port) }, logger: createLogger('silent') });
  const url = await workers.ready;
  return { url, close: () => workers.stop(5000) };
}

/** One of those workers: Deputy in this process, reported to the supervisor over IPC. */
async function serveAsWorker(): Promise<void> {
  const running = await start('deputy', Number(process.env.BENCH_PORT));
  process.send!({ type: 'deputy:listening', url: running.url } satisfies WorkerListening);
  const stop = () => void running.close().finally(() => process.exit(0));
  process.on('SIGTERM', stop);
  process.on('disconnect', stop);
}

async function main(): Promise<void> {
  const mode = process.argv[2] as Mode;
  if (mode !== 'deputy' && mode !== 'koa' && mode !== 'oidc') throw new Error(`unknown mode ${String(mode)}`);
  if (cluster.isWorker) return serveAsWorker();
  const workers = Number(process.env.BENCH_WORKERS ?? 1);
  const running = mode === 'deputy' && workers > 1 ? await startDeputyWorkers(workers) : await start(mode);
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    const force = setTimeout(() => process.exit(code), 8000);
    force.unref();
    await running.close().catch(() => {});
    process.exit(code);
  };
  process.on('SIGTERM', () => void stop(0));
  process.on('SIGINT', () => void stop(0));
  // The memory check: a full collection before RSS is read (node --expose-gc).
  process.on('SIGUSR2', () => (globalThis as { gc?: () => void }).gc?.());
  process.stdin.on('end', () => void stop(0));
  process.stdin.on('close', () => void stop(0));
  process.stdin.resume();
  process.stdout.write(`${READY_MARK}${JSON.stringify({ url: running.url, pid: process.pid })}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`bench server: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
  process.exit(1);
});
