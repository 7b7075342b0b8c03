/**
 * The `npm start` entry point as a newcomer runs it: a child process, its exit code and output.
 */
import { describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../src/db/embedded.js';



function run(env: Record<string, string>, until?: RegExp, timeoutMs = 60000): Promise<{ code: number | null; stdout: string; stderr: string; child: ReturnType<typeof spawn> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`timed out; stdout: ${stdout.slice(-2000)} stderr: ${stderr.slice(-2000)}`));
    }, timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      if (until?.test(stdout)) {
        clearTimeout(timer);
        resolve({ code: null, stdout, stderr, child });
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, child });
    });
  });
}

describe('npm start', () => {
  it('exits non-zero with one line naming a bad variable', async () => {
    const result = await run({ PORT: 'abc', DATABASE_URL: '' });
    expect(result.code).toBe(1);
    const lines = result.stderr.split('\n').filter((line) => line.startsWith('deputy:'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/PORT/);
  });

  it('serves on an embedded PostgreSQL with the demo world, and stops cleanly on SIGTERM', async () => {
    const home = await mkdtemp(path.join(os.tmpdir(), 'deputy-start-'));
    const port = await freePort();
    const env = { DEPUTY_HOME: home, PORT: String(port), DATABASE_URL: '', LOG_LEVEL: 'warn' };
    const started = await run(env, /Deputy is ready at/);
    try {
      expect(started.stdout).toContain('demo:token');
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(ready.status).toBe(200);
    } finally {
      const exited = new Promise<number | null>((resolve) => started.child.on('exit', resolve));
      started.child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  });
});
