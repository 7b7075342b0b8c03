import pg from 'pg';
import { unwrapPrismaError } from './prisma-errors.js';

export interface PoolOptions {
  url: string;
  size: number;
  /** How long a query waits for a free connection before failing (fail closed, never hang). */
  acquireTimeoutMs: number;
  onError?: (error: Error) => void;
}

/**
 * Process-wide: every pg client of the process reads bigint columns (epoch seconds, counts,
 * audit ids) as numbers. Called once at start-up (src/startup.ts), not on import.
 */
export function parseInt8AsNumber(): void {
  pg.types.setTypeParser(pg.types.builtins.INT8, (value: string) => Number(value));
}

export function createPool(options: PoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: options.url,
    max: options.size,
    connectionTimeoutMillis: options.acquireTimeoutMs,
    idleTimeoutMillis: 30000,
    application_name: 'deputy',
  });
  // A connection losing its server (restart, failover, terminated backend) must not crash the
  // process: the pool handles idle clients; a checked-out client's error reaches its query, and
  // this listener keeps the 'error' event itself from going unhandled.
  pool.on('error', (error) => options.onError?.(error));
  pool.on('connect', (client) => client.on('error', (error) => options.onError?.(error)));
  return pool;
}

/** Runs `work` in a transaction; anything it throws rolls everything back. */
export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
}

const UNAVAILABLE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EHOSTUNREACH', '57P01', '57P02', '57P03', '53300', '08000', '08001', '08003', '08004', '08006']);

/** True when an error means "the database cannot be reached right now" (→ 503), not a bug. */
export function isDatabaseUnavailable(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  const code = unwrapPrismaError(error)?.code ?? (error as { code?: string }).code;
  if (code && UNAVAILABLE_CODES.has(code)) return true;
  return /timeout exceeded when trying to connect|Connection terminated|connection timeout|Client has encountered a connection error|Cannot use a pool after calling end/i.test(
    error.message,
  );
}
