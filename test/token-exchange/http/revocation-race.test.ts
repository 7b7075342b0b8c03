/**
 * A revocation that lands while a token is being minted. Made deterministic with a row lock:
 * an uncommitted revocation holds the grant (or actor, or subject) row, the exchange reads the
 * old row (MVCC) and decides to grant, then must wait for that row when it records the token;
 * once the revocation commits, the token must not be issued. With a rollback instead, the same
 * exchange succeeds — which shows it was waiting on exactly that row.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { claimsOf, startExchangeWorld, type HttpResult, type World } from '../../support/exchange-world.js';

const ALL = ['read', 'write', 'delete', 'admin'];

describe('a revocation racing an exchange', () => {
  let w: World;
  beforeAll(async () => {
    w = await startExchangeWorld();
    await w.addActor('agent:race', { clientId: 'app-race' });
  });
  afterAll(async () => {
    await w?.stop();
  });

  /** Waits until a Deputy connection is blocked on a lock (bounded, not a timing assertion). */
  async function untilDeputyWaitsOnALock(): Promise<void> {
    for (let attempt = 0; attempt < 400; attempt += 1) {
      const [row] = await w.sql<{ n: number }>(
        `SELECT count(*)::int AS n FROM pg_stat_activity
          WHERE datname = current_database() AND application_name = 'deputy' AND wait_event_type = 'Lock'`,
      );
      if (row!.n > 0) return;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    throw new Error('the exchange never waited on the locked row');
  }

  /**
   * Runs `change` in an open transaction, starts an exchange, waits until the exchange blocks on
   * the changed row, then commits (or rolls back) and returns the exchange's answer.
   */
  async function exchangeAround(subject: string, change: (client: pg.Client) => Promise<unknown>, end: 'COMMIT' | 'ROLLBACK'): Promise<HttpResult> {
    const client = new pg.Client({ connectionString: w.deputy.database.url });
    await client.connect();
    try {
      await client.query('BEGIN');
      await change(client);
      const pending = w.exchangeAs(subject, { scope: 'read' }, { clientId: 'app-race' });
      try {
        await untilDeputyWaitsOnALock();
      } finally {
        await client.query(end);
      }
      return await pending;
    } finally {
      await client.end();
    }
  }

  async function expectRevokedWhileMinting(result: HttpResult, issuedBefore: number): Promise<void> {
    expect(result.status).toBe(400);
    expect(result.json.error).toBe('invalid_request');
    expect(result.json.access_token).toBeUndefined();
    expect(await w.issuedCount()).toBe(issuedBefore);
    expect(await w.lastEvent()).toMatchObject({ type: 'token.exchange_denied', error: 'invalid_request', jti: null });
  }

  it('a grant revoked while the token is minted: no token (and with a rollback, the token)', async () => {
    const grants = await w.addSubject('race-grant', { entitlements: ALL, grants: { 'agent:race': ALL } });
    const revoke = (client: pg.Client) => client.query('UPDATE delegation_grants SET revoked_at = now() WHERE id = $1', [grants['agent:race']]);

    const kept = await exchangeAround('race-grant', revoke, 'ROLLBACK');
    expect(kept.status).toBe(200);
    expect(claimsOf(kept.json.access_token as string).grant_id).toBe(grants['agent:race']);

    const before = await w.issuedCount();
    await expectRevokedWhileMinting(await exchangeAround('race-grant', revoke, 'COMMIT'), before);
  });

  it('the subject disabled while the token is minted: no token', async () => {
    await w.addSubject('race-subject', { entitlements: ALL, grants: { 'agent:race': ALL } });
    const before = await w.issuedCount();
    const result = await exchangeAround('race-subject', (client) => client.query(`UPDATE subjects SET status = 'disabled' WHERE id = 'race-subject'`), 'COMMIT');
    await expectRevokedWhileMinting(result, before);
  });

  it('the actor disabled while the token is minted: no token', async () => {
    await w.addSubject('race-actor', { entitlements: ALL, grants: { 'agent:race': ALL } });
    const before = await w.issuedCount();
    try {
      const result = await exchangeAround('race-actor', (client) => client.query(`UPDATE actors SET status = 'disabled' WHERE id = 'agent:race'`), 'COMMIT');
      await expectRevokedWhileMinting(result, before);
    } finally {
      await w.sql(`UPDATE actors SET status = 'active' WHERE id = 'agent:race'`);
    }
  });
});
