/**
 * WORKERS=2: `npm start` supervises two Deputy processes on one port. Both answer, and a token
 * one worker minted introspects active through the other; a killed worker is replaced; SIGTERM
 * stops every worker and the supervisor exits 0.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../src/db/embedded.js';
import { DEMO, readDemoSecrets } from '../src/demo/seed.js';
import { demoUserToken } from '../src/demo/user-token.js';
import { createTestDatabase, type TestDatabase } from './support/database.js';
import { basic } from './support/hostile.js';
import { alive } from './support/process.js';
import { until } from './support/wait.js';

interface LogLine {
  msg?: string;
  pid?: number;
  worker_pid?: number;
  [field: string]: unknown;
}

describe('npm start with WORKERS=2', () => {
  let db: TestDatabase;
  let home: string;
  let url: string;
  let child: ChildProcess;
  let exited: Promise<number | null>;
  const lines: LogLine[] = [];

  beforeAll(async () => {
    db = await createTestDatabase();
    home = await mkdtemp(path.join(os.tmpdir(), 'deputy-cluster-'));
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
      env: { ...process.env, WORKERS: '2', PORT: String(port), ISSUER: url, DATABASE_URL: db.url, DEPUTY_HOME: home, DEMO_SEED: 'true', LOG_LEVEL: 'info' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    let buffered = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const complete = buffered.split('\n');
      buffered = complete.pop()!;
      for (const line of complete) {
        if (line.startsWith('{')) lines.push(JSON.parse(line) as LogLine);
      }
    });
    await until(() => lines.some((line) => line.msg === 'deputy is listening'), 'deputy is listening', 60_000, 50);
  }, 90_000);

  afterAll(async () => {
    if (child.exitCode === null) child.kill('SIGKILL');
    await db.drop();
  });

  const workerPids = () => [...new Set(lines.filter((line) => line.msg === 'worker listening').map((line) => line.worker_pid!))];

  async function exchange(): Promise<{ status: number; token?: string }> {
    const secrets = (await readDemoSecrets(home))!;
    const response = await fetch(`${url}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: basic(DEMO.appClient, secrets.appClientSecret),
        connection: 'close',
      },
      body: new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        subject_token: await demoUserToken(secrets, 'alice'),
        subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
        resource: DEMO.resource,
        scope: 'tickets:read',
      }),
    });
    const body = (await response.json()) as { access_token?: string };
    return { status: response.status, ...(body.access_token ? { token: body.access_token } : {}) };
  }

  it('serves from two worker processes, which share one database', async () => {
    expect(workerPids()).toHaveLength(2);
    const tokens: string[] = [];
    for (let i = 0; i < 12; i++) {
      const result = await exchange();
      expect(result.status).toBe(200);
      tokens.push(result.token!);
    }
    // Every request on a new connection: the requests were spread over both workers.
    const served = new Set(lines.filter((line) => line.path === '/token' && line.status === 200).map((line) => line.pid));
    expect(served).toEqual(new Set(workerPids()));

    const secrets = (await readDemoSecrets(home))!;
    for (const token of tokens) {
      const response = await fetch(`${url}/token/introspection`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: basic(DEMO.appClient, secrets.appClientSecret),
          connection: 'close',
        },
        body: new URLSearchParams({ token }),
      });
      expect(((await response.json()) as { active: boolean }).active).toBe(true);
    }
  });

  it('replaces a worker that dies', async () => {
    const [victim] = workerPids();
    process.kill(victim!, 'SIGKILL');
    await until(() => lines.some((line) => line.msg === 'worker died; starting a replacement' && line.worker_pid === victim), 'the death to be logged', 30_000, 50);
    await until(() => workerPids().length === 3, 'a replacement worker', 30_000, 50);
    expect(alive(victim!)).toBe(false);
    for (let i = 0; i < 4; i++) expect((await exchange()).status).toBe(200);
  });

  it('stops every worker on SIGTERM and exits 0', async () => {
    const pids = workerPids().filter(alive);
    expect(pids).toHaveLength(2);
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    for (const pid of pids) expect(alive(pid)).toBe(false);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  });
});
