/**
 * The deputy CLI against a real Deputy, run as a process (test/support/cli.ts): login and
 * profiles, every admin resource, output formats, paging, and the exit codes for bad input.
 */
import { afterAll, beforeAll, describe, expect, it, jest } from '@jest/globals';
import { readFile, stat, writeFile } from 'node:fs/promises';
import { createServer, type Server, type Socket } from 'node:net';
import { join } from 'node:path';
import { exportJWK, generateKeyPair } from 'jose';
import { freePort } from '../../src/db/embedded.js';
import { cliHome, runCli, runCliJson } from '../support/cli.js';
import { createApprovalRequest } from '../../src/approval/store.js';
import { startTestDeputy, type TestDeputy } from '../support/deputy.js';

const ADMIN_TOKEN = 'cli-test-admin-token-0123456789abcdefghij';
const RESOURCE = 'https://api.cli.test/tickets';
/** Each CLI run is a process start (about a second, more on a loaded machine): a generous limit, never asserted. */
const RUNS = 300_000;

describe('deputy CLI: login, admin resources, exit codes', () => {
  let deputy: TestDeputy;
  /** DEPUTY_URL + DEPUTY_ADMIN_TOKEN in a fresh home: no profile needed. */
  let admin: Record<string, string>;
  let home: string;

  jest.setTimeout(RUNS);

  beforeAll(async () => {
    deputy = await startTestDeputy({ DEPUTY_ADMIN_TOKEN: ADMIN_TOKEN });
    const h = await cliHome();
    home = h.dir;
    admin = { ...h.env, DEPUTY_URL: deputy.url, DEPUTY_ADMIN_TOKEN: ADMIN_TOKEN };
  });
  afterAll(async () => {
    await deputy.stop();
  });

  it('login stores a 0600 profile in a 0700 directory, never prints the token, and later commands use it', async () => {
    const { env, dir } = await cliHome();
    const login = await runCli(['login', '--url', deputy.url, '--token', '-'], env, `${ADMIN_TOKEN}\n`);
    expect(login).toMatchObject({ code: 0 });
    expect(login.stdout).toContain('profile "default" saved');
    expect(login.stdout + login.stderr).not.toContain(ADMIN_TOKEN);

    const file = join(dir, 'config', 'deputy', 'profiles.json');
    expect((await stat(file)).mode & 0o777).toBe(0o600);
    expect((await stat(join(dir, 'config', 'deputy'))).mode & 0o777).toBe(0o700);
    expect(JSON.parse(await readFile(file, 'utf8'))).toEqual({ profiles: { default: { url: deputy.url, token: ADMIN_TOKEN } } });

    const created = await runCli(['subjects', 'create', 'pat', '--email', 'pat@example.com'], env);
    expect(created.code).toBe(0);
    expect(created.stdout).toMatch(/id\s+pat/);
    expect(created.stdout).toMatch(/email\s+pat@example\.com/);

    const profiles = await runCli(['profiles'], env);
    expect(profiles.stdout).toMatch(/default\s+http:\/\/127\.0\.0\.1:\d+\s+admin token/);
    expect(profiles.stdout).not.toContain(ADMIN_TOKEN);
  });

  it('login refuses credentials the server refuses, stores nothing and echoes no secret', async () => {
    const { env, dir } = await cliHome();
    const wrong = 'wrong-token-of-forty-characters-0123456789';
    const login = await runCli(['login', '--url', deputy.url, '--token', wrong], env);
    expect(login.code).toBe(1);
    expect(login.stderr).toContain('invalid_token');
    expect(login.stdout + login.stderr).not.toContain(wrong);
    await expect(stat(join(dir, 'config', 'deputy', 'profiles.json'))).rejects.toMatchObject({ code: 'ENOENT' });

    const badSecret = await runCli(['login', '--url', deputy.url, '--client-id', 'nobody', '--client-secret', '-'], env, 'not-the-secret');
    expect(badSecret.code).toBe(1);
    expect(badSecret.stderr).toContain('invalid_client');
    expect(badSecret.stdout + badSecret.stderr).not.toContain('not-the-secret');
  });

  it('named profiles with an admin client: client credentials get a deputy:admin token per invocation', async () => {
    const secretFile = join(home, 'ops-admin.secret');
    const created = await runCliJson(['clients', 'create', 'ops-admin', '--scope', 'deputy:admin', '--secret-file', secretFile, '--json'], admin);
    expect(created).toMatchObject({ client_id: 'ops-admin', scope: 'deputy:admin' });
    expect(created).not.toHaveProperty('client_secret');
    expect((await stat(secretFile)).mode & 0o777).toBe(0o600);
    const secret = (await readFile(secretFile, 'utf8')).trim();
    expect(secret.length).toBeGreaterThan(20);

    const { env } = await cliHome();
    const login = await runCli(['--profile', 'ops', 'login', '--url', deputy.url, '--client-id', 'ops-admin', '--client-secret', '-'], env, secret);
    expect(login.code).toBe(0);
    expect(login.stdout).toContain('client ops-admin (admin)');
    expect(login.stdout + login.stderr).not.toContain(secret);

    // The default profile does not exist; the named one works.
    expect((await runCli(['subjects', 'list'], env)).code).toBe(2);
    const made = await runCliJson(['--profile', 'ops', 'subjects', 'create', 'quinn', '--json'], env);
    expect(made).toMatchObject({ id: 'quinn', status: 'active' });
    const events = await runCliJson<any[]>(['--profile', 'ops', 'audit', 'tail', '-n', '1', '--type', 'subject.created', '--json'], env);
    expect(events[0]).toMatchObject({ type: 'subject.created', admin: 'client:ops-admin', subject: 'quinn' });

    // The environment replaces the profile: DEPUTY_CLIENT_ID/SECRET alone, no profile at all.
    const fromEnv = await runCli(['subjects', 'get', 'quinn', '--json'], { ...(await cliHome()).env, DEPUTY_URL: deputy.url, DEPUTY_CLIENT_ID: 'ops-admin', DEPUTY_CLIENT_SECRET: secret });
    expect(fromEnv.code).toBe(0);
    expect(JSON.parse(fromEnv.stdout)).toMatchObject({ id: 'quinn' });

    const profiles = await runCli(['profiles', '--json'], env);
    expect(JSON.parse(profiles.stdout)).toEqual([{ name: 'ops', url: deputy.url, credentials: 'client ops-admin' }]);
    expect(profiles.stdout).not.toContain(secret);
    expect((await runCli(['--profile', 'ops', 'logout'], env)).stdout).toContain('profile "ops" removed');
    expect((await runCli(['--profile', 'ops', 'subjects', 'list'], env)).code).toBe(2);
  });

  it('subjects and resources: create, list, get, update, disable, enable', async () => {
    const resource = await runCliJson(['resources', 'create', RESOURCE, '--scope', 'tickets:read tickets:write', '--json'], admin);
    expect(resource).toMatchObject({ uri: RESOURCE, scopes: ['tickets:read', 'tickets:write'] });
    const updated = await runCliJson(['resources', 'update', resource.id, '--scope', 'tickets:read', '--scope', 'tickets:write tickets:delete', '--json'], admin);
    expect(updated.scopes).toEqual(['tickets:read', 'tickets:write', 'tickets:delete']);
    expect(await runCliJson(['resources', 'get', resource.id, '--json'], admin)).toEqual(updated);
    const listed = await runCli(['resources', 'list', '--uri', RESOURCE], admin);
    expect(listed.stdout.split('\n')[0]).toMatch(/^ID\s+URI\s+SCOPES$/);
    expect(listed.stdout).toContain('tickets:read tickets:write tickets:delete');

    await runCliJson(['subjects', 'create', 'alice', '--email', 'alice@example.com', '--json'], admin);
    expect(await runCliJson(['subjects', 'update', 'alice', '--email', 'none', '--json'], admin)).toMatchObject({ email: null });
    expect(await runCliJson(['subjects', 'disable', 'alice', '--json'], admin)).toMatchObject({ status: 'disabled' });
    const disabled = await runCliJson(['subjects', 'list', '--status', 'disabled', '--json'], admin);
    expect(disabled.items.map((s: { id: string }) => s.id)).toEqual(['alice']);
    expect(await runCliJson(['subjects', 'enable', 'alice', '--json'], admin)).toMatchObject({ status: 'active' });
    const shown = await runCli(['subject', 'get', 'alice'], admin);
    expect(shown.stdout).toMatch(/status\s+active/);
  });

  it('actors: keygen, create with the key, list with filters, get, update, disable (the kill switch), enable', async () => {
    await runCliJson(['subjects', 'create', 'owner1', '--json'], admin);
    const keyFile = join(home, 'agent.pem');
    const keygen = await runCli(['actors', 'keygen', '--out', keyFile], admin);
    expect(keygen.code).toBe(0);
    const jwksFile = join(home, 'agent.jwks.json');
    await writeFile(jwksFile, keygen.stdout);

    const actor = await runCliJson(
      ['actors', 'create', 'agent:ops', '--kind', 'agent', '--owner', 'owner1', '--purpose', 'ops work', '--jwks-file', jwksFile,
        '--resource', RESOURCE, '--scope-ceiling', 'tickets:read', '--max-token-ttl', '120', '--expires-at', '2031-01-01T00:00:00Z', '--json'],
      admin,
    );
    expect(actor).toMatchObject({ id: 'agent:ops', kind: 'agent', owner: 'owner1', purpose: 'ops work', resources: [RESOURCE], scope_ceiling: ['tickets:read'], max_token_ttl: 120 });
    expect(actor.jwks.keys[0].kid).toBe(JSON.parse(keygen.stdout).keys[0].kid);

    await runCliJson(['actors', 'create', 'svc:batch', '--kind', 'service', '--owner', 'owner1', '--json'], admin);
    const agents = await runCliJson(['actors', 'list', '--owner', 'owner1', '--kind', 'agent', '--json'], admin);
    expect(agents.items.map((a: { id: string }) => a.id)).toEqual(['agent:ops']);
    const expiring = await runCliJson(['actors', 'list', '--expiring-before', '2032-01-01T00:00:00Z', '--json'], admin);
    expect(expiring.items.map((a: { id: string }) => a.id)).toEqual(['agent:ops']);
    const table = await runCli(['actors', 'list', '--owner', 'owner1'], admin);
    expect(table.stdout).toMatch(/^ID\s+KIND\s+OWNER\s+STATUS\s+EXPIRES\s+LAST USED\s+KEYS/);
    expect(table.stdout).toMatch(/agent:ops\s+agent\s+owner1\s+active\s+2031-01-01T00:00:00\.000Z\s+-\s+1/);

    const changed = await runCliJson(['actors', 'update', 'agent:ops', '--expires-at', 'none', '--max-token-ttl', 'none', '--may-delegate-to', 'svc:batch', '--json'], admin);
    expect(changed).toMatchObject({ expires_at: null, max_token_ttl: null, may_delegate_to: ['svc:batch'] });
    expect(await runCliJson(['actor', 'disable', 'agent:ops', '--json'], admin)).toMatchObject({ status: 'disabled' });
    expect(await runCliJson(['actors', 'get', 'agent:ops', '--json'], admin)).toMatchObject({ status: 'disabled' });
    expect(await runCliJson(['actors', 'enable', 'agent:ops', '--json'], admin)).toMatchObject({ status: 'active' });
  });

  it('clients: create (secret printed once, or to a file), list, get, update, rotate-secret', async () => {
    await runCliJson(['subjects', 'create', 'owner2', '--json'], admin);
    await runCliJson(['actors', 'create', 'agent:app', '--kind', 'agent', '--owner', 'owner2', '--json'], admin);
    const created = await runCli(['clients', 'create', 'app-one', '--actor', 'agent:app'], admin);
    expect(created.code).toBe(0);
    const secret = /client_secret\s+(\S+)/.exec(created.stdout)?.[1];
    expect(secret).toBeDefined();
    expect(created.stderr).toContain('shown this once');

    const listed = await runCliJson(['clients', 'list', '--actor', 'agent:app', '--json'], admin);
    expect(listed.items).toEqual([expect.objectContaining({ client_id: 'app-one', actor: 'agent:app', token_endpoint_auth_method: 'client_secret_basic' })]);
    const shown = await runCli(['clients', 'get', 'app-one', '--json'], admin);
    expect(JSON.parse(shown.stdout)).not.toHaveProperty('client_secret');
    expect(shown.stdout).not.toContain(secret!);

    const updated = await runCliJson(['clients', 'update', 'app-one', '--allowed-actor', 'agent:app', '--actor', 'none', '--json'], admin);
    expect(updated).toMatchObject({ actor: null, allowed_actors: ['agent:app'] });

    const secretFile = join(home, 'app-one.secret');
    const rotated = await runCli(['clients', 'rotate-secret', 'app-one', '--secret-file', secretFile], admin);
    expect(rotated.code).toBe(0);
    const newSecret = (await readFile(secretFile, 'utf8')).trim();
    expect(newSecret).not.toBe(secret);
    expect(rotated.stdout + rotated.stderr).not.toContain(newSecret);
    expect((await stat(secretFile)).mode & 0o777).toBe(0o600);
    // An existing secret file is never overwritten, and nothing is issued then.
    const again = await runCli(['clients', 'rotate-secret', 'app-one', '--secret-file', secretFile], admin);
    expect(again.code).toBe(2);
    expect((await readFile(secretFile, 'utf8')).trim()).toBe(newSecret);
  });

  it('issuers, entitlements and grants: create, list, get, update, delete / revoke', async () => {
    const { publicKey } = await generateKeyPair('ES256');
    const jwksFile = join(home, 'idp.jwks.json');
    await writeFile(jwksFile, JSON.stringify({ keys: [{ ...(await exportJWK(publicKey)), kid: 'idp-1' }] }));
    const issuer = await runCliJson(['issuers', 'create', 'https://idp.cli.test', '--kind', 'user', '--audience', deputy.url, '--jwks-file', jwksFile, '--algorithm', 'ES256', '--json'], admin);
    expect(issuer).toMatchObject({ issuer: 'https://idp.cli.test', kind: 'user', audience: deputy.url, algorithms: ['ES256'], jwks_uri: null });
    const listed = await runCli(['issuers', 'list', '--kind', 'user'], admin);
    expect(listed.stdout).toMatch(/https:\/\/idp\.cli\.test\s+user\s+\S+\s+inline \(1\)/);
    expect(await runCliJson(['issuers', 'update', issuer.id, '--subject-claim', 'email', '--json'], admin)).toMatchObject({ subject_claim: 'email' });
    expect(await runCliJson(['issuers', 'get', issuer.id, '--json'], admin)).toMatchObject({ subject_claim: 'email' });
    const deleted = await runCli(['issuers', 'delete', issuer.id], admin);
    expect(deleted.code).toBe(0);
    expect((await runCli(['issuers', 'get', issuer.id], admin)).stderr).toContain('not_found');

    await runCliJson(['subjects', 'create', 'bea', '--json'], admin);
    await runCliJson(['actors', 'create', 'agent:bea', '--kind', 'agent', '--owner', 'bea', '--resource', RESOURCE, '--json'], admin);
    const entitlement = await runCliJson(['entitlements', 'create', '--subject', 'bea', '--resource', RESOURCE, '--scope', 'tickets:read', '--expires-at', '2031-01-01T00:00:00Z', '--json'], admin);
    expect(entitlement).toMatchObject({ subject: 'bea', resource: RESOURCE, scope: 'tickets:read', expires_at: '2031-01-01T00:00:00.000Z' });
    const entitlements = await runCliJson(['entitlements', 'list', '--subject', 'bea', '--json'], admin);
    expect(entitlements.items.map((e: { id: string }) => e.id)).toEqual([entitlement.id]);
    expect(await runCliJson(['entitlements', 'get', entitlement.id, '--json'], admin)).toEqual(entitlement);

    const grant = await runCliJson(['grants', 'create', '--subject', 'bea', '--actor', 'agent:bea', '--resource', RESOURCE, '--scope', 'tickets:read', '--json'], admin);
    expect(grant).toMatchObject({ subject: 'bea', actor: 'agent:bea', scopes: ['tickets:read'], revoked_at: null });
    expect((await runCliJson(['grants', 'list', '--actor', 'agent:bea', '--active', '--json'], admin)).items).toHaveLength(1);
    const revoked = await runCliJson(['grants', 'revoke', grant.id, '--reason', 'test over', '--json'], admin);
    expect(revoked).toMatchObject({ id: grant.id, revoked_by: 'bootstrap' });
    expect(revoked.revoked_at).not.toBeNull();
    expect((await runCliJson(['grants', 'list', '--actor', 'agent:bea', '--active', '--json'], admin)).items).toHaveLength(0);
    expect((await runCliJson(['grants', 'get', grant.id, '--json'], admin)).revoked_at).toBe(revoked.revoked_at);

    expect((await runCli(['entitlements', 'delete', entitlement.id], admin)).code).toBe(0);
    expect((await runCliJson(['entitlements', 'list', '--subject', 'bea', '--json'], admin)).items).toEqual([]);
  });

  it('keys: list the signing keys, rotate the active one (the old one retired, still published), audited', async () => {
    const before = await runCliJson<{ kid: string; status: string }[]>(['keys', 'list', '--json'], admin);
    const active = before.filter((key) => key.status === 'active');
    expect(active).toHaveLength(1);
    const table = await runCli(['keys', 'list'], admin);
    expect(table.code).toBe(0);
    expect(table.stdout.split('\n')[0]).toMatch(/^KID\s+ALG\s+STATUS\s+CREATED\s+RETIRED\s+PUBLISHED UNTIL$/);
    expect(table.stdout).toMatch(new RegExp(`${active[0]!.kid}\\s+(ES256|EdDSA)\\s+active`));

    const rotated = await runCliJson<{ kid: string; retired: string[] }>(['keys', 'rotate', '--json'], admin);
    expect(rotated.kid).not.toBe(active[0]!.kid);
    expect(rotated.retired).toEqual([active[0]!.kid]);

    const after = await runCliJson<{ kid: string; status: string; retired_at: string | null; published_until: string | null }[]>(['keys', 'list', '--json'], admin);
    expect(after.map((key) => [key.kid, key.status])).toEqual(expect.arrayContaining([[rotated.kid, 'active'], [active[0]!.kid, 'retired']]));
    expect(after.filter((key) => key.status === 'active')).toHaveLength(1);
    const retired = after.find((key) => key.kid === active[0]!.kid)!;
    expect(retired.retired_at).not.toBeNull();
    expect(retired.published_until).not.toBeNull();
    expect(JSON.stringify(after)).not.toMatch(/"d"|private/i);
    const jwks = (await (await fetch(`${deputy.url}/jwks`)).json()) as { keys: { kid: string }[] };
    expect(jwks.keys.map((key) => key.kid)).toEqual(expect.arrayContaining([rotated.kid, active[0]!.kid]));

    const events = await runCliJson<{ type: string; details: Record<string, unknown> }[]>(['audit', 'tail', '-n', '1', '--type', 'key.rotated', '--json'], admin);
    expect(events).toEqual([expect.objectContaining({ type: 'key.rotated', details: expect.objectContaining({ kid: rotated.kid, trigger: 'admin' }) })]);

    const plain = await runCli(['keys', 'rotate'], admin);
    expect(plain.code).toBe(0);
    expect(plain.stdout).toMatch(/^FIELD\s+VALUE/);
    expect(plain.stdout).toContain(rotated.kid);
    expect((await runCli(['keys', 'rotate', 'extra'], admin)).code).toBe(2);
  });

  it('approvals: list with filters, get, cancel a pending one; a second cancel is refused', async () => {
    await deputy.pool.query(`INSERT INTO subjects (id) VALUES ('cli-approver')`);
    await deputy.pool.query(`INSERT INTO actors (id, kind, owner_id) VALUES ('agent:cli-asker', 'agent', 'cli-approver')`);
    const now = Date.now();
    const ask = (expiresAt: number) =>
      createApprovalRequest(deputy.pool, {
        authReqId: `cli-${expiresAt}-${Math.random()}`,
        clientId: 'cli-app',
        subjectId: 'cli-approver',
        actorId: 'agent:cli-asker',
        resource: 'https://api.cli.test',
        scopes: ['read'],
        durationSeconds: 600,
        purpose: 'a CLI test',
        bindingMessage: null,
        requestedAt: new Date(now - 1000),
        expiresAt: new Date(expiresAt),
        requestId: null,
      });
    const pending = await ask(now + 600_000);
    const expired = await ask(now - 500);

    const all = await runCliJson<{ items: { id: string; status: string }[] }>(['approvals', 'list', '--subject', 'cli-approver', '--json'], admin);
    expect(all.items.map((a) => [a.id, a.status])).toEqual(expect.arrayContaining([[pending.id, 'pending'], [expired.id, 'expired']]));
    const onlyPending = await runCli(['approvals', 'list', '--subject', 'cli-approver', '--status', 'pending', '--jsonl'], admin);
    expect(onlyPending.stdout.trim().split('\n').map((line) => (JSON.parse(line) as { id: string }).id)).toEqual([pending.id]);
    const table = await runCli(['approvals', 'list', '--actor', 'agent:cli-asker'], admin);
    expect(table.stdout.split('\n')[0]).toMatch(/^ID\s+STATUS\s+SUBJECT\s+ACTOR\s+CLIENT\s+SCOPES\s+REQUESTED\s+EXPIRES$/);
    expect((await runCliJson<{ id: string; purpose: string }>(['approvals', 'get', pending.id, '--json'], admin)).purpose).toBe('a CLI test');

    const cancelled = await runCliJson<{ status: string; cancel_reason: string; decided_by: string }>(['approvals', 'cancel', pending.id, '--json'], admin);
    expect(cancelled).toMatchObject({ status: 'cancelled', cancel_reason: 'admin' });
    const again = await runCli(['approvals', 'cancel', pending.id], admin);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('error: conflict');
    expect((await runCli(['approvals', 'list', '--status', 'sleeping'], admin)).code).toBe(2);
  });

  it('--json is one document, --jsonl one item per line, --all follows every cursor', async () => {
    for (const id of ['page-1', 'page-2', 'page-3', 'page-4', 'page-5']) await runCliJson(['subjects', 'create', id, '--json'], admin);
    const first = await runCliJson(['subjects', 'list', '--limit', '2', '--json'], admin);
    expect(first.items).toHaveLength(2);
    expect(typeof first.next_cursor).toBe('string');
    const table = await runCli(['subjects', 'list', '--limit', '2'], admin);
    expect(table.stderr).toContain(`more: --cursor ${first.next_cursor}`);
    const second = await runCliJson(['subjects', 'list', '--limit', '2', '--cursor', first.next_cursor, '--json'], admin);
    expect(second.items.map((s: { id: string }) => s.id)).not.toContain(first.items[0].id);

    const all = await runCli(['subjects', 'list', '--all', '--limit', '2', '--jsonl'], admin);
    const ids = all.stdout.trim().split('\n').map((line) => (JSON.parse(line) as { id: string }).id);
    const everyOne = await runCliJson(['subjects', 'list', '--limit', '500', '--json'], admin);
    expect(ids.length).toBeGreaterThan(5);
    expect(ids).toEqual(everyOne.items.map((s: { id: string }) => s.id));
    expect(await runCli(['subjects', 'list', '--json', '--jsonl'], admin)).toMatchObject({ code: 2 });
  });

  it('exit 2 for usage errors: unknown flags, invalid values, missing arguments — before any request', async () => {
    const unknownFlag = await runCli(['subjects', 'list', '--colour'], admin);
    expect(unknownFlag.code).toBe(2);
    expect(unknownFlag.stderr).toContain("unknown option '--colour'");
    expect((await runCli(['subjects', 'frobnicate'], admin)).code).toBe(2);

    const badLimit = await runCli(['subjects', 'list', '--limit', '0'], admin);
    expect(badLimit.code).toBe(2);
    expect(badLimit.stderr).toContain('must be a whole number from 1 to 500');
    const badKind = await runCli(['actors', 'create', 'agent:x', '--kind', 'robot', '--owner', 'alice'], admin);
    expect(badKind.code).toBe(2);
    expect(badKind.stderr).toContain('Allowed choices are agent, service, workload');
    const badTime = await runCli(['grants', 'create', '--subject', 'a', '--actor', 'b', '--resource', RESOURCE, '--scope', 'x', '--expires-at', 'tomorrow'], admin);
    expect(badTime.code).toBe(2);
    expect(badTime.stderr).toContain('RFC 3339');
    expect((await runCli(['actors', 'create', 'agent:x', '--kind', 'agent'], admin)).stderr).toContain("required option '--owner <subject>'");
    expect((await runCli(['subjects', 'get'], admin)).code).toBe(2);
    expect((await runCli(['subjects', 'list'], (await cliHome()).env)).stderr).toContain('no Deputy URL');

    const before = await runCliJson(['audit', 'tail', '-n', '1', '--json'], admin);
    await runCli(['subjects', 'create', 'never', '--status', 'sleeping'], admin);
    expect(await runCliJson(['audit', 'tail', '-n', '1', '--json'], admin)).toEqual(before);
  });

  it('exit 1 with the API error code, description and issues when Deputy refuses', async () => {
    const invalid = await runCli(['subjects', 'create', 'has space', '--email', 'not-an-email'], admin);
    expect(invalid.code).toBe(1);
    expect(invalid.stderr).toContain('error: invalid_request');
    expect(invalid.stderr).toContain('(HTTP 400)');
    expect(invalid.stderr).toMatch(/body\.id: must be 1-255 printable ASCII characters without spaces/);
    expect(invalid.stderr).toMatch(/body\.email: /);

    const missing = await runCli(['grants', 'get', 'c0ffee00-0000-4000-8000-000000000000'], admin);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/error: not_found: .*\(HTTP 404\)/);

    await runCliJson(['subjects', 'create', 'dupe', '--json'], admin);
    const duplicate = await runCli(['subjects', 'create', 'dupe'], admin);
    expect(duplicate.code).toBe(1);
    expect(duplicate.stderr).toContain('error: conflict');

    const wrongToken = await runCli(['subjects', 'list'], { ...admin, DEPUTY_ADMIN_TOKEN: 'w'.repeat(40) });
    expect(wrongToken.code).toBe(1);
    expect(wrongToken.stderr).toMatch(/error: invalid_token: .*\(HTTP 401\)/);
    expect(wrongToken.stderr).not.toContain('w'.repeat(40));
  });

  describe('exit 3 when Deputy cannot be reached', () => {
    let silent: Server;
    let silentPort: number;
    const sockets: Socket[] = [];
    beforeAll(async () => {
      // Accepts connections and never answers.
      silent = createServer((socket) => sockets.push(socket));
      await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
      silentPort = (silent.address() as { port: number }).port;
    });
    afterAll(async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    });

    it('connection refused', async () => {
      const port = await freePort();
      const result = await runCli(['subjects', 'list'], { ...admin, DEPUTY_URL: `http://127.0.0.1:${port}` });
      expect(result.code).toBe(3);
      expect(result.stderr).toContain(`cannot reach http://127.0.0.1:${port}: ECONNREFUSED`);
      expect(result.stderr).not.toContain(ADMIN_TOKEN);
    });

    it('timeout', async () => {
      const result = await runCli(['--timeout', '1', 'subjects', 'list'], { ...admin, DEPUTY_URL: `http://127.0.0.1:${silentPort}` });
      expect(result.code).toBe(3);
      expect(result.stderr).toContain('timed out');
    });

    it('login to an unreachable URL stores nothing', async () => {
      const { env, dir } = await cliHome();
      const port = await freePort();
      const result = await runCli(['login', '--url', `http://127.0.0.1:${port}`, '--token', ADMIN_TOKEN], env);
      expect(result.code).toBe(3);
      await expect(stat(join(dir, 'config', 'deputy', 'profiles.json'))).rejects.toMatchObject({ code: 'ENOENT' });
    });
  });
});
