/**
 * The grant handler on fake ports (no database, no oidc-provider request): a refusal at any
 * step never reaches sign and never records a token, and writes exactly one denial event
 * (Spring's verifyNoInteractions); a grant signs once and records the token with its event
 * before it answers. The database-backed suites (test/token-exchange/http/, test/hostile/,
 * test/faults/) check the same end to end.
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { errors as providerErrors, type KoaContextWithOIDC } from 'oidc-provider';
import { invalidRequest } from '../../src/errors.js';
import type { ExchangeOutcome, RecordStatus } from '../../src/token-exchange/record.js';
import type { TokenExchangePorts } from '../../src/token-exchange/ports.js';
import { createTokenExchangeHandler } from '../../src/token-exchange/handler.js';
import type { LiveFacts, ParentTokenRecord } from '../../src/token-exchange/live-facts.js';
import { RateLimited } from '../../src/token-exchange/rate-limit.js';
import type { SubjectIdentity } from '../../src/token-exchange/subject.js';
import { createMetrics } from '../../src/http/metrics.js';
import { createLogger } from '../../src/log.js';

const RESOURCE = 'https://api.test/tickets';
const NOW = Math.floor(Date.now() / 1000);
const PARAMS = {
  grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
  subject_token: 'header.payload.signature',
  subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
  resource: RESOURCE,
  scope: 'read',
};

const actor = (id: string) => ({
  id,
  status: 'active',
  disabledAt: null,
  expiresAt: null,
  scopeCeiling: ['read', 'write'],
  resources: [RESOURCE],
  maxTokenTtl: null,
  mayDelegateTo: ['agent:b'],
});

function externalSubject(): SubjectIdentity {
  return {
    facts: {
      subjectId: 'alice',
      exp: NOW + 3600,
      scopes: null,
      chain: [],
      chainGrantIds: [],
      audience: null,
      mayActSub: null,
      issuedAt: null,
      externalIssuedAt: NOW - 60,
      boundJkt: null,
    },
    parentJti: null,
    externalDigest: 'ab'.repeat(32),
    unauthenticated: null,
  };
}

function liveFacts(): LiveFacts {
  return {
    actorId: 'agent:a',
    subject: { id: 'alice', status: 'active', disabledAt: null },
    actor: actor('agent:a'),
    resource: { uri: RESOURCE, scopes: ['read', 'write'] },
    entitlements: [{ scope: 'read', expiresAt: null }],
    grants: [{ id: 'g-a', actorId: 'agent:a', scopes: ['read'], expiresAt: null, revokedAt: null }],
    chainActors: [],
    chainGrants: [],
    client: { actorId: 'agent:a', allowedActors: [] },
    parent: null,
    subjectTokenRevoked: false,
  };
}

interface Calls {
  sign: number;
  reload: number;
  limitActor: string[];
  touchActors: Array<readonly string[]>;
  record: ExchangeOutcome[];
}

/** Ports that grant, each replaceable; every call is counted. */
function fakePorts(overrides: Partial<TokenExchangePorts> = {}, recordStatus: (outcome: ExchangeOutcome) => RecordStatus = (o) => (o.token ? 'recorded' : 'denied')) {
  const calls: Calls = { sign: 0, reload: 0, limitActor: [], touchActors: [], record: [] };
  const ports: TokenExchangePorts = {
    validateDpop: async () => undefined,
    verifySubject: async () => externalSubject(),
    resolveActor: async () => null,
    loadLiveFacts: async () => liveFacts(),
    authenticateParent: async () => undefined,
    limitActor: async (actorId) => void calls.limitActor.push(actorId),
    sign: (content) => {
      calls.sign += 1;
      return { token: `signed.${content.jti}.${calls.sign}`, kid: `kid-${calls.sign}` };
    },
    reloadSigningKeys: async () => void (calls.reload += 1),
    record: async (outcome) => {
      calls.record.push(outcome);
      return recordStatus(outcome);
    },
    touchActors: (ids) => void calls.touchActors.push(ids),
    ...overrides,
  };
  return { ports, calls };
}

function fakeContext(params: Record<string, unknown> = PARAMS) {
  const headers: Record<string, string> = {};
  const ctx = {
    oidc: { client: { clientId: 'app-a' }, params },
    state: { requestId: 'req-1' } as Record<string, unknown>,
    body: undefined as unknown,
    set: (name: string, value: string) => void (headers[name] = value),
  };
  return { ctx: ctx as unknown as KoaContextWithOIDC & { body: unknown }, headers };
}

const settings = { issuer: 'https://deputy.test', tokenTtl: 300, maxDelegationDepth: 3 };
const metrics = createMetrics();
const logger = createLogger('silent');

