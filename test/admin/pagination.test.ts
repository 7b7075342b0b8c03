/**
 * Keyset paging (src/admin/pagination.ts) without a database: the cursor codec, the Prisma
 * `where` that selects the rows after a cursor, and how a page and its next cursor are cut.
 * test/admin/crud.test.ts and the console's tests page through real lists.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { ADMIN_SURFACE, ApiError } from '../../src/admin/errors.js';
import { errorResponse } from '../../src/http/error-response.js';
import { decodeCursor, encodeCursor, keyset, keysetPage, type KeyColumn, type SortKey } from '../../src/admin/pagination.js';

const KEY: SortKey[] = [
  { field: 'createdAt', type: 'timestamptz' },
  { field: 'id', type: 'text' },
];
const COLUMNS: KeyColumn[] = KEY.map(({ field, type }) => ({ column: field, type, field }));
const cursorOf = (values: unknown) => Buffer.from(JSON.stringify(values)).toString('base64url');

function badCursor(cursor: string, key: readonly KeyColumn[] = COLUMNS) {
  try {
    decodeCursor(cursor, key);
  } catch (error) {
    expect(error).toBeInstanceOf(ApiError);
    return errorResponse(error as ApiError, ADMIN_SURFACE).body;
  }
  throw new Error('the cursor was accepted');
}

describe('cursors', () => {
  it('round-trip a row’s key, dates as ISO strings', () => {
    const row = { createdAt: new Date('2030-01-02T03:04:05.678Z'), id: 'alice', other: 'ignored' };
    expect(decodeCursor(encodeCursor(row, COLUMNS), COLUMNS)).toEqual(['2030-01-02T03:04:05.678Z', 'alice']);
  });

  it('refuse what is not base64url JSON, with the list’s 400', () => {
    expect(badCursor('%%%')).toEqual({
      error: 'invalid_request',
      error_description: 'query.cursor: is not a cursor of this list',
      issues: [{ in: 'query', path: ['cursor'], code: 'invalid_cursor', message: 'is not a cursor of this list' }],
    });
    expect(badCursor(Buffer.from('{not json').toString('base64url')).error).toBe('invalid_request');
  });

  it('refuse a cursor of another list: wrong length or wrong types', () => {
    expect(badCursor(cursorOf(['2030-01-01T00:00:00Z']))).toMatchObject({ error: 'invalid_request' });
    expect(badCursor(cursorOf(['2030-01-01T00:00:00Z', 'a', 'b']))).toMatchObject({ error: 'invalid_request' });
    expect(badCursor(cursorOf(['not a date', 'a']))).toMatchObject({ error: 'invalid_request' });
    expect(badCursor(cursorOf(['2030-01-01T00:00:00Z', 7]))).toMatchObject({ error: 'invalid_request' });
    expect(badCursor(cursorOf({ 0: 'x', 1: 'y' }))).toMatchObject({ error: 'invalid_request' });
  });

  it('check uuid and bigint values', () => {
    const uuid: KeyColumn[] = [{ column: 'id', type: 'uuid', field: 'id' }];
    expect(decodeCursor(cursorOf(['0b7c5f5e-7f6a-4a55-9d36-3f1b6c1d2e3f']), uuid)).toHaveLength(1);
    expect(badCursor(cursorOf(['0b7c5f5e']), uuid)).toMatchObject({ error: 'invalid_request' });
    const bigint: KeyColumn[] = [{ column: 'id', type: 'bigint', field: 'id' }];
    expect(decodeCursor(cursorOf([42]), bigint)).toEqual([42]);
    expect(badCursor(cursorOf([1.5]), bigint)).toMatchObject({ error: 'invalid_request' });
    expect(badCursor(cursorOf([2 ** 60]), bigint)).toMatchObject({ error: 'invalid_request' });
  });
});

/** Evaluates the subset of Prisma's where language keyset() produces, on one row. */
function matches(row: Record<string, unknown>, where: Record<string, unknown>): boolean {
  return Object.entries(where).every(([name, condition]) => {
    if (name === 'AND') return (condition as Record<string, unknown>[]).every((part) => matches(row, part));
    if (name === 'OR') return (condition as Record<string, unknown>[]).some((part) => matches(row, part));
    const value = row[name] as Date | string | bigint;
    const comparable = (v: unknown) => (v instanceof Date ? v.getTime() : v) as number | string | bigint;
    if (condition && typeof condition === 'object' && !(condition instanceof Date)) {
      const { lt, lte } = condition as { lt?: unknown; lte?: unknown };
      if (lt !== undefined && !(comparable(value) < comparable(lt))) return false;
      if (lte !== undefined && !(comparable(value) <= comparable(lte))) return false;
      return true;
    }
    return comparable(value) === comparable(condition);
  });
}

