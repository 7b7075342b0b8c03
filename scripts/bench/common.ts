/**
 * Shared by the benchmark's parts: constants, a synchronous ES256 JWT signer (for
 * pre-generating thousands of tokens quickly), and the child-process server handle.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { sign, type KeyObject } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const READY_MARK = 'BENCH_READY ';
export const OIDC_CEILING_CLIENT = { id: 'ceiling-client', secret: 'ceiling-client-secret-0123456789abcdef' };
export const OIDC_CEILING_RESOURCE = 'https://api.x';

const b64url = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');

/** A compact ES256 JWS, signed synchronously with node:crypto (P-256, IEEE P1363 signature). */
export function signEs256(header: Record<string, unknown>, payload: Record<string, unknown>, key: KeyObject): string {
  const input = `${b64url({ alg: 'ES256', ...header })}.${b64url(payload)}`;
  const signature = sign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

export interface ServerChild {
  url: string;
  pid: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

const SERVER_SCRIPT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'server.ts');

/**
 * Starts `scripts/bench/server.ts <mode>` in its own Node process and waits for its URL;
 * `script` names another copy of it (the previous build's checkout, scripts/bench/baseline.ts).
 */
export function startServerChild(mode: 'deputy' | 'koa' | 'oidc', env: Record<string, string> = {}, timeoutMs = 60_000, script = SERVER_SCRIPT): Promise<ServerChild> {
  // BENCH_CPU_PROF_DIR=<dir>: write a V8 CPU profile of the Deputy process there (--cpu-prof).
  const profile = mode === 'deputy' && script === SERVER_SCRIPT && process.env.BENCH_CPU_PROF_DIR ? ['--cpu-prof', '--cpu-prof-dir', process.env.BENCH_CPU_PROF_DIR] : [];
  // --expose-gc: the memory check reads Deputy's RSS after a full collection (SIGUSR2).
  const gc = mode === 'deputy' ? ['--expose-gc'] : [];
  const child = spawn(process.execPath, [...profile, ...gc, '--import', 'tsx', script, mode], {
    cwd: path.resolve(path.dirname(script), '../..'),
    env: { ...process.env, ...env, NODE_ENV: 'production' },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 8000);
    await exited;
    clearTimeout(timer);
  };
  return new Promise((resolve, reject) => {
    let buffered = '';
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`${mode} server did not start within ${timeoutMs} ms; stderr: ${stderr}`));
    }, timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`${mode} server exited (${code}) before it was ready; stderr: ${stderr}`));
    });
    child.stdout!.on('data', (chunk: Buffer) => {
      buffered += chunk.toString();
      const line = buffered.split('\n').find((l) => l.startsWith(READY_MARK));
      if (!line) return;
      clearTimeout(timer);
      const { url, pid } = JSON.parse(line.slice(READY_MARK.length)) as { url: string; pid: number };
      buffered = '';
      resolve({ url, pid, child, stop });
    });
  });
}

/** Resident set size of a process, bytes (Linux /proc). */
export function rssOf(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!match) throw new Error(`no VmRSS for pid ${pid}`);
  return Number(match[1]) * 1024;
}
