/**
 * "What counts as live" is stated twice, once per language: the pure decision (decide.ts, on the
 * rows live-facts.ts reads) and the SQL predicates (migrations/functions/liveness.sql) that
 * recording, introspection and the admin API call. On generated rows — a subject, a Deputy
 * parent token with one hop (its actor and grant), and a new hop's actor and grant, with
 * statuses, expiries, revocations and kill switches around `now` — written to a database, both
 * must give the same answer: decide grants exactly when every SQL predicate holds, and when it
 * refuses for liveness, the predicate it names is the one that failed first.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import pg from 'pg';
import { createPool } from '../../src/db/pool.js';
import { decide, type Decision } from '../../src/token-exchange/decide.js';
import { loadLiveFacts } from '../../src/token-exchange/live-facts.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';

const RESOURCE = 'https://api.test';
/** Whole seconds, as decide's clock is. */
const NOW = 1_900_000_000;
const at = (seconds: number) => new Date(seconds * 1000);
/** Each sample is a few round trips to the database: generous on a loaded machine (not a timed assertion). */
const PROPERTY_TIMEOUT_MS = 180_000;

/** Mostly `usual` (healthy), sometimes `other`: with a dozen knobs, both outcomes stay common. */
const mostly = <T>(usual: T, other: fc.Arbitrary<T>) => fc.oneof({ arbitrary: fc.constant(usual), weight: 4 }, { arbitrary: other, weight: 1 });
/** An optional time around NOW, in whole seconds or with milliseconds. */
const around = (ms: boolean) =>
  mostly<number | null>(null, ms ? fc.integer({ min: -2500, max: 2500 }).map((d) => NOW + d / 1000) : fc.integer({ min: -2, max: 2 }).map((d) => NOW + d));
const status = mostly('active', fc.constant('disabled'));
/** A kill switch's time relative to the parent token's issue time, in ms. */
const disabledOffset = mostly<number | null>(null, fc.integer({ min: -1500, max: 1500 }));
const revoked = mostly<number | null>(null, fc.constant(NOW - 1));

const rows = (ms: boolean) =>
  fc.record({
    // The parent token's issue time, to the millisecond; kill switches land around it.
    issuedAt: fc.integer({ min: -5000, max: -1000 }).map((d) => NOW + d / 1000),
    subject: fc.record({ status, disabledOffsetMs: disabledOffset }),
    chainActor: fc.record({ status, expiresAt: around(ms), disabledOffsetMs: disabledOffset }),
    chainGrant: fc.record({ expiresAt: around(ms), revokedAt: revoked }),
    newActor: fc.record({ status, expiresAt: around(ms) }),
    newGrant: fc.record({ expiresAt: around(ms), revokedAt: revoked }),
  });
type Rows = ReturnType<typeof rows> extends fc.Arbitrary<infer T> ? T : never;

interface SqlVerdict {
  subject: boolean;
  newActor: boolean;
  chain: boolean;
  chainActor: boolean;
  chainGrant: boolean;
  newGrant: boolean;
}

