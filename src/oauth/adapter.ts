/**
 * oidc-provider's storage in PostgreSQL. Its own models (grants, opaque tokens, replay
 * detection, ...) live as JSON in `oidc_payloads`; clients come from Deputy's `clients` table,
 * through the change-notified configuration cache.
 *
 * A client-credentials token (an admin token) is stored in one transaction with its audit
 * event, so none exists without its event; the event names the token by its SHA-256 only.
 *
 * An opaque token's id is the token itself: its row is keyed by the id's digest and its payload
 * stored without the `jti`, so reading the table yields nothing that can be replayed. `find`
 * puts the presented id back as the payload's `jti`, which is what oidc-provider expects.
 */
import { createHash } from 'node:crypto';
import type { Adapter, AdapterPayload } from 'oidc-provider';
import type pg from 'pg';
import { appendAuditEvents, inTransaction, type AuditEventInput } from '../audit/audit-log.js';
import type { ConfigCache } from '../db/change-feed.js';
import type { PrismaTransaction } from '../db/prisma.js';
import { TOKEN_EXCHANGE_GRANT } from '../token-exchange/request.js';
import { currentRequestId } from './oidc-provider-internals.js';
import { ADMIN_SCOPE, SSF_SCOPE } from './scopes.js';
import { CIBA_GRANT, DELEGATION_DETAIL_TYPE } from '../approval/ciba.js';

const CLIENT_CREDENTIALS = 'ClientCredentials';

interface ClientRow {
  client_id: string;
  client_secret_hash: string | null;
  token_endpoint_auth_method: string;
  jwks: { keys: unknown[] } | null;
  scope: string;
  protected_resources?: string[];
}

/**
 * The oidc-provider client metadata of a Deputy client. Only clients whose scope lists
 * something may use client_credentials: oidc-provider lets a client without a `scope` request
 * any of the provider's scopes (deputy:admin among them).
 */
export function clientMetadata(row: ClientRow): AdapterPayload {
  // A client linked to resources may also obtain ssf:stream, to manage its Shared Signals streams.
  const scope = [row.scope.trim(), (row.protected_resources ?? []).length > 0 ? SSF_SCOPE : ''].filter(Boolean).join(' ');
  return {
    client_id: row.client_id,
    ...(row.client_secret_hash ? { client_secret: row.client_secret_hash } : {}),
    token_endpoint_auth_method: row.token_endpoint_auth_method,
    ...(row.jwks ? { jwks: row.jwks } : {}),
    // Every client may ask for an approval (CIBA, poll mode); what it may ask for is checked per request.
    grant_types: scope ? [TOKEN_EXCHANGE_GRANT, CIBA_GRANT, 'client_credentials'] : [TOKEN_EXCHANGE_GRANT, CIBA_GRANT],
    backchannel_token_delivery_mode: 'poll',
    authorization_details_types: [DELEGATION_DETAIL_TYPE],
    response_types: [],
    redirect_uris: [],
    ...(scope ? { scope } : {}),
  } as AdapterPayload;
}

/** oidc-provider models whose id is a bearer secret (most are turned off; all are covered). */
const TOKEN_MODELS = new Set([
  'AccessToken',
  'AuthorizationCode',
  'BackchannelAuthenticationRequest',
  'ClientCredentials',
  'DeviceCode',
  'InitialAccessToken',
  'RefreshToken',
  'RegistrationAccessToken',
]);

/** The row id under which a token model's value is stored: SHA-256, base64url. */
export function storedTokenId(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('base64url');
}

const UPSERT_SQL = `
INSERT INTO oidc_payloads (id, type, payload, grant_id, user_code, uid, expires_at)
VALUES ($1, $2, $3, $4, $5, $6, CASE WHEN $7::int IS NULL THEN NULL ELSE now() + make_interval(secs => $7::int) END)
ON CONFLICT (id, type) DO UPDATE SET payload = EXCLUDED.payload, grant_id = EXCLUDED.grant_id,
  user_code = EXCLUDED.user_code, uid = EXCLUDED.uid, expires_at = EXCLUDED.expires_at`;

/** The audit event of a newly stored client-credentials token: its digest, never the token. */
export function clientCredentialsIssued(token: string, payload: AdapterPayload, at: Date, requestId: string | null): AuditEventInput {
  const scopes = typeof payload.scope === 'string' ? payload.scope.split(' ').filter(Boolean) : [];
  return {
    type: scopes.includes(ADMIN_SCOPE) ? 'admin_token.issued' : 'client_token.issued',
    at,
    requestId,
    clientId: typeof payload.clientId === 'string' ? payload.clientId : null,
    scopeGranted: scopes,
    details: {
      token_sha256: createHash('sha256').update(token, 'utf8').digest('hex'),
      expires_at: typeof payload.exp === 'number' ? new Date(payload.exp * 1000).toISOString() : null,
    },
  };
}