describe('keyset', () => {
  it('without a cursor: every row, newest first, one more than the page', () => {
    expect(keyset(KEY, 20, undefined)).toEqual({ after: {}, orderBy: [{ createdAt: 'desc' }, { id: 'desc' }], take: 21 });
  });

  it('with a cursor: starts the scan at the cursor’s first key (an index bound) and typed values', () => {
    const { after } = keyset(KEY, 20, cursorOf(['2030-01-01T00:00:00.000Z', 'm']));
    const [bound] = (after as { AND: Array<Record<string, { lte: unknown }>> }).AND;
    expect(bound).toEqual({ createdAt: { lte: new Date('2030-01-01T00:00:00.000Z') } });
  });

  it('turns a bigint key back into a BigInt for Prisma', () => {
    const { after } = keyset([{ field: 'id', type: 'bigint' }], 10, cursorOf([41]));
    expect(after).toEqual({ AND: [{ id: { lte: 41n } }, { id: { lt: 41n } }] });
  });

  it('selects exactly the rows strictly after the cursor in (createdAt, id) descending order (property)', () => {
    const row = fc.record({ createdAt: fc.integer({ min: 0, max: 5 }).map((s) => new Date(Date.UTC(2030, 0, 1, 0, 0, s))), id: fc.constantFrom('a', 'b', 'c', 'd') });
    fc.assert(
      fc.property(fc.array(row, { maxLength: 30 }), row, (rows, cursorRow) => {
        const { after } = keyset(KEY, 10, encodeCursor(cursorRow, COLUMNS));
        const before = (r: typeof cursorRow) =>
          r.createdAt.getTime() < cursorRow.createdAt.getTime() || (r.createdAt.getTime() === cursorRow.createdAt.getTime() && r.id < cursorRow.id);
        for (const r of rows) expect(matches(r, after)).toBe(before(r));
      }),
    );
  });
});

describe('keysetPage', () => {
  const rows = [3, 2, 1].map((n) => ({ createdAt: new Date(Date.UTC(2030, 0, n)), id: `r${n}` }));
  const toItem = (row: (typeof rows)[number]) => row.id;

  it('cuts the page at the limit and points the next cursor at its last row', () => {
    const page = keysetPage(rows, KEY, 2, toItem);
    expect(page.items).toEqual(['r3', 'r2']);
    expect(decodeCursor(page.next_cursor!, COLUMNS)).toEqual([rows[1]!.createdAt.toISOString(), 'r2']);
  });

  it('has no next cursor when no row is left over', () => {
    expect(keysetPage(rows, KEY, 3, toItem)).toEqual({ items: ['r3', 'r2', 'r1'], next_cursor: null });
    expect(keysetPage([], KEY, 3, toItem)).toEqual({ items: [], next_cursor: null });
  });

  it('encodes a bigint key as a JSON number the next request can decode', () => {
    const events = [{ id: 9n }, { id: 8n }];
    const page = keysetPage(events, [{ field: 'id', type: 'bigint' }], 1, (e) => Number(e.id));
    expect(decodeCursor(page.next_cursor!, [{ column: 'id', type: 'bigint', field: 'id' }])).toEqual([9]);
  });
});
