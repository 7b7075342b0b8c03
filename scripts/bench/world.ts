/**
 * The benchmark's world, generated with set-based SQL (generate_series, INSERT ... SELECT):
 *
 * - 10,000 subjects `user-00000` ... `user-09999`;
 * - 50 resources `https://api-NN.bench.local`, each with 8 scopes;
 * - 200,000 entitlements: subject i holds the first 4 scopes on resources i..i+4 (mod 50);
 * - 1,000 actors `actor-0000` ... `actor-0999`, each allowed every resource and scope; actor j
 *   may delegate to actor j+1 (mod 1000); actors 0..99 have their own registered ES256 JWKS;
 * - 20,000 delegation grants: subject i → actor i mod 1000 and → actor (i+1) mod 1000, on
 *   resource i mod 50, scopes read write list;
 * - 1,000 clients `client-NNNN` (client_secret_basic, HMAC-hashed secrets) bound to actor NNNN;
 * - one trusted user issuer with an inline ES256 JWKS.
 */
import { generateKeyPairSync, randomBytes, randomUUID, type KeyObject } from 'node:crypto';
import pg from 'pg';
import { hashClientSecret } from '../../src/oauth/client-secrets.js';
import { signEs256 } from './common.js';

export const COUNTS = {
  subjects: 10_000,
  actors: 1_000,
  resources: 50,
  entitlements: 200_000,
  grants: 20_000,
  clients: 1_000,
  keyedActors: 100,
  /** Expired delegated tokens: a live broker has a history, and plans should be made against one. */
  pastTokens: 100_000,
};
export const SCOPES = ['read', 'write', 'list', 'delete', 'admin', 'export', 'import', 'share'] as const;
export const USER_ISSUER = { issuer: 'https://idp.bench.local', audience: 'deputy' };

const pad = (n: number, width: number) => String(n).padStart(width, '0');
export const subjectId = (i: number) => `user-${pad(i, 5)}`;
export const actorId = (j: number) => `actor-${pad(j, 4)}`;
export const clientId = (j: number) => `client-${pad(j, 4)}`;
export const resourceUri = (r: number) => `https://api-${pad(r, 2)}.bench.local`;

interface EcKey {
  kid: string;
  privateKey: KeyObject;
  publicJwk: Record<string, unknown>;
}

