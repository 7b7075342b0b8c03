/**
 * Writes of the admin API. Each change and its audit event commit in one transaction (Prisma's
 * interactive transaction; the audit append joins it through a raw call), so there is never a
 * change without its event, nor an event for a change that did not happen. Audit details name
 * what changed, never a secret.
 */
import type pg from 'pg';
import { appendAuditEvents, canonicalJson, inTransaction, type AuditEventInput } from '../audit/audit-log.js';
import type { PrismaClient, PrismaTransaction } from '../db/prisma.js';
import type { AdminPrincipal } from './auth.js';

export interface Caller {
  admin: AdminPrincipal;
  requestId: string;
}

export type Change = Omit<AuditEventInput, 'at' | 'admin' | 'requestId'>;

/** Runs `work` in a transaction; `record` appends its audit event(s) in that same transaction. */
export function changeWithAudit<T>(
  prisma: PrismaClient,
  who: Caller,
  work: (tx: PrismaTransaction, record: (change: Change) => Promise<void>) => Promise<T>,
): Promise<T> {
  return prisma.$transaction((tx) =>
    work(tx, (change) => appendAuditEvents(tx, [{ ...change, at: new Date(), admin: who.admin, requestId: who.requestId }])),
  );
}

const LOCKABLE = { subjects: 'id', actors: 'id', clients: 'client_id', resources: 'id', trusted_issuers: 'id' } as const;

/**
 * Locks one row until the transaction ends (`SELECT ... FOR UPDATE`, which Prisma's queries
 * cannot say), so the "before" of an update's audit event is the row the update changes.
 * False when there is no such row.
 */
export async function lockRow(tx: PrismaTransaction, table: keyof typeof LOCKABLE, key: string): Promise<boolean> {
  const locked = await tx.$executeRawUnsafe(`SELECT 1 FROM ${table} WHERE ${LOCKABLE[table]} = $1 FOR UPDATE`, key);
  return locked > 0;
}

/** `changeWithAudit` over a `pg` pool, for the routes whose SQL Prisma cannot express. */
export function changeWithAuditSql<T>(
  pool: pg.Pool,
  who: Caller,
  work: (db: pg.PoolClient, record: (change: Change) => Promise<void>) => Promise<T>,
): Promise<T> {
  return inTransaction(pool, (db) =>
    work(db, (change) => appendAuditEvents(db, [{ ...change, at: new Date(), admin: who.admin, requestId: who.requestId }])),
  );
}

export type FieldChanges = Record<string, { from: unknown; to: unknown }>;

/** The fields whose value differs between two API representations of one object. */
export function fieldChanges<T extends Record<string, unknown>>(before: T, after: T, fields: readonly (keyof T & string)[]): FieldChanges {
  const changes: FieldChanges = {};
  for (const field of fields) {
    if (canonicalJson(before[field]) !== canonicalJson(after[field])) changes[field] = { from: before[field] ?? null, to: after[field] ?? null };
  }
  return changes;
}

/** `column = $n, ...` for an UPDATE, numbering parameters after `offset` existing ones. */
export function assignments(columns: Record<string, unknown>, offset: number): { sql: string; values: unknown[] } {
  const entries = Object.entries(columns);
  return {
    sql: entries.map(([column], index) => `${column} = $${offset + index + 1}`).join(', '),
    values: entries.map(([, value]) => value),
  };
}

/** Copies the given body fields to their columns (only fields present in the body). */
export function columnsFrom(body: Record<string, unknown>, map: Record<string, string>): Record<string, unknown> {
  const columns: Record<string, unknown> = {};
  for (const [field, column] of Object.entries(map)) if (body[field] !== undefined) columns[column] = body[field];
  return columns;
}

export const iso = (value: Date | null): string | null => (value ? value.toISOString() : null);
