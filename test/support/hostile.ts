/**
 * Helpers for the fault and hostile-input tests: raw HTTP with a hang guard, the leak detector,
 * and a tally of what a corpus run produced.
 */
import { KeyObject, createHmac, sign } from 'node:crypto';
import { connect } from 'node:net';
import type { CryptoKey } from 'jose';
import { GRANT_TYPE, RESOURCE, SECRETS, TT, type HttpResult, type World } from './exchange-world.js';

/** A request that hangs fails the test through this abort, not through a timed assertion. */
export const HANG_GUARD_MS = 5000;

export interface RawRequest {
  method?: string;
  headers?: Record<string, string>;
  body?: string | Uint8Array | null;
}

/** Any request, sent as given; the body is read as text and parsed as JSON when it is JSON. */
export async function send(url: string, request: RawRequest = {}, guardMs = HANG_GUARD_MS): Promise<HttpResult> {
  const response = await fetch(url, {
    method: request.method ?? 'GET',
    headers: request.headers ?? {},
    ...(request.body === undefined || request.body === null ? {} : { body: request.body as NonNullable<RequestInit['body']> }),
    signal: AbortSignal.timeout(guardMs),
  });
  const text = await response.text();
  let json: Record<string, unknown> = {};
  try {
    const parsed: unknown = text ? JSON.parse(text) : {};
    json = parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  } catch {
    json = {};
  }
  return { status: response.status, headers: response.headers, json, text };
}

export const basic = (clientId: string, secret: string = SECRETS[clientId] ?? ''): string =>
  `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`;

export const FORM = 'application/x-www-form-urlencoded';

/** A form body from pairs (duplicates allowed, order kept). */
export function form(pairs: Array<[string, string]> | Record<string, string | string[]>): string {
  const body = new URLSearchParams();
  const entries: Array<[string, string | string[]]> = Array.isArray(pairs) ? pairs : Object.entries(pairs);
  for (const [name, value] of entries) for (const item of Array.isArray(value) ? value : [value]) body.append(name, item);
  return body.toString();
}

/** POST /token with app-a's basic credentials and a hang guard. */
export async function postToken(w: World, params: Record<string, string | string[]>, auth: string | null = basic('app-a')): Promise<HttpResult> {
  return send(`${w.deputy.url}/token`, {
    method: 'POST',
    headers: { 'content-type': FORM, accept: 'application/json', ...(auth ? { authorization: auth } : {}) },
    body: form(params),
  });
}

/** A plain, valid exchange for alice (scope read) with a hang guard. */
export async function guardedExchange(w: World, extra: Record<string, string> = {}): Promise<HttpResult> {
  return postToken(w, {
    grant_type: GRANT_TYPE,
    subject_token: await w.userToken('alice'),
    subject_token_type: TT.jwt,
    resource: RESOURCE,
    scope: 'read',
    ...extra,
  });
}