async function run(ports: TokenExchangePorts, params?: Record<string, unknown>) {
  const handler = createTokenExchangeHandler({ ports, settings, logger, metrics });
  const { ctx, headers } = fakeContext(params);
  let thrown: unknown;
  try {
    await handler(ctx);
  } catch (error) {
    thrown = error;
  }
  return { ctx, headers, thrown: thrown as (Error & { error?: string; status?: number; error_description?: string }) | undefined };
}

function parentRecord(overrides: Partial<ParentTokenRecord> = {}): ParentTokenRecord {
  return {
    jti: 'parent-jti',
    ancestorJtis: [],
    subjectId: 'alice',
    actorIds: ['agent:a'],
    grantIds: ['g-a'],
    resource: RESOURCE,
    scope: 'read',
    expiresAt: NOW + 200,
    issuedAt: NOW - 10,
    dpopJkt: null,
    digest: null,
    revoked: false,
    revokedAncestorJtis: [],
    subjectTokenDigest: null,
    ...overrides,
  };
}

/** agent:a's token presented by app-a for agent:b, with the parent's record as given. */
function chainPorts(parent: ParentTokenRecord | null) {
  return {
    verifySubject: async (): Promise<SubjectIdentity> => ({
      facts: { ...externalSubject().facts, scopes: ['read'], audience: RESOURCE, issuedAt: NOW - 10, externalIssuedAt: null },
      parentJti: 'parent-jti',
      externalDigest: null,
      unauthenticated: null,
    }),
    loadLiveFacts: async (): Promise<LiveFacts> => ({
      ...liveFacts(),
      actorId: 'agent:b',
      actor: actor('agent:b'),
      grants: [{ id: 'g-b', actorId: 'agent:b', scopes: ['read'], expiresAt: null, revokedAt: null }],
      chainActors: [actor('agent:a')],
      chainGrants: [{ id: 'g-a', actorId: 'agent:a', scopes: ['read'], expiresAt: null, revokedAt: null }],
      client: { actorId: 'agent:a', allowedActors: ['agent:b'] },
      parent,
    }),
  } satisfies Partial<TokenExchangePorts>;
}

/** Every refusal the handler can meet before it signs, with the error and audit reason it must give. */
const REFUSALS: Array<{ name: string; ports: Partial<TokenExchangePorts>; params?: Record<string, unknown>; error: string; reason: string; limited: boolean }> = [
  { name: 'a request that does not parse', ports: {}, params: { ...PARAMS, subject_token: undefined }, error: 'invalid_request', reason: 'request.subject_token_is_required', limited: false },
  {
    name: 'an invalid DPoP proof',
    ports: { validateDpop: async () => Promise.reject(new providerErrors.InvalidDpopProof('invalid DPoP key binding')) },
    error: 'invalid_dpop_proof',
    reason: 'dpop.invalid_dpop_key_binding',
    limited: false,
  },
  {
    name: 'a subject token refused',
    ports: { verifySubject: async () => Promise.reject(invalidRequest('subject token signature is invalid')) },
    error: 'invalid_request',
    reason: 'subject_token.signature_is_invalid',
    limited: false,
  },
  {
    name: 'an actor token replayed',
    ports: { resolveActor: async () => Promise.reject(invalidRequest('actor assertion was already used')) },
    error: 'invalid_request',
    reason: 'actor_token.actor_assertion_was_already_used',
    limited: false,
  },
  {
    name: 'a value PostgreSQL rejects',
    ports: { loadLiveFacts: async () => Promise.reject(Object.assign(new Error('invalid byte sequence'), { code: '22021' })) },
    error: 'invalid_request',
    reason: 'live_facts.the_request_contains_a_value_that_is_not_accepted',
    limited: false,
  },
  {
    name: 'an actor the client may not present',
    ports: { loadLiveFacts: async () => ({ ...liveFacts(), client: { actorId: 'agent:z', allowedActors: [] } }) },
    error: 'invalid_request',
    reason: 'actor.the_client_may_not_act_as_this_actor',
    limited: false,
  },
  {
    name: 'a client without an actor and no actor token',
    ports: { loadLiveFacts: async () => ({ ...liveFacts(), actorId: null, actor: null, client: { actorId: null, allowedActors: [] } }) },
    error: 'invalid_request',
    reason: 'actor.the_client_is_not_registered_as_an_actor_send_an_actor_token',
    limited: false,
  },
  { name: 'a revoked parent token', ports: chainPorts(parentRecord({ revoked: true })), error: 'invalid_request', reason: 'live_facts.subject_token_is_not_active', limited: true },
  { name: 'a parent with a revoked ancestor', ports: chainPorts(parentRecord({ revokedAncestorJtis: ['j0'] })), error: 'invalid_request', reason: 'live_facts.subject_token_is_not_active', limited: true },
  { name: 'a parent without a record', ports: chainPorts(null), error: 'invalid_request', reason: 'live_facts.subject_token_is_not_active', limited: true },
  {
    name: 'a Deputy subject token whose digest and signature do not match',
    ports: { ...chainPorts(parentRecord()), authenticateParent: async () => Promise.reject(invalidRequest('subject token is not a valid Deputy access token', 'bad signature or unknown key')) },
    error: 'invalid_request',
    reason: 'subject_token.not_a_valid_deputy_access_token',
    limited: false,
  },
  {
    name: 'a decision refusal',
    ports: { loadLiveFacts: async () => ({ ...liveFacts(), grants: [] }) },
    error: 'invalid_request',
    reason: 'decision.no_active_grant',
    limited: true,
  },
];