describe('decide and the SQL liveness predicates agree', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  let sample = 0;
  beforeAll(async () => {
    db = await createTestDatabase();
    pool = createPool({ url: db.url, size: 4, acquireTimeoutMs: 5000 });
    // The kill-switch trigger stamps disabled_at with the real clock; here the rows carry generated times.
    await pool.query('ALTER TABLE subjects DISABLE TRIGGER subjects_stamp_disabled_at');
    await pool.query('ALTER TABLE actors DISABLE TRIGGER actors_stamp_disabled_at');
    await pool.query(`INSERT INTO resources (uri, scopes) VALUES ($1, ARRAY['read'])`, [RESOURCE]);
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  /** Writes one sample's rows (fresh ids) and returns the ids. */
  async function write(r: Rows) {
    const k = ++sample;
    const ids = { subject: `s${k}`, chainActor: `a${k}`, newActor: `b${k}`, parent: `p${k}` };
    const disabledAt = (offsetMs: number | null) => (offsetMs === null ? null : new Date(Math.round(r.issuedAt * 1000) + offsetMs));
    const client = await pool.connect();
    try {
      await client.query('BEGIN');
      await client.query(`INSERT INTO subjects (id, status, disabled_at) VALUES ($1, $2, $3)`, [ids.subject, r.subject.status, disabledAt(r.subject.disabledOffsetMs)]);
      await client.query(
        `INSERT INTO actors (id, kind, owner_id, status, expires_at, disabled_at, scope_ceiling, resources, may_delegate_to)
         VALUES ($1, 'agent', $3, $4, $5, $6, ARRAY['read'], ARRAY[$7], ARRAY[$2]),
                ($2, 'agent', $3, $8, $9, NULL, ARRAY['read'], ARRAY[$7], ARRAY[]::text[])`,
        [ids.chainActor, ids.newActor, ids.subject, r.chainActor.status, r.chainActor.expiresAt === null ? null : at(r.chainActor.expiresAt),
          disabledAt(r.chainActor.disabledOffsetMs), RESOURCE, r.newActor.status, r.newActor.expiresAt === null ? null : at(r.newActor.expiresAt)],
      );
      await client.query(`INSERT INTO entitlements (subject_id, resource_uri, scope) VALUES ($1, $2, 'read')`, [ids.subject, RESOURCE]);
      const grant = (actor: string, g: { expiresAt: number | null; revokedAt: number | null }) =>
        client
          .query<{ id: string }>(
            `INSERT INTO delegation_grants (subject_id, actor_id, resource_uri, scopes, expires_at, revoked_at) VALUES ($1, $2, $3, ARRAY['read'], $4, $5) RETURNING id`,
            [ids.subject, actor, RESOURCE, g.expiresAt === null ? null : at(g.expiresAt), g.revokedAt === null ? null : at(g.revokedAt)],
          )
          .then((res) => res.rows[0]!.id);
      const chainGrant = await grant(ids.chainActor, r.chainGrant);
      const newGrant = await grant(ids.newActor, r.newGrant);
      await client.query(
        `INSERT INTO issued_tokens (jti, subject_id, actor_ids, client_id, resource_uri, scope, grant_id, grant_ids, issued_at, expires_at)
         VALUES ($1, $2, ARRAY[$3], 'app', $4, 'read', $5, ARRAY[$5::uuid], $6, $7)`,
        [ids.parent, ids.subject, ids.chainActor, RESOURCE, chainGrant, new Date(Math.round(r.issuedAt * 1000)), at(NOW + 3600)],
      );
      await client.query('COMMIT');
      return { ...ids, chainGrant, newGrant };
    } catch (error) {
      await client.query('ROLLBACK');
      throw error;
    } finally {
      client.release();
    }
  }

  async function sqlVerdict(ids: Awaited<ReturnType<typeof write>>): Promise<SqlVerdict> {
    const { rows: [row] } = await pool.query<SqlVerdict>(
      `SELECT (SELECT deputy_subject_is_live(s, t.issued_at) FROM subjects s WHERE s.id = t.subject_id) AS subject,
              (SELECT deputy_actor_is_live(a, $2, NULL) FROM actors a WHERE a.id = $3) AS "newActor",
              (SELECT deputy_actor_is_live(a, $2, t.issued_at) FROM actors a WHERE a.id = t.actor_ids[1]) AS "chainActor",
              (SELECT deputy_grant_is_live(g, $2) FROM delegation_grants g WHERE g.id = t.grant_ids[1]) AS "chainGrant",
              (SELECT deputy_grant_is_live(g, $2) FROM delegation_grants g WHERE g.id = $4) AS "newGrant",
              c.live AS chain
         FROM issued_tokens t, deputy_token_chain_is_live(t, $2) c WHERE t.jti = $1`,
      [ids.parent, at(NOW), ids.newActor, ids.newGrant],
    );
    return row!;
  }

  async function decision(ids: Awaited<ReturnType<typeof write>>): Promise<Decision> {
    const facts = await loadLiveFacts(pool, { subjectId: ids.subject, actorId: ids.newActor, resource: RESOURCE, clientId: 'app', parentJti: ids.parent, subjectTokenDigest: null });
    const parent = facts.parent!;
    return decide({
      now: NOW,
      limits: { tokenTtl: 300, maxDelegationDepth: 5 },
      requestedResource: RESOURCE,
      requestedScopes: ['read'],
      // The subject-token facts of a Deputy parent token, as grant.ts builds them from its record.
      subjectToken: {
        subjectId: ids.subject,
        exp: NOW + 3600,
        scopes: parent.scope.split(' '),
        chain: parent.actorIds,
        chainGrantIds: parent.grantIds,
        audience: parent.resource,
        mayActSub: null,
        issuedAt: parent.issuedAt,
        externalIssuedAt: null,
        boundJkt: null,
      },
      dpopJkt: null,
      actorId: ids.newActor,
      live: facts,
    });
  }

  /** decide's checks in its own order, each with the SQL predicate it must agree with. */
  const ORDER: Array<[keyof SqlVerdict, readonly string[]]> = [
    ['subject', ['subject_disabled', 'subject_disabled_since_issued']],
    ['newActor', ['actor_disabled', 'actor_expired']],
    ['chainActor', ['chain_actor_inactive']],
    ['chainGrant', ['chain_grant_inactive']],
    ['newGrant', ['no_active_grant']],
  ];

  it('whole-second times: decide grants exactly when every predicate holds, and names the first that fails', async () => {
    const seen = { granted: 0, refused: new Set<string>() };
    await fc.assert(
      fc.asyncProperty(rows(false), async (r) => {
        const ids = await write(r);
        const [sql, outcome] = await Promise.all([sqlVerdict(ids), decision(ids)]);
        // The chain predicate is the conjunction of its parts (no ancestor here).
        expect(sql.chain).toBe(sql.subject && sql.chainActor && sql.chainGrant);
        const firstFailing = ORDER.find(([predicate]) => !sql[predicate]);
        if (outcome.granted) {
          seen.granted += 1;
          expect(firstFailing).toBeUndefined();
        } else {
          seen.refused.add(outcome.reason);
          expect(firstFailing).toBeDefined();
          expect(firstFailing![1]).toContain(outcome.reason);
        }
      }),
      { numRuns: 200 },
    );
    // Not vacuous: both outcomes and every kind of liveness refusal were seen.
    expect(seen.granted).toBeGreaterThan(5);
    expect([...seen.refused].sort()).toEqual(
      expect.arrayContaining(['actor_disabled', 'chain_actor_inactive', 'chain_grant_inactive', 'no_active_grant', 'subject_disabled']),
    );
  }, PROPERTY_TIMEOUT_MS);

  it('millisecond times: decide (whole seconds) is never more permissive than the SQL predicates', async () => {
    // decide reads expiries floored to the second and compares with whole-second `now`; the SQL
    // compares milliseconds, so within the second of an expiry decide already refuses what SQL
    // still calls live — never the other way round.
    await fc.assert(
      fc.asyncProperty(rows(true), async (r) => {
        const ids = await write(r);
        const [sql, outcome] = await Promise.all([sqlVerdict(ids), decision(ids)]);
        if (outcome.granted) expect(ORDER.every(([predicate]) => sql[predicate]) && sql.chain).toBe(true);
      }),
      { numRuns: 150 },
    );
  }, PROPERTY_TIMEOUT_MS);
});
