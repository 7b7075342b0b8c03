/**
 * The demo command-line helpers the quickstart pastes: each prints exactly one value on stdout
 * (nothing else a terminal log could keep), so the banner never needs to print a secret.
 */
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { beforeAll, describe, expect, it } from '@jest/globals';
import { exportJWK, generateKeyPair } from 'jose';
import { DEMO, demoSecretsFile, type DemoSecrets } from '../../src/demo/seed.js';

const run = promisify(execFile);

function script(name: string, args: string[], home: string) {
  return run(process.execPath, ['--import', 'tsx', `scripts/${name}.ts`, ...args], { env: { ...process.env, DEPUTY_HOME: home, DATABASE_URL: '' } });
}

describe('demo scripts', () => {
  let home: string;
  let secrets: DemoSecrets;

  beforeAll(async () => {
    home = await mkdtemp(path.join(os.tmpdir(), 'deputy-demo-scripts-'));
    const privateJwk = async (kid: string) => ({ ...(await exportJWK((await generateKeyPair('ES256', { extractable: true })).privateKey)), kid, alg: 'ES256' });
    secrets = {
      issuer: 'http://127.0.0.1:3000/demo-idp',
      audience: DEMO.audience,
      issuerPrivateJwk: await privateJwk('idp'),
      agentPrivateJwk: await privateJwk('agent'),
      appClientSecret: 'app-secret-0123456789abcdefghijklmnop',
      adminClientSecret: 'admin-secret-0123456789abcdefghijklmnop',
      userPasswords: { alice: 'alice-password-0123456789abcdefghijk', bob: 'bob-password-0123456789abcdefghijklm' },
    };
    await writeFile(demoSecretsFile(home), JSON.stringify(secrets), { mode: 0o600 });
  });

  it('demo:secret prints exactly the named client secret', async () => {
    expect((await script('demo-secret', ['app'], home)).stdout).toBe(`${secrets.appClientSecret}\n`);
    expect((await script('demo-secret', ['admin'], home)).stdout).toBe(`${secrets.adminClientSecret}\n`);
  });

  it("demo:secret prints a demo user's password at the demo identity provider", async () => {
    expect((await script('demo-secret', ['alice'], home)).stdout).toBe(`${secrets.userPasswords.alice}\n`);
    expect((await script('demo-secret', ['bob'], home)).stdout).toBe(`${secrets.userPasswords.bob}\n`);
  });

  it("gives a demo world seeded without passwords its users' passwords, once, readable only by the owner", async () => {
    const older = await mkdtemp(path.join(os.tmpdir(), 'deputy-demo-scripts-older-'));
    const { userPasswords: _none, ...withoutPasswords } = secrets;
    await writeFile(demoSecretsFile(older), JSON.stringify(withoutPasswords), { mode: 0o600 });
    const first = (await script('demo-secret', ['bob'], older)).stdout.trim();
    expect(first).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect((await script('demo-secret', ['bob'], older)).stdout.trim()).toBe(first);
    const stored = JSON.parse(await readFile(demoSecretsFile(older), 'utf8')) as DemoSecrets;
    expect(stored.userPasswords.bob).toBe(first);
    expect(stored.userPasswords.alice).not.toBe(first);
    expect(stored.appClientSecret).toBe(secrets.appClientSecret);
    expect((await stat(demoSecretsFile(older))).mode & 0o777).toBe(0o600);
  });

  it('demo:secret refuses anything else, printing no secret', async () => {
    for (const args of [[], ['issuer'], ['appClientSecret'], ['mallory'], ['userPasswords']]) {
      const failed = await script('demo-secret', args, home).then(
        () => null,
        (error: { code: number; stdout: string; stderr: string }) => error,
      );
      expect(failed).not.toBeNull();
      expect(failed!.code).not.toBe(0);
      expect(failed!.stdout).toBe('');
      for (const secret of [secrets.appClientSecret, secrets.adminClientSecret, secrets.issuerPrivateJwk.d!, ...Object.values(secrets.userPasswords)]) expect(failed!.stderr).not.toContain(secret);
    }
  });

  it('demo:token prints only the demo user token (its purpose), no other secret', async () => {
    const { stdout, stderr } = await script('demo-token', ['alice'], home);
    const lines = stdout.split('\n').filter(Boolean);
    expect(lines).toHaveLength(1);
    const payload = JSON.parse(Buffer.from(lines[0]!.split('.')[1]!, 'base64url').toString('utf8')) as Record<string, unknown>;
    expect(payload).toMatchObject({ iss: secrets.issuer, sub: 'alice', aud: DEMO.audience });
    for (const secret of [secrets.appClientSecret, secrets.adminClientSecret, secrets.issuerPrivateJwk.d!]) {
      expect(stdout).not.toContain(secret);
      expect(stderr).not.toContain(secret);
    }
  });
});
