/**
 * Checks that the objects a body names exist, for references the schema does not enforce with a
 * foreign key (id arrays) or where a better message helps (a grant's scopes must be scopes its
 * resource defines). A missing reference is a 400 pointing at the body field.
 */
import type pg from 'pg';
import { invalidRequest, type Issue } from './errors.js';

const TABLES = {
  actor: { table: 'actors', column: 'id' },
  resource: { table: 'resources', column: 'uri' },
} as const;

export async function requireExisting(
  db: pg.ClientBase,
  kind: keyof typeof TABLES,
  values: readonly string[] | undefined,
  field: string,
): Promise<void> {
  if (!values || values.length === 0) return;
  const { table, column } = TABLES[kind];
  const { rows } = await db.query<{ value: string }>(`SELECT ${column} AS value FROM ${table} WHERE ${column} = ANY($1::text[])`, [values]);
  const found = new Set(rows.map((row) => row.value));
  const issues: Issue[] = values.flatMap((value, index) =>
    found.has(value) ? [] : [{ in: 'body' as const, path: [field, index], code: 'unknown_reference', message: `no such ${kind}` }],
  );
  if (issues.length > 0) throw invalidRequest(issues);
}

/** The scopes a registered resource defines; 400 on `resource` when it is not registered. */
export async function resourceScopes(db: pg.ClientBase, uri: string): Promise<Set<string>> {
  const { rows } = await db.query<{ scopes: string[] }>('SELECT scopes FROM resources WHERE uri = $1', [uri]);
  if (!rows[0]) throw invalidRequest([{ in: 'body', path: ['resource'], code: 'unknown_reference', message: 'no such resource' }]);
  return new Set(rows[0].scopes);
}

/** 400 listing each scope the resource does not define. */
export function requireDefinedScopes(defined: Set<string>, scopes: readonly string[], field: string, single = false): void {
  const issues: Issue[] = scopes.flatMap((scope, index) =>
    defined.has(scope)
      ? []
      : [{ in: 'body' as const, path: single ? [field] : [field, index], code: 'unknown_scope', message: `the resource does not define scope "${scope}"` }],
  );
  if (issues.length > 0) throw invalidRequest(issues);
}
