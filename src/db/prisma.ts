/**
 * The Prisma client (driver adapter over `pg`). Prisma owns the model and the admin API; the
 * token-exchange hot path uses `pg` directly (see docs/ARCHITECTURE.md).
 */
import { PrismaPg } from '@prisma/adapter-pg';
import type pg from 'pg';
import { PrismaClient } from '../generated/prisma/client.js';

export type { PrismaClient };

export function createPrisma(pool: pg.Pool): PrismaClient {
  return new PrismaClient({ adapter: new PrismaPg(pool) });
}
