/**
 * autocannon (programmatic API, no types shipped) with pre-generated requests: `setupRequest`
 * rotates through them, one per request, across all connections. Non-2xx responses are counted
 * by status and a few bodies kept, so failures are reported, not hidden.
 */
import { createRequire } from 'node:module';
import os from 'node:os';
import { measureCpu, type CpuMeter } from './cpu.js';
import { perRequest } from './targets.js';

interface AutocannonRequest {
  method?: string;
  path?: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
  setupRequest?: (request: AutocannonRequest, context: Record<string, unknown>) => AutocannonRequest | null;
  onResponse?: (status: number, body: string, context: Record<string, unknown>, headers: Record<string, string>) => void;
}

interface Histogram {
  average: number;
  mean: number;
  stddev: number;
  min: number;
  max: number;
  total: number;
  p50: number;
  p90: number;
  p99: number;
  p99_9?: number;
}

interface AutocannonResult {
  duration: number;
  requests: Histogram & { sent: number };
  latency: Histogram;
  throughput: Histogram;
  errors: number;
  timeouts: number;
  mismatches: number;
  non2xx: number;
  resets: number;
  '1xx': number;
  '2xx': number;
  '3xx': number;
  '4xx': number;
  '5xx': number;
  statusCodeStats?: Record<string, { count: number }>;
}

type Autocannon = (options: Record<string, unknown>) => Promise<AutocannonResult> & { stop?: () => void };
const autocannon = createRequire(import.meta.url)('autocannon') as Autocannon;

export interface PreparedRequest {
  method: 'GET' | 'POST';
  path: string;
  headers: Record<string, string>;
  body?: string;
}

export interface LoadResult {
  connections: number;
  seconds: number;
  requests: number;
  rps: number;
  latencyMs: { p50: number; p90: number; p99: number; max: number; mean: number };
  non2xx: number;
  errors: number;
  timeouts: number;
  statusCodes: Record<string, number>;
  /** 2xx responses whose body failed the scenario's check (e.g. introspection said inactive). */
  badBodies: number;
  failureSamples: Array<{ status: number; body: string }>;
  /** CPU time the server process used per answered request during the measured window. */
  serverCpuMsPerRequest?: number;
  /** Server process CPU use during the window, % of one core. */
  serverCpuPercent?: number;
  /** CPU time PostgreSQL (its backends for the bench's database) used per answered request. */
  dbCpuMsPerRequest?: number;
  /** 1-minute load average at the end of the window (other processes share this machine). */
  loadAverage1m: number;
}

export interface LoadOptions {
  url: string;
  connections: number;
  seconds: number;
  warmupSeconds: number;
  /** The next request to send; called once per request (including warm-up). */
  next(): PreparedRequest;
  /** Checks a 2xx body; a false result counts as a bad body (and is sampled). */
  check?: (body: string) => boolean;
  /** The server process (and its workers, if any), to account its CPU time. */
  serverCpu?: CpuMeter;
  /** PostgreSQL's processes serving the bench, to account the database's CPU time. */
  dbCpu?: CpuMeter;
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const statusCodes: Record<string, number> = {};
  const failureSamples: Array<{ status: number; body: string }> = [];
  let counting = false;
  let badBodies = 0;
  const request: AutocannonRequest = {
    setupRequest: (base) => {
      const prepared = options.next();
      return { ...base, method: prepared.method, path: prepared.path, headers: prepared.headers, ...(prepared.body === undefined ? {} : { body: prepared.body }) };
    },
    onResponse: (status, body) => {
      if (!counting) return;
      statusCodes[status] = (statusCodes[status] ?? 0) + 1;
      const ok = status >= 200 && status < 300;
      const bad = ok && options.check !== undefined && !options.check(String(body));
      if (bad) badBodies++;
      if ((!ok || bad) && failureSamples.length < 5) failureSamples.push({ status, body: String(body).slice(0, 400) });
    },
  };
  const common = { url: options.url, pipelining: 1, timeout: 10, requests: [request], renderProgressBar: false, renderResultsTable: false, renderLatencyTable: false };
  if (options.warmupSeconds > 0) {
    await autocannon({ ...common, connections: options.connections, duration: options.warmupSeconds });
  }
  counting = true;
  const {
    result,
    cpuMs: [cpuMs, dbMs],
  } = await measureCpu([options.serverCpu, options.dbCpu], () => autocannon({ ...common, connections: options.connections, duration: options.seconds }));
  counting = false;
  const total = result.requests.total;
  return {
    connections: options.connections,
    seconds: result.duration,
    requests: total,
    rps: Math.round((total / result.duration) * 10) / 10,
    latencyMs: { p50: result.latency.p50, p90: result.latency.p90, p99: result.latency.p99, max: result.latency.max, mean: result.latency.mean },
    non2xx: result.non2xx,
    errors: result.errors,
    timeouts: result.timeouts,
    statusCodes,
    badBodies,
    failureSamples,
    ...(cpuMs === undefined || total === 0
      ? {}
      : { serverCpuMsPerRequest: perRequest(cpuMs, total)!, serverCpuPercent: Math.round((cpuMs / (result.duration * 1000)) * 100) }),
    ...(dbMs === undefined || total === 0 ? {} : { dbCpuMsPerRequest: perRequest(dbMs, total)! }),
    loadAverage1m: Math.round(os.loadavg()[0]! * 100) / 100,
  };
}
