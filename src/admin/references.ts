/**
 * Checks that the objects a body names exist, for references the schema does not enforce with a
 * foreign key (id arrays) or where a better message helps (a grant's scopes must be scopes its
 * resource defines). A missing reference is a 400 pointing at the body field.
 */
import type { PrismaTransaction } from '../db/prisma.js';
import { invalidRequest, type Issue } from './errors.js';

/** The ids, among `values`, of existing objects of `kind` (actors by id, resources by uri). */
async function existing(db: PrismaTransaction, kind: 'actor' | 'resource', values: readonly string[]): Promise<string[]> {
  if (kind === 'actor') return (await db.actor.findMany({ where: { id: { in: [...values] } }, select: { id: true } })).map((row) => row.id);
  return (await db.resource.findMany({ where: { uri: { in: [...values] } }, select: { uri: true } })).map((row) => row.uri);
}

export async function requireExisting(
  db: PrismaTransaction,
  kind: 'actor' | 'resource',
  values: readonly string[] | undefined,
  field: string,
): Promise<void> {
  if (!values || values.length === 0) return;
  const found = new Set(await existing(db, kind, values));
  const issues: Issue[] = values.flatMap((value, index) =>
    found.has(value) ? [] : [{ in: 'body' as const, path: [field, index], code: 'unknown_reference', message: `no such ${kind}` }],
  );
  if (issues.length > 0) throw invalidRequest(issues);
}

/** The scopes a registered resource defines; 400 on `resource` when it is not registered. */
export async function resourceScopes(db: PrismaTransaction, uri: string): Promise<Set<string>> {
  const resource = await db.resource.findUnique({ where: { uri }, select: { scopes: true } });
  if (!resource) throw invalidRequest([{ in: 'body', path: ['resource'], code: 'unknown_reference', message: 'no such resource' }]);
  return new Set(resource.scopes);
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
