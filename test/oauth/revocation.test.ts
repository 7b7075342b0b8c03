/**
 * Revocation of an issued token is one implementation (src/oauth/revocation.ts) behind both
 * ways in: RFC 7009's /token/revocation (the token's client) and the admin API's
 * POST /admin/v1/tokens/:jti/revoke. Both write the same `token.revoked` event from the token's
 * record, differing only in who asked and why; a second revocation, either way, changes nothing.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { claimsOf, startExchangeWorld, type World } from '../support/exchange-world.js';

const ADMIN_TOKEN = `revocation-once-${'r'.repeat(32)}`;

describe('revoking an issued token, through either door', () => {
  let w: World;

  beforeAll(async () => {
    w = await startExchangeWorld({ DEPUTY_ADMIN_TOKEN: ADMIN_TOKEN });
  });
  afterAll(async () => {
    await w?.stop();
  });

  const adminRevoke = (jti: string, body: unknown) =>
    fetch(`${w.deputy.url}/admin/v1/tokens/${encodeURIComponent(jti)}/revoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });

  async function mint(): Promise<{ token: string; jti: string }> {
    const result = await w.exchangeAs('alice');
    expect(result.status).toBe(200);
    const token = String(result.json.access_token);
    return { token, jti: String(claimsOf(token).jti) };
  }

  const revokedEvents = (jti: string) =>
    w.sql<Record<string, unknown>>(
      `SELECT type, jti, subject_id, actor_ids, client_id, resource_uri, grant_id, admin, details FROM audit_events
        WHERE type = 'token.revoked' AND jti = $1`,
      [jti],
    );

  it('writes the same token.revoked event from the token’s record; only who and why differ', async () => {
    const viaEndpoint = await mint();
    const viaAdmin = await mint();

    expect((await w.revoke(viaEndpoint.token)).status).toBe(200);
    const reply = await adminRevoke(viaAdmin.jti, { reason: 'leaked' });
    expect(reply.status).toBe(200);
    expect(await reply.json()).toMatchObject({ jti: viaAdmin.jti, revoked_at: expect.any(String) });

    const [endpointEvent] = await revokedEvents(viaEndpoint.jti);
    const [adminEvent] = await revokedEvents(viaAdmin.jti);
    const record = (jti: string) =>
      w.sql<Record<string, unknown>>('SELECT subject_id, actor_ids, client_id, resource_uri, grant_id FROM issued_tokens WHERE jti = $1', [jti]);
    expect(endpointEvent).toEqual({ type: 'token.revoked', jti: viaEndpoint.jti, ...(await record(viaEndpoint.jti))[0], admin: null, details: { via: 'revocation_endpoint' } });
    expect(adminEvent).toEqual({ type: 'token.revoked', jti: viaAdmin.jti, ...(await record(viaAdmin.jti))[0], admin: 'bootstrap', details: { reason: 'leaked' } });

    for (const { token } of [viaEndpoint, viaAdmin]) expect((await w.introspect(token)).json).toEqual({ active: false });
  });

  it('revokes once: a second revocation through either door writes no event and keeps the first time', async () => {
    const { token, jti } = await mint();
    expect((await w.revoke(token)).status).toBe(200);
    const [{ revoked_at: first }] = (await w.sql<{ revoked_at: Date }>('SELECT revoked_at FROM issued_tokens WHERE jti = $1', [jti])) as [
      { revoked_at: Date },
    ];

    expect((await w.revoke(token)).status).toBe(200);
    const again = await adminRevoke(jti, { reason: 'again' });
    expect(again.status).toBe(200);
    expect(((await again.json()) as { revoked_at: string }).revoked_at).toBe(first.toISOString());

    expect(await revokedEvents(jti)).toHaveLength(1);
    const [{ revoked_at: still }] = (await w.sql<{ revoked_at: Date }>('SELECT revoked_at FROM issued_tokens WHERE jti = $1', [jti])) as [
      { revoked_at: Date },
    ];
    expect(still.toISOString()).toBe(first.toISOString());
  });

  it('answers an unknown jti: 404 from the admin API, nothing written', async () => {
    const before = await w.auditCount({ type: 'token.revoked' });
    expect((await adminRevoke('no-such-jti', {})).status).toBe(404);
    expect(await w.auditCount({ type: 'token.revoked' })).toBe(before);
  });
});
