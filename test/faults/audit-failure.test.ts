/**
 * Fault: the audit write fails. A trigger on audit_events rejects every `token.exchanged` row, so
 * the exchange's one-statement record (issued token + audit event) cannot commit. The exchange
 * must then return no token (never 200), leave no issued_tokens row behind, leak nothing, and
 * work again once the fault is removed.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { expectRefusalShape, startExchangeWorld, type World } from '../support/exchange-world.js';

describe('fault: the audit write fails', () => {
  let w: World;
  beforeAll(async () => {
    w = await startExchangeWorld();
  });
  afterAll(async () => {
    await w?.sql('DROP TRIGGER IF EXISTS fault_reject_exchanged ON audit_events').catch(() => {});
    await w?.stop();
  });

  async function installFault(): Promise<void> {
    await w.sql(`CREATE OR REPLACE FUNCTION fault_reject_exchanged() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF NEW.type = 'token.exchanged' THEN RAISE EXCEPTION 'fault injected: audit write refused'; END IF;
        RETURN NEW;
      END $$`);
    await w.sql(`CREATE TRIGGER fault_reject_exchanged BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION fault_reject_exchanged()`);
  }

  async function removeFault(): Promise<void> {
    await w.sql('DROP TRIGGER IF EXISTS fault_reject_exchanged ON audit_events');
  }

  it('no token and no issued_tokens row while the audit write fails; exchanges succeed again afterwards', async () => {
    const warm = await w.exchangeAs('alice', { scope: 'read' });
    expect(warm.status).toBe(200);

    await installFault();
    try {
      const issuedBefore = await w.issuedCount();
      const exchangedBefore = await w.auditCount({ type: 'token.exchanged' });
      const statuses: number[] = [];
      for (let i = 0; i < 5; i += 1) {
        const result = await w.exchangeAs('alice', { scope: 'read' });
        expect(result.status).not.toBe(200);
        expect(result.status).toBeGreaterThanOrEqual(400);
        expect(result.json.access_token).toBeUndefined();
        statuses.push(result.status);
        expect(result.text).not.toMatch(/fault injected|audit write refused|deputy_record_exchanges/);
        expectRefusalShape(result);
      }
      // Concurrently too (several outcomes may share one batch).
      const concurrent = await Promise.all(Array.from({ length: 8 }, () => w.exchangeAs('alice', { scope: 'read' })));
      for (const result of concurrent) {
        expect(result.status).not.toBe(200);
        expect(result.json.access_token).toBeUndefined();
      }
      expect(await w.issuedCount()).toBe(issuedBefore);
      expect(await w.auditCount({ type: 'token.exchanged' })).toBe(exchangedBefore);
      console.log(`audit-failure: statuses while the audit write fails: ${[...new Set(statuses)].join(', ')}`);
    } finally {
      await removeFault();
    }

    const issuedBefore = await w.issuedCount();
    const recovered = await w.exchangeAs('alice', { scope: 'read' });
    expect(recovered.status).toBe(200);
    expect(recovered.json.access_token).toEqual(expect.any(String));
    expect(await w.issuedCount()).toBe(issuedBefore + 1);
  });

  it('a denied exchange still writes its denial event while token.exchanged rows are refused', async () => {
    await installFault();
    try {
      const issuedBefore = await w.issuedCount();
      const result = await w.expectRefused(() => w.exchangeAs('mallory', { scope: 'read' }), 'invalid_request');
      expect(result.json.access_token).toBeUndefined();
      expect(await w.issuedCount()).toBe(issuedBefore);
    } finally {
      await removeFault();
    }
  });
});