/**
 * Deletes a client's outstanding client-credentials (admin) tokens; run it in the transaction
 * that changes the client's credentials, so they stop working when the change commits.
 */
export async function revokeClientCredentialsTokens(db: pg.ClientBase | PrismaTransaction, clientId: string): Promise<number> {
  const sql = `DELETE FROM oidc_payloads WHERE type = $1 AND payload->>'clientId' = $2`;
  if ('$executeRawUnsafe' in db) return db.$executeRawUnsafe(sql, CLIENT_CREDENTIALS, clientId);
  const { rowCount } = await db.query(sql, [CLIENT_CREDENTIALS, clientId]);
  return rowCount ?? 0;
}

function withoutJti(payload: AdapterPayload): AdapterPayload {
  const { jti: _token, ...rest } = payload;
  return rest;
}

export function createAdapterClass(pool: pg.Pool, cache: ConfigCache): new (name: string) => Adapter {
  return class PostgresAdapter implements Adapter {
    private readonly isToken: boolean;

    constructor(readonly name: string) {
      this.isToken = TOKEN_MODELS.has(name);
    }

    /** The id as stored: a token model's by digest, anything else as is. */
    private rowId(id: string): string {
      return this.isToken ? storedTokenId(id) : id;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn?: number): Promise<void> {
      const stored = this.isToken ? withoutJti(payload) : payload;
      const values = [this.rowId(id), this.name, stored, payload.grantId ?? null, payload.userCode ?? null, payload.uid ?? null, expiresIn ?? null];
      if (this.name !== CLIENT_CREDENTIALS) {
        await pool.query(UPSERT_SQL, values);
        return;
      }
      await inTransaction(pool, async (db) => {
        await db.query(UPSERT_SQL, values);
        await appendAuditEvents(db, [clientCredentialsIssued(id, payload, new Date(), currentRequestId())]);
      });
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      // PostgreSQL text cannot hold NUL, so no stored id contains one: answer "not found" here
      // instead of letting the query fail (which would surface as a 500).
      if (id.includes('\u0000')) return undefined;
      if (this.name === 'Client') return this.findClient(id);
      const { rows } = await pool.query<{ payload: AdapterPayload; consumed_at: Date | null }>(
        `SELECT payload, consumed_at FROM oidc_payloads
          WHERE id = $1 AND type = $2 AND (expires_at IS NULL OR expires_at > now())`,
        [this.rowId(id), this.name],
      );
      const row = rows[0];
      if (!row) return undefined;
      const payload = this.isToken ? { ...row.payload, jti: id } : row.payload;
      return row.consumed_at ? { ...payload, consumed: Math.floor(row.consumed_at.getTime() / 1000) } : payload;
    }

    private findClient(id: string): Promise<AdapterPayload | undefined> {
      return cache.get(`clients:${id}`, async () => {
        const { rows } = await pool.query<ClientRow>({
          name: 'deputy_find_client',
          text: `SELECT client_id, client_secret_hash, token_endpoint_auth_method, jwks, scope, protected_resources FROM clients WHERE client_id = $1`,
          values: [id],
        });
        return rows[0] ? clientMetadata(rows[0]) : undefined;
      });
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      const { rows } = await pool.query<{ payload: AdapterPayload }>(
        `SELECT payload FROM oidc_payloads WHERE user_code = $1 AND type = $2 AND (expires_at IS NULL OR expires_at > now())`,
        [userCode, this.name],
      );
      return rows[0]?.payload;
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      const { rows } = await pool.query<{ payload: AdapterPayload }>(
        `SELECT payload FROM oidc_payloads WHERE uid = $1 AND type = $2 AND (expires_at IS NULL OR expires_at > now())`,
        [uid, this.name],
      );
      return rows[0]?.payload;
    }

    async consume(id: string): Promise<void> {
      await pool.query(`UPDATE oidc_payloads SET consumed_at = now() WHERE id = $1 AND type = $2`, [this.rowId(id), this.name]);
    }

    async destroy(id: string): Promise<void> {
      await pool.query(`DELETE FROM oidc_payloads WHERE id = $1 AND type = $2`, [this.rowId(id), this.name]);
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await pool.query(`DELETE FROM oidc_payloads WHERE grant_id = $1`, [grantId]);
    }
  };
}