const INTERNALS: Array<[string, RegExp]> = [
  ['stack frame', /\n\s+at |\bat [\w.$<>]+ \(|\bat (file:\/\/|\/)[^\s]+:\d+/],
  ['node_modules path', /node_modules/],
  ['source path', /\.(ts|js|mjs|cjs):\d+/],
  ['absolute source path', /\/(work|src|home|usr)\/[\w./-]+\.(ts|js)/],
  ['SQL keyword', /\b(SELECT|INSERT INTO|UPDATE [a-z_]+ SET|DELETE FROM)\b/],
  ['SQL clause', / FROM [a-z_]+\b.*\bWHERE\b/s],
  ['SQL error', /syntax error|relation "|violates|duplicate key|invalid input syntax|column "|operator does not exist/i],
  ['postgres internals', /\bpg_\w+|deputy_record_exchanges|SQLSTATE|\b22P02\b|\b23505\b/],
  ['node error', /ECONNREFUSED|ECONNRESET|TypeError|ReferenceError|RangeError|SyntaxError: |Cannot read propert/],
];

/** Names what a response body leaks, if anything: internals, or any of the secret values sent. */
export function leaksIn(text: string, secrets: readonly string[] = []): string[] {
  const found: string[] = [];
  for (const [name, pattern] of INTERNALS) if (pattern.test(text)) found.push(name);
  for (const secret of secrets) if (secret.length >= 12 && text.includes(secret)) found.push(`echoed secret ${secret.slice(0, 16)}…`);
  return found;
}

export interface Tally {
  file: string;
  tried: number;
  fiveXx: number;
  wronglyMinted: number;
  leaks: number;
  failures: string[];
}

export function newTally(file: string): Tally {
  return { file, tried: 0, fiveXx: 0, wronglyMinted: 0, leaks: 0, failures: [] };
}

/**
 * Checks one hostile response and records it: status < 500, no access_token unless `valid`, no
 * internals or echoed secrets. Returns the problems found (empty when the response is clean).
 */
export function check(tally: Tally, label: string, result: HttpResult, secrets: readonly string[] = [], valid = false): string[] {
  tally.tried += 1;
  const problems: string[] = [];
  if (result.status >= 500) {
    tally.fiveXx += 1;
    problems.push(`status ${result.status}`);
  }
  if (!valid && (result.json.access_token !== undefined || /"access_token"\s*:/.test(result.text))) {
    tally.wronglyMinted += 1;
    problems.push('access_token minted');
  }
  const leaks = leaksIn(result.text, secrets);
  if (leaks.length > 0) {
    tally.leaks += 1;
    problems.push(`leaks ${leaks.join(', ')}`);
  }
  if (problems.length > 0 && tally.failures.length < 25) {
    tally.failures.push(`${label}: ${problems.join('; ')} → ${result.status} ${result.text.slice(0, 300)}`);
  }
  return problems;
}

export function report(tally: Tally): void {
  console.log(
    `${tally.file}: requests tried ${tally.tried}, 5xx ${tally.fiveXx}, wrongly minted ${tally.wronglyMinted}, leaks ${tally.leaks}` +
      (tally.failures.length ? `\n  ${tally.failures.join('\n  ')}` : ''),
  );
}

/** A compact JWS over arbitrary header and payload text, really signed ES256 with `key` (any header, even one jose would refuse to produce). */
export function signCompactEs256(header: string | Record<string, unknown>, payload: string | Record<string, unknown> | unknown[], key: CryptoKey | KeyObject): string {
  const enc = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
  const input = `${enc(header)}.${enc(payload)}`;
  const keyObject = key instanceof KeyObject ? key : KeyObject.from(key as Parameters<typeof KeyObject.from>[0]);
  const signature = sign('sha256', Buffer.from(input), { key: keyObject, dsaEncoding: 'ieee-p1363' });
  return `${input}.${signature.toString('base64url')}`;
}

/** A compact JWS with an HMAC-SHA-256 signature keyed by `secret` (algorithm-confusion attempts). */
export function signCompactHs256(header: Record<string, unknown>, payload: Record<string, unknown>, secret: string | Buffer): string {
  const enc = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const input = `${enc(header)}.${enc(payload)}`;
  return `${input}.${createHmac('sha256', secret).update(input).digest('base64url')}`;
}

export interface RawResponse {
  status: number;
  headers: string;
  text: string;
}

/**
 * Sends bytes as they are over a TCP socket (for requests fetch refuses to build: NUL or CR/LF in
 * headers, malformed request lines, lying Content-Length). Resolves with the status line's code
 * (0 when the server closed without answering) and the body.
 */
export function rawHttp(url: string, request: string | Buffer, guardMs = HANG_GUARD_MS): Promise<RawResponse> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const socket = connect({ host: hostname, port: Number(port) });
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`raw request hung for ${guardMs} ms: ${String(request).slice(0, 80)}`));
    }, guardMs);
    socket.on('data', (chunk) => chunks.push(chunk));
    socket.on('error', () => {});
    socket.on('close', () => {
      clearTimeout(timer);
      const all = Buffer.concat(chunks).toString('latin1');
      const split = all.indexOf('\r\n\r\n');
      const head = split >= 0 ? all.slice(0, split) : all;
      let body = split >= 0 ? all.slice(split + 4) : '';
      if (/transfer-encoding:\s*chunked/i.test(head)) body = dechunk(body);
      const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(head)?.[1] ?? 0);
      resolve({ status, headers: head, text: Buffer.from(body, 'latin1').toString('utf8') });
    });
    socket.write(request);
  });
}

