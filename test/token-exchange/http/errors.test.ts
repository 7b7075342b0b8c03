/**
 * SPEC §3 errors over HTTP: request-level mistakes, client authentication, and a database that
 * goes away during operation (fail closed with 503, recover without a restart).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startOutageHarness, type OutageHarness } from '../../support/outage.js';
import {
  RESOURCE,
  TT,
  expectRefusalShape,
  startExchangeWorld,
  type World,
} from '../../support/exchange-world.js';

describe('token endpoint errors', () => {
  let w: World;
  beforeAll(async () => {
    w = await startExchangeWorld();
  });
  afterAll(async () => {
    await w?.stop();
  });

  async function base(extra: Record<string, string | string[]> = {}): Promise<Record<string, string | string[]>> {
    return { subject_token: await w.userToken('alice'), subject_token_type: TT.jwt, resource: RESOURCE, scope: 'read', ...extra };
  }

  describe('malformed requests → 400 invalid_request, no token', () => {
    it.each(['resource', 'scope', 'subject_token_type', 'audience'])('a duplicated %s parameter', async (name) => {
      const params = await base();

      const value = name === 'audience' ? RESOURCE : (params[name] as string);
      const result = await w.exchange({ ...params, [name]: [value, value] });
      expect(result.status).toBe(400);
      expect(result.json.error).toBe('invalid_request');
      expectRefusalShape(result);
    });

    it('a duplicated subject_token parameter', async () => {
      const params = await base();
      const result = await w.exchange({ ...params, subject_token: [params.subject_token as string, await w.userToken('bob')] });
      expect(result.status).toBe(400);
      expect(result.json.error).toBe('invalid_request');
      expectRefusalShape(result);
    });

    it('an unsupported requested_token_type', async () => {
      await w.expectRefused(async () => w.exchange(await base({ requested_token_type: 'urn:ietf:params:oauth:token-type:saml2' })), 'invalid_request');
      await w.expectRefused(async () => w.exchange(await base({ requested_token_type: TT.idToken })), 'invalid_request');
    });

    it.each([TT.accessToken, TT.jwt])('a supported requested_token_type %s is honoured', async (type) => {
      const result = await w.exchange(await base({ requested_token_type: type }));
      expect(result.status).toBe(200);
      expect(result.json.issued_token_type).toBe(TT.accessToken);
    });

    it('an unsupported subject_token_type', async () => {
      await w.expectRefused(async () => w.exchange(await base({ subject_token_type: 'urn:ietf:params:oauth:token-type:saml2' })), 'invalid_request');
    });

    it('a missing subject_token or subject_token_type', async () => {
      await w.expectRefused(() => w.exchange({ subject_token_type: TT.jwt, resource: RESOURCE }), 'invalid_request');
      await w.expectRefused(async () => w.exchange({ subject_token: await w.userToken('alice'), resource: RESOURCE }), 'invalid_request');
    });

    it('actor_token without actor_token_type, and the reverse, and an unsupported actor_token_type', async () => {
      await w.expectRefused(async () => w.exchange(await base({ actor_token: await w.actorAssertion('agent:b') })), 'invalid_request');
      await w.expectRefused(async () => w.exchange(await base({ actor_token_type: TT.jwt })), 'invalid_request');
      await w.expectRefused(
        async () => w.exchange(await base({ actor_token: await w.actorAssertion('agent:b'), actor_token_type: TT.accessToken })),
        'invalid_request',
      );
    });

    it('a malformed scope → invalid_scope', async () => {
      const before = await w.issuedCount();
      const result = await w.exchange(await base({ scope: 'read "quoted"' }));
      expect(result.status).toBe(400);
      expect(result.json.error).toBe('invalid_scope');
      expectRefusalShape(result);
      expect(await w.issuedCount()).toBe(before);
    });

    it('audits a duplicated parameter and a malformed scope as denied exchanges', async () => {
      const params = await base();
      await w.expectRefused(() => w.exchange({ ...params, resource: [RESOURCE, RESOURCE] }), 'invalid_request');
      await w.expectRefused(async () => w.exchange(await base({ scope: 'read "quoted"' })), 'invalid_scope');
    });

    it('a resource with a fragment or not absolute → invalid_target', async () => {
      await w.expectRefused(async () => w.exchange(await base({ resource: `${RESOURCE}#frag` })), 'invalid_target');
      await w.expectRefused(async () => w.exchange(await base({ resource: 'tickets' })), 'invalid_target');
    });

    it('an unsupported grant_type → unsupported_grant_type, no-store', async () => {
      const result = await w.exchange({ ...(await base()), grant_type: 'urn:example:grant' });
      expect(result.status).toBe(400);
      expect(result.json.error).toBe('unsupported_grant_type');
      expectRefusalShape(result);
    });
  });

  describe('client authentication → 401 invalid_client', () => {
    it('a wrong client secret', async () => {
      const before = await w.issuedCount();
      const result = await w.exchange(await base(), { clientId: 'app-a', secret: 'not-the-secret' });
      expect(result.status).toBe(401);
      expect(result.json.error).toBe('invalid_client');
      expectRefusalShape(result);
      expect(await w.issuedCount()).toBe(before);
    });

    it('an unknown client', async () => {
      const result = await w.exchange(await base(), { clientId: 'app-unknown', secret: 'whatever' });
      expect(result.status).toBe(401);
      expect(result.json.error).toBe('invalid_client');
      expectRefusalShape(result);
    });

    it('no client authentication at all', async () => {
      const result = await w.exchange(await base(), { method: 'none' });
      expect(result.status).toBe(401);
      expect(result.json.error).toBe('invalid_client');
      expect(result.headers.get('www-authenticate')).toMatch(/^Basic realm=/);
      expect(result.json.access_token).toBeUndefined();
      expect(result.headers.get('cache-control')).toBe('no-store');
    });

    it('a client secret for a private_key_jwt client', async () => {
      const result = await w.exchange(await base(), { clientId: 'app-jwt', secret: 'guess' });
      expect(result.status).toBe(401);
      expect(result.json.error).toBe('invalid_client');
    });
  });
});

/**
 * A database that stops accepting connections while Deputy runs. Deputy connects as an ordinary
 * (non-superuser) role of its own, because CONNECTION LIMIT does not apply to superusers.
 */
