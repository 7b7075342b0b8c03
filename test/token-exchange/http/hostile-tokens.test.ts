/**
 * A compact negative corpus over HTTP, for subject tokens and actor assertions. Every hostile
 * token is refused with 400 invalid_request, no access token, an RFC 6749 §5.2 body with only
 * `error` and `error_description`, nothing internal in it, Cache-Control: no-store, no
 * issued-token row and exactly one token.exchange_denied audit event.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SignJWT, exportJWK, type JWTPayload } from 'jose';
import { flipSignatureBit, hs256WithPublicKey, rawJwt, b64url } from '../../support/jwt-fixtures.js';
import {
  RESOURCE,
  TT,
  USER_ISSUER,
  claimsOf,
  expectRefusalShape,
  makeKeyPair,
  startExchangeWorld,
  type HttpResult,
  type KeyPair,
  type World,
} from '../../support/exchange-world.js';

const now = () => Math.floor(Date.now() / 1000);

describe('hostile tokens over HTTP', () => {
  let w: World;
  let attacker: KeyPair;
  beforeAll(async () => {
    // A larger pool so that 50 concurrent requests are limited by the jti store, not by the pool.
    w = await startExchangeWorld({ DATABASE_POOL_SIZE: '20', DATABASE_POOL_TIMEOUT_MS: '10000' });
    attacker = await makeKeyPair('attacker-key');
  });
  afterAll(async () => {
    await w?.stop();
  });

  const userClaims = (overrides: Record<string, unknown> = {}) => ({
    iss: USER_ISSUER,
    sub: 'alice',
    aud: w.issuer,
    iat: now(),
    exp: now() + 300,
    jti: randomUUID(),
    ...overrides,
  });
  const actorClaims = (actorId: string, overrides: Record<string, unknown> = {}) => ({
    iss: actorId,
    sub: actorId,
    aud: w.issuer,
    iat: now(),
    exp: now() + 120,
    jti: randomUUID(),
    ...overrides,
  });
  const asTestKey = (pair: KeyPair) => ({ ...pair, alg: 'ES256' });

  /** Hostile tokens, each built fresh (so a replay is never the reason for a refusal). */
  function corpus(kind: 'subject' | 'actor'): Array<[string, () => Promise<string>]> {
    const claims = (overrides: Record<string, unknown> = {}) => (kind === 'subject' ? userClaims(overrides) : actorClaims('agent:b', overrides));
    const key = () => (kind === 'subject' ? w.userKey : w.actorKeys['agent:b']!);
    const good = (overrides: Record<string, unknown> = {}, header: Record<string, unknown> = {}) =>
      kind === 'subject' ? w.userToken('alice', { claims: overrides, header }) : w.actorAssertion('agent:b', { claims: overrides, header });
    return [
      ['alg none', async () => rawJwt({ alg: 'none', typ: 'JWT' }, claims(), '')],
      ['alg none with a signature', async () => rawJwt({ alg: 'none', kid: key().kid }, claims())],
      ['HS256 keyed with the public key', async () => hs256WithPublicKey(asTestKey(key()), claims())],
      ['a flipped signature bit', async () => flipSignatureBit(await good())],
      [
        'an embedded jwk header (attacker key)',
        async () =>
          new SignJWT(claims() as JWTPayload)
            .setProtectedHeader({ alg: 'ES256', typ: 'JWT', jwk: await exportJWK(attacker.publicKey) })
            .sign(attacker.privateKey),
      ],
      [
        'a jku header pointing elsewhere',
        async () =>
          new SignJWT(claims() as JWTPayload)
            .setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid: attacker.kid, jku: 'https://evil.test/jwks' })
            .sign(attacker.privateKey),
      ],
      ['signed by an unregistered key under the registered kid', async () => signWith(attacker, claims(), key().kid)],
      ['a wrong iss', async () => (kind === 'subject' ? good({ iss: 'https://evil.test' }) : signWith(key(), claims({ iss: 'https://evil.test' }), key().kid))],
      ['a wrong aud', async () => good({ aud: 'https://someone-else.test' })],
      ['expired beyond the clock skew', async () => good({ iat: now() - 600, exp: now() - 120 })],
      ['issued in the future', async () => good({ iat: now() + 600, exp: now() + 900 })],
      ['missing exp', async () => good({ exp: undefined })],
      ['JWE-shaped (five segments)', async () => `${b64url(JSON.stringify({ alg: 'RSA-OAEP', enc: 'A256GCM' }))}.${b64url('k')}.${b64url('iv')}.${b64url('ct')}.${b64url('tag')}`],
      ['oversized (9 KB)', async () => good({ pad: 'x'.repeat(9 * 1024) })],
      ['malformed: not a JWT', async () => 'definitely-not-a-jwt'],
      ['malformed: header not JSON', async () => `${b64url('{not json')}.${b64url(JSON.stringify(claims()))}.${b64url('sig')}`],
      ['malformed: bad base64url', async () => 'a$b.c%d.e!f'],
      ['a crit header', async () => rawJwt({ alg: 'ES256', kid: key().kid, crit: ['exp'] }, claims())],
    ];
  }

  async function signWith(pair: KeyPair, claims: Record<string, unknown>, kid: string): Promise<string> {
    return new SignJWT(claims as JWTPayload).setProtectedHeader({ alg: 'ES256', typ: 'JWT', kid }).sign(pair.privateKey);
  }

  describe('subject tokens', () => {
    it.each(corpus('subject'))('refuses %s', async (_name, build) => {
      const token = await build();
      await w.expectRefused(() => w.exchange({ subject_token: token, subject_token_type: TT.jwt, resource: RESOURCE, scope: 'read' }), 'invalid_request');
    });

    it('refuses a subject unknown to Deputy', async () => {
      await w.expectRefused(() => w.exchangeAs('mallory', { scope: 'read' }), 'invalid_request');
    });

    it('refuses a disabled subject', async () => {
      await w.addSubject('h-disabled', { status: 'disabled', entitlements: ['read'], grants: { 'agent:a': ['read'] } });
      await w.expectRefused(() => w.exchangeAs('h-disabled', { scope: 'read' }), 'invalid_request');
    });

    it('accepts an external token carrying act, but never takes its act as a chain', async () => {
      const token = await w.userToken('alice', { claims: { act: { sub: 'agent:c', act: { sub: 'agent:evil' } } } });
      const result = await w.exchange({ subject_token: token, subject_token_type: TT.jwt, resource: RESOURCE, scope: 'read' });
      expect(result.status).toBe(200);
      const claims = claimsOf(result.json.access_token as string);
      expect(claims.act).toEqual({ sub: 'agent:a' });
      const [row] = await w.sql<{ actor_ids: string[]; parent_jti: string | null }>('SELECT actor_ids, parent_jti FROM issued_tokens WHERE jti = $1', [claims.jti]);
      expect(row).toEqual({ actor_ids: ['agent:a'], parent_jti: null });
    });

    it('refuses a Deputy token whose signature was tampered with, as an access_token subject', async () => {
      const minted = await w.exchangeAs('alice', { scope: 'read' });
      const token = minted.json.access_token as string;
      await w.expectRefused(
        () => w.exchange({ subject_token: flipSignatureBit(token), subject_token_type: TT.accessToken, resource: RESOURCE }, { clientId: 'app-b' }),
        'invalid_request',
      );
      // A re-signed Deputy-looking token with wider scope, signed by an attacker under Deputy's kid.
      const forged = await new SignJWT({ ...claimsOf(token), scope: 'read write delete admin', jti: randomUUID() } as JWTPayload)
        .setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: w.deputy.keyRing.active.kid })
        .sign(attacker.privateKey);
      await w.expectRefused(
        () => w.exchange({ subject_token: forged, subject_token_type: TT.accessToken, resource: RESOURCE }, { clientId: 'app-b' }),
        'invalid_request',
      );
    });
  });

  describe('actor assertions', () => {
    /** app-a may present agent:b; the subject token is a good one, so only the actor token can fail. */
    async function withActorToken(actorToken: string, clientId = 'app-a'): Promise<HttpResult> {
      return w.exchange(
        { subject_token: await w.userToken('alice'), subject_token_type: TT.jwt, actor_token: actorToken, actor_token_type: TT.jwt, resource: RESOURCE, scope: 'read' },
        { clientId },
      );
    }

    it('accepts a good assertion (the baseline for this corpus)', async () => {
      const result = await withActorToken(await w.actorAssertion('agent:b'));
      expect(result.status).toBe(200);
      expect(claimsOf(result.json.access_token as string).act).toEqual({ sub: 'agent:b' });
    });

    it.each(corpus('actor'))('refuses %s', async (_name, build) => {
      const token = await build();
      await w.expectRefused(() => withActorToken(token), 'invalid_request');
    });

    it.each<[string, Record<string, unknown>]>([
      ['iss different from sub', { sub: 'agent:c' }],
      ['exp more than 5 minutes ahead', { exp: now() + 3600 }],
      ['no jti', { jti: undefined }],
      ['an empty jti', { jti: '' }],
      ['aud a list without Deputy', { aud: ['https://someone-else.test'] }],
    ])('refuses an assertion with %s', async (_name, overrides) => {
      const token = await w.actorAssertion('agent:b', { claims: overrides });
      await w.expectRefused(() => withActorToken(token), 'invalid_request');
    });

    it('refuses an assertion for an unknown actor', async () => {
      const token = await w.actorAssertion('agent:ghost', { key: attacker.privateKey, header: { kid: attacker.kid } });
      await w.expectRefused(() => withActorToken(token), 'invalid_request');
    });

    it('refuses an assertion signed with another actor\'s key', async () => {
      const other = w.actorKeys['agent:c']!;
      // Under agent:c's kid, and under agent:b's own kid.
      await w.expectRefused(async () => withActorToken(await w.actorAssertion('agent:b', { key: other.privateKey, header: { kid: other.kid } })), 'invalid_request');
      await w.expectRefused(async () => withActorToken(await w.actorAssertion('agent:b', { key: other.privateKey })), 'invalid_request');
    });

    it('refuses a Deputy access token presented as the actor_token', async () => {
      const minted = await w.exchangeAs('alice', { scope: 'read' });
      expect(minted.status).toBe(200);
      await w.expectRefused(() => withActorToken(minted.json.access_token as string), 'invalid_request');
    });

    it('refuses a user token presented as the actor_token', async () => {
      await w.expectRefused(async () => withActorToken(await w.userToken('alice')), 'invalid_request');
    });

    it('refuses an actor the client may not present', async () => {
      // app-b is bound to agent:b and may present no other actor.
      await w.expectRefused(async () => withActorToken(await w.actorAssertion('agent:c'), 'app-b'), 'invalid_request');
    });

    it('refuses a replayed assertion (sequential): the first use wins', async () => {
      const assertion = await w.actorAssertion('agent:b');
      expect((await withActorToken(assertion)).status).toBe(200);
      await w.expectRefused(() => withActorToken(assertion), 'invalid_request');
      const [row] = await w.sql<{ n: number }>(
        `SELECT count(*)::int AS n FROM used_assertion_jtis
          WHERE namespace = 'actor_assertion' AND issuer = 'agent:b' AND jti_sha256 = sha256(convert_to($1, 'UTF8'))`,
        [claimsOf(assertion).jti],
      );
      expect(row?.n).toBe(1);
    });

    it('50 concurrent replays of one assertion: exactly one 200, the rest refused, each audited once', async () => {
      const assertion = await w.actorAssertion('agent:b');
      const subjectToken = await w.userToken('alice');
      const before = {
        issued: await w.issuedCount(),
        exchanged: await w.auditCount({ type: 'token.exchanged' }),
        denied: await w.auditCount({ type: 'token.exchange_denied', error: 'invalid_request' }),
      };
      const results = await Promise.all(
        Array.from({ length: 50 }, () =>
          w.exchange({ subject_token: subjectToken, subject_token_type: TT.jwt, actor_token: assertion, actor_token_type: TT.jwt, resource: RESOURCE, scope: 'read' }),
        ),
      );
      const statuses = results.map((r) => r.status);
      expect(statuses.filter((s) => s === 200)).toHaveLength(1);
      expect(statuses.filter((s) => s === 400)).toHaveLength(49);
      for (const refused of results.filter((r) => r.status !== 200)) {
        expect(refused.json.error).toBe('invalid_request');
        expectRefusalShape(refused);
      }
      expect(await w.issuedCount()).toBe(before.issued + 1);
      expect(await w.auditCount({ type: 'token.exchanged' })).toBe(before.exchanged + 1);
      expect(await w.auditCount({ type: 'token.exchange_denied', error: 'invalid_request' })).toBe(before.denied + 49);
    });

    it('refuses a disabled actor, through an assertion and as the client\'s own actor', async () => {
      await w.sql(`UPDATE actors SET status = 'disabled' WHERE id = 'agent:c'`);
      try {
        await w.expectRefused(async () => withActorToken(await w.actorAssertion('agent:c')), 'invalid_request');
        await w.expectRefused(() => w.exchangeAs('alice', { scope: 'read' }, { clientId: 'app-c' }), 'invalid_request');
      } finally {
        await w.sql(`UPDATE actors SET status = 'active' WHERE id = 'agent:c'`);
      }
      expect((await w.exchangeAs('alice', { scope: 'read' }, { clientId: 'app-c' })).status).toBe(200);
    });

    it('refuses an expired actor', async () => {
      await w.addActor('agent:expired', { clientId: 'app-expired', expiresAt: new Date(Date.now() - 60_000) });
      await w.addGrant('alice', 'agent:expired', ['read']);
      await w.expectRefused(() => w.exchangeAs('alice', { scope: 'read' }, { clientId: 'app-expired' }), 'invalid_request');
    });

    it('refuses a client that is not an actor and sends no actor token', async () => {
      await w.expectRefused(() => w.exchangeAs('alice', { scope: 'read' }, { clientId: 'app-none' }), 'invalid_request');
    });
  });
});
