/**
 * Who may learn about a token through introspection (RFC 7662 §4): the client it was issued
 * to, a resource server of its audience (a client linked to the resource it protects) and
 * admin clients (scope deputy:admin). Everyone else is answered `{"active": false}`, whether
 * or not the token is active.
 */
import type pg from 'pg';
import { ADMIN_SCOPE } from './scopes.js';

export interface Introspector {
  clientId: string;
  scopes: readonly string[];
  /** Resource URIs this client protects. */
  protectedResources: readonly string[];
}

export interface IntrospectedToken {
  clientId: string | null;
  /** The token's `aud` (a resource URI), when it has one. */
  audience: string | readonly string[] | null;
}

export function mayIntrospect(caller: Introspector, token: IntrospectedToken): boolean {
  if (token.clientId !== null && caller.clientId === token.clientId) return true;
  if (caller.scopes.includes(ADMIN_SCOPE)) return true;
  const audiences = token.audience === null ? [] : typeof token.audience === 'string' ? [token.audience] : token.audience;
  return audiences.some((audience) => caller.protectedResources.includes(audience));
}

/**
 * Whether `clientId` may learn about the token. The caller's scope and protected resources are
 * read live (not from the client cache), so unlinking a resource server or taking deputy:admin
 * away applies to the very next call, in every process.
 */
export async function allowedToIntrospect(pool: pg.Pool, clientId: string, token: IntrospectedToken): Promise<boolean> {
  if (token.clientId !== null && token.clientId === clientId) return true;
  const { rows } = await pool.query<{ scope: string; protected_resources: string[] }>({
    name: 'deputy_introspector',
    text: 'SELECT scope, protected_resources FROM clients WHERE client_id = $1',
    values: [clientId],
  });
  const row = rows[0];
  if (!row) return false;
  return mayIntrospect({ clientId, scopes: row.scope.split(' ').filter(Boolean), protectedResources: row.protected_resources }, token);
}
