/**
 * The benchmark's arithmetic, free of I/O so it is unit-tested (test/scripts/bench-targets.test.ts):
 * CPU time from /proc/<pid>/stat, CPU per request, and the targets checked against a run.
 */

/** Linux reports utime and stime in clock ticks; USER_HZ is 100 on every Linux this runs on. */
export const CLOCK_TICKS_PER_SECOND = 100;

export interface ProcStat {
  pid: number;
  ppid: number;
  /** utime + stime, milliseconds. */
  cpuMs: number;
}

/**
 * One /proc/<pid>/stat line. The command name (field 2) may contain spaces and parentheses, so
 * the fields are counted from the LAST ')': state is field 3, ppid 4, utime 14, stime 15.
 */
export function parseProcStat(line: string): ProcStat {
  const open = line.indexOf(' (');
  const close = line.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error('not a /proc/<pid>/stat line');
  const pid = Number(line.slice(0, open));
  const fields = line.slice(close + 2).trim().split(/\s+/);
  const ppid = Number(fields[1]);
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  if (![pid, ppid, utime, stime].every(Number.isFinite)) throw new Error('not a /proc/<pid>/stat line');
  return { pid, ppid, cpuMs: ((utime + stime) * 1000) / CLOCK_TICKS_PER_SECOND };
}

/**
 * CPU milliseconds a set of processes spent between two readings (pid → cumulative CPU ms). A
 * process present only at the end started during the window: all its time counts. One gone by
 * the end took its time with it: it adds nothing (the bench keeps its connections open).
 */
export function cpuMsBetween(before: ReadonlyMap<number, number>, after: ReadonlyMap<number, number>): number {
  let total = 0;
  for (const [pid, ms] of after) total += Math.max(0, ms - (before.get(pid) ?? 0));
  return total;
}

/** Milliseconds of CPU per request, 2 decimals; undefined without requests. */
export function perRequest(cpuMs: number, requests: number): number | undefined {
  if (!(requests > 0)) return undefined;
  return Math.round((cpuMs / requests) * 100) / 100;
}

const median = (values: readonly number[]): number => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};

/** Relative spread of repeated measurements of one thing: (max - min) / median. */
export function spread(values: readonly number[]): number {
  if (values.length < 2) return 0;
  return (Math.max(...values) - Math.min(...values)) / median(values);
}

export interface RoundComparison {
  currentMedian: number;
  previousMedian: number;
  /** current / previous. */
  ratio: number;
  /** The larger relative spread of either build's own rounds, at least MIN_NOISE. */
  noise: number;
  /** No regression beyond run-to-run noise: ratio >= 1 - noise. */
  met: boolean;
}

/** Noise is never taken to be below this: two rounds that happened to agree prove little. */
export const MIN_NOISE = 0.03;

/** Alternating rounds of this build and the previous one on the same database and machine. */
export function compareRounds(current: readonly number[], previous: readonly number[]): RoundComparison {
  if (current.length === 0 || previous.length === 0) throw new Error('no rounds to compare');
  const currentMedian = median(current);
  const previousMedian = median(previous);
  const noise = Math.max(MIN_NOISE, spread(current), spread(previous));
  const ratio = currentMedian / previousMedian;
  return { currentMedian, previousMedian, ratio: Math.round(ratio * 1000) / 1000, noise: Math.round(noise * 1000) / 1000, met: ratio >= 1 - noise };
}

export interface HeldRate {
  firstQuarterRps: number;
  lastQuarterRps: number;
  /** last / first. */
  ratio: number;
  met: boolean;
}

/** A rate "holds" when its last quarter keeps at least this share of its first. */
export const HOLD_RATIO = 0.85;

/** Windows of equal length, in order: does the rate at the end keep up with the start? */
export function heldRate(windowRps: readonly number[]): HeldRate {
  if (windowRps.length < 4) throw new Error('at least 4 windows are needed');
  const quarter = Math.floor(windowRps.length / 4);
  const mean = (values: readonly number[]) => values.reduce((a, b) => a + b, 0) / values.length;
  const first = mean(windowRps.slice(0, quarter));
  const last = mean(windowRps.slice(-quarter));
  const ratio = first > 0 ? last / first : 0;
  return { firstQuarterRps: Math.round(first), lastQuarterRps: Math.round(last), ratio: Math.round(ratio * 1000) / 1000, met: ratio >= HOLD_RATIO };
}

export const TARGETS = {
  assertionShareOfExchange: 0.85,
  dpopShareOfExchange: 0.8,
  cpuMsPerExchange: 0.45,
  p99Ms: 50,
  introspectionRps: 4000,
} as const;

