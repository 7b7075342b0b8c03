/**
 * What PostgreSQL said, under a Prisma error. Prisma's driver adapter wraps a database error as
 * `meta.driverAdapterError.cause` (`originalCode` is the SQLSTATE, `constraint.index` the
 * constraint's name); this gives it back in the shape of a `pg` error, so one mapping of database
 * errors (outage → 503, unique → 409, foreign key → 400) serves both data layers.
 */
export interface DatabaseError {
  code?: string;
  constraint?: string;
  message: string;
}

interface AdapterCause {
  kind?: string;
  originalCode?: string;
  originalMessage?: string;
  constraint?: { index?: string };
}

/** Causes the adapter reports without a SQLSTATE that mean "cannot reach the database": a connection failure class (08006). */
const CONNECTION_KINDS = new Set(['DatabaseNotReachable', 'ConnectionClosed', 'SocketTimeout', 'TlsConnectionError', 'TooManyConnections']);
const CONNECTION_FAILURE = '08006';

function adapterCause(error: unknown): AdapterCause | null {
  if (!error || typeof error !== 'object') return null;
  const meta = (error as { meta?: { driverAdapterError?: { cause?: unknown } } }).meta;
  const cause = meta?.driverAdapterError?.cause;
  return cause && typeof cause === 'object' ? (cause as AdapterCause) : null;
}

/** The database error under a Prisma error; null when `error` is not one (a `pg` error is used as it is). */
export function unwrapPrismaError(error: unknown): DatabaseError | null {
  const cause = adapterCause(error);
  if (!cause) return null;
  const code = cause.originalCode ?? (cause.kind && CONNECTION_KINDS.has(cause.kind) ? CONNECTION_FAILURE : undefined);
  return {
    ...(code ? { code } : {}),
    ...(cause.constraint?.index ? { constraint: cause.constraint.index } : {}),
    message: cause.originalMessage ?? cause.kind ?? 'database error',
  };
}

/** Prisma's answer when an update or delete by a unique key finds no row. */
const RECORD_NOT_FOUND = 'P2025';

/** The result of a Prisma update or delete by a unique key, or null when there was no such row. */
export async function nullWhenMissing<T>(operation: Promise<T>): Promise<T | null> {
  try {
    return await operation;
  } catch (error) {
    if ((error as { code?: unknown } | null)?.code === RECORD_NOT_FOUND) return null;
    throw error;
  }
}
