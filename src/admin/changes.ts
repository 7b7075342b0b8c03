/**
 * Writes of the admin API. Each change and its audit event commit in one transaction (Prisma's
 * interactive transaction; the audit append joins it through a raw call), so there is never a
 * change without its event, nor an event for a change that did not happen. Audit details name
 * what changed, never a secret.
 */
import { appendAuditEvents, canonicalJson, type AuditEventInput } from '../audit/audit-log.js';
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

/** The key condition of each table whose rows an audited update locks. */
const LOCKABLE = {
  subjects: 'id = $1',
  actors: 'id = $1',
  clients: 'client_id = $1',
  resources: 'id = $1::uuid',
  trusted_issuers: 'id = $1::uuid',
} as const;

/**
 * Locks one row until the transaction ends (`SELECT ... FOR UPDATE`, which Prisma's queries
 * cannot say), so the "before" of an update's audit event is the row the update changes.
 * False when there is no such row.
 */
export async function lockRow(tx: PrismaTransaction, table: keyof typeof LOCKABLE, key: string): Promise<boolean> {
  const locked = await tx.$executeRawUnsafe(`SELECT 1 FROM ${table} WHERE ${LOCKABLE[table]} FOR UPDATE`, key);
  return locked > 0;
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

export const iso = (value: Date | null): string | null => (value ? value.toISOString() : null);
