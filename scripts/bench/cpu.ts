/**
 * CPU meters for a measured window, read from /proc: Deputy's server process (and its workers),
 * and PostgreSQL — an embedded server's postmaster and its children, or, on a shared server
 * (DATABASE_URL), only the backends connected to the bench's own database (pg_stat_activity).
 */
import { readdirSync, readFileSync } from 'node:fs';
import pg from 'pg';
import { cpuMsBetween, parseProcStat } from './targets.js';

export interface CpuMeter {
  /** Cumulative CPU ms per process now; a window's cost is cpuMsBetween(before, after). */
  sample(): Promise<Map<number, number>>;
}

function readStat(pid: number) {
  try {
    return parseProcStat(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return null; // the process ended while we looked
  }
}

/** A process and its direct children (a postmaster's backends, Deputy's cluster workers). */
export function processTreeMeter(rootPid: number): CpuMeter {
  return {
    async sample() {
      const cpu = new Map<number, number>();
      for (const entry of readdirSync('/proc')) {
        if (!/^\d+$/.test(entry)) continue;
        const stat = readStat(Number(entry));
        if (stat && (stat.pid === rootPid || stat.ppid === rootPid)) cpu.set(stat.pid, stat.cpuMs);
      }
      return cpu;
    },
  };
}

/**
 * The backends serving one database on a PostgreSQL of this machine (127.0.0.1), found through
 * pg_stat_activity; the meter's own connection is left out. Shared background processes
 * (walwriter, checkpointer) serve every database, so they are not counted here.
 */
export function databaseBackendsMeter(databaseUrl: string): CpuMeter & { close(): Promise<void> } {
  const client = new pg.Client({ connectionString: databaseUrl });
  const connected = client.connect();
  return {
    async sample() {
      await connected;
      const { rows } = await client.query<{ pid: number }>('SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
      const cpu = new Map<number, number>();
      for (const { pid } of rows) {
        const stat = readStat(pid);
        if (stat) cpu.set(pid, stat.cpuMs);
      }
      return cpu;
    },
    close: () => client.end(),
  };
}

/** Measures `work`'s CPU cost on each meter. */
export async function measureCpu<T>(meters: readonly (CpuMeter | undefined)[], work: () => Promise<T>): Promise<{ result: T; cpuMs: Array<number | undefined> }> {
  const before = await Promise.all(meters.map((meter) => meter?.sample()));
  const result = await work();
  const after = await Promise.all(meters.map((meter) => meter?.sample()));
  return { result, cpuMs: meters.map((_, i) => (before[i] && after[i] ? cpuMsBetween(before[i], after[i]) : undefined)) };
}