describe('the database goes away during operation', () => {
  let harness: OutageHarness;
  let w: World;
  const cutOff = () => harness.cutOff({ waitForPoolToEmpty: false });
  const restore = () => harness.restore();

  beforeAll(async () => {
    harness = await startOutageHarness();
    w = harness.world;
  });

  afterAll(async () => {
    await harness?.stop();
  });

  /** One exchange while the database refuses connections; always restores it. */
  async function exchangeDuringOutage() {
    const subjectToken = await w.userToken('alice');
    await cutOff();
    try {
      return await w.exchange({ subject_token: subjectToken, subject_token_type: TT.jwt, resource: RESOURCE, scope: 'read' });
    } finally {
      await restore();
    }
  }

  it('fails closed (no token, nothing internal leaked), then recovers without a restart', async () => {
    // Warm: the client is known and an exchange works.
    expect((await w.exchangeAs('alice', { scope: 'read' })).status).toBe(200);
    const issuedBefore = await w.issuedCount();

    const result = await exchangeDuringOutage();
    expect(result.status).toBeGreaterThanOrEqual(500);
    expect(result.json.access_token).toBeUndefined();
    expectRefusalShape(result);
    expect(await w.issuedCount()).toBe(issuedBefore);

    const recovered = await w.exchangeAs('alice', { scope: 'read' });
    expect(recovered.status).toBe(200);
    expect(recovered.json.access_token).toEqual(expect.any(String));
    expect(await w.issuedCount()).toBe(issuedBefore + 1);
  });

  it('answers 503 temporarily_unavailable while the database is away', async () => {
    const result = await exchangeDuringOutage();
    expect(result.status).toBe(503);
    expect(result.json.error).toBe('temporarily_unavailable');
    expectRefusalShape(result);
    expect(result.headers.get('retry-after')).toBe('1');
    expect((await w.exchangeAs('alice', { scope: 'read' })).status).toBe(200);
  });

  async function introspectDuringOutage(token: string) {
    await cutOff();
    try {
      return await w.introspect(token);
    } finally {
      await restore();
    }
  }

  it('introspection never answers active:true while the database is away, and recovers', async () => {
    const minted = await w.exchangeAs('alice', { scope: 'read' });
    expect(minted.status).toBe(200);
    const token = minted.json.access_token as string;
    const result = await introspectDuringOutage(token);
    expect(result.status).toBeGreaterThanOrEqual(500);
    expect(result.json.active).toBeUndefined();
    expect((await w.introspect(token)).json.active).toBe(true);
  });

  it('introspection answers 503 temporarily_unavailable while the database is away', async () => {
    const minted = await w.exchangeAs('alice', { scope: 'read' });
    const result = await introspectDuringOutage(minted.json.access_token as string);
    expect(result.status).toBe(503);
    expect(result.json.error).toBe('temporarily_unavailable');
    expect(result.headers.get('retry-after')).toBe('1');
    expect(result.headers.get('cache-control')).toBe('no-store');
  });
});

