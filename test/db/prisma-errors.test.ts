/**
 * Database errors under Prisma's wrapping (src/db/prisma-errors.ts) map like `pg`'s own: the
 * shapes below are what Prisma 7's driver adapter raised against PostgreSQL (unique and foreign
 * key violations, an unreachable server), trimmed to the fields read.
 */
import { describe, expect, it } from '@jest/globals';
import { isDatabaseUnavailable } from '../../src/db/pool.js';
import { nullWhenMissing, unwrapPrismaError } from '../../src/db/prisma-errors.js';

function prismaError(code: string, cause: Record<string, unknown>): Error {
  return Object.assign(new Error(`Invalid \`prisma.subject.create()\` invocation`), {
    code,
    meta: { modelName: 'Subject', driverAdapterError: { name: 'DriverAdapterError', cause } },
  });
}

const unique = prismaError('P2002', {
  originalCode: '23505',
  originalMessage: 'duplicate key value violates unique constraint "subjects_pkey"',
  kind: 'UniqueConstraintViolation',
  constraint: { index: 'subjects_pkey' },
});
const foreignKey = prismaError('P2003', {
  originalCode: '23503',
  originalMessage: 'insert or update on table "actors" violates foreign key constraint "actors_owner_id_fkey"',
  kind: 'ForeignKeyConstraintViolation',
  constraint: { index: 'actors_owner_id_fkey' },
});
const unreachable = prismaError('P1001', { kind: 'DatabaseNotReachable', host: '127.0.0.1', port: 5999 });

describe('unwrapPrismaError', () => {
  it('gives the SQLSTATE and constraint of a constraint violation', () => {
    expect(unwrapPrismaError(unique)).toEqual({ code: '23505', constraint: 'subjects_pkey', message: expect.stringContaining('duplicate key') });
    expect(unwrapPrismaError(foreignKey)).toMatchObject({ code: '23503', constraint: 'actors_owner_id_fkey' });
  });

  it('gives a connection-failure SQLSTATE for an unreachable database', () => {
    expect(unwrapPrismaError(unreachable)).toEqual({ code: '08006', message: 'DatabaseNotReachable' });
  });

  it('leaves errors that are not Prisma’s alone', () => {
    expect(unwrapPrismaError(Object.assign(new Error('x'), { code: '23505' }))).toBeNull();
    expect(unwrapPrismaError(null)).toBeNull();
    expect(unwrapPrismaError('text')).toBeNull();
  });
});

describe('isDatabaseUnavailable through Prisma', () => {
  it('is true for an unreachable database and a server closing connections', () => {
    expect(isDatabaseUnavailable(unreachable)).toBe(true);
    expect(isDatabaseUnavailable(prismaError('P1017', { kind: 'ConnectionClosed' }))).toBe(true);
    expect(isDatabaseUnavailable(prismaError('P2010', { originalCode: '57P01', kind: 'postgres' }))).toBe(true);
  });

  it('is false for a constraint violation (a client error, not an outage)', () => {
    expect(isDatabaseUnavailable(unique)).toBe(false);
    expect(isDatabaseUnavailable(foreignKey)).toBe(false);
  });
});

describe('nullWhenMissing', () => {
  it('answers null when Prisma found no row to update or delete (P2025)', async () => {
    await expect(nullWhenMissing(Promise.reject(Object.assign(new Error('not found'), { code: 'P2025' })))).resolves.toBeNull();
  });

  it('passes results and other errors through', async () => {
    await expect(nullWhenMissing(Promise.resolve({ id: 'a' }))).resolves.toEqual({ id: 'a' });
    await expect(nullWhenMissing(Promise.reject(unique))).rejects.toBe(unique);
  });
});
