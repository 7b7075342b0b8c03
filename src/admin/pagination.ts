/**
 * Keyset (cursor) paging, newest first. A list is ordered by a sort key that is unique per row,
 * e.g. (created_at, id), descending; a page asks for rows strictly below the previous page's
 * last key, so rows are neither skipped nor repeated however deep the caller pages, and no
 * OFFSET scan grows with depth. The cursor is that last key, base64url-encoded JSON: opaque to
 * callers, and checked on the way back in.
 */
import type { PrismaClient } from '../db/prisma.js';
import { Prisma } from '../generated/prisma/client.js';
import { invalidRequest } from './errors.js';

export interface KeyColumn {
  /** SQL expression of the column, e.g. `created_at` or `t.id` (raw lists only). */
  column: string;
  /** Its PostgreSQL type, used to cast the cursor's value. */
  type: 'timestamptz' | 'uuid' | 'text' | 'bigint';
  /** The property of the selected row holding the value. */
  field: string;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export function isUuid(value: string): boolean {
  return UUID.test(value);
}

function wellFormed(type: KeyColumn['type'], value: unknown): boolean {
  switch (type) {
    case 'timestamptz':
      return typeof value === 'string' && !Number.isNaN(Date.parse(value));
    case 'uuid':
      return typeof value === 'string' && isUuid(value);
    case 'text':
      return typeof value === 'string';
    case 'bigint':
      return typeof value === 'number' && Number.isSafeInteger(value);
  }
}

const badCursor = () => invalidRequest([{ in: 'query', path: ['cursor'], code: 'invalid_cursor', message: 'is not a cursor of this list' }]);

export function decodeCursor(cursor: string, key: readonly KeyColumn[]): unknown[] {
  let values: unknown;
  try {
    values = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw badCursor();
  }
  if (!Array.isArray(values) || values.length !== key.length || !key.every((k, i) => wellFormed(k.type, values[i]))) {
    throw badCursor();
  }
  return values;
}

export function encodeCursor(row: Record<string, unknown>, key: readonly KeyColumn[]): string {
  const values = key.map(({ field }) => {
    const value = row[field];
    return value instanceof Date ? value.toISOString() : value;
  });
  return Buffer.from(JSON.stringify(values)).toString('base64url');
}

/** A sort key of a list read through Prisma: model fields, unique together, newest first. */
export interface SortKey {
  /** The Prisma model field, e.g. `createdAt`. */
  field: string;
  type: KeyColumn['type'];
}

const asKeyColumns = (key: readonly SortKey[]): KeyColumn[] => key.map(({ field, type }) => ({ column: field, type, field }));

function fromCursorValue(type: SortKey['type'], value: unknown): unknown {
  if (type === 'timestamptz') return new Date(value as string);
  if (type === 'bigint') return BigInt(value as number);
  return value;
}

/** Rows strictly below `values` in the key's descending order: k0 < v0 OR (k0 = v0 AND (k1 < v1 OR ...)). */
function below(key: readonly SortKey[], values: readonly unknown[]): Record<string, unknown> {
  const [first, ...rest] = key;
  const value = values[0];
  if (rest.length === 0) return { [first!.field]: { lt: value } };
  return { OR: [{ [first!.field]: { lt: value } }, { [first!.field]: value, ...below(rest, values.slice(1)) }] };
}

/**
 * The Prisma `where`, `orderBy` and `take` of one page: rows strictly after the cursor's key,
 * newest first, one more than the page (to know whether another follows). The leading bound
 * (k0 <= v0) lets PostgreSQL start the index scan at the cursor, so no scan grows with depth.
 */
export function keyset(key: readonly SortKey[], limit: number, cursor: string | undefined) {
  const orderBy = key.map(({ field }) => ({ [field]: 'desc' as const }));
  if (cursor === undefined) return { after: {}, orderBy, take: limit + 1 };
  const values = decodeCursor(cursor, asKeyColumns(key)).map((value, i) => fromCursorValue(key[i]!.type, value));
  return { after: { AND: [{ [key[0]!.field]: { lte: values[0] } }, below(key, values)] }, orderBy, take: limit + 1 };
}

/** The page of `rows` read with `keyset(...)`: at most `limit` items, and the cursor of the next page. */
export function keysetPage<Row extends object, Item>(rows: readonly Row[], key: readonly SortKey[], limit: number, toItem: (row: Row) => Item): Page<Item> {
  const page = rows.slice(0, limit);
  const last = page[page.length - 1] as Record<string, unknown> | undefined;
  const cursorRow = last && Object.fromEntries(key.map(({ field, type }) => [field, type === 'bigint' ? Number(last[field]) : last[field]]));
  return {
    items: page.map(toItem),
    next_cursor: rows.length > limit && cursorRow ? encodeCursor(cursorRow, asKeyColumns(key)) : null,
  };
}

export interface SqlListQuery<Row, Item> {
  /** `SELECT ... FROM ...` without WHERE / ORDER BY / LIMIT. */
  from: Prisma.Sql;
  /** Conditions joined with AND; values inside them are bound parameters. */
  conditions: Prisma.Sql[];
  key: readonly KeyColumn[];
  limit: number;
  cursor: string | undefined;
  toItem(row: Row): Item;
}

/**
 * `listPage` through Prisma's raw query, for a list whose filter is a SQL predicate Prisma's
 * queries cannot express (e.g. grants' `active`).
 */
export async function listPageSql<Row extends Record<string, unknown>, Item>(prisma: PrismaClient, query: SqlListQuery<Row, Item>): Promise<Page<Item>> {
  const { key } = query;
  const conditions = [...query.conditions];
  if (query.cursor !== undefined) {
    const after = decodeCursor(query.cursor, key);
    const columns = Prisma.raw(key.map((k) => k.column).join(', '));
    const values = Prisma.join(after.map((value, i) => Prisma.sql`${value}::${Prisma.raw(key[i]!.type)}`));
    conditions.push(Prisma.sql`(${columns}) < (${values})`);
  }
  const where = conditions.length > 0 ? Prisma.sql`WHERE ${Prisma.join(conditions, ' AND ')}` : Prisma.empty;
  const order = Prisma.raw(key.map((k) => `${k.column} DESC`).join(', '));
  const rows = await prisma.$queryRaw<Row[]>`${query.from} ${where} ORDER BY ${order} LIMIT ${query.limit + 1}`;
  const page = rows.slice(0, query.limit);
  const last = page[page.length - 1];
  return {
    items: page.map(query.toItem),
    next_cursor: rows.length > query.limit && last ? encodeCursor(last, key) : null,
  };
}
