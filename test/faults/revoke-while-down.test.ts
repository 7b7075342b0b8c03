/**
 * Fault: an admin revokes a grant while the database is unreachable. The revocation must not
 * claim success (503, never 200); after the database comes back the grant is still unrevoked
 * (nothing was half-applied or queued), until it is revoked again, which then bites at once.
 *
 * Deputy connects as an ordinary role of its own, because CONNECTION LIMIT does not apply to
 * superusers (same technique as test/token-exchange/http/errors.test.ts).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import type { TestDatabase } from '../support/database.js';
import type { World } from '../support/exchange-world.js';
import { guardedExchange, leaksIn, send } from '../support/hostile.js';
import { startOutageHarness, type OutageHarness } from '../support/outage.js';

const ADMIN_TOKEN = `revoke-while-down-${'z'.repeat(32)}`;

describe('fault: revoking a grant while the database is down', () => {
  let harness: OutageHarness;
  let database: TestDatabase;
  let w: World;
  const admin = <T>(databaseName: string | null, work: (client: pg.Client) => Promise<T>) => harness.admin(databaseName, work);
  const cutOff = () => harness.cutOff({ waitForPoolToEmpty: true });
  const restore = () => harness.restore();

  /** Reads the grant as the database holds it, through a superuser connection (works during the outage). */
  async function grantRow(id: string): Promise<{ revoked_at: Date | null; revoked_by: string | null }> {
    return admin(database.name, async (client) => {
      const { rows } = await client.query<{ revoked_at: Date | null; revoked_by: string | null }>(
        'SELECT revoked_at, revoked_by FROM delegation_grants WHERE id = $1',
        [id],
      );
      return rows[0]!;
    });
  }

  const adminCall = (method: string, path: string, body?: unknown) =>
    send(`${w.deputy.url}/admin/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
      body: body === undefined ? null : JSON.stringify(body),
    });

  beforeAll(async () => {
    harness = await startOutageHarness({ DEPUTY_ADMIN_TOKEN: ADMIN_TOKEN });
    database = harness.database;
    w = harness.world;
  });

  afterAll(async () => {
    await harness?.stop();
  });

  it('answers 503 (never 200) during the outage; the grant stays unrevoked until revoked again', async () => {
    const grantId = w.grantIds['agent:a']!;
    // Warm: the admin API and the exchange both work.
    expect((await adminCall('GET', `/grants/${grantId}`)).status).toBe(200);
    expect((await guardedExchange(w)).status).toBe(200);
    const revokedEventsBefore = await w.auditCount({ type: 'grant.revoked' });

    await cutOff();
    let during;
    let duringNoBody;
    let readDuring;
    try {
      during = await adminCall('POST', `/grants/${grantId}/revoke`, { reason: 'incident 42' });
      duringNoBody = await adminCall('POST', `/grants/${grantId}/revoke`);
      readDuring = await adminCall('GET', `/grants/${grantId}`);
      // The database itself still says unrevoked (read through a superuser, which the limit spares).
      expect((await grantRow(grantId)).revoked_at).toBeNull();
    } finally {
      await restore();
    }
    for (const result of [during, duringNoBody]) {
      expect(result.status).not.toBe(200);
      expect(result.status).toBe(503);
      expect(result.json.error).toBe('temporarily_unavailable');
      expect(result.json.revoked_at).toBeUndefined();
      expect(leaksIn(result.text)).toEqual([]);
      expect(result.text).not.toContain(ADMIN_TOKEN);
    }
    expect(readDuring.status).toBe(503);

    // Back up: nothing was applied or queued.
    const after = await adminCall('GET', `/grants/${grantId}`);
    expect(after.status).toBe(200);
    expect(after.json.revoked_at).toBeNull();
    expect((await grantRow(grantId)).revoked_at).toBeNull();
    expect(await w.auditCount({ type: 'grant.revoked' })).toBe(revokedEventsBefore);
    const stillWorks = await guardedExchange(w);
    expect(stillWorks.status).toBe(200);
    const tokenBefore = stillWorks.json.access_token as string;

    // Revoke again, with the database up: it bites at once.
    const revoked = await adminCall('POST', `/grants/${grantId}/revoke`, { reason: 'incident 42, retried' });
    expect(revoked.status).toBe(200);
    expect(revoked.json.revoked_at).toEqual(expect.any(String));
    expect((await grantRow(grantId)).revoked_at).not.toBeNull();
    expect(await w.auditCount({ type: 'grant.revoked' })).toBe(revokedEventsBefore + 1);
    const refused = await guardedExchange(w);
    expect(refused.status).toBe(400);
    expect(refused.json.access_token).toBeUndefined();
    expect((await w.introspect(tokenBefore)).json.active).toBe(false);
  });

  it('token revocation by jti through the admin API also answers 503 during an outage and applies nothing', async () => {
    const grantId = await w.addGrant('alice', 'agent:a', ['read']);
    const minted = await guardedExchange(w);
    expect(minted.status).toBe(200);
    const token = minted.json.access_token as string;
    const jti = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString('utf8')).jti as string;
    expect(grantId).toEqual(expect.any(String));

    await cutOff();
    let during;
    try {
      during = await adminCall('POST', `/tokens/${encodeURIComponent(jti)}/revoke`);
    } finally {
      await restore();
    }
    expect(during.status).toBe(503);
    expect(leaksIn(during.text)).toEqual([]);
    expect((await w.introspect(token)).json.active).toBe(true);
    const revoked = await adminCall('POST', `/tokens/${encodeURIComponent(jti)}/revoke`);
    expect(revoked.status).toBe(200);
    expect((await w.introspect(token)).json.active).toBe(false);
  });

  it('RFC 7009 revocation at /token/revocation during an outage never claims success (no 200) and applies nothing', async () => {
    const minted = await guardedExchange(w);
    expect(minted.status).toBe(200);
    const token = minted.json.access_token as string;

    await cutOff();
    let during;
    try {
      during = await w.revoke(token);
    } finally {
      await restore();
    }
    console.log(`revoke-while-down: /token/revocation during the outage → ${during.status} ${during.text}`);
    expect(during.status).not.toBe(200);
    expect(during.status).toBe(503);
    expect(leaksIn(during.text, [token])).toEqual([]);
    expect((await w.introspect(token)).json.active).toBe(true);
    expect((await w.revoke(token)).status).toBe(200);
    expect((await w.introspect(token)).json.active).toBe(false);
  });

  /**
   * A pooled connection that dies while an admin transaction holds it used to surface as an
   * unhandled 'error' event and bring the process down. Deterministic here: the grant row is
   * locked, so Deputy's UPDATE waits inside its transaction, and that backend is terminated.
   */
  it('a connection killed inside an admin transaction (grant revoke) answers 503 and the process keeps serving', async () => {
    const grantId = await w.addGrant('alice', 'agent:a', ['read']);
    const url = new URL(process.env.DEPUTY_TEST_ADMIN_URL!);
    url.pathname = `/${database.name}`;
    const locker = new pg.Client({ connectionString: url.toString() });
    await locker.connect();
    try {
      await locker.query('BEGIN');
      await locker.query('SELECT 1 FROM delegation_grants WHERE id = $1 FOR UPDATE', [grantId]);
      const pending = adminCall('POST', `/grants/${grantId}/revoke`, { reason: 'killed mid-transaction' });
      let pid: number | undefined;
      while (pid === undefined) {
        const { rows } = await locker.query<{ pid: number }>(
          `SELECT pid FROM pg_stat_activity WHERE datname = $1 AND usename = $2 AND wait_event_type = 'Lock'`,
          [database.name, harness.role],
        );
        pid = rows[0]?.pid;
        if (pid === undefined) await new Promise((resolve) => setTimeout(resolve, 10));
      }
      await locker.query('SELECT pg_terminate_backend($1)', [pid]);
      const result = await pending;
      expect(result.status).toBe(503);
      expect(result.json.error).toBe('temporarily_unavailable');
      expect(leaksIn(result.text)).toEqual([]);
      await locker.query('ROLLBACK');
    } finally {
      await locker.end();
    }
    expect((await grantRow(grantId)).revoked_at).toBeNull();
    expect((await adminCall('GET', `/grants/${grantId}`)).status).toBe(200);
  });
});
