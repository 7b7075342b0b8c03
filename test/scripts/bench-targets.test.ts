/**
 * The benchmark's arithmetic (scripts/bench/targets.ts): CPU time read from /proc, CPU per
 * request, the previous-build comparison, the empty-database hold, and the targets.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { checkTargets, compareRounds, cpuMsBetween, heldRate, parseProcStat, perRequest, type LevelFigures } from '../../scripts/bench/targets.js';

describe('parseProcStat', () => {
  it('reads pid, ppid and utime + stime in ms, with a command name containing spaces and parentheses', () => {
    const line = '4242 (postgres: deputy (x) 127.0.0.1) S 100 4242 4242 0 -1 4194560 500 0 0 0 250 37 0 0 20 0 1 0 1234 0 0';
    expect(parseProcStat(line)).toEqual({ pid: 4242, ppid: 100, cpuMs: 2870 });
  });

  it('refuses what is not a stat line', () => {
    expect(() => parseProcStat('garbage')).toThrow();
  });
});

describe('cpuMsBetween', () => {
  it('sums each process’s growth, counts a process born in the window in full, and ignores one that ended', () => {
    const before = new Map([
      [1, 100],
      [2, 50],
      [3, 70],
    ]);
    const after = new Map([
      [1, 160],
      [2, 50],
      [4, 30],
    ]);
    expect(cpuMsBetween(before, after)).toBe(60 + 0 + 30);
  });

  it('is never negative, whatever the readings', () => {
    const readings = fc.array(fc.tuple(fc.integer({ min: 1, max: 50 }), fc.nat(), fc.nat()), { maxLength: 20 });
    fc.assert(
      fc.property(readings, (rows) => {
        const before = new Map(rows.map(([pid, a]) => [pid, a]));
        const after = new Map(rows.map(([pid, , b]) => [pid, b]));
        return cpuMsBetween(before, after) >= 0;
      }),
    );
  });
});

describe('perRequest', () => {
  it('divides and rounds to 2 decimals; no requests, no figure', () => {
    expect(perRequest(1000, 3000)).toBe(0.33);
    expect(perRequest(1000, 0)).toBeUndefined();
  });
});

describe('compareRounds', () => {
  it('uses medians, and the larger spread of either build as the noise (at least 3%)', () => {
    const result = compareRounds([1000, 1100, 1050], [1000, 1000, 1000]);
    expect(result.currentMedian).toBe(1050);
    expect(result.previousMedian).toBe(1000);
    expect(result.ratio).toBe(1.05);
    expect(result.noise).toBeCloseTo(100 / 1050, 3);
    expect(result.met).toBe(true);
  });

  it('flags a drop beyond the noise, not one within it', () => {
    expect(compareRounds([900, 905, 910], [1000, 1002, 1004]).met).toBe(false);
    expect(compareRounds([980, 985, 990], [1000, 1002, 1004]).met).toBe(true);
  });
});

describe('heldRate', () => {
  it('compares the last quarter of the windows with the first', () => {
    expect(heldRate([1000, 1000, 1000, 900, 900, 900, 860, 860, 860, 850, 850, 850])).toMatchObject({ firstQuarterRps: 1000, lastQuarterRps: 850, ratio: 0.85, met: true });
    expect(heldRate([1100, 1100, 1100, 700, 500, 400, 300, 300, 300, 268, 268, 268])).toMatchObject({ met: false });
  });

  it('needs at least four windows', () => {
    expect(() => heldRate([1, 2, 3])).toThrow();
  });
});

describe('checkTargets', () => {
  const level = (rps: number, p99: number, server?: number, db?: number): LevelFigures => ({
    connections: 32,
    rps,
    latencyMs: { p99 },
    ...(server === undefined ? {} : { serverCpuMsPerRequest: server }),
    ...(db === undefined ? {} : { dbCpuMsPerRequest: db }),
  });
  const byTarget = (checks: ReturnType<typeof checkTargets>, prefix: string) => checks.find((c) => c.target.startsWith(prefix));

  it('checks the ratios against the client-as-actor rate of the same run', () => {
    const checks = checkTargets({ connections: 32, exchange: level(2000, 20), assertion: level(1700, 20), dpop: level(1599, 20), exchangePaths: [], introspection: [], failures: 0 });
    expect(byTarget(checks, 'actor assertion >= 85%')?.met).toBe(true);
    expect(byTarget(checks, 'DPoP-bound exchange >= 80%')?.met).toBe(false);
  });

  it('adds Deputy and PostgreSQL CPU per exchange', () => {
    const ok = checkTargets({ connections: 32, exchange: level(2000, 20, 0.3, 0.15), exchangePaths: [], introspection: [], failures: 0 });
    expect(byTarget(ok, 'Deputy + PostgreSQL CPU')).toMatchObject({ met: true, measured: '0.45 ms (Deputy 0.3 + PostgreSQL 0.15)' });
    const over = checkTargets({ connections: 32, exchange: level(2000, 20, 0.31, 0.15), exchangePaths: [], introspection: [], failures: 0 });
    expect(byTarget(over, 'Deputy + PostgreSQL CPU')?.met).toBe(false);
    const unknown = checkTargets({ connections: 32, exchange: level(2000, 20, 0.3), exchangePaths: [], introspection: [], failures: 0 });
    expect(byTarget(unknown, 'Deputy + PostgreSQL CPU')).toBeUndefined();
  });

  it('checks p99 on every exchange path, the best introspection level, failures, and the optional phases', () => {
    const checks = checkTargets({
      connections: 32,
      exchangePaths: [
        { name: 'a', level: level(1, 50) },
        { name: 'b', level: level(1, 51) },
      ],
      introspection: [level(3900, 5), { ...level(4100, 9), connections: 64 }],
      previousBuild: { ref: 'HEAD~1', comparison: compareRounds([900], [1000]) },
      emptyDatabase: heldRate([1000, 1000, 500, 500]),
      failures: 1,
    });
    expect(byTarget(checks, 'a: p99')?.met).toBe(true);
    expect(byTarget(checks, 'b: p99')?.met).toBe(false);
    expect(byTarget(checks, 'introspection')).toMatchObject({ met: true, measured: '4100 req/s at c=64' });
    expect(byTarget(checks, 'client-as-actor rate not below HEAD~1')?.met).toBe(false);
    expect(byTarget(checks, 'from an empty database')?.met).toBe(false);
    expect(byTarget(checks, 'zero errors')?.met).toBe(false);
  });
});
