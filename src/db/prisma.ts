/**
 * The Prisma client (driver adapter over Deputy's own `pg` pool). Prisma owns the model and the
 * admin API's data access; the token-exchange hot path uses `pg` directly, with prepared
 * statements (see docs/ARCHITECTURE.md).
 */
import { PrismaPg } from '@prisma/adapter-pg';
import type pg from 'pg';
import { PrismaClient, type Prisma } from '../generated/prisma/client.js';

export type { PrismaClient };
/** The client inside an interactive transaction (`prisma.$transaction(async (tx) => ...)`). */
export type PrismaTransaction = Prisma.TransactionClient;

export function createPrisma(pool: pg.Pool): PrismaClient {
  return new PrismaClient({
    adapter: new PrismaPg(pool),
    // The pool's own acquire timeout bounds the wait for a connection (→ 503); a transaction is
    // never cut short by Prisma's default 5 s on a slow, busy machine, as `inTransaction`'s are not.
    transactionOptions: { maxWait: 60_000, timeout: 60_000 },
  });
}
