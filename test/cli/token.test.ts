/**
 * The deputy CLI's agent-developer side and the audit log, against a real Deputy run as a
 * process: token exchange (client credentials, signed actor assertions, chains), token inspect
 * (signature, act chain, introspection, why inactive), tokens list/get/revoke, audit tail
 * (--follow) and verify, actor keygen and shell completion. The world is seeded with the CLI.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { SignJWT, decodeJwt, exportJWK, generateKeyPair, type CryptoKey } from 'jose';
import { ACTOR_ASSERTION_ALGORITHMS } from '../../src/token-exchange/actor-assertion.js';
import { KEY_ALGORITHMS } from '../../src/cli/actor-keys.js';
import { cliHome, runCli, runCliJson, spawnCli } from '../support/cli.js';
import { startTestDeputy, type TestDeputy } from '../support/deputy.js';
import { until } from '../support/wait.js';

const ADMIN_TOKEN = 'cli-token-test-admin-token-0123456789abcdef';
const RESOURCE = 'https://api.cli.test/docs';
const IDP = 'https://idp.cli.test';
/** Each CLI run is a process start (about a second, more on a loaded machine): a generous limit, never asserted. */
const RUNS = 300_000;

describe('deputy CLI: tokens, audit, keygen, completion', () => {
  jest.setTimeout(RUNS);

  let deputy: TestDeputy;
  let home: string;
  /** Admin (bootstrap token) through the environment. */
  let admin: Record<string, string>;
  /** The app client's credentials and the admin token, as an agent developer with admin rights would have them. */
  let developer: Record<string, string>;
  let userKey: CryptoKey;
  let appSecret: string;
  const grants: Record<string, string> = {};

  const userToken = (sub: string) => {
    const now = Math.floor(Date.now() / 1000);
    return new SignJWT({ jti: randomUUID() })
      .setProtectedHeader({ alg: 'ES256', kid: 'idp-key', typ: 'JWT' })
      .setIssuer(IDP)
      .setSubject(sub)
      .setAudience(deputy.config.ISSUER)
      .setIssuedAt(now)
      .setExpirationTime(now + 600)
      .sign(userKey);
  };

  beforeAll(async () => {
    deputy = await startTestDeputy({ DEPUTY_ADMIN_TOKEN: ADMIN_TOKEN });
    const h = await cliHome();
    home = h.dir;
    admin = { ...h.env, DEPUTY_URL: deputy.url, DEPUTY_ADMIN_TOKEN: ADMIN_TOKEN };

    const pair = await generateKeyPair('ES256', { extractable: true });
    userKey = pair.privateKey;
    await writeFile(join(home, 'idp.jwks.json'), JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'idp-key', alg: 'ES256' }] }));

    const seed = async (...args: string[]) => runCliJson([...args, '--json'], admin);
    await seed('issuers', 'create', IDP, '--kind', 'user', '--audience', deputy.config.ISSUER, '--jwks-file', join(home, 'idp.jwks.json'));
    await seed('resources', 'create', RESOURCE, '--scope', 'read write delete');
    await seed('subjects', 'create', 'alice');
    for (const scope of ['read', 'write']) await seed('entitlements', 'create', '--subject', 'alice', '--resource', RESOURCE, '--scope', scope);
    for (const actor of ['agent:one', 'agent:two']) {
      const keygen = await runCli(['actors', 'keygen', '--out', join(home, `${actor}.pem`)], admin);
      await writeFile(join(home, `${actor}.jwks.json`), keygen.stdout);
    }
    await seed('actors', 'create', 'agent:two', '--kind', 'agent', '--owner', 'alice', '--jwks-file', join(home, 'agent:two.jwks.json'), '--resource', RESOURCE, '--scope-ceiling', 'read write');
    await seed('actors', 'create', 'agent:one', '--kind', 'agent', '--owner', 'alice', '--jwks-file', join(home, 'agent:one.jwks.json'), '--resource', RESOURCE,
      '--scope-ceiling', 'read write', '--may-delegate-to', 'agent:two');
    for (const actor of ['agent:one', 'agent:two']) {
      grants[actor] = (await seed('grants', 'create', '--subject', 'alice', '--actor', actor, '--resource', RESOURCE, '--scope', 'read write')).id;
    }
    appSecret = (await seed('clients', 'create', 'docs-app', '--actor', 'agent:one', '--allowed-actor', 'agent:two')).client_secret;
    developer = { ...admin, DEPUTY_CLIENT_ID: 'docs-app', DEPUTY_CLIENT_SECRET: appSecret };
  });
  afterAll(async () => {
    await deputy.stop();
  });

  it('tokens exchange: the client acts; prints only the token; --decode shows claims and chain; dropped scopes are named', async () => {
    const result = await runCli(
      ['tokens', 'exchange', '--subject-token', '-', '--resource', RESOURCE, '--scope', 'read delete', '--client-id', 'docs-app', '--client-secret', appSecret],
      { ...admin, DEPUTY_ADMIN_TOKEN: '' },
      await userToken('alice'),
    );
    expect(result.code).toBe(0);
    expect(result.stdout.trim()).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(result.stderr).toContain('not granted: delete');
    expect(result.stderr).not.toContain(appSecret);
    expect(decodeJwt(result.stdout.trim())).toMatchObject({ sub: 'alice', aud: RESOURCE, scope: 'read', act: { sub: 'agent:one' }, client_id: 'docs-app' });

    const decoded = await runCliJson(['token', 'exchange', '--subject-token', await userToken('alice'), '--resource', RESOURCE, '--decode'], developer);
    expect(decoded.header).toMatchObject({ typ: 'at+jwt', alg: 'ES256' });
    expect(decoded.claims).toMatchObject({ sub: 'alice', scope: 'read write', act: { sub: 'agent:one' } });
    expect(decoded.chain).toEqual(['agent:one']);

    const full = await runCliJson(['tokens', 'exchange', '--subject-token', await userToken('alice'), '--resource', RESOURCE, '--json'], developer);
    expect(full).toMatchObject({ token_type: 'Bearer', issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', scope: 'read write' });
  });

  it('tokens exchange --actor-key signs a fresh actor assertion each time; a Deputy token as subject extends the chain', async () => {
    const key = join(home, 'agent:two.pem');
    const args = ['tokens', 'exchange', '--subject-token', await userToken('alice'), '--actor', 'agent:two', '--actor-key', key, '--resource', RESOURCE];
    const first = await runCli(args, developer);
    expect(first.code).toBe(0);
    expect(decodeJwt(first.stdout.trim()).act).toEqual({ sub: 'agent:two' });
    // The same command again: a new jti, so Deputy's single-use check passes.
    expect((await runCli(args, developer)).code).toBe(0);

    const one = (await runCli(['tokens', 'exchange', '--subject-token', await userToken('alice'), '--resource', RESOURCE], developer)).stdout.trim();
    const chained = await runCli(
      ['tokens', 'exchange', '--subject-token', one, '--subject-token-type', 'access_token', '--actor', 'agent:two', '--actor-key', key, '--resource', RESOURCE],
      developer,
    );
    expect(chained.code).toBe(0);
    expect(decodeJwt(chained.stdout.trim())).toMatchObject({ sub: 'alice', act: { sub: 'agent:two', act: { sub: 'agent:one' } } });
  });

  it('tokens exchange refused: exit 1 with the OAuth error code; usage errors exit 2', async () => {
    const target = await runCli(['tokens', 'exchange', '--subject-token', await userToken('alice'), '--resource', 'https://unknown.cli.test'], developer);
    expect(target.code).toBe(1);
    expect(target.stderr).toMatch(/error: invalid_target.*\(HTTP 400\)/);

    const client = await runCli(['tokens', 'exchange', '--subject-token', await userToken('alice'), '--resource', RESOURCE], { ...developer, DEPUTY_CLIENT_SECRET: 'not-the-secret' });
    expect(client.code).toBe(1);
    expect(client.stderr).toContain('error: invalid_client');
    expect(client.stderr).not.toContain('not-the-secret');

    const stranger = await runCli(['tokens', 'exchange', '--subject-token', await userToken('mallory'), '--resource', RESOURCE], developer);
    expect(stranger.code).toBe(1);
    expect(stranger.stderr).toContain('error: invalid_request');

    expect((await runCli(['tokens', 'exchange', '--subject-token', 'x', '--resource', RESOURCE, '--actor', 'agent:two'], developer)).code).toBe(2);
    expect((await runCli(['tokens', 'exchange', '--subject-token', 'x', '--resource', RESOURCE, '--subject-token-type', 'saml'], developer)).code).toBe(2);
    const keyless = await runCli(['tokens', 'exchange', '--subject-token', 'x', '--resource', RESOURCE, '--actor', 'agent:two', '--actor-key', join(home, 'missing.pem')], developer);
    expect(keyless.code).toBe(2);
    expect(keyless.stderr).toContain('cannot read');
  });

  it('tokens inspect: verifies against /jwks, draws the act chain, reports introspection; revocations say why', async () => {
    const one = (await runCli(['tokens', 'exchange', '--subject-token', await userToken('alice'), '--resource', RESOURCE], developer)).stdout.trim();
    const chained = (
      await runCli(['tokens', 'exchange', '--subject-token', one, '--subject-token-type', 'access_token', '--actor', 'agent:two', '--actor-key', join(home, 'agent:two.pem'), '--resource', RESOURCE], developer)
    ).stdout.trim();

    const active = await runCli(['tokens', 'inspect', '-'], developer, chained);
    expect(active.code).toBe(0);
    expect(active.stdout).toMatch(/signature:\s+valid \(kid \S+\)/);
    expect(active.stdout).toMatch(/introspection:\s+active/);
    expect(active.stdout).toContain(['  alice (subject)', '  └─ agent:one', '     └─ agent:two  ← acting'].join('\n'));
    expect(active.stdout).not.toContain(chained);

    const json = await runCliJson(['tokens', 'inspect', chained, '--json'], developer);
    expect(json).toMatchObject({ status: 'active', chain: ['agent:one', 'agent:two'], signature: { valid: true, expired: false }, introspection: { active: true }, inactive_reasons: [] });
    expect(json.record).toMatchObject({ subject: 'alice', actors: ['agent:one', 'agent:two'] });

    // Without client credentials there is no introspection; the signature is still checked.
    const anonymous = await runCli(['tokens', 'inspect', chained], { ...admin, DEPUTY_ADMIN_TOKEN: '' });
    expect(anonymous.code).toBe(0);
    expect(anonymous.stdout).toMatch(/introspection:\s+not checked \(no client credentials\)/);

    const jti = decodeJwt(chained).jti as string;
    const listed = await runCliJson(['tokens', 'list', '--subject', 'alice', '--actor', 'agent:two', '--json'], admin);
    expect(listed.items.map((t: { jti: string }) => t.jti)).toContain(jti);
    const table = await runCli(['tokens', 'list', '--grant', grants['agent:two']!], admin);
    expect(table.stdout).toMatch(new RegExp(`${jti}\\s+alice\\s+agent:one → agent:two\\s+docs-app`));
    expect(await runCliJson(['tokens', 'get', jti, '--json'], admin)).toMatchObject({ jti, revoked_at: null, grant_id: grants['agent:two'] });

    const revoked = await runCliJson(['tokens', 'revoke', jti, '--reason', 'cli test', '--json'], admin);
    expect(revoked.revoked_at).not.toBeNull();
    expect((await runCliJson(['grants', 'revoke', grants['agent:two']!, '--json'], admin)).revoked_at).not.toBeNull();

    const inactive = await runCli(['tokens', 'inspect', chained], developer);
    expect(inactive.code).toBe(1);
    expect(inactive.stderr).toContain('error: the token is inactive');
    expect(inactive.stdout).toMatch(/introspection:\s+inactive/);
    expect(inactive.stdout).toMatch(/status:\s+inactive/);
    expect(inactive.stdout).toContain(`the token was revoked at ${revoked.revoked_at}`);
    expect(inactive.stdout).toMatch(new RegExp(`grant ${grants['agent:two']} \\(alice → agent:two\\) was revoked at \\S+ by bootstrap`));
  });

  it('tokens inspect: exit 1 for a token Deputy did not sign, or no JWT at all', async () => {
    const token = (await runCli(['tokens', 'exchange', '--subject-token', await userToken('alice'), '--resource', RESOURCE], developer)).stdout.trim();
    const [header, payload, signature] = token.split('.');
    const flipped = `${header}.${payload}.${signature!.startsWith('A') ? 'B' : 'A'}${signature!.slice(1)}`;
    const forged = await runCli(['tokens', 'inspect', flipped], developer);
    expect(forged.code).toBe(1);
    expect(forged.stderr).toContain('error: the token is invalid');
    expect(forged.stdout).toMatch(/signature:\s+INVALID/);
    expect(forged.stdout).toMatch(/status:\s+invalid/);

    const garbage = await runCli(['tokens', 'inspect', 'not-a-token'], developer);
    expect(garbage.code).toBe(1);
    expect(garbage.stderr).toContain('invalid_token: not a signed JWT');
  });

  it('audit tail prints recent events oldest first, filters, --jsonl; audit verify checks the chains', async () => {
    const lines = await runCli(['audit', 'tail', '-n', '3', '--type', 'grant.created', '--jsonl'], admin);
    const events = lines.stdout.trim().split('\n').map((line) => JSON.parse(line) as { id: number; type: string });
    expect(events).toHaveLength(2);
    expect(events.every((event) => event.type === 'grant.created')).toBe(true);
    expect(events[0]!.id).toBeLessThan(events[1]!.id);

    const table = await runCli(['audit', 'tail', '-n', '1', '--type', 'token.exchanged', '--subject', 'alice'], admin);
    expect(table.stdout).toMatch(/^\S+Z  #\d+  token\.exchanged  client=docs-app  subject=alice  actors=\S+  resource=https:\/\/api\.cli\.test\/docs  granted=/);

    const verify = await runCli(['audit', 'verify'], admin);
    expect(verify.code).toBe(0);
    expect(verify.stdout).toMatch(/ok\s+true/);
    expect(await runCliJson(['audit', 'verify', '--json'], admin)).toMatchObject({ ok: true, first_broken_link: null });
    expect((await runCli(['audit', 'tail', '--follow', '--json'], admin)).code).toBe(2);
  });

  it('audit tail --follow prints new events as they happen and stops on SIGINT', async () => {
    const child = spawnCli(['audit', 'tail', '--follow', '-n', '0', '--interval', '1', '--type', 'subject.created', '--jsonl'], admin);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      // Events before it says it is following are history (-n 0 prints none of them).
      await until(() => stderr.includes('following events after #'), 'the follower to start', 120_000, 100);
      await runCliJson(['subjects', 'create', 'followed-1', '--json'], admin);
      await runCliJson(['subjects', 'create', 'followed-2', '--json'], admin);
      await until(() => stdout.includes('followed-2'), 'the followed events', 120_000, 100);
      const subjects = stdout.trim().split('\n').map((line) => (JSON.parse(line) as { subject: string }).subject);
      expect(subjects).toEqual(['followed-1', 'followed-2']);
    } finally {
      child.kill('SIGINT');
    }
    expect(await exited).toBe(0);
  });

  it('actors keygen writes a 0600 PEM, prints only the public JWKS, refuses to overwrite', async () => {
    for (const alg of ['ES256', 'EdDSA']) {
      const file = join(home, `keygen-${alg}.pem`);
      const result = await runCli(['actor', 'keygen', '--alg', alg, '--out', file], admin);
      expect(result.code).toBe(0);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      expect(await readFile(file, 'utf8')).toContain('-----BEGIN PRIVATE KEY-----');
      const jwks = JSON.parse(result.stdout) as { keys: Array<Record<string, unknown>> };
      expect(jwks.keys).toHaveLength(1);
      expect(jwks.keys[0]).toMatchObject({ alg, use: 'sig', kid: expect.any(String) });
      expect(jwks.keys[0]).not.toHaveProperty('d');
      const again = await runCli(['actor', 'keygen', '--alg', alg, '--out', file], admin);
      expect(again.code).toBe(2);
      expect(again.stderr).toContain('exists');
    }
    expect((await runCli(['actor', 'keygen', '--alg', 'HS256', '--out', join(home, 'x.pem')], admin)).code).toBe(2);
    // Every algorithm keygen offers is one Deputy accepts for actor assertions.
    expect(ACTOR_ASSERTION_ALGORITHMS).toEqual(expect.arrayContaining([...KEY_ALGORITHMS]));
  });

  it('completion: bash completes commands, aliases and options from the command tree; zsh reuses it', async () => {
    const script = await runCli(['completion', 'bash'], admin);
    expect(script.code).toBe(0);
    const complete = async (...words: string[]) => {
      const program = `${script.stdout}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _deputy; echo "\${COMPREPLY[*]}"`;
      const { stdout } = await promisify(execFile)('bash', ['-c', program]);
      return stdout.trim().split(' ');
    };
    expect(await complete('deputy', 'sub')).toEqual(['subjects']);
    expect(await complete('deputy', 'actor', 'ke')).toEqual(['keygen']);
    expect(await complete('deputy', '--profile', 'prod', 'tokens', 'exchange', '--actor')).toEqual(['--actor', '--actor-key', '--actor-token']);
    expect(await complete('deputy', 'grants', 're')).toEqual(['revoke']);

    const zsh = await runCli(['completion', 'zsh'], admin);
    expect(zsh.stdout).toMatch(/^#compdef deputy\n/);
    expect(zsh.stdout).toContain('bashcompinit');
    expect(zsh.stdout).toContain(script.stdout);
    expect((await runCli(['completion', 'fish'], admin)).code).toBe(2);
  });
});