function dechunk(body: string): string {
  let out = '';
  let rest = body;
  for (;;) {
    const line = rest.indexOf('\r\n');
    if (line < 0) return out;
    const size = parseInt(rest.slice(0, line), 16);
    if (!Number.isFinite(size) || size === 0) return out;
    out += rest.slice(line + 2, line + 2 + size);
    rest = rest.slice(line + 2 + size + 2);
  }
}

/** Hostile strings: control characters, NUL, bidi overrides, emoji, SQL- and path-looking text, long runs. */
export const HOSTILE_STRINGS: readonly string[] = [
  '',
  ' ',
  '\u0000',
  'a\u0000b',
  'read\u0000',
  '\u0001\u0002\u0003\u001f\u007f',
  '\r\n',
  'read\r\nX-Injected: 1',
  '\t',
  '\u202Eetirw\u202C',
  'read\u202E',
  '\u200B',
  '\uFEFFread',
  '\uD83D\uDE00',
  '\uD83D',
  '\uDC00',
  '\uFFFF',
  'ｒｅａｄ',
  'read\u0301',
  "' OR '1'='1",
  "'; DROP TABLE subjects; --",
  '" OR ""="',
  '1; SELECT pg_sleep(5)',
  "alice' UNION SELECT private_jwk FROM signing_keys --",
  '$1',
  '%s%s%s%n',
  '${jndi:ldap://127.0.0.1/a}',
  '{{7*7}}',
  '<script>alert(1)</script>',
  '../../../../etc/passwd',
  '..%2F..%2F..%2Fetc%2Fpasswd',
  '/dev/random',
  'file:///etc/passwd',
  'C:\\Windows\\win.ini',
  '__proto__',
  'constructor',
  'prototype',
  'null',
  'undefined',
  'NaN',
  '-1',
  '1e309',
  '[]',
  '{}',
  'x'.repeat(4096),
  'é'.repeat(3000),
];

/** fetch refusing to build a request (a header it cannot send): not a server response. */
export function refusedByFetch(error: unknown): boolean {
  if (!(error instanceof TypeError)) return false;
  if (!/fetch failed/.test(error.message)) return true;
  const cause = (error as { cause?: { code?: string; name?: string } }).cause;
  return cause?.code === 'UND_ERR_INVALID_ARG' || cause?.name === 'InvalidArgumentError';
}

/**
 * Runs labelled requests eight at a time and returns every finding: `judge`'s problems with a
 * response, or a request that failed other than by fetch refusing it (a hang, a reset).
 */
export async function runCases<Options>(
  cases: ReadonlyArray<readonly [string, () => Promise<HttpResult>, Options]>,
  judge: (label: string, result: HttpResult, options: Options) => string[],
): Promise<string[]> {
  const bad: string[] = [];
  for (let i = 0; i < cases.length; i += 8) {
    await Promise.all(
      cases.slice(i, i + 8).map(async ([label, run, options]) => {
        let result: HttpResult;
        try {
          result = await run();
        } catch (error) {
          if (refusedByFetch(error)) return;
          bad.push(`${label}: request failed: ${(error as Error).message}`);
          return;
        }
        const problems = judge(label, result, options);
        if (problems.length > 0) bad.push(`${label}: ${problems.join('; ')}`);
      }),
    );
  }
  return bad;
}

/** Percent-encodes every UTF-8 byte (encodeURIComponent throws on lone surrogates). */
export const percentEncode = (value: string): string =>
  [...Buffer.from(value, 'utf8')].map((byte) => `%${byte.toString(16).padStart(2, '0')}`).join('');
