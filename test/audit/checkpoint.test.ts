/**
 * Audit checkpoints (item 12 of the December review). Someone who can write the database (here:
 * the test, as superuser, with the append-only trigger disabled) can delete the newest events and
 * rewind a chain's head, or edit an event and re-hash the rest of its chain: `GET audit/verify`
 * then reports an intact log, because the chain is only anchored in the database. A checkpoint
 * signed with a key that is not in the database, kept by the auditor, exposes both.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import fc from 'fast-check';
import { createLocalJWKSet, decodeJwt, jwtVerify, SignJWT, type JSONWebKeySet } from 'jose';
import pino from 'pino';
import { appendAuditEvents, inTransaction, type AuditEventInput } from '../../src/audit/audit-log.js';
import { CHECKPOINT_TYPE, CheckpointKey, type ChainPosition } from '../../src/audit/checkpoint.js';
import { logCheckpoints } from '../../src/audit/checkpoint-log.js';
import { decodeKey32, KeyEncryptionKey } from '../../src/keys/key-encryption.js';
import { startTestDeputy, TEST_KEY_ENCRYPTION_KEY, type TestDeputy } from '../support/deputy.js';
import { until } from '../support/wait.js';
import { adminClient, ADMIN_TOKEN, type Admin } from '../admin/support.js';

interface Report {
  ok: boolean;
  first_broken_link: unknown;
  checkpoint?: { signature: string; chains: Array<{ chain_id: number; seq: number; status: string; event_id: number | null }> };
}

describe('audit checkpoints', () => {
  let deputy: TestDeputy;
  let admin: Admin;

  beforeAll(async () => {
    deputy = await startTestDeputy({ DEPUTY_ADMIN_TOKEN: ADMIN_TOKEN });
    admin = adminClient(deputy.url);
  });
  afterAll(async () => {
    await deputy?.stop();
  });

  async function appendEvents(count: number, label: string): Promise<void> {
    for (let i = 0; i < count; i += 1) {
      const event: AuditEventInput = { type: 'test.event', at: new Date(), subjectId: `${label}-${i}`, details: { label, i } };
      await inTransaction(deputy.pool, (client) => appendAuditEvents(client, [event]));
    }
  }

  async function checkpoint(): Promise<{ checkpoint: string; chains: ChainPosition[] }> {
    const reply = await admin.get('/audit/checkpoint');
    expect(reply.status).toBe(200);
    return reply.body;
  }

  const plainVerify = async () => (await admin.get('/audit/verify')).body as Report;
  const verifyWith = async (jws: string) => {
    const reply = await admin.post('/audit/verify', { checkpoint: jws });
    expect(reply.status).toBe(200);
    return reply.body as Report;
  };

  /** As an attacker with database access: the append-only trigger off for `work`. */
  async function tamper(work: () => Promise<void>): Promise<void> {
    await deputy.pool.query('ALTER TABLE audit_events DISABLE TRIGGER audit_events_no_update_delete');
    try {
      await work();
    } finally {
      await deputy.pool.query('ALTER TABLE audit_events ENABLE TRIGGER audit_events_no_update_delete');
    }
  }

  /** The chain with the most events, and its head. */
  async function longestChain(): Promise<{ chain_id: number; seq: number }> {
    const { rows } = await deputy.pool.query<{ chain_id: number; seq: number }>('SELECT chain_id, seq FROM audit_chain_heads ORDER BY seq DESC, chain_id LIMIT 1');
    return rows[0]!;
  }

  /** Recomputes prev_hash and hash of every event of `chain` from `fromSeq` on, then moves the head. */
  async function rehashForward(chainId: number, fromSeq: number): Promise<void> {
    const previous = await deputy.pool.query<{ hash: string }>('SELECT hash FROM audit_events WHERE chain_id = $1 AND seq = $2', [chainId, fromSeq - 1]);
    let prev = previous.rows[0]?.hash ?? 'genesis';
    const { rows } = await deputy.pool.query<{ id: number }>('SELECT id FROM audit_events WHERE chain_id = $1 AND seq >= $2 ORDER BY seq', [chainId, fromSeq]);
    for (const row of rows) {
      const updated = await deputy.pool.query<{ hash: string; seq: number }>(
        'UPDATE audit_events e SET prev_hash = $2, hash = deputy_audit_hash($2, e) WHERE id = $1 RETURNING hash, seq',
        [row.id, prev],
      );
      prev = updated.rows[0]!.hash;
    }
    await deputy.pool.query('UPDATE audit_chain_heads SET hash = $2 WHERE chain_id = $1', [chainId, prev]);
  }

  it('an intact log verifies against a checkpoint, whose signature an auditor can check offline', async () => {
    await appendEvents(60, 'before');
    const taken = await checkpoint();
    expect(taken.chains).toHaveLength(8);
    await appendEvents(10, 'after'); // later events are fine: the checkpoint pins positions, not the end

    const report = await verifyWith(taken.checkpoint);
    expect(report).toMatchObject({ ok: true, first_broken_link: null, checkpoint: { signature: 'valid' } });
    expect(report.checkpoint!.chains.every((chain) => chain.status === 'intact')).toBe(true);

    const keys = (await admin.get('/audit/checkpoint-key')).body as JSONWebKeySet;
    expect(keys.keys).toHaveLength(1);
    expect(keys.keys[0]).not.toHaveProperty('d');
    const { payload, protectedHeader } = await jwtVerify(taken.checkpoint, createLocalJWKSet(keys), { typ: CHECKPOINT_TYPE, issuer: deputy.config.ISSUER });
    expect(protectedHeader).toMatchObject({ alg: 'EdDSA', kid: keys.keys[0]!.kid });
    expect(payload.chains).toEqual(taken.chains);
    expect(payload.events).toBe(taken.chains.reduce((sum, chain) => sum + chain.seq, 0));
  });

  it('truncation and a rewound head: plain verify says intact, the checkpoint says which event is missing', async () => {
    await appendEvents(40, 'pre-truncation');
    const taken = await checkpoint();
    const target = await longestChain();
    expect(target.seq).toBeGreaterThan(2);
    const keepUpTo = target.seq - 2;

    await tamper(async () => {
      await deputy.pool.query('DELETE FROM audit_events WHERE chain_id = $1 AND seq > $2', [target.chain_id, keepUpTo]);
      await deputy.pool.query(
        'UPDATE audit_chain_heads h SET seq = e.seq, hash = e.hash FROM audit_events e WHERE h.chain_id = $1 AND e.chain_id = $1 AND e.seq = $2',
        [target.chain_id, keepUpTo],
      );
    });

    expect(await plainVerify()).toMatchObject({ ok: true, first_broken_link: null }); // the limit of an unanchored chain
    const report = await verifyWith(taken.checkpoint);
    expect(report.ok).toBe(false);
    expect(report.checkpoint!.signature).toBe('valid');
    const broken = report.checkpoint!.chains.filter((chain) => chain.status !== 'intact');
    expect(broken).toEqual([{ chain_id: target.chain_id, seq: target.seq, event_id: expect.any(Number), status: 'missing_event' }]);

    // A checkpoint taken after the truncation cannot see it: that is what "after the newest checkpoint" means.
    const later = await checkpoint();
    expect((await verifyWith(later.checkpoint)).ok).toBe(true);
  });

  it('an edit re-hashed forward: plain verify says intact, the checkpoint says which chain was rewritten', async () => {
    await appendEvents(40, 'pre-edit');
    const taken = await checkpoint();
    const target = await longestChain();
    const editedSeq = target.seq - 5;

    await tamper(async () => {
      await deputy.pool.query(`UPDATE audit_events SET subject_id = 'someone-else' WHERE chain_id = $1 AND seq = $2`, [target.chain_id, editedSeq]);
      await rehashForward(target.chain_id, editedSeq);
    });

    expect(await plainVerify()).toMatchObject({ ok: true, first_broken_link: null });
    const report = await verifyWith(taken.checkpoint);
    expect(report.ok).toBe(false);
    const broken = report.checkpoint!.chains.filter((chain) => chain.status !== 'intact');
    expect(broken).toEqual([{ chain_id: target.chain_id, seq: target.seq, event_id: expect.any(Number), status: 'hash_mismatch' }]);
  });

  it('a checkpoint with a forged signature, or from another key, is not accepted as valid; garbage is a 400', async () => {
    const taken = await checkpoint();
    const claims = decodeJwt(taken.checkpoint);
    const { privateKey } = generateKeyPairSync('ed25519');
    const forged = await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', typ: CHECKPOINT_TYPE, kid: deputy.checkpointKey.kid }).sign(privateKey);
    expect(await verifyWith(forged)).toMatchObject({ ok: false, checkpoint: { signature: 'invalid' } });

    const otherKey = await CheckpointKey.fromSeed(randomBytes(32));
    const foreign = await otherKey.sign(claims as never);
    expect(await verifyWith(foreign)).toMatchObject({ ok: false, checkpoint: { signature: 'unknown_key' } });

    for (const body of [{ checkpoint: 'not.a.checkpoint' }, { checkpoint: '' }, {}, { checkpoint: taken.checkpoint, extra: 1 }]) {
      const reply = await admin.post('/audit/verify', body);
      expect(reply.status).toBe(400);
      expect(reply.body.error).toBe('invalid_request');
    }
    const otherType = await new SignJWT(claims).setProtectedHeader({ alg: 'EdDSA', typ: 'at+jwt', kid: deputy.checkpointKey.kid }).sign(privateKey);
    expect((await admin.post('/audit/verify', { checkpoint: otherType })).status).toBe(400);
    expect((await adminClient(deputy.url, null).post('/audit/verify', { checkpoint: taken.checkpoint })).status).toBe(401);
    expect((await adminClient(deputy.url, null).get('/audit/checkpoint')).status).toBe(401);
  });

  it('property: any checkpoint-shaped or random input is a 200 report or a 400, never a 5xx or a leak', async () => {
    const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
    const position = fc.record({
      chain_id: fc.oneof(fc.integer({ min: -5, max: 20 }), fc.constant(2 ** 40), fc.string()),
      seq: fc.oneof(fc.integer({ min: -5, max: 10_000 }), fc.double(), fc.constant(null)),
      event_id: fc.oneof(fc.integer(), fc.constant(null), fc.string()),
      hash: fc.oneof(fc.stringMatching(/^[0-9a-f]{0,80}$/), fc.constant('genesis'), fc.string({ maxLength: 200 })),
    });
    const claims = fc.record(
      { iss: fc.string(), iat: fc.oneof(fc.integer(), fc.string()), events: fc.integer(), chains: fc.oneof(fc.array(position, { maxLength: 12 }), fc.anything()) },
      { requiredKeys: [] },
    );
    const header = fc.record(
      { alg: fc.constantFrom('EdDSA', 'none', 'HS256', 'ES256'), typ: fc.constantFrom(CHECKPOINT_TYPE, 'JWT', 'at+jwt'), kid: fc.oneof(fc.constant(deputy.checkpointKey.kid), fc.string()) },
      { requiredKeys: [] },
    );
    const input = fc.oneof(
      fc.tuple(header, claims, fc.base64String({ maxLength: 120 })).map(([h, c, sig]) => `${b64(h)}.${b64(c)}.${sig.replace(/=/g, '')}`),
      fc.string({ maxLength: 300 }),
      fc.string({ unit: 'binary', maxLength: 100 }),
    );
    let tried = 0;
    await fc.assert(
      fc.asyncProperty(input, async (checkpoint) => {
        tried += 1;
        const reply = await admin.post('/audit/verify', { checkpoint });
        expect([200, 400]).toContain(reply.status);
        const text = JSON.stringify(reply.body);
        expect(text).not.toMatch(/stack|SELECT|jsonb|audit_events|at Object|node_modules/);
        if (reply.status === 200) expect((reply.body as Report).checkpoint!.signature).not.toBe('valid');
      }),
      { numRuns: 150 },
    );
    expect(tried).toBe(150);
  });

  it('the checkpoint key survives restarts, is nowhere in the database, and AUDIT_CHECKPOINT_KEY replaces it', async () => {
    const again = await startTestDeputy({}, deputy.database);
    try {
      expect(again.checkpointKey.kid).toBe(deputy.checkpointKey.kid);
    } finally {
      await again.stop();
    }
    const seed = randomBytes(32);
    const configured = await startTestDeputy({ AUDIT_CHECKPOINT_KEY: seed.toString('hex') }, deputy.database);
    try {
      expect(configured.checkpointKey.kid).toBe((await CheckpointKey.fromSeed(seed)).kid);
      expect(configured.checkpointKey.kid).not.toBe(deputy.checkpointKey.kid);
    } finally {
      await configured.stop();
    }
    // Nowhere in the database, in any encoding: neither the configured seed nor the derived one.
    const derived = new KeyEncryptionKey(decodeKey32(TEST_KEY_ENCRYPTION_KEY)!).derive('audit checkpoint key v1');
    expect((await CheckpointKey.fromSeed(derived)).kid).toBe(deputy.checkpointKey.kid);
    const tables = await deputy.pool.query<{ table_name: string }>(`SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'`);
    let dump = '';
    for (const { table_name } of tables.rows) {
      const { rows } = await deputy.pool.query<{ text: string | null }>(`SELECT string_agg(t::text, ' ') AS text FROM "${table_name}" t`);
      dump += rows[0]!.text ?? '';
    }
    expect(dump.length).toBeGreaterThan(1000);
    for (const secret of [seed, derived]) {
      for (const encoding of ['hex', 'base64url', 'base64'] as const) expect(dump).not.toContain(secret.toString(encoding));
    }
  });

  it('writes a checkpoint to the log when it starts and when asked: the JWS only', async () => {
    const lines: string[] = [];
    const sink = new Writable({
      write(chunk, _encoding, done) {
        lines.push(String(chunk));
        done();
      },
    });
    const logger = pino({ level: 'info' }, sink);
    const log = logCheckpoints({ pool: deputy.pool, key: deputy.checkpointKey, issuer: deputy.config.ISSUER, intervalSeconds: 3600, logger });
    try {
      await log.write();
      await until(() => lines.length >= 2, 'the start checkpoint and the one asked for');
    } finally {
      await log.stop();
    }
    const logged = lines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((line) => line.msg === 'audit checkpoint');
    expect(logged).toHaveLength(2);
    const jws = logged.at(-1)!.audit_checkpoint as string;
    expect(Object.keys(logged.at(-1)!).sort()).toEqual(['audit_checkpoint', 'events', 'hostname', 'kid', 'level', 'msg', 'pid', 'time']);
    expect((await verifyWith(jws)).checkpoint!.signature).toBe('valid');
  });
});
