/**
 * `npm start` as an operator runs it under a supervisor: the signal goes to the npm process,
 * and must reach Deputy. npm forwards SIGTERM to the shell running the script; unless that
 * shell hands its place to node (`exec`), the shell dies and node keeps serving as an orphan.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../../src/db/embedded.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { alive } from '../support/process.js';
import { until } from '../support/wait.js';

describe('npm start', () => {
  let db: TestDatabase | undefined;
  let servingPid: number | undefined;

  afterAll(async () => {
    if (servingPid !== undefined && alive(servingPid)) process.kill(servingPid, 'SIGKILL');
    await db?.drop();
  });

  it('stops the node process when the npm process gets SIGTERM (no orphan)', async () => {
    db = await createTestDatabase();
    const port = await freePort();
    const npm = spawn('npm', ['start'], {
      env: {
        ...process.env,
        DATABASE_URL: db.url,
        PORT: String(port),
        ISSUER: `http://127.0.0.1:${port}`,
        DEMO_SEED: 'false',
        LOG_LEVEL: 'info',
        NODE_OPTIONS: '',
        DEPUTY_HOME: await mkdtemp(path.join(os.tmpdir(), 'deputy-npm-start-')),
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const npmExited = new Promise<void>((resolve) => npm.once('exit', () => resolve()));
    let output = '';
    npm.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    npm.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));

    // The process that logs "deputy is listening" is the one serving (pino logs its pid).
    await until(() => /"msg":"deputy is listening"/.test(output), `deputy to listen; output so far: ${output.slice(-2000)}`, 120_000, 100);
    const listening = output.split('\n').find((line) => line.includes('"msg":"deputy is listening"'))!;
    servingPid = (JSON.parse(listening) as { pid: number }).pid;
    expect(servingPid).not.toBe(npm.pid);
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);

    process.kill(npm.pid!, 'SIGTERM');
    await npmExited;
    await until(() => !alive(servingPid!), 'the node process to exit after npm got SIGTERM', 30_000, 100);
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  }, 180_000);
});
