/**
 * Why an exchange was refused is kept (issue 11, item 18): the audit event's `details.reason`
 * carries a machine-readable reason, and the refusal is logged at debug level with the request
 * id and that reason; neither ever carries the token.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pino from 'pino';
import { RESOURCE, TT, startExchangeWorld, type World } from '../../support/exchange-world.js';

describe('refusal reasons', () => {
  let w: World;
  const logLines: Array<Record<string, unknown>> = [];

  beforeAll(async () => {
    const logger = pino({ level: 'debug' }, { write: (line: string) => void logLines.push(JSON.parse(line) as Record<string, unknown>) });
    w = await startExchangeWorld({ LOG_LEVEL: 'debug' }, logger);
  });
  afterAll(async () => {
    await w.stop();
  });

  /** Runs a refused exchange and returns its audit event and its debug log line. */
  async function refusal(subjectToken: string, extra: Record<string, string> = {}, client = 'app-a:secret-of-app-a') {
    const requestId = `reason-${Math.random().toString(36).slice(2)}`;
    const response = await fetch(`${w.deputy.url}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        'x-request-id': requestId,
        authorization: `Basic ${Buffer.from(client).toString('base64')}`,
      },
      body: new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        subject_token: subjectToken,
        subject_token_type: TT.jwt,
        resource: RESOURCE,
        ...extra,
      }),
    });
    expect(response.status).toBeGreaterThanOrEqual(400);
    const [event] = await w.sql(`SELECT * FROM audit_events WHERE request_id = $1`, [requestId]);
    const log = logLines.find((line) => line.request_id === requestId && line.msg === 'token exchange refused');
    return { event: event!, log };
  }

  function expectNoTokenIn(value: unknown, token: string) {
    const text = JSON.stringify(value);
    for (const part of token.split('.')) expect(text).not.toContain(part);
  }

  it('a subject token with a bad signature', async () => {
    const good = await w.userToken('alice');
    const [header, payload, signature] = good.split('.');
    const forged = `${header}.${payload}.${signature!.startsWith('A') ? 'B' : 'A'}${signature!.slice(1)}`;
    const { event, log } = await refusal(forged);
    expect(event.type).toBe('token.exchange_denied');
    expect(event.details).toEqual({ reason: 'subject_token.signature_is_invalid' });
    expect(log).toMatchObject({ level: 20, error: 'invalid_request', reason: 'subject_token.signature_is_invalid' });
    expectNoTokenIn(event, forged);
    expectNoTokenIn(log, forged);
  });

  it('an expired subject token', async () => {
    const now = Math.floor(Date.now() / 1000);
    const token = await w.userToken('alice', { claims: { iat: now - 3600, exp: now - 1800 } });
    const { event, log } = await refusal(token);
    expect(event.details).toEqual({ reason: 'subject_token.expired' });
    expect(log?.reason).toBe('subject_token.expired');
    expectNoTokenIn(event, token);
  });

  it('a garbage subject token', async () => {
    const { event } = await refusal('not-a-jwt');
    expect(event.details).toEqual({ reason: 'subject_token.malformed' });
  });

  it('a refusal of the decision uses the decision’s own reason code', async () => {
    const token = await w.userToken('bob');
    const { event, log } = await refusal(token, { scope: 'read' });
    expect(event.details).toEqual({ reason: 'decision.no_active_grant' });
    expect(log?.reason).toBe('decision.no_active_grant');
    expectNoTokenIn(event, token);
  });

  it('a client without an actor of its own and no actor token', async () => {
    const { event, log } = await refusal(await w.userToken('alice'), {}, 'app-none:secret-of-app-none');
    expect(event.details).toEqual({ reason: 'actor.the_client_is_not_registered_as_an_actor_send_an_actor_token' });
    expect(event.actor_ids).toEqual([]);
    expect(log).toMatchObject({ error: 'invalid_request', reason: 'actor.the_client_is_not_registered_as_an_actor_send_an_actor_token' });
  });

  it('an actor the client may not present', async () => {
    const assertion = await w.actorAssertion('agent:a');
    const { event } = await refusal(await w.userToken('alice'), { actor_token: assertion, actor_token_type: TT.jwt }, 'app-b:secret-of-app-b');
    expect(event.details).toEqual({ reason: 'actor.the_client_may_not_act_as_this_actor' });
    expect(event.subject_id).toBe('alice');
    expect(event.actor_ids).toEqual([]);
    expectNoTokenIn(event, assertion);
  });

  it('a revoked parent token', async () => {
    const minted = await w.exchangeAs('alice', { scope: 'read' });
    const parent = minted.json.access_token as string;
    const { jti } = JSON.parse(Buffer.from(parent.split('.')[1]!, 'base64url').toString('utf8')) as { jti: string };
    await w.sql('UPDATE issued_tokens SET revoked_at = now() WHERE jti = $1', [jti]);
    const { event, log } = await refusal(parent, { subject_token_type: TT.accessToken }, 'app-b:secret-of-app-b');
    expect(event.details).toEqual({ reason: 'live_facts.subject_token_is_not_active' });
    expect(event.actor_ids).toEqual(['agent:a', 'agent:b']);
    expect(log?.reason).toBe('live_facts.subject_token_is_not_active');
    expectNoTokenIn(event, parent);
  });

  it('an unsupported parameter value', async () => {
    const { event } = await refusal(await w.userToken('alice'), { requested_token_type: 'urn:example:other' });
    expect(event.details).toEqual({ reason: 'request.unsupported_requested_token_type' });
  });
});
