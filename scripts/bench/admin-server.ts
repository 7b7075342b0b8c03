/**
 * Deputy for the admin API benchmark (scripts/bench-admin.ts), in a child process so the load
 * generator does not share its event loop. BENCH_DATABASE_URL, BENCH_PEPPER and
 * BENCH_ADMIN_TOKEN are required. Prints `BENCH_READY {"url":...}` when listening; stops on
 * SIGTERM and when its stdin closes (the parent died).
 */
import { randomBytes } from 'node:crypto';
import { loadConfig } from '../../src/config.js';
import { freePort } from '../../src/db/embedded.js';
import { createLogger } from '../../src/log.js';
import { startDeputy } from '../../src/server.js';
import { READY_MARK } from './common.js';

const { BENCH_DATABASE_URL: databaseUrl, BENCH_PEPPER: pepper, BENCH_ADMIN_TOKEN: adminToken } = process.env;
if (!databaseUrl || !pepper || !adminToken) throw new Error('BENCH_DATABASE_URL, BENCH_PEPPER and BENCH_ADMIN_TOKEN are required');
const port = await freePort();
const config = loadConfig({
  NODE_ENV: 'production',
  PORT: String(port),
  HOST: '127.0.0.1',
  ISSUER: `http://127.0.0.1:${port}`,
  DEMO_SEED: 'false',
  LOG_LEVEL: 'silent',
  DATABASE_POOL_SIZE: '20',
  CLIENT_SECRET_PEPPER: pepper,
  DEPUTY_ADMIN_TOKEN: adminToken,
  // Production requires one; the benchmark's keys live as long as its database.
  KEY_ENCRYPTION_KEY: randomBytes(32).toString('base64url'),
});
const deputy = await startDeputy(config, databaseUrl, createLogger('silent'));
let stopping = false;
const stop = () => {
  if (stopping) return;
  stopping = true;
  setTimeout(() => process.exit(0), 8000).unref();
  void deputy.close().finally(() => process.exit(0));
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('close', stop);
process.stdin.resume();
process.stdout.write(`${READY_MARK}${JSON.stringify({ url: deputy.url, pid: process.pid })}\n`);
