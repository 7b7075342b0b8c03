/**
 * docs/guide-bring-your-own.md runs as written: every ```sh block, in order, in one bash
 * session (so its variables carry over), from the repository's root, against a Deputy started
 * here on an empty database with a bootstrap admin secret. The blocks fail the run on any
 * command failing (errexit, pipefail); the test also checks what the guide says they print.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { startTestDeputy, type TestDeputy } from '../support/deputy.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const GUIDE = readFileSync(path.join(ROOT, 'docs', 'guide-bring-your-own.md'), 'utf8');
const blocks = [...GUIDE.matchAll(/^```sh\n([\s\S]*?)^```$/gm)].map((match) => match[1]!);

function runBash(script: string, env: NodeJS.ProcessEnv): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', script], { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

describe('the guide "bring your own IdP, agent and client"', () => {
  let deputy: TestDeputy;
  const adminToken = randomBytes(32).toString('base64url');

  beforeAll(async () => {
    deputy = await startTestDeputy({ DEPUTY_ADMIN_TOKEN: adminToken });
  });
  afterAll(() => deputy.stop());

  it('runs every shell block against an empty Deputy, ending with the token and grant revoked', async () => {
    expect(blocks.length).toBeGreaterThanOrEqual(10);
    // A marker after each block: proves every one ran, and splits the output per block.
    const script = ['set -euo pipefail', ...blocks.map((block, i) => `${block}\necho "@@block ${i + 1} done"`)].join('\n');
    // Asynchronously: the Deputy answering the script runs in this process.
    const result = await runBash(script, { ...process.env, DEPUTY: deputy.url, DEPUTY_ADMIN_TOKEN: adminToken });
    expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
    const outputs = result.stdout.split(/^@@block \d+ done\n/m);
    expect(outputs).toHaveLength(blocks.length + 1);
    const lines = (i: number) => outputs[i]!.trim().split('\n');
    const find = (text: string) => blocks.findIndex((block) => block.includes(text));

    expect(outputs[find('/readyz')]).toContain('"status":"ready"');
    expect(lines(find('/admin/v1/issuers'))).toEqual([expect.stringMatching(/^[0-9a-f-]{36}$/)]);
    expect(lines(find('/admin/v1/resources'))).toEqual(['https://api.example.com/tickets', 'alice', 'tickets:read', 'tickets:write']);
    expect(lines(find('/admin/v1/actors'))).toEqual(['agent:triage']);
    expect(lines(find('/admin/v1/grants"'))).toEqual([expect.stringMatching(/^grant [0-9a-f-]{36}$/)]);
    expect(lines(find('> exchange.json'))).toEqual(['tickets:read']); // write was not delegated
    expect(outputs[find('console.log(JSON.parse(Buffer')]).toMatch(/sub: 'alice'[\s\S]*act: \{ sub: 'agent:triage' \}/);
    expect(lines(find('actor_token="$ASSERTION"'))).toEqual(['tickets:read']);
    expect(lines(find('/token/introspection'))).toEqual(['true']);
    expect(lines(find('/token/revocation'))).toEqual(['false']);
    expect(lines(find('/revoke'))).toEqual([expect.stringMatching(/^\d{4}-\d\d-\d\dT/), 'invalid_request']);
    const audit = lines(find('/admin/v1/audit?'));
    expect(audit.at(-1)).toBe('true');
    expect(audit).toEqual(expect.arrayContaining(['token.exchanged', 'token.revoked', 'token.exchange_denied', 'grant.revoked']));

    // The guide left the database as it says: alice's one grant, revoked.
    const { rows } = await deputy.pool.query("SELECT revoked_at IS NOT NULL AS revoked FROM delegation_grants WHERE subject_id = 'alice'");
    expect(rows).toEqual([{ revoked: true }]);
  }, 180_000);
});
