/**
 * The `npm start` entry point as a newcomer runs it: a child process, its exit code and output.
 */
import { describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { mkdtemp, stat } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../src/db/embedded.js';
import { DEMO, demoSecretsFile, readDemoSecrets } from '../src/demo/seed.js';
import { demoUserToken } from '../src/demo/user-token.js';
import { createTestDatabase } from './support/database.js';
import { signInAtDemoIdentityProvider } from './support/demo-sign-in.js';
import { until } from './support/wait.js';

/** Resolves once `until` matches stdout or stderr (the banner is on stderr, the log on stdout). */
function run(
  env: Record<string, string>,
  until?: RegExp,
  timeoutMs = 60000,
  imports: string[] = [],
): Promise<{ code: number | null; stdout: string; stderr: string; child: ReturnType<typeof spawn> }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', ...imports.flatMap((file) => ['--import', file]), 'src/main.ts'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`timed out; stdout: ${stdout.slice(-2000)} stderr: ${stderr.slice(-2000)}`));
    }, timeoutMs);
    const check = () => {
      if (until?.test(stdout) || until?.test(stderr)) {
        clearTimeout(timer);
        // Live views: output written after this point (request logs, shutdown) is seen too.
        resolve({
          code: null,
          get stdout() {
            return stdout;
          },
          get stderr() {
            return stderr;
          },
          child,
        });
      }
    };
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      check();
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
      check();
    });
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
      expect(started.stderr).toContain('demo:token');
      const ready = await fetch(`http://127.0.0.1:${port}/readyz`);
      expect(ready.status).toBe(200);
    } finally {
      const exited = new Promise<number | null>((resolve) => started.child.on('exit', resolve));
      started.child.kill('SIGTERM');
      expect(await exited).toBe(0);
    }
    await expect(fetch(`http://127.0.0.1:${port}/healthz`)).rejects.toThrow();
  });

  it('keeps stdout pure NDJSON when oidc-provider writes a notice or a library uses console.log', async () => {
    const db = await createTestDatabase();
    const port = await freePort();
    const env = { DEPUTY_HOME: await mkdtemp(path.join(os.tmpdir(), 'deputy-start-')), PORT: String(port), ISSUER: `http://127.0.0.1:${port}`, DATABASE_URL: db.url, DEMO_SEED: 'false', LOG_LEVEL: 'info' };
    const started = await run(env, /deputy is listening/, 60000, ['./test/support/console-notice-probe.ts']);
    let exitCode: number | null = null;
    try {
      // No demo world: no demo identity provider, and the approval pages say sign-in is not configured.
      expect((await fetch(`http://127.0.0.1:${port}/demo-idp/.well-known/openid-configuration`)).status).toBe(404);
      expect((await fetch(`http://127.0.0.1:${port}/approve`, { redirect: 'manual' })).status).toBe(503);
      started.child.kill('SIGUSR2');
      await until(() => started.stderr.includes('probe: done'), 'the probe', 10000);
      const exited = new Promise<number | null>((resolve) => started.child.on('exit', resolve));
      started.child.kill('SIGTERM');
      exitCode = await exited;

      const lines = started.stdout.split('\n').filter((line) => line.length > 0);
      const entries = lines.map((line) => JSON.parse(line) as { msg?: string; source?: string });
      expect(entries.filter((entry) => entry.source === 'console').map((entry) => entry.msg)).toEqual([
        'oidc-provider NOTICE: probe notice',
        "probe console.log { n: 1 }",
      ]);
      expect(started.stderr).toContain('oidc-provider WARNING: probe warning');
      expect(exitCode).toBe(0);
    } finally {
      if (exitCode === null) started.child.kill('SIGKILL');
      await db.drop();
    }
  });

  it('keeps secrets out of stdout and stderr: stdout is pure NDJSON, the banner only names the secrets file', async () => {
    const home = await mkdtemp(path.join(os.tmpdir(), 'deputy-start-'));
    const db = await createTestDatabase();
    const port = await freePort();
    const issuer = `http://127.0.0.1:${port}`;
    const adminToken = `bootstrap-${'s'.repeat(40)}`;
    const env = { DEPUTY_HOME: home, PORT: String(port), ISSUER: issuer, DATABASE_URL: db.url, DEMO_SEED: 'true', DEPUTY_ADMIN_TOKEN: adminToken, LOG_LEVEL: 'trace' };
    const started = await run(env, /Deputy is ready at/);
    let exitCode: number | null = null;
    try {
      const secrets = (await readDemoSecrets(home))!;
      expect(secrets).not.toBeNull();
      expect((await stat(demoSecretsFile(home))).mode & 0o777).toBe(0o600);
      expect((await stat(home)).mode & 0o777).toBe(0o700);

      // Requests that carry every secret, so request logs get a chance to leak them.
      const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
      const exchange = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { authorization: basic(DEMO.appClient, secrets.appClientSecret), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({
          grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
          subject_token: await demoUserToken(secrets, 'alice'),
          subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
          resource: DEMO.resource,
        }).toString(),
      });
      expect(exchange.status).toBe(200);
      const accessToken = ((await exchange.json()) as { access_token: string }).access_token;
      const admin = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { authorization: basic(DEMO.adminClient, secrets.adminClientSecret), 'content-type': 'application/x-www-form-urlencoded' },
        body: 'grant_type=client_credentials&scope=deputy:admin',
      });
      expect(admin.status).toBe(200);
      const adminAccessToken = ((await admin.json()) as { access_token: string }).access_token;
      expect((await fetch(`${issuer}/admin/v1/grants`, { headers: { authorization: `Bearer ${adminToken}` } })).status).toBe(200);
      expect((await fetch(`${issuer}/admin/v1/grants`, { headers: { authorization: `Bearer ${adminAccessToken}` } })).status).toBe(200);
      const wrong = await fetch(`${issuer}/token`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: `grant_type=client_credentials&client_id=${DEMO.appClient}&client_secret=${secrets.adminClientSecret}`,
      });
      expect(wrong.status).toBe(401);
      // The person's sign-in at /approve goes through the demo identity provider with alice's password.
      const signedIn = await signInAtDemoIdentityProvider(issuer, 'alice', secrets.userPasswords.alice!);
      expect(signedIn).toMatchObject({ status: 200, url: `${issuer}/approve` });
      expect(signedIn.body).toContain('Signed in as <strong>alice</strong>');

      const exited = new Promise<number | null>((resolve) => started.child.on('exit', resolve));
      started.child.kill('SIGTERM');
      exitCode = await exited;

      const secretValues = [
        adminToken,
        secrets.appClientSecret,
        secrets.adminClientSecret,
        accessToken,
        adminAccessToken,
        ...[secrets.issuerPrivateJwk, secrets.agentPrivateJwk].map((jwk) => jwk.d!),
        ...Object.values(secrets.userPasswords),
      ];
      for (const secret of secretValues) {
        expect(secret.length).toBeGreaterThan(20);
        expect(started.stdout).not.toContain(secret);
        expect(started.stderr).not.toContain(secret);
      }
      const lines = started.stdout.split('\n').filter((line) => line.length > 0);
      expect(lines.length).toBeGreaterThan(5);
      for (const line of lines) expect(() => JSON.parse(line)).not.toThrow();
      expect(started.stderr).toContain('Deputy is ready at');
      expect(started.stderr).toContain(demoSecretsFile(home));
      expect(started.stderr).toContain('demo:secret');
      // The banner points at the console and the admin API's reference.
      expect(started.stderr).toContain(`${issuer}/console`);
      expect(started.stderr).toContain(`${issuer}/admin/v1/docs`);
      // ... and at the approval pages, with the command that prints a demo user's password.
      expect(started.stderr).toContain(`${issuer}/approve`);
      expect(started.stderr).toContain('npm run -s demo:secret -- bob');
    } finally {
      if (exitCode === null) started.child.kill('SIGKILL');
      await db.drop();
    }
    expect(exitCode).toBe(0);
  });
});
