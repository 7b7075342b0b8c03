/**
 * The rows a recorded exchange stands on, for the recording function's tests: the subject alice
 * (and any others asked for), the resource https://api.test with scope read, the actor agent:a,
 * alice's entitlement and her grant to agent:a, and the signing key `current` (with `retired`,
 * already retired, when asked for). Returns the grant's id.
 */
import type pg from 'pg';

export const RECORDING_RESOURCE = 'https://api.test';

export async function seedRecordingWorld(pool: pg.Pool, { otherSubjects = [], retiredKey = false }: { otherSubjects?: string[]; retiredKey?: boolean } = {}): Promise<string> {
  await pool.query(`INSERT INTO subjects (id) SELECT unnest($1::text[])`, [['alice', ...otherSubjects]]);
  await pool.query(`INSERT INTO resources (uri, scopes) VALUES ($1, ARRAY['read'])`, [RECORDING_RESOURCE]);
  await pool.query(`INSERT INTO actors (id, kind, owner_id) VALUES ('agent:a', 'agent', 'alice')`);
  await pool.query(`INSERT INTO entitlements (subject_id, resource_uri, scope) VALUES ('alice', $1, 'read')`, [RECORDING_RESOURCE]);
  const { rows } = await pool.query<{ id: string }>(
    `INSERT INTO delegation_grants (subject_id, actor_id, resource_uri, scopes) VALUES ('alice', 'agent:a', $1, ARRAY['read']) RETURNING id`,
    [RECORDING_RESOURCE],
  );
  await pool.query(`INSERT INTO signing_keys (kid, alg, public_jwk, private_jwk) VALUES ('current', 'ES256', '{}', '{}')`);
  if (retiredKey) {
    await pool.query(`INSERT INTO signing_keys (kid, alg, public_jwk, private_jwk, retired_at) VALUES ('retired', 'ES256', '{}', '{}', now())`);
  }
  return rows[0]!.id;
}
