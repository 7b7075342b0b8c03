/**
 * Issue 16.1, durability: an event queued by a change is delivered even when Deputy stops
 * before delivering it (the outbox row is the state), and two processes on one database deliver
 * each event of a stream once, in order (the stream's lease).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { freePort } from '../../src/db/embedded.js';
import { buildWorld, claimsOf, PEPPER, SECRETS, type World } from '../support/exchange-world.js';
import { startTestDeputy, type TestDeputy } from '../support/deputy.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { call, PUSH, receiverToken, revokedJti, startPushReceiver, type PushReceiver } from './support.js';

describe('SSF delivery across a restart and across processes', () => {
  let database: TestDatabase;
  let port: number;
  let first: TestDeputy | null = null;
  let second: TestDeputy | null = null;
  let third: TestDeputy | null = null;
  let w: World;
  let receiver: PushReceiver;

  const env = () => ({
    CLIENT_SECRET_PEPPER: PEPPER,
    PORT: String(port),
    ISSUER: `http://127.0.0.1:${port}`,
    SSF_ALLOW_PRIVATE_NETWORK: 'true',
    SSF_RETRY_BASE_MS: '50',
    SSF_RETRY_MAX_MS: '100',
    SSF_DELIVERY_INTERVAL_MS: '50',
  });

  beforeAll(async () => {
    database = await createTestDatabase();
    port = await freePort();
    first = await startTestDeputy(env(), database);
    w = await buildWorld(first);
    receiver = await startPushReceiver(first.url, first.config.ISSUER);
  });
  afterAll(async () => {
    await receiver?.close();
    for (const deputy of [first, second, third]) await deputy?.close().catch(() => {});
    await database?.drop();
  });

  it('an event queued before Deputy stopped is delivered by the next Deputy, after the receiver is back', async () => {
    const token = ((await (await receiverToken(first!.url, 'resource-server', SECRETS['resource-server']!)).json()) as { access_token: string }).access_token;
    const created = await call(first!.url, token, 'POST', '/ssf/streams', { delivery: { method: PUSH, endpoint_url: `${receiver.url}/restart` } });
    expect(created.status).toBe(201);
    receiver.status = 503;
    const minted = await w.exchangeAs('alice', { scope: 'read' });
    const jti = claimsOf(minted.json.access_token as string).jti as string;
    expect((await w.revoke(minted.json.access_token as string)).status).toBe(200);
    await first!.close();
    first = null;
    receiver.status = 202;
    expect(receiver.on('/restart')).toEqual([]);

    second = await startTestDeputy(env(), database);
    const [set] = await receiver.waitFor('/restart', 1);
    expect(revokedJti(set!)).toBe(jti);
  });

  it('two processes deliver each event of a stream once, in the order of the changes', async () => {
    const otherEnv = { ...env(), PORT: String(await freePort()) };
    third = await startTestDeputy(otherEnv, database);
    const jtis: string[] = [];
    for (let i = 0; i < 20; i += 1) {
      const minted = await w.exchangeAs('alice', { scope: 'read' });
      jtis.push(claimsOf(minted.json.access_token as string).jti as string);
      await second!.pool.query(`UPDATE issued_tokens SET revoked_at = now() WHERE jti = $1`, [jtis[i]]);
    }
    const sets = await receiver.waitFor('/restart', 21);
    await new Promise((resolve) => setTimeout(resolve, 300));
    const delivered = receiver.on('/restart').map(revokedJti).slice(1);
    expect(delivered).toEqual(jtis);
    expect(sets.length).toBe(21);
  });
});