function ecKey(kid: string): EcKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return { kid, privateKey, publicJwk: { ...publicKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' } };
}

export interface World {
  issuerKey: EcKey;
  actorKeys: EcKey[];
  clientSecrets: string[];
  /** Basic auth header value of client j. */
  basicAuth(j: number): string;
  /** A user token from the trusted issuer for subject i. */
  userToken(i: number, lifetimeSeconds?: number): string;
  /** A fresh, single-use actor assertion of actor j (< keyedActors) for Deputy at `audience`. */
  actorAssertion(j: number, audience: string, lifetimeSeconds?: number): string;
  seedMs: number;
  rowCounts: Record<string, number>;
}

export interface SeedOptions {
  /** Expired tokens in issued_tokens before the run; 0 for a new installation. */
  pastTokens?: number;
}

export async function seedWorld(databaseUrl: string, pepper: string, { pastTokens = COUNTS.pastTokens }: SeedOptions = {}): Promise<World> {
  const issuerKey = ecKey('bench-idp-1');
  const actorKeys = Array.from({ length: COUNTS.keyedActors }, (_, j) => ecKey(`bench-actor-${j}`));
  const runTag = randomBytes(6).toString('hex');
  const clientSecrets = Array.from({ length: COUNTS.clients }, (_, j) => `bench-${runTag}-${pad(j, 4)}-${randomBytes(16).toString('base64url')}`);
  const secretHashes = clientSecrets.map((secret) => hashClientSecret(secret, pepper));

  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  const started = performance.now();
  let seedMs = 0;
  let rowCounts: Record<string, number> = {};
  try {
    await client.query('BEGIN');
    await client.query(
      `INSERT INTO trusted_issuers (issuer, jwks, audience, kind, subject_claim, algorithms)
       VALUES ($1, $2, $3, 'user', 'sub', ARRAY['ES256'])`,
      [USER_ISSUER.issuer, { keys: [issuerKey.publicJwk] }, USER_ISSUER.audience],
    );
    await client.query(
      `INSERT INTO subjects (id, email)
       SELECT 'user-' || lpad(i::text, 5, '0'), 'user-' || lpad(i::text, 5, '0') || '@bench.local'
         FROM generate_series(0, $1::int - 1) AS i`,
      [COUNTS.subjects],
    );
    await client.query(
      `INSERT INTO resources (uri, scopes)
       SELECT 'https://api-' || lpad(r::text, 2, '0') || '.bench.local', $2::text[]
         FROM generate_series(0, $1::int - 1) AS r`,
      [COUNTS.resources, SCOPES],
    );
    await client.query(
      `INSERT INTO actors (id, kind, owner_id, purpose, jwks, scope_ceiling, resources, may_delegate_to)
       SELECT 'actor-' || lpad(j::text, 4, '0'), 'agent', 'user-' || lpad((j * 10)::text, 5, '0'), 'benchmark agent',
              ($2::jsonb) -> j,
              $3::text[],
              (SELECT array_agg('https://api-' || lpad(r::text, 2, '0') || '.bench.local' ORDER BY r) FROM generate_series(0, $4::int - 1) AS r),
              ARRAY['actor-' || lpad(((j + 1) % $1::int)::text, 4, '0')]
         FROM generate_series(0, $1::int - 1) AS j`,
      [COUNTS.actors, JSON.stringify(actorKeys.map((key) => ({ keys: [key.publicJwk] }))), SCOPES, COUNTS.resources],
    );
    // 10,000 subjects x 5 resources x 4 scopes = 200,000.
    await client.query(
      `INSERT INTO entitlements (subject_id, resource_uri, scope)
       SELECT 'user-' || lpad(i::text, 5, '0'), 'https://api-' || lpad(((i + k) % $2::int)::text, 2, '0') || '.bench.local', ($3::text[])[s + 1]
         FROM generate_series(0, $1::int - 1) AS i, generate_series(0, 4) AS k, generate_series(0, 3) AS s`,
      [COUNTS.subjects, COUNTS.resources, SCOPES],
    );
    // 10,000 subjects x 2 actors = 20,000.
    await client.query(
      `INSERT INTO delegation_grants (subject_id, actor_id, resource_uri, scopes, expires_at)
       SELECT 'user-' || lpad(i::text, 5, '0'), 'actor-' || lpad(((i + h) % $2::int)::text, 4, '0'),
              'https://api-' || lpad((i % $3::int)::text, 2, '0') || '.bench.local', ARRAY['read', 'write', 'list'], now() + interval '30 days'
         FROM generate_series(0, $1::int - 1) AS i, generate_series(0, 1) AS h`,
      [COUNTS.subjects, COUNTS.actors, COUNTS.resources],
    );
    await client.query(
      `WITH g AS (SELECT id, subject_id, actor_id, resource_uri, row_number() OVER () - 1 AS k FROM delegation_grants)
       INSERT INTO issued_tokens (jti, subject_id, actor_ids, client_id, resource_uri, scope, grant_id, grant_ids, issued_at, expires_at)
       SELECT 'past-' || n, g.subject_id, ARRAY[g.actor_id], 'client-' || substr(g.actor_id, 7), g.resource_uri, 'read', g.id, ARRAY[g.id],
              now() - interval '2 days', now() - interval '2 days' + interval '5 minutes'
         FROM generate_series(1, $1::int) AS n JOIN g ON g.k = n % $2::int`,
      [pastTokens, COUNTS.grants],
    );
    await client.query(
      `INSERT INTO clients (client_id, client_secret_hash, token_endpoint_auth_method, actor_id, allowed_actors, scope)
       SELECT 'client-' || lpad(j::text, 4, '0'), ($2::text[])[j + 1], 'client_secret_basic', 'actor-' || lpad(j::text, 4, '0'), ARRAY[]::text[], ''
         FROM generate_series(0, $1::int - 1) AS j`,
      [COUNTS.clients, secretHashes],
    );
    await client.query('COMMIT');
    // Bulk-loaded tables: vacuum and analyze now, as a live database would have been, so
    // autovacuum does not run in the middle of the measurements.
    await client.query('VACUUM (ANALYZE)');
    seedMs = performance.now() - started;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    try {
      const { rows } = await client.query<Record<string, string>>(
        `SELECT (SELECT count(*) FROM subjects) AS subjects, (SELECT count(*) FROM actors) AS actors,
                (SELECT count(*) FROM resources) AS resources, (SELECT count(*) FROM entitlements) AS entitlements,
                (SELECT count(*) FROM delegation_grants) AS grants, (SELECT count(*) FROM clients) AS clients,
                (SELECT count(*) FROM actors WHERE jwks IS NOT NULL) AS keyed_actors, (SELECT count(*) FROM issued_tokens) AS past_tokens`,
      );
      rowCounts = Object.fromEntries(Object.entries(rows[0] ?? {}).map(([k, v]) => [k, Number(v)]));
    } catch {
      // the transaction failed; the error above is what matters
    }
    await client.end();
  }

  const basic = clientSecrets.map((secret, j) => `Basic ${Buffer.from(`${encodeURIComponent(clientId(j))}:${encodeURIComponent(secret)}`).toString('base64')}`);
  return {
    issuerKey,
    actorKeys,
    clientSecrets,
    seedMs,
    rowCounts,
    basicAuth: (j) => basic[j]!,
    userToken(i, lifetimeSeconds = 1800) {
      const now = Math.floor(Date.now() / 1000);
      return signEs256(
        { kid: issuerKey.kid, typ: 'JWT' },
        { iss: USER_ISSUER.issuer, aud: USER_ISSUER.audience, sub: subjectId(i), iat: now, exp: now + lifetimeSeconds, jti: randomUUID() },
        issuerKey.privateKey,
      );
    },
    actorAssertion(j, audience, lifetimeSeconds = 240) {
      const key = actorKeys[j];
      if (!key) throw new Error(`actor ${j} has no key`);
      const now = Math.floor(Date.now() / 1000);
      return signEs256(
        { kid: key.kid, typ: 'JWT' },
        { iss: actorId(j), sub: actorId(j), aud: audience, iat: now, exp: now + lifetimeSeconds, jti: randomUUID() },
        key.privateKey,
      );
    },
  };
}