describe('the grant handler on fake ports', () => {
  it('grants: signs once, records the token with its event, then answers', async () => {
    let release!: () => void;
    const recorded = new Promise<void>((resolve) => (release = resolve));
    const { ports, calls } = fakePorts({
      record: async (outcome) => {
        calls.record.push(outcome);
        await recorded;
        return 'recorded';
      },
    });
    const handler = createTokenExchangeHandler({ ports, settings, logger, metrics });
    const { ctx } = fakeContext();
    const handled = handler(ctx);
    await new Promise((resolve) => setImmediate(resolve));
    // Signed and handed to the recorder, but not answered before the record is durable.
    expect(calls.sign).toBe(1);
    expect(calls.record).toHaveLength(1);
    expect(ctx.body).toBeUndefined();
    release();
    await handled;

    const [outcome] = calls.record;
    const token = (ctx.body as { access_token: string }).access_token;
    expect(ctx.body).toEqual({ access_token: token, issued_token_type: 'urn:ietf:params:oauth:token-type:access_token', token_type: 'Bearer', expires_in: 300, scope: 'read' });
    expect(outcome!.token).toMatchObject({ kid: 'kid-1', subjectId: 'alice', actorIds: ['agent:a'], clientId: 'app-a', resource: RESOURCE, scope: 'read', grantId: 'g-a', parentJti: null, ancestorJtis: [] });
    expect(outcome!.token!.digest).toEqual(createHash('sha256').update(token).digest());
    expect(outcome!.event).toMatchObject({ type: 'token.exchanged', jti: outcome!.token!.jti, subjectId: 'alice', actorIds: ['agent:a'], scopeGranted: ['read'], requestId: 'req-1' });
    expect(calls.limitActor).toEqual(['agent:a']);
    expect(calls.touchActors).toEqual([['agent:a']]);
  });

  it('records a chain’s ancestry: the parent, then the tokens it derives from', async () => {
    const { ports, calls } = fakePorts(chainPorts(parentRecord({ ancestorJtis: ['j0'] })));
    const { thrown } = await run(ports);
    expect(thrown).toBeUndefined();
    expect(calls.record[0]!.token).toMatchObject({ parentJti: 'parent-jti', ancestorJtis: ['parent-jti', 'j0'], actorIds: ['agent:a', 'agent:b'], grantIds: ['g-a', 'g-b'] });
  });

  for (const refusal of REFUSALS) {
    it(`refuses ${refusal.name}: never signs, records exactly one denial and no token`, async () => {
      const { ports, calls } = fakePorts(refusal.ports);
      const { thrown, ctx } = await run(ports, refusal.params);
      expect(thrown).toMatchObject({ error: refusal.error, status: 400 });
      expect(calls.sign).toBe(0);
      expect(calls.reload).toBe(0);
      expect(calls.touchActors).toEqual([]);
      expect(calls.record).toHaveLength(1);
      expect(calls.record[0]).toMatchObject({ token: null, event: { type: 'token.exchange_denied', error: refusal.error, jti: null, details: { reason: refusal.reason } } });
      // The actor's budget is spent only once the client may present it.
      expect(calls.limitActor).toHaveLength(refusal.limited ? 1 : 0);
      expect(ctx.body).toBeUndefined();
    });
  }

  it('a rate-limited actor: 429 with Retry-After, nothing signed, nothing recorded', async () => {
    const { ports, calls } = fakePorts({ limitActor: async () => Promise.reject(new RateLimited(3, 'actor')) });
    const { thrown, headers } = await run(ports);
    expect(thrown).toMatchObject({ error: 'temporarily_unavailable', status: 429 });
    expect(headers['Retry-After']).toBe('3');
    expect(calls.sign).toBe(0);
    expect(calls.record).toEqual([]);
  });

  it('a rate limit is answered before the decision’s refusal (the budget is spent first)', async () => {
    const { ports, calls } = fakePorts({ limitActor: async () => Promise.reject(new RateLimited(1, 'actor')), loadLiveFacts: async () => ({ ...liveFacts(), grants: [] }) });
    const { thrown } = await run(ports);
    expect(thrown).toMatchObject({ status: 429 });
    expect(calls.record).toEqual([]);
  });

  it('an unreachable database: 503, nothing signed, nothing recorded', async () => {
    const { ports, calls } = fakePorts({ loadLiveFacts: async () => Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' })) });
    const { thrown } = await run(ports);
    expect(thrown).toMatchObject({ error: 'temporarily_unavailable', status: 503 });
    expect(calls.sign).toBe(0);
    expect(calls.record).toEqual([]);
  });

  it('a delegation withdrawn while issuing: refused, and the recording’s own denial is the only event', async () => {
    const { ports, calls } = fakePorts({}, () => 'revoked');
    const { thrown, ctx } = await run(ports);
    expect(thrown).toMatchObject({ error: 'invalid_request', status: 400 });
    expect(calls.sign).toBe(1);
    expect(calls.record).toHaveLength(1);
    expect(calls.record[0]!.token).not.toBeNull();
    expect(ctx.body).toBeUndefined();
  });

  it('an actor assertion used before: the recording refuses it (replayed:0), no token is answered, its denial is the only event', async () => {
    const { ports, calls } = fakePorts(
      {
        resolveActor: async (_token, _now, markJtiUsed) => {
          await markJtiUsed('actor_assertion', 'https://idp.test', 'assertion-jti', NOW + 60);
          return 'agent:a';
        },
      },
      (o) => (o.singleUse?.length ? 'replayed:0' : o.token ? 'recorded' : 'denied'),
    );
    const { thrown, ctx } = await run(ports, { ...PARAMS, actor_token: 'assertion', actor_token_type: 'urn:ietf:params:oauth:token-type:jwt' });
    expect(thrown).toMatchObject({ error: 'invalid_request', status: 400, error_description: 'actor assertion was already used' });
    expect(calls.record).toHaveLength(1);
    expect(calls.record[0]!.singleUse).toMatchObject([{ namespace: 'actor_assertion', issuer: 'https://idp.test', jti: 'assertion-jti' }]);
    expect(ctx.body).toBeUndefined();
  });

  it('a key rotated meanwhile: learns the new key and signs again; rotated twice: refused with one denial', async () => {
    const once = fakePorts({}, (o) => (o.token?.kid === 'kid-1' ? 'stale_key' : o.token ? 'recorded' : 'denied'));
    expect((await run(once.ports)).thrown).toBeUndefined();
    expect(once.calls).toMatchObject({ sign: 2, reload: 1 });

    const twice = fakePorts({}, (o) => (o.token ? 'stale_key' : 'denied'));
    const { thrown } = await run(twice.ports);
    expect(thrown).toMatchObject({ error: 'temporarily_unavailable', status: 503 });
    expect(twice.calls.sign).toBe(2);
    const denials = twice.calls.record.filter((o) => o.token === null);
    expect(denials).toHaveLength(1);
    expect(denials[0]!.event).toMatchObject({ type: 'token.exchange_denied', details: { reason: 'issue.unavailable' } });
  });

  it('property: whatever the live facts, no token without its event, and a refusal signs nothing and writes one denial', async () => {
    const knockOut = fc.record({
      subject: fc.boolean(),
      actor: fc.boolean(),
      resource: fc.boolean(),
      entitlements: fc.boolean(),
      grants: fc.boolean(),
      client: fc.boolean(),
      disabled: fc.boolean(),
    });
    await fc.assert(
      fc.asyncProperty(knockOut, async (off) => {
        const facts = liveFacts();
        const { ports, calls } = fakePorts({
          loadLiveFacts: async () => ({
            ...facts,
            subject: off.subject ? null : off.disabled ? { ...facts.subject!, status: 'disabled' } : facts.subject,
            actor: off.actor ? null : facts.actor,
            resource: off.resource ? null : facts.resource,
            entitlements: off.entitlements ? [] : facts.entitlements,
            grants: off.grants ? [] : facts.grants,
            client: off.client ? null : facts.client,
          }),
        });
        const { thrown, ctx } = await run(ports);
        if (thrown === undefined) {
          expect(calls.sign).toBe(1);
          expect(calls.record).toHaveLength(1);
          expect(calls.record[0]!.event.type).toBe('token.exchanged');
          expect(ctx.body).toBeDefined();
        } else {
          expect(calls.sign).toBe(0);
          expect(calls.record).toHaveLength(1);
          expect(calls.record[0]).toMatchObject({ token: null, event: { type: 'token.exchange_denied' } });
        }
      }),
      { numRuns: 100 },
    );
  });
});
