/**
 * The migrated database must match prisma/schema.prisma: tables, columns, types, nullability,
 * primary keys, unique and plain indexes. Prisma's schema parser (WASM, no native engine)
 * supplies the model; information_schema and pg_indexes supply the database.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import pg from 'pg';
import { createPrisma } from '../../src/db/prisma.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const require = createRequire(import.meta.url);
const { get_dmmf: getDmmf } = require('@prisma/prisma-schema-wasm') as { get_dmmf(params: string): string };

interface DmmfField {
  name: string;
  dbName: string | null;
  kind: 'scalar' | 'object' | 'enum';
  isList: boolean;
  isRequired: boolean;
  type: string;
  nativeType: [string, string[]] | null;
}
interface DmmfModel {
  name: string;
  dbName: string | null;
  fields: DmmfField[];
}
interface DmmfIndex {
  model: string;
  type: 'id' | 'unique' | 'normal' | 'fulltext';
  dbName?: string | null;
  algorithm?: string;
  fields: Array<{ name: string }>;
}

const SCALAR_TO_PG: Record<string, string> = {
  String: 'text',
  Int: 'integer',
  BigInt: 'bigint',
  Boolean: 'boolean',
  DateTime: 'timestamp with time zone',
  Json: 'jsonb',
  Bytes: 'bytea',
};
const NATIVE_TO_PG: Record<string, string> = { Uuid: 'uuid', Timestamptz: 'timestamp with time zone' };

function expectedType(field: DmmfField): string {
  const base = field.nativeType ? NATIVE_TO_PG[field.nativeType[0]] : SCALAR_TO_PG[field.type];
  if (!base) throw new Error(`no mapping for ${field.type} ${JSON.stringify(field.nativeType)}`);
  return field.isList ? `${base}[]` : base;
}

const dmmf = JSON.parse(getDmmf(JSON.stringify({ prismaSchema: readFileSync('prisma/schema.prisma', 'utf8') }))) as {
  datamodel: { models: DmmfModel[]; indexes: DmmfIndex[] };
};
const models = dmmf.datamodel.models;
/** The migration runner's own bookkeeping (src/db/migrate.ts), not part of the model. */
const RUNNER_TABLES = ['_prisma_migrations', '_deputy_functions'];
const tableOf = (model: DmmfModel) => model.dbName ?? model.name;
const columnOf = (model: DmmfModel, fieldName: string) => {
  const field = model.fields.find((f) => f.name === fieldName)!;
  return field.dbName ?? field.name;
};

describe('schema drift: migrations vs prisma/schema.prisma', () => {
  let db: TestDatabase;
  let client: pg.Client;
  beforeAll(async () => {
    db = await createTestDatabase();
    client = new pg.Client({ connectionString: db.url });
    await client.connect();
  });
  afterAll(async () => {
    await client.end();
    await db.drop();
  });

  it('has exactly the tables of the model (plus the migration runner\'s tables)', async () => {
    const { rows } = await client.query<{ table_name: string }>(
      `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`,
    );
    const actual = rows.map((row) => row.table_name).filter((name) => !RUNNER_TABLES.includes(name)).sort();
    expect(actual).toEqual(models.map(tableOf).sort());
  });

  it.each(models.map((model) => [tableOf(model), model] as const))('table %s has the model’s columns, types and nullability', async (table, model) => {
    const { rows } = await client.query<{ column_name: string; data_type: string; udt_name: string; is_nullable: string }>(
      `SELECT column_name, data_type, udt_name, is_nullable FROM information_schema.columns WHERE table_schema = 'public' AND table_name = $1`,
      [table],
    );
    const actual = Object.fromEntries(
      rows.map((row) => {
        const type = row.data_type === 'ARRAY' ? `${pgArrayElement(row.udt_name)}[]` : row.data_type;
        return [row.column_name, { type, nullable: row.is_nullable === 'YES' }];
      }),
    );
    const expected = Object.fromEntries(
      model.fields
        .filter((field) => field.kind === 'scalar')
        .map((field) => [field.dbName ?? field.name, { type: expectedType(field), nullable: !field.isRequired && !field.isList }]),
    );
    // Prisma lists are NOT NULL in our migrations (empty array default); the model cannot say so.
    for (const [column, spec] of Object.entries(expected)) {
      if (spec.type.endsWith('[]')) actual[column] && (actual[column]!.nullable = false);
    }
    expect(actual).toEqual(expected);
  });

  it('lets the generated Prisma client read every model', async () => {
    const pool = new pg.Pool({ connectionString: db.url, max: 2 });
    const prisma = createPrisma(pool);
    try {
      for (const model of models) {
        const delegate = (prisma as unknown as Record<string, { findFirst(): Promise<unknown> }>)[model.name[0]!.toLowerCase() + model.name.slice(1)]!;
        // Selects every mapped column: a column the database lacks makes the query fail.
        await expect(delegate.findFirst()).resolves.toBeDefined();
      }
    } finally {
      await prisma.$disconnect();
      await pool.end();
    }
  });

  it('has the model’s primary keys, unique and plain indexes with Prisma’s names', async () => {
    const { rows } = await client.query<{ indexname: string; indexdef: string; tablename: string }>(
      `SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = 'public' AND tablename <> ALL($1)`,
      [RUNNER_TABLES],
    );
    const actual = rows
      .map((row) => `${row.indexname}|${/ UNIQUE /.test(row.indexdef) ? 'unique' : 'normal'}|${/USING (\w+)/.exec(row.indexdef)![1]}|${row.indexdef.replace(/^.*USING \w+ /, '')}`)
      .sort();
    const expected = dmmf.datamodel.indexes
      .map((index) => {
        const model = models.find((m) => m.name === index.model)!;
        const table = tableOf(model);
        const columns = index.fields.map((f) => columnOf(model, f.name));
        const suffix = index.type === 'id' ? 'pkey' : index.type === 'unique' ? 'key' : 'idx';
        const name = index.dbName ?? (index.type === 'id' ? `${table}_pkey` : `${table}_${columns.join('_')}_${suffix}`);
        const method = (index.algorithm ?? 'btree').toLowerCase();
        return `${name}|${index.type === 'normal' ? 'normal' : 'unique'}|${method}|(${columns.map((c) => `${c}`).join(', ')})`;
      })
      .sort();
    expect(actual.map((line) => line.replace(/"/g, ''))).toEqual(expected);
  });
});

function pgArrayElement(udtName: string): string {
  const element = udtName.replace(/^_/, '');
  return ({ text: 'text', uuid: 'uuid', int4: 'integer', int8: 'bigint' } as Record<string, string>)[element] ?? element;
}
