/**
 * Who calls the transmitter's endpoints: a Deputy client linked to resources (its
 * `protected_resources`), presenting an access token it obtained with client_credentials and
 * scope `ssf:stream`. Its streams carry the events of tokens whose audience is one of those
 * resources, read at each call (unlinking a resource stops its events on the next stream change).
 */
import type Provider from 'oidc-provider';
import type pg from 'pg';
import { SSF_SCOPE } from '../oauth/scopes.js';
import { SsfError } from './errors.js';

export interface Receiver {
  clientId: string;
  audience: string[];
}

const MAX_TOKEN_LENGTH = 4096;

const unauthorized = (description: string) =>
  new SsfError(401, 'invalid_token', description, { 'WWW-Authenticate': `Bearer error="invalid_token", error_description="${description}"` });

export async function authenticateReceiver(provider: Provider, pool: pg.Pool, authorization: string): Promise<Receiver> {
  const token = /^Bearer +(\S+) *$/i.exec(authorization)?.[1];
  if (!token || token.length > MAX_TOKEN_LENGTH) {
    throw new SsfError(401, 'invalid_request', 'a bearer token is required', { 'WWW-Authenticate': `Bearer scope="${SSF_SCOPE}"` });
  }
  const stored = token.includes('.') ? undefined : await provider.ClientCredentials.find(token);
  if (!stored || !stored.isValid || stored.isExpired || !stored.clientId) throw unauthorized('the token is invalid or expired');
  if (!(stored.scope ?? '').split(' ').includes(SSF_SCOPE)) {
    throw new SsfError(403, 'insufficient_scope', `the token lacks the ${SSF_SCOPE} scope`, {
      'WWW-Authenticate': `Bearer error="insufficient_scope", scope="${SSF_SCOPE}"`,
    });
  }
  const { rows } = await pool.query<{ protected_resources: string[] }>('SELECT protected_resources FROM clients WHERE client_id = $1', [stored.clientId]);
  const client = rows[0];
  if (!client) throw unauthorized('the token is invalid or expired');
  if (client.protected_resources.length === 0) throw new SsfError(403, 'access_denied', 'the client protects no resource');
  return { clientId: stored.clientId, audience: client.protected_resources };
}
