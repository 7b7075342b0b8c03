/**
 * Group-committed recording: token rows and audit events are durable together, a withdrawn
 * grant/subject/actor stops a token from being recorded at the last moment, and the audit
 * chains stay intact under concurrent batches.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import fc from 'fast-check';
import pg from 'pg';
import { verifyAuditChains } from '../../src/audit/audit-log.js';
import { createPool } from '../../src/db/pool.js';
import { deputyTokenDigest } from '../../src/oauth/deputy-token.js';
import { createRecorder, recordOutcomes, type ExchangeOutcome, type RecordStatus } from '../../src/token-exchange/record.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { seedRecordingWorld } from '../support/recording-world.js';

describe('recording exchange outcomes', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  let grantId: string;
  beforeAll(async () => {
    db = await createTestDatabase();
    pool = createPool({ url: db.url, size: 4, acquireTimeoutMs: 2000 });
    grantId = await seedRecordingWorld(pool, { otherSubjects: ['bob'], retiredKey: true });
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  function outcome(overrides: { subjectId?: string; grantIds?: string[]; kid?: string; scope?: string; parentJti?: string; ancestors?: string[] } = {}): ExchangeOutcome {
    const jti = randomUUID();
    const now = new Date();
    return {
      token: {
        jti,
        kid: overrides.kid ?? 'current',
        subjectId: overrides.subjectId ?? 'alice',
        actorIds: ['agent:a'],
        clientId: 'app',
        resource: 'https://api.test',
        scope: overrides.scope ?? 'read',
        grantId,
        grantIds: overrides.grantIds ?? [grantId],
        parentJti: overrides.parentJti ?? null,
        ancestorJtis: overrides.ancestors ?? (overrides.parentJti ? [overrides.parentJti] : []),
        dpopJkt: null,
        issuedAt: now,
        expiresAt: new Date(now.getTime() + 60_000),
        digest: deputyTokenDigest(jti),
        subjectTokenDigest: null,
      },
      event: { type: 'token.exchanged', at: now, clientId: 'app', subjectId: 'alice', actorIds: ['agent:a'], jti, grantId, scopeGranted: ['read'] },
    };
  }

  const count = async (sql: string, values: unknown[] = []) => Number((await pool.query<{ n: string }>(sql, values)).rows[0]!.n);

  it('records a token and its audit event together', async () => {
    const recorder = createRecorder(pool);
    const item = outcome();
    expect(await recorder.record(item)).toBe('recorded');
    expect(await count('SELECT count(*) AS n FROM issued_tokens WHERE jti = $1', [item.token!.jti])).toBe(1);
    expect(await count(`SELECT count(*) AS n FROM audit_events WHERE jti = $1 AND type = 'token.exchanged'`, [item.token!.jti])).toBe(1);
  });

  it('records a refusal as its audit event alone', async () => {
    const recorder = createRecorder(pool);
    const before = await count('SELECT count(*) AS n FROM issued_tokens');
    const status = await recorder.record({ token: null, event: { type: 'token.exchange_denied', at: new Date(), error: 'invalid_scope', requestId: 'refusal-1' } });
    expect(status).toBe('denied');
    expect(await count('SELECT count(*) AS n FROM issued_tokens')).toBe(before);
    expect(await count(`SELECT count(*) AS n FROM audit_events WHERE request_id = 'refusal-1' AND error = 'invalid_scope'`)).toBe(1);
  });

  it.each([
    ['a grant of its chain was revoked', (item: ExchangeOutcome) => item, `UPDATE delegation_grants SET revoked_at = now() WHERE id = $1`],
    ['its subject was disabled', (item: ExchangeOutcome) => item, `UPDATE subjects SET status = 'disabled' WHERE id = 'alice'`],
    ['its actor was disabled', (item: ExchangeOutcome) => item, `UPDATE actors SET status = 'disabled' WHERE id = 'agent:a'`],
  ])('does not record a token when %s just before, and audits a denial instead', async (_label, build, withdraw) => {
    const recorder = createRecorder(pool);
    await pool.query(withdraw, withdraw.includes('$1') ? [grantId] : []);
    try {
      const item = build(outcome());
      expect(await recorder.record(item)).toBe('revoked');
      expect(await count('SELECT count(*) AS n FROM issued_tokens WHERE jti = $1', [item.token!.jti])).toBe(0);
      const { rows } = await pool.query(`SELECT type, error, jti, details FROM audit_events WHERE request_id IS NULL AND subject_id = 'alice' ORDER BY id DESC LIMIT 1`);
      expect(rows[0]).toMatchObject({ type: 'token.exchange_denied', error: 'invalid_request', jti: null, details: { reason: 'revoked_while_minting' } });
    } finally {
      await pool.query(`UPDATE delegation_grants SET revoked_at = NULL WHERE id = $1`, [grantId]);
      await pool.query(`UPDATE subjects SET status = 'active'`);
      await pool.query(`UPDATE actors SET status = 'active'`);
    }
  });

  it.each([
    ['its subject', `UPDATE subjects SET status = $1 WHERE id = 'alice'`],
    ['its actor', `UPDATE actors SET status = $1 WHERE id = 'agent:a'`],
  ])('does not record a token when %s was disabled and re-enabled while it was being minted', async (_label, setStatus) => {
    const recorder = createRecorder(pool);
    const item = outcome();
    await pool.query(setStatus, ['disabled']);
    await pool.query(setStatus, ['active']);
    expect(await recorder.record(item)).toBe('revoked');
    expect(await count('SELECT count(*) AS n FROM issued_tokens WHERE jti = $1', [item.token!.jti])).toBe(0);
    // Issued after the re-enable: recorded.
    expect(await recorder.record(outcome())).toBe('recorded');
  });

  it('does not record a token whose scope lost its entitlement meanwhile', async () => {
    const recorder = createRecorder(pool);
    await pool.query(`DELETE FROM entitlements WHERE scope = 'read'`);
    try {
      expect(await recorder.record(outcome())).toBe('revoked');
    } finally {
      await pool.query(`INSERT INTO entitlements (subject_id, resource_uri, scope) VALUES ('alice', 'https://api.test', 'read')`);
    }
  });

  it('does not record a token derived from a token revoked meanwhile', async () => {
    const recorder = createRecorder(pool);
    const parent = outcome();
    expect(await recorder.record(parent)).toBe('recorded');
    const child = outcome({ parentJti: parent.token!.jti });
    const grandchild = outcome({ parentJti: child.token!.jti, ancestors: [child.token!.jti, parent.token!.jti] });
    expect(await recorder.record(child)).toBe('recorded');
    await pool.query(`UPDATE issued_tokens SET revoked_at = now() WHERE jti = $1`, [parent.token!.jti]);
    expect(await recorder.record(grandchild)).toBe('revoked');
  });

  it('does not record a token derived from an IdP token revoked at Deputy meanwhile, and records its provenance otherwise', async () => {
    const recorder = createRecorder(pool);
    const revokedDigest = 'aa'.repeat(32);
    const liveDigest = 'bb'.repeat(32);
    await pool.query(`INSERT INTO revoked_subject_tokens (sha256, issuer, expires_at) VALUES (decode($1, 'hex'), 'https://idp.test', now() + interval '1 hour')`, [
      revokedDigest,
    ]);
    try {
      const fromRevoked = outcome();
      fromRevoked.token!.subjectTokenDigest = revokedDigest;
      expect(await recorder.record(fromRevoked)).toBe('revoked');
      expect(await count('SELECT count(*) AS n FROM issued_tokens WHERE jti = $1', [fromRevoked.token!.jti])).toBe(0);
      const fromLive = outcome();
      fromLive.token!.subjectTokenDigest = liveDigest;
      expect(await recorder.record(fromLive)).toBe('recorded');
      expect(await count(`SELECT count(*) AS n FROM issued_tokens WHERE jti = $1 AND subject_token_sha256 = decode($2, 'hex')`, [fromLive.token!.jti, liveDigest])).toBe(1);
    } finally {
      await pool.query('TRUNCATE revoked_subject_tokens');
    }
  });

  it('writes nothing for a token signed with a key retired meanwhile, so it can be signed again', async () => {
    const recorder = createRecorder(pool);
    const stale = outcome({ kid: 'retired' });
    const events = await count('SELECT count(*) AS n FROM audit_events');
    expect(await recorder.record(stale)).toBe('stale_key');
    expect(await count('SELECT count(*) AS n FROM issued_tokens WHERE jti = $1', [stale.token!.jti])).toBe(0);
    expect(await count('SELECT count(*) AS n FROM audit_events')).toBe(events);
  });

  it('stores an audit event whose values PostgreSQL cannot hold as text (NUL, lone surrogates)', async () => {
    const recorder = createRecorder(pool);
    const status = await recorder.record({
      token: null,
      event: { type: 'token.exchange_denied', at: new Date(), requestId: 'hostile-1', subjectId: 'ev\u0000il\uD800', resourceUri: 'https://x/\u0000', error: 'invalid_request' },
    });
    expect(status).toBe('denied');
    const { rows } = await pool.query(`SELECT subject_id, resource_uri FROM audit_events WHERE request_id = 'hostile-1'`);
    expect(rows).toEqual([{ subject_id: 'ev\uFFFDil\uFFFD', resource_uri: 'https://x/\uFFFD' }]);
  });

  describe('meeting a concurrent revocation', () => {
    async function connect(): Promise<pg.Client> {
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      return client;
    }

    it('a revocation waits for an exchange being recorded for that subject', async () => {
      const recording = await connect();
      const revoking = await connect();
      try {
        await recording.query('BEGIN');
        await recording.query(`SELECT pg_advisory_xact_lock_shared(7300101, deputy_subject_lock_key('alice'))`);
        await revoking.query(`SET lock_timeout = '200ms'`);
        await expect(revoking.query(`UPDATE delegation_grants SET revoked_at = now() WHERE id = $1`, [grantId])).rejects.toMatchObject({ code: '55P03' });
        await recording.query('COMMIT');
        await revoking.query(`UPDATE delegation_grants SET revoked_at = now() WHERE id = $1`, [grantId]);
      } finally {
        await pool.query(`UPDATE delegation_grants SET revoked_at = NULL WHERE id = $1`, [grantId]);
        await recording.end();
        await revoking.end();
      }
    });

    it('an exchange recorded while a revocation is uncommitted waits for it, then sees it', async () => {
      const revoking = await connect();
      try {
        await revoking.query('BEGIN');
        await revoking.query(`UPDATE actors SET status = 'disabled' WHERE id = 'agent:a'`);
        const recorder = createRecorder(pool);
        const pending = recorder.record(outcome());
        let settled = false;
        void pending.then(() => (settled = true));
        await new Promise((resolve) => setTimeout(resolve, 150));
        expect(settled).toBe(false);
        await revoking.query('COMMIT');
        expect(await pending).toBe('revoked');
      } finally {
        await pool.query(`UPDATE actors SET status = 'active' WHERE id = 'agent:a'`);
        await revoking.end();
      }
    });
  });

  it('does not record a token whose chain names a grant that does not exist', async () => {
    const recorder = createRecorder(pool);
    expect(await recorder.record(outcome({ grantIds: [grantId, randomUUID()] }))).toBe('revoked');
  });

  it('batches concurrent outcomes and keeps every audit chain intact', async () => {
    const recorder = createRecorder(pool);
    const before = await count('SELECT count(*) AS n FROM issued_tokens');
    const items = Array.from({ length: 300 }, () => outcome());
    const statuses = await Promise.all(items.map((item) => recorder.record(item)));
    expect(new Set(statuses)).toEqual(new Set(['recorded']));
    expect(await count('SELECT count(*) AS n FROM issued_tokens')).toBe(before + 300);
    const jtis = items.map((item) => item.token!.jti);
    expect(await count(`SELECT count(*) AS n FROM audit_events WHERE jti = ANY($1) AND type = 'token.exchanged'`, [jtis])).toBe(300);
    expect(await verifyAuditChains(pool)).toMatchObject({ ok: true, first_broken_link: null });
  });

  it('isolates a bad outcome in a batch: the others are still recorded', async () => {
    const recorder = createRecorder(pool);
    const duplicate = outcome();
    await recorder.record(duplicate);
    const fresh = Array.from({ length: 5 }, () => outcome());
    const results = await Promise.allSettled([duplicate, ...fresh].map((item) => recorder.record(item)));
    expect(results[0]!.status).toBe('rejected');
    expect(results.slice(1).map((r) => r.status)).toEqual(Array(5).fill('fulfilled'));
  });

  describe('a batch of mixed outcomes (property)', () => {
    // Each kind of outcome, and the status the recording statement must give it whatever else
    // shares its batch. None of them changes the world, so batches can be drawn freely.
    const kinds: Record<string, { expected: RecordStatus; build(): ExchangeOutcome }> = {
      live: { expected: 'recorded', build: () => outcome() },
      refusal: {
        expected: 'denied',
        build: () => ({ token: null, event: { type: 'token.exchange_denied', at: new Date(), requestId: randomUUID(), error: 'invalid_scope' } }),
      },
      staleKey: { expected: 'stale_key', build: () => outcome({ kid: 'retired' }) },
      unknownGrant: { expected: 'revoked', build: () => outcome({ grantIds: [grantId, randomUUID()] }) },
      notEntitled: { expected: 'revoked', build: () => outcome({ scope: 'read write' }) },
      disabledSubject: { expected: 'revoked', build: () => outcome({ subjectId: 'carol' }) },
      revokedAncestor: { expected: 'revoked', build: () => outcome({ parentJti: revokedParentJti }) },
    };
    let revokedParentJti: string;
    beforeAll(async () => {
      await pool.query(`INSERT INTO subjects (id, status) VALUES ('carol', 'disabled')`);
      await pool.query(`INSERT INTO entitlements (subject_id, resource_uri, scope) VALUES ('carol', 'https://api.test', 'read')`);
      const parent = outcome();
      expect(await createRecorder(pool).record(parent)).toBe('recorded');
      revokedParentJti = parent.token!.jti;
      await pool.query(`UPDATE issued_tokens SET revoked_at = now() WHERE jti = $1`, [revokedParentJti]);
    });

    it('gives every outcome its own status, in order, and writes exactly what each status says', async () => {
      await fc.assert(
        fc.asyncProperty(fc.array(fc.constantFrom(...Object.keys(kinds)), { minLength: 1, maxLength: 12 }), async (drawn) => {
          const outcomes = drawn.map((kind) => {
            const item = kinds[kind]!.build();
            item.event.requestId = randomUUID();
            return item;
          });
          const statuses = await recordOutcomes(pool, outcomes);
          expect(statuses).toEqual(drawn.map((kind) => kinds[kind]!.expected));

          const jtis = outcomes.flatMap((item) => (item.token ? [item.token.jti] : []));
          const stored = await pool.query<{ jti: string }>('SELECT jti FROM issued_tokens WHERE jti = ANY($1)', [jtis]);
          const recordedJtis = outcomes.filter((_, i) => statuses[i] === 'recorded').map((item) => item.token!.jti);
          expect(stored.rows.map((row) => row.jti).sort()).toEqual(recordedJtis.sort());

          // One event per outcome except a stale key's: the recorded as exchanges, the rest as denials.
          const keys = outcomes.map((item) => item.event.requestId!);
          const events = await pool.query<{ key: string; type: string; jti: string | null; reason: string | null }>(
            `SELECT request_id AS key, type, jti, details ->> 'reason' AS reason FROM audit_events WHERE request_id = ANY($1)`,
            [keys],
          );
          const expectedEvents = outcomes.flatMap((item, i): Array<{ key: string; type: string; jti: string | null; reason: string | null }> => {
            if (statuses[i] === 'stale_key') return [];
            if (statuses[i] === 'recorded') return [{ key: keys[i]!, type: 'token.exchanged', jti: item.token!.jti, reason: null }];
            return [{ key: keys[i]!, type: 'token.exchange_denied', jti: null, reason: statuses[i] === 'revoked' ? 'revoked_while_minting' : null }];
          });
          const byKey = (a: { key: string }, b: { key: string }) => a.key.localeCompare(b.key);
          expect(events.rows.sort(byKey)).toEqual(expectedEvents.sort(byKey));
        }),
        { numRuns: 40 },
      );
      expect(await verifyAuditChains(pool)).toMatchObject({ ok: true, first_broken_link: null });
    });
  });

  it('reports an edited event as the first broken link', async () => {
    const { rows } = await pool.query<{ id: number }>(`SELECT id FROM audit_events ORDER BY id LIMIT 1 OFFSET 3`);
    const target = rows[0]!.id;
    await pool.query('ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete');
    await pool.query(`UPDATE audit_events SET scope_granted = ARRAY['admin'] WHERE id = $1`, [target]);
    await pool.query('ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete');
    const report = await verifyAuditChains(pool);
    expect(report.ok).toBe(false);
    expect(report.first_broken_link).toMatchObject({ event_id: target, problem: 'hash_mismatch' });
  });
});
