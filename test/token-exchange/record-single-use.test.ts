/**
 * Single-use jtis folded into the recording statement (deputy_record_exchanges): an outcome's
 * actor-assertion or DPoP-proof jti is marked used in the same statement that records it, and a
 * jti used before (by an earlier batch or an earlier item of the same batch) stops the token and
 * turns its event into that jti's refusal.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { verifyAuditChains } from '../../src/audit/audit-log.js';
import { createPool } from '../../src/db/pool.js';
import { createSingleUseJtis, jtiDigest } from '../../src/db/single-use-jtis.js';
import { deputyTokenDigest } from '../../src/oauth/deputy-token.js';
import { createRecorder, recordOutcomes, replayedJti, type ExchangeOutcome, type SingleUseJti } from '../../src/token-exchange/record.js';
import { PresentedJtis } from '../../src/token-exchange/single-use-presented.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { seedRecordingWorld } from '../support/recording-world.js';

const REFUSAL = { error: 'invalid_request', reason: 'actor_token.actor_assertion_was_already_used' };

describe('recording with single-use jtis', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  let grantId: string;
  beforeAll(async () => {
    db = await createTestDatabase();
    pool = createPool({ url: db.url, size: 8, acquireTimeoutMs: 5000 });
    grantId = await seedRecordingWorld(pool, { retiredKey: true });
  });
  afterAll(async () => {
    await pool.end();
    await db.drop();
  });

  const assertionJti = (jti: string, refusal = REFUSAL): SingleUseJti => ({
    namespace: 'actor_assertion',
    issuer: 'agent:a',
    jti,
    expiresAt: Math.floor(Date.now() / 1000) + 240,
    refusal,
  });

  function outcome(singleUse: SingleUseJti[], kid = 'current'): ExchangeOutcome {
    const jti = randomUUID();
    const now = new Date();
    return {
      token: {
        jti,
        kid,
        subjectId: 'alice',
        actorIds: ['agent:a'],
        clientId: 'app',
        resource: 'https://api.test',
        scope: 'read',
        grantId,
        grantIds: [grantId],
        parentJti: null,
        ancestorJtis: [],
        dpopJkt: null,
        issuedAt: now,
        expiresAt: new Date(now.getTime() + 60_000),
        digest: deputyTokenDigest(jti),
        subjectTokenDigest: null,
      },
      event: { type: 'token.exchanged', at: now, clientId: 'app', subjectId: 'alice', actorIds: ['agent:a'], jti, grantId, scopeGranted: ['read'], requestId: jti },
      singleUse,
    };
  }

  const one = async <T>(sql: string, values: unknown[] = []) => (await pool.query(sql, values)).rows[0] as T;
  const tokenCount = (item: ExchangeOutcome) => one<{ n: number }>('SELECT count(*)::int AS n FROM issued_tokens WHERE jti = $1', [item.token!.jti]).then((r) => r.n);
  const eventOf = (item: ExchangeOutcome) =>
    one<{ type: string; error: string | null; jti: string | null; reason: string | null }>(
      `SELECT type, error, jti, details->>'reason' AS reason FROM audit_events WHERE request_id = $1`,
      [item.event.requestId],
    );
  const stored = (entry: SingleUseJti) =>
    one<{ n: number }>('SELECT count(*)::int AS n FROM used_assertion_jtis WHERE namespace = $1 AND issuer = $2 AND jti_sha256 = $3', [
      entry.namespace,
      entry.issuer,
      jtiDigest(entry.jti),
    ]).then((r) => r.n);

  it('marks the jti used in the statement that records the token', async () => {
    const entry = assertionJti(randomUUID());
    const item = outcome([entry]);
    expect(await recordOutcomes(pool, [item])).toEqual(['recorded']);
    expect(await tokenCount(item)).toBe(1);
    expect(await stored(entry)).toBe(1);
  });

  it('refuses a jti used before: no token, its event written as that jti\'s refusal', async () => {
    const entry = assertionJti(randomUUID());
    expect(await recordOutcomes(pool, [outcome([entry])])).toEqual(['recorded']);
    const replay = outcome([entry]);
    const [status] = await recordOutcomes(pool, [replay]);
    expect(status).toBe('replayed:0');
    expect(replayedJti(status!, replay.singleUse)).toBe(entry);
    expect(await tokenCount(replay)).toBe(0);
    expect(await eventOf(replay)).toEqual({ type: 'token.exchange_denied', error: 'invalid_request', jti: null, reason: REFUSAL.reason });
  });

  it('shares the store with the separate single-use insert (DPoP proofs, client assertions)', async () => {
    const jti = randomUUID();
    expect(await createSingleUseJtis(pool)('oauth_client', 'app', jti, Math.floor(Date.now() / 1000) + 300)).toBe(true);
    const dpop: SingleUseJti = { namespace: 'oauth_client', issuer: 'app', jti, expiresAt: Math.floor(Date.now() / 1000) + 300, refusal: { error: 'invalid_dpop_proof', reason: 'dpop.proof_jwt_replay_detected' } };
    const item = outcome([assertionJti(randomUUID()), dpop]);
    expect(await recordOutcomes(pool, [item])).toEqual(['replayed:1']);
    expect(await eventOf(item)).toMatchObject({ error: 'invalid_dpop_proof', reason: 'dpop.proof_jwt_replay_detected' });
    // Marked by this record, the separate insert sees it as used.
    const fresh = randomUUID();
    expect(await recordOutcomes(pool, [outcome([assertionJti(fresh)])])).toEqual(['recorded']);
    expect(await createSingleUseJtis(pool)('actor_assertion', 'agent:a', fresh, Math.floor(Date.now() / 1000) + 300)).toBe(false);
  });

  it('within one batch, the first item naming a jti wins', async () => {
    const entry = assertionJti(randomUUID());
    const items = [outcome([entry]), outcome([entry]), outcome([entry])];
    expect(await recordOutcomes(pool, items)).toEqual(['recorded', 'replayed:0', 'replayed:0']);
    expect(await Promise.all(items.map(tokenCount))).toEqual([1, 0, 0]);
    expect(await stored(entry)).toBe(1);
  });

  it('marks the jti of a refusal too, so a refused assertion cannot be presented again', async () => {
    const entry = assertionJti(randomUUID());
    const refusal: ExchangeOutcome = { token: null, event: { type: 'token.exchange_denied', at: new Date(), error: 'invalid_scope', requestId: randomUUID(), details: { reason: 'decision.empty_scope' } }, singleUse: [entry] };
    expect(await recordOutcomes(pool, [refusal])).toEqual(['denied']);
    expect(await eventOf(refusal)).toMatchObject({ error: 'invalid_scope', reason: 'decision.empty_scope' });
    const again: ExchangeOutcome = { ...refusal, event: { ...refusal.event, requestId: randomUUID() } };
    expect(await recordOutcomes(pool, [again])).toEqual(['replayed:0']);
    expect(await eventOf(again)).toMatchObject({ type: 'token.exchange_denied', error: 'invalid_request', reason: REFUSAL.reason });
  });

  it('a stale-key outcome writes nothing and does not spend its jti: the re-signed one records', async () => {
    const entry = assertionJti(randomUUID());
    expect(await recordOutcomes(pool, [outcome([entry], 'retired')])).toEqual(['stale_key']);
    expect(await stored(entry)).toBe(0);
    expect(await recordOutcomes(pool, [outcome([entry])])).toEqual(['recorded']);
  });

  it('50 concurrent presentations of one jti through one recorder: exactly one token, 49 refusals audited, chains intact', async () => {
    const recorder = createRecorder(pool);
    const entry = assertionJti(randomUUID());
    const items = Array.from({ length: 50 }, () => outcome([entry]));
    const statuses = await Promise.all(items.map((item) => recorder.record(item)));
    expect(statuses.filter((s) => s === 'recorded')).toHaveLength(1);
    expect(statuses.filter((s) => s === 'replayed:0')).toHaveLength(49);
    expect((await Promise.all(items.map(tokenCount))).reduce((a, b) => a + b, 0)).toBe(1);
    const reasons = await Promise.all(items.map(eventOf));
    expect(reasons.filter((e) => e.type === 'token.exchange_denied' && e.reason === REFUSAL.reason)).toHaveLength(49);
    expect((await verifyAuditChains(pool)).ok).toBe(true);
  });

  it('50 concurrent presentations across separate recorders (processes): exactly one token', async () => {
    const entry = assertionJti(randomUUID());
    const items = Array.from({ length: 50 }, () => outcome([entry]));
    const statuses = await Promise.all(items.map((item) => createRecorder(pool).record(item)));
    expect(statuses.filter((s) => s === 'recorded')).toHaveLength(1);
    expect(statuses.filter((s) => s === 'replayed:0')).toHaveLength(49);
  });

  it('PresentedJtis carries the refusal each kind of replay gets', () => {
    const presented = new PresentedJtis();
    void presented.markActorAssertion('actor_assertion', 'agent:a', 'j1', 100);
    presented.dpopProof('app', 'j2', 1000);
    expect(presented.entries.map((e) => [e.namespace, e.issuer, e.jti, e.expiresAt, e.refusal])).toEqual([
      ['actor_assertion', 'agent:a', 'j1', 100, { error: 'invalid_request', reason: 'actor_token.actor_assertion_was_already_used' }],
      ['oauth_client', 'app', 'j2', 1300, { error: 'invalid_dpop_proof', reason: 'dpop.proof_jwt_replay_detected' }],
    ]);
    expect(presented.replayOf('recorded')).toBeNull();
    expect(presented.replayOf('replayed:0')?.stage).toBe('actor_token');
    expect(presented.replayOf('replayed:1')?.stage).toBe('dpop');
    expect(presented.replayOf('replayed:1')?.error().message).toMatch(/invalid_dpop_proof|DPoP/);
  });
});
