/**
 * RFC 7009 revocation of the person's IdP token at Deputy (issue 16 item 3,
 * src/oauth/subject-token-revocation.ts): the IdP token is remembered as revoked, every token
 * derived from it (chains included) stops being active with a Shared Signals event, a later
 * exchange presenting it is refused; anything that does not verify changes nothing. The answer
 * is 200 either way (RFC 7009 §2.2).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { generateKeyPair } from 'jose';
import { claimsOf, RESOURCE, startExchangeWorld, TT, type World } from '../support/exchange-world.js';

describe('revoking the person’s IdP token at Deputy', () => {
  let w: World;

  beforeAll(async () => {
    w = await startExchangeWorld();
    // A resource server's stream: the session-revoked events of RESOURCE's tokens land in its outbox.
    await w.sql(
      `INSERT INTO ssf_streams (client_id, audience, delivery_method, events_delivered)
       VALUES ('resource-server', ARRAY[$1], 'poll', ARRAY[deputy_ssf_session_revoked_type()])`,
      [RESOURCE],
    );
  });
  afterAll(async () => {
    await w?.stop();
  });

  /** alice's IdP token exchanged by app-a (agent:a), then that token by app-b (agent:b): a 2-hop chain. */
  async function chainFrom(idpToken: string): Promise<{ first: string; second: string }> {
    const first = await w.exchange({ subject_token: idpToken, subject_token_type: TT.jwt, resource: RESOURCE, scope: 'read' });
    expect(first.status).toBe(200);
    const second = await w.exchange(
      { subject_token: String(first.json.access_token), subject_token_type: TT.accessToken, resource: RESOURCE, scope: 'read' },
      { clientId: 'app-b' },
    );
    expect(second.status).toBe(200);
    return { first: String(first.json.access_token), second: String(second.json.access_token) };
  }

  const active = async (token: string) => (await w.introspect(token)).json.active;
  const outboxReasons = async (token: string) =>
    (await w.sql<{ reason: string }>(`SELECT payload ->> 'reason' AS reason FROM ssf_outbox WHERE subject ->> 'jti' = $1`, [String(claimsOf(token).jti)])).map(
      (row) => row.reason,
    );

  it('deactivates every token derived from it, chains included, queues their events, and refuses it afterwards', async () => {
    const idpToken = await w.userToken('alice');
    const { first, second } = await chainFrom(idpToken);
    const unrelated = await chainFrom(await w.userToken('alice'));
    expect([await active(first), await active(second)]).toEqual([true, true]);

    const reply = await w.revoke(idpToken);
    expect(reply.status).toBe(200);
    expect(reply.text).toBe('');

    expect([await active(first), await active(second)]).toEqual([false, false]);
    expect(await outboxReasons(first)).toEqual(['upstream_token_revoked']);
    expect(await outboxReasons(second)).toEqual(['upstream_token_revoked']);
    // Another IdP token of the same person, and what derives from it, are untouched.
    expect([await active(unrelated.first), await active(unrelated.second)]).toEqual([true, true]);

    const refused = await w.exchange({ subject_token: idpToken, subject_token_type: TT.jwt, resource: RESOURCE, scope: 'read' });
    expect(refused.status).toBe(400);
    expect(refused.json).toEqual({ error: 'invalid_request', error_description: 'subject token is not active' });
    expect(await w.lastEvent('token.exchange_denied')).toMatchObject({ error: 'invalid_request', details: { reason: 'live_facts.subject_token_revoked' } });

    const [event] = await w.sql<{ client_id: string; subject_id: string; details: Record<string, unknown> }>(
      `SELECT client_id, subject_id, details FROM audit_events WHERE type = 'subject_token.revoked' ORDER BY id DESC LIMIT 1`,
    );
    expect(event).toMatchObject({ client_id: 'app-a', subject_id: 'alice', details: { issuer: 'https://idp.test' } });
    expect([...(event!.details.revoked_jtis as string[])].sort()).toEqual([claimsOf(first).jti, claimsOf(second).jti].sort());
    expect(JSON.stringify(event)).not.toContain(idpToken);
    const tokenEvents = await w.sql<{ jti: string; details: Record<string, unknown> }>(
      `SELECT jti, details FROM audit_events WHERE type = 'token.revoked' AND jti = ANY($1)`,
      [[claimsOf(first).jti, claimsOf(second).jti]],
    );
    expect(tokenEvents).toHaveLength(2);
    for (const e of tokenEvents) expect(e.details).toEqual({ via: 'revocation_endpoint', reason: 'upstream_token_revoked', revoked_by_client: 'app-a' });
  });

  it('lets another authenticated client revoke it: holding the token proves possession', async () => {
    const idpToken = await w.userToken('alice');
    const { first } = await chainFrom(idpToken);
    expect((await w.revoke(idpToken, { clientId: 'app-c' })).status).toBe(200);
    expect(await active(first)).toBe(false);
  });

  it('changes nothing without client authentication: 401, and the token still exchanges', async () => {
    const idpToken = await w.userToken('alice');
    const { first } = await chainFrom(idpToken);
    const events = await w.auditCount();
    expect((await w.revoke(idpToken, { clientId: 'app-a', secret: 'wrong-secret' })).status).toBe(401);
    expect((await w.revoke(idpToken, { method: 'none' })).status).toBe(401);
    expect(await w.auditCount()).toBe(events);
    expect(await active(first)).toBe(true);
    expect((await w.exchange({ subject_token: idpToken, subject_token_type: TT.jwt, resource: RESOURCE, scope: 'read' })).status).toBe(200);
  });

  it('revokes once: a second revocation writes nothing', async () => {
    const idpToken = await w.userToken('alice');
    await chainFrom(idpToken);
    expect((await w.revoke(idpToken)).status).toBe(200);
    const events = await w.auditCount();
    expect((await w.revoke(idpToken)).status).toBe(200);
    expect(await w.auditCount()).toBe(events);
  });

  it('changes nothing for a token with a bad signature, from an untrusted issuer, expired, or not a JWT, and still answers 200', async () => {
    const idpToken = await w.userToken('alice');
    const { first, second } = await chainFrom(idpToken);
    const { privateKey: stranger } = await generateKeyPair('ES256');
    const [header, payload] = idpToken.split('.');
    const hostile = [
      await w.userToken('alice', { key: stranger }),
      `${header}.${payload}.${'A'.repeat(86)}`,
      await w.userToken('alice', { claims: { iss: 'https://evil.test' } }),
      await w.userToken('alice', { claims: { aud: 'https://someone-else.test' } }),
      await w.userToken('alice', { claims: { iat: Math.floor(Date.now() / 1000) - 7200, exp: Math.floor(Date.now() / 1000) - 3600 } }),
      'not-a-jwt',
    ];
    const events = await w.auditCount();
    for (const token of hostile) {
      const reply = await w.revoke(token);
      expect(reply.status).toBe(200);
      expect(reply.text).toBe('');
    }
    expect(await w.auditCount()).toBe(events);
    expect(await w.sql('SELECT 1 FROM revoked_subject_tokens WHERE sha256 = ANY($1)', [hostile.map((t) => Buffer.from(t))])).toEqual([]);
    expect([await active(first), await active(second)]).toEqual([true, true]);
    // The real token still exchanges.
    expect((await w.exchange({ subject_token: idpToken, subject_token_type: TT.jwt, resource: RESOURCE, scope: 'read' })).status).toBe(200);
  });

  it('records the provenance: the IdP token’s digest on every token of the chain', async () => {
    const idpToken = await w.userToken('alice');
    const { first, second } = await chainFrom(idpToken);
    const rows = await w.sql<{ digest: string }>(`SELECT encode(subject_token_sha256, 'hex') AS digest FROM issued_tokens WHERE jti = ANY($1)`, [
      [claimsOf(first).jti, claimsOf(second).jti],
    ]);
    const { createHash } = await import('node:crypto');
    const expected = createHash('sha256').update(idpToken).digest('hex');
    expect(rows.map((r) => r.digest)).toEqual([expected, expected]);
  });
});