export interface LevelFigures {
  connections: number;
  rps: number;
  latencyMs: { p99: number };
  serverCpuMsPerRequest?: number;
  dbCpuMsPerRequest?: number;
}

export interface TargetInputs {
  /** The level the ratio, CPU and latency targets name (32 connections). */
  connections: number;
  exchange?: LevelFigures;
  assertion?: LevelFigures;
  dpop?: LevelFigures;
  /** Every exchange path at `connections`, for the latency target. */
  exchangePaths: Array<{ name: string; level: LevelFigures }>;
  /** Introspection at each level; the best counts. */
  introspection: LevelFigures[];
  previousBuild?: { ref: string; comparison: RoundComparison };
  emptyDatabase?: HeldRate;
  /** Errors, timeouts, non-2xx and bad bodies over every scenario. */
  failures: number;
  memoryDriftPercent?: number;
}

export interface TargetCheck {
  target: string;
  measured: string;
  met: boolean;
}

const pct = (ratio: number) => `${Math.round(ratio * 100)}%`;

export function checkTargets(inputs: TargetInputs): TargetCheck[] {
  const at = inputs.connections;
  const checks: TargetCheck[] = [];
  const { exchange, assertion, dpop } = inputs;
  if (exchange && assertion) {
    const ratio = assertion.rps / exchange.rps;
    checks.push({
      target: `actor assertion >= ${pct(TARGETS.assertionShareOfExchange)} of the client-as-actor exchange rate, c=${at}`,
      measured: `${assertion.rps} vs ${exchange.rps} req/s (${pct(ratio)})`,
      met: ratio >= TARGETS.assertionShareOfExchange,
    });
  }
  if (exchange && dpop) {
    const ratio = dpop.rps / exchange.rps;
    checks.push({
      target: `DPoP-bound exchange >= ${pct(TARGETS.dpopShareOfExchange)} of the plain exchange rate, c=${at}`,
      measured: `${dpop.rps} vs ${exchange.rps} req/s (${pct(ratio)})`,
      met: ratio >= TARGETS.dpopShareOfExchange,
    });
  }
  if (exchange && exchange.serverCpuMsPerRequest !== undefined && exchange.dbCpuMsPerRequest !== undefined) {
    const total = Math.round((exchange.serverCpuMsPerRequest + exchange.dbCpuMsPerRequest) * 100) / 100;
    checks.push({
      target: `Deputy + PostgreSQL CPU per client-as-actor exchange <= ${TARGETS.cpuMsPerExchange} ms, c=${at}`,
      measured: `${total} ms (Deputy ${exchange.serverCpuMsPerRequest} + PostgreSQL ${exchange.dbCpuMsPerRequest})`,
      met: total <= TARGETS.cpuMsPerExchange,
    });
  }
  for (const { name, level } of inputs.exchangePaths) {
    checks.push({ target: `${name}: p99 <= ${TARGETS.p99Ms} ms, c=${at}`, measured: `${level.latencyMs.p99} ms`, met: level.latencyMs.p99 <= TARGETS.p99Ms });
  }
  if (inputs.introspection.length > 0) {
    const best = inputs.introspection.reduce((a, b) => (b.rps > a.rps ? b : a));
    checks.push({
      target: `introspection >= ${TARGETS.introspectionRps.toLocaleString('en')} req/s`,
      measured: `${best.rps} req/s at c=${best.connections}`,
      met: best.rps >= TARGETS.introspectionRps,
    });
  }
  if (inputs.previousBuild) {
    const { ref, comparison: c } = inputs.previousBuild;
    checks.push({
      target: `client-as-actor rate not below ${ref}'s beyond run-to-run noise (same run, alternating rounds), c=${at}`,
      measured: `${c.currentMedian} vs ${c.previousMedian} req/s (${pct(c.ratio)}; noise ${pct(c.noise)})`,
      met: c.met,
    });
  }
  if (inputs.emptyDatabase) {
    const e = inputs.emptyDatabase;
    checks.push({
      target: `from an empty database, the exchange rate holds for 60 s (last quarter >= ${pct(HOLD_RATIO)} of the first)`,
      measured: `${e.firstQuarterRps} → ${e.lastQuarterRps} req/s (${pct(e.ratio)})`,
      met: e.met,
    });
  }
  checks.push({ target: 'zero errors, timeouts, non-2xx or bad bodies', measured: String(inputs.failures), met: inputs.failures === 0 });
  if (inputs.memoryDriftPercent !== undefined) {
    checks.push({
      target: 'RSS after the sustained run within 10% of after warm-up',
      measured: `${inputs.memoryDriftPercent}%`,
      met: Math.abs(inputs.memoryDriftPercent) <= 10,
    });
  }
  return checks;
}
