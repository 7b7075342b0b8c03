/**
 * Runs the real `deputy` CLI as a child process: the one place tests start it. It runs the built
 * binary, `dist/cli/main.js` (package.json `bin`), which the suite's global setup brings up to
 * date first (`scripts/build.mjs --if-stale`).
 *
 * The child gets a clean environment (no DEPUTY_* of the parent), its own HOME and
 * XDG_CONFIG_HOME, and whatever `env` adds.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(fileURLToPath(new URL('../..', import.meta.url)));
const ENTRY = [join(REPO_ROOT, 'dist/cli/main.js')];
/** A hung child is killed rather than hanging the suite (the test then fails on its output). */
const KILL_AFTER_MS = 60_000;

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A fresh home for one test: HOME and XDG_CONFIG_HOME point inside it. */
export async function cliHome(): Promise<{ dir: string; env: Record<string, string> }> {
  const dir = await mkdtemp(join(tmpdir(), 'deputy-cli-'));
  return { dir, env: { HOME: dir, XDG_CONFIG_HOME: join(dir, 'config') } };
}

export function spawnCli(args: string[], env: Record<string, string> = {}): ChildProcessWithoutNullStreams {
  return spawn(process.execPath, [...ENTRY, ...args], {
    cwd: REPO_ROOT,
    env: { PATH: process.env.PATH ?? '', LANG: 'C.UTF-8', NODE_NO_WARNINGS: '1', ...env },
    stdio: 'pipe',
  });
}

export function runCli(args: string[], env: Record<string, string> = {}, input?: string): Promise<CliResult> {
  return new Promise((resolvePromise, reject) => {
    const child = spawnCli(args, env);
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const killer = setTimeout(() => child.kill('SIGKILL'), KILL_AFTER_MS);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(killer);
      resolvePromise({ code, stdout, stderr });
    });
    child.stdin.end(input ?? '');
  });
}

/** Runs the CLI and parses its stdout as JSON, failing loudly with its stderr otherwise. */
export async function runCliJson<T = any>(args: string[], env: Record<string, string> = {}, input?: string): Promise<T> {
  const result = await runCli(args, env, input);
  if (result.code !== 0) throw new Error(`deputy ${args.join(' ')} exited ${result.code}: ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}
