/**
 * An agent asks for approval over OpenID CIBA (poll mode) with a RFC 9396 `delegation` detail,
 * using openid-client as the agent: pending until the person answers, then a delegated token
 * exactly like a token exchange's; access_denied on denial; expired_token after expiry;
 * slow_down when polling too fast; every step audited; discovery advertises it.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { decodeJwt, decodeProtectedHeader } from 'jose';
import * as client from 'openid-client';
import { approveApprovalRequest, cancelPendingApprovals, denyApprovalRequest, findApprovalByAuthReqId } from '../../src/approval/store.js';
import { inTransaction } from '../../src/audit/audit-log.js';
import { RESOURCE, SECRETS, startExchangeWorld, type World } from '../support/exchange-world.js';

const INTERVAL = 1;

describe('approval requests over CIBA', () => {
  let world: World;
  let agent: client.Configuration;
  beforeAll(async () => {
    world = await startExchangeWorld({ APPROVAL_POLL_INTERVAL_S: String(INTERVAL), APPROVAL_GRANT_TTL: '120', APPROVAL_EXPIRY_INTERVAL_S: '1' });
    agent = await client.discovery(new URL(world.issuer), 'app-a', undefined, client.ClientSecretBasic(SECRETS['app-a']), {
      execute: [client.allowInsecureRequests],
    });
    // deploy on RESOURCE needs a fresh approval; alice holds it.
    await world.sql(`UPDATE resources SET scopes = scopes || ARRAY['deploy'], approval_scopes = ARRAY['deploy'] WHERE uri = $1`, [RESOURCE]);
    await world.sql(`UPDATE actors SET scope_ceiling = scope_ceiling || ARRAY['deploy']`);
    await world.sql(`INSERT INTO entitlements (subject_id, resource_uri, scope) VALUES ('alice', $1, 'deploy')`, [RESOURCE]);
  });
  afterAll(async () => {
    await world?.stop();
  });

  const detail = (overrides: Record<string, unknown> = {}) =>
    JSON.stringify([{ type: 'delegation', actor: 'agent:a', resource: RESOURCE, scopes: ['read', 'write'], duration: 3600, purpose: 'triage the backlog', ...overrides }]);

  function ask(params: Record<string, string> = {}) {
    return client.initiateBackchannelAuthentication(agent, {
      scope: 'openid',
      login_hint: 'alice',
      binding_message: 'W4SCT',
      authorization_details: detail(),
      ...params,
    });
  }

  async function approvalOf(authReqId: string) {
    const approval = await findApprovalByAuthReqId(world.deputy.pool, authReqId);
    if (!approval) throw new Error('no approval request recorded');
    return approval;
  }

  async function rawPoll(authReqId: string, clientId = 'app-a') {
    const response = await fetch(`${world.issuer}/token`, {
      method: 'POST',
      headers: {
        authorization: `Basic ${Buffer.from(`${clientId}:${SECRETS[clientId]}`).toString('base64')}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ grant_type: 'urn:openid:params:grant-type:ciba', auth_req_id: authReqId }),
    });
    return { status: response.status, json: (await response.json()) as Record<string, unknown> };
  }

  const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

  it('discovery advertises the endpoint, the grant, poll mode and the delegation type', async () => {
    const metadata = (await (await fetch(`${world.issuer}/.well-known/oauth-authorization-server`)).json()) as Record<string, unknown>;
    expect(metadata.backchannel_authentication_endpoint).toBe(`${world.issuer}/backchannel`);
    expect(metadata.grant_types_supported).toEqual(expect.arrayContaining(['urn:openid:params:grant-type:ciba', 'urn:ietf:params:oauth:grant-type:token-exchange']));
    expect(metadata.backchannel_token_delivery_modes_supported).toEqual(['poll']);
    expect(metadata.authorization_details_types_supported).toEqual(['delegation']);
    expect(metadata.backchannel_user_code_parameter_supported).toBe(false);
  });

  it('pending until approved; then a delegated token for the approved scopes, once', async () => {
    const started = await ask();
    expect(started).toMatchObject({ auth_req_id: expect.any(String), expires_in: 600, interval: INTERVAL });
    const approval = await approvalOf(started.auth_req_id);
    expect(approval).toMatchObject({ status: 'pending', subjectId: 'alice', actorId: 'agent:a', clientId: 'app-a', scopes: ['read', 'write'], durationSeconds: 3600, purpose: 'triage the backlog', bindingMessage: 'W4SCT' });
    expect(await rawPoll(started.auth_req_id)).toMatchObject({ status: 400, json: { error: 'authorization_pending' } });
    await sleep(INTERVAL * 1000 + 100);

    const polling = client.pollBackchannelAuthenticationGrant(agent, started);
    await approveApprovalRequest(world.deputy.pool, { id: approval.id, subjectId: 'alice', scopes: ['read'], durationSeconds: 600, now: new Date(), justInTimeTtl: 120, requestId: null });
    const tokens = await polling;

    expect(tokens.token_type).toBe('bearer');
    expect(tokens.scope).toBe('read');
    expect(tokens.authorization_details).toEqual([{ type: 'delegation', actor: 'agent:a', resource: RESOURCE, scopes: ['read'], duration: 600, purpose: 'triage the backlog' }]);
    expect(decodeProtectedHeader(tokens.access_token).typ).toBe('at+jwt');
    const claims = decodeJwt(tokens.access_token);
    expect(claims).toMatchObject({ iss: world.issuer, sub: 'alice', aud: RESOURCE, client_id: 'app-a', scope: 'read', act: { sub: 'agent:a' } });
    const granted = await approvalOf(started.auth_req_id);
    expect(claims.grant_id).toBe(granted.grantId);

    const [row] = await world.sql(`SELECT subject_id, actor_ids, scope, grant_id FROM issued_tokens WHERE jti = $1`, [claims.jti]);
    expect(row).toMatchObject({ subject_id: 'alice', actor_ids: ['agent:a'], scope: 'read', grant_id: granted.grantId });
    const [event] = await world.sql(`SELECT type, subject_id, grant_id, scope_granted, details FROM audit_events WHERE jti = $1`, [claims.jti]);
    expect(event).toMatchObject({ type: 'token.exchanged', subject_id: 'alice', scope_granted: ['read'], details: { grant_type: 'urn:openid:params:grant-type:ciba', approval_request_id: approval.id } });
    const introspected = await world.introspect(tokens.access_token);
    expect(introspected.json).toMatchObject({ active: true, sub: 'alice', scope: 'read' });

    await sleep(INTERVAL * 1000 + 100);
    expect(await rawPoll(started.auth_req_id)).toMatchObject({ status: 400, json: { error: 'invalid_grant' } });
    const steps = await world.sql<{ type: string }>(`SELECT type FROM audit_events WHERE details->>'approval_request_id' = $1 ORDER BY id`, [approval.id]);
    expect(steps.map((s) => s.type)).toEqual(['approval.requested', 'approval.approved', 'token.exchanged']);
  });

  it('a denial is access_denied, audited', async () => {
    const started = await ask();
    const approval = await approvalOf(started.auth_req_id);
    await denyApprovalRequest(world.deputy.pool, { id: approval.id, subjectId: 'alice', now: new Date(), requestId: null });
    await expect(client.pollBackchannelAuthenticationGrant(agent, started)).rejects.toMatchObject({ error: 'access_denied' });
    const [event] = await world.sql(`SELECT type, error FROM audit_events WHERE details->>'approval_request_id' = $1 AND type = 'token.exchange_denied'`, [approval.id]);
    expect(event).toMatchObject({ error: 'access_denied' });
  });

  it('a request cancelled because its actor was revoked is access_denied', async () => {
    const started = await ask();
    await inTransaction(world.deputy.pool, (db) => cancelPendingApprovals(db, { actorId: 'agent:a' }, 'actor_disabled', new Date()));
    await expect(client.pollBackchannelAuthenticationGrant(agent, started)).rejects.toMatchObject({ error: 'access_denied' });
  });

  it('an unanswered request ends in expired_token', async () => {
    const started = await ask({ requested_expiry: '1' });
    expect(started.expires_in).toBe(1);
    await sleep(1500);
    // openid-client gives up by itself once expires_in has passed; the server's answer is expired_token.
    expect(await rawPoll(started.auth_req_id)).toMatchObject({ status: 400, json: { error: 'expired_token' } });
    const approval = await approvalOf(started.auth_req_id);
    expect(approval.status).toBe('expired');
    const [event] = await world.sql(`SELECT error FROM audit_events WHERE details->>'approval_request_id' = $1 AND type = 'token.exchange_denied'`, [approval.id]);
    expect(event).toMatchObject({ error: 'expired_token' });
  });

  it('nobody answers and nobody polls: the expiry job writes it expired, with one approval.expired event', async () => {
    const started = await ask({ requested_expiry: '1' });
    const approval = await approvalOf(started.auth_req_id);
    const storedStatus = async () => (await world.sql<{ status: string }>(`SELECT status FROM approval_requests WHERE id = $1`, [approval.id]))[0]!.status;
    expect(await storedStatus()).toBe('pending');
    for (let i = 0; i < 100 && (await storedStatus()) === 'pending'; i++) await sleep(100);
    expect(await storedStatus()).toBe('expired');
    await sleep(1200); // another run of the job: still one event
    const events = await world.sql<{ type: string; client_id: string; subject_id: string }>(
      `SELECT type, client_id, subject_id FROM audit_events WHERE details->>'approval_request_id' = $1 ORDER BY id`,
      [approval.id],
    );
    expect(events).toEqual([
      { type: 'approval.requested', client_id: 'app-a', subject_id: 'alice' },
      { type: 'approval.expired', client_id: 'app-a', subject_id: 'alice' },
    ]);
  });

  it('polling faster than the interval is slow_down', async () => {
    const started = await ask();
    expect((await rawPoll(started.auth_req_id)).json.error).toBe('authorization_pending');
    expect((await rawPoll(started.auth_req_id)).json.error).toBe('slow_down');
  });

  it('another client cannot poll the request', async () => {
    const started = await ask();
    expect(await rawPoll(started.auth_req_id, 'app-b')).toMatchObject({ status: 400, json: { error: 'invalid_grant' } });
    expect(await rawPoll('made-up-auth-req-id')).toMatchObject({ status: 400, json: { error: 'invalid_grant' } });
  });

  it('a scope requiring approval: dropped by an exchange under the standing grant, carried by the just-in-time grant an approval creates', async () => {
    const exchanged = await world.exchangeAs('alice', { scope: 'read deploy' });
    expect(exchanged.status).toBe(200);
    expect(exchanged.json.scope).toBe('read');
    const [dropped] = await world.sql(`SELECT scope_denied FROM audit_events WHERE type = 'token.exchanged' ORDER BY id DESC LIMIT 1`);
    expect(dropped!.scope_denied).toEqual([{ scope: 'deploy', reason: 'approval_required' }]);

    const started = await ask({ authorization_details: detail({ scopes: ['deploy'], duration: 3600 }) });
    const approval = await approvalOf(started.auth_req_id);
    const approved = await approveApprovalRequest(world.deputy.pool, { id: approval.id, subjectId: 'alice', scopes: ['deploy'], durationSeconds: 3600, now: new Date(), justInTimeTtl: 120, requestId: null });
    expect(approved.approvedDurationSeconds).toBe(120);
    const tokens = await client.pollBackchannelAuthenticationGrant(agent, started);
    expect(tokens.scope).toBe('deploy');
    const [grant] = await world.sql(`SELECT just_in_time, approved_by, approval_request_id FROM delegation_grants WHERE id = $1`, [approved.grantId]);
    expect(grant).toMatchObject({ just_in_time: true, approved_by: 'alice', approval_request_id: approval.id });

    // Now a plain exchange gets deploy too, under the just-in-time grant, until it expires ...
    const again = await world.exchangeAs('alice', { scope: 'deploy' });
    expect(again.json.scope).toBe('deploy');
    // ... and cannot pass it to the next actor.
    const onward = await world.exchange(
      {
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        subject_token: again.json.access_token as string,
        subject_token_type: 'urn:ietf:params:oauth:token-type:access_token',
        resource: RESOURCE,
        scope: 'deploy',
      },
      { clientId: 'app-b' },
    );
    expect(onward.json.error).toBe('invalid_request');
    // Once it expires, deploy is dropped again.
    await world.sql(`UPDATE delegation_grants SET expires_at = now() - interval '1 second' WHERE id = $1`, [approved.grantId]);
    const after = await world.exchangeAs('alice', { scope: 'read deploy' });
    expect(after.json.scope).toBe('read');
  });

  describe('refused requests', () => {
    const refusals: Array<[string, Record<string, string>, string]> = [
      ['no authorization_details', { authorization_details: '' }, 'invalid_request'],
      ['another details type', { authorization_details: JSON.stringify([{ type: 'payment', amount: 1 }]) }, 'invalid_authorization_details'],
      ['two details', { authorization_details: JSON.stringify([JSON.parse(detail())[0], JSON.parse(detail())[0]]) }, 'invalid_authorization_details'],
      ['an unknown field', { authorization_details: detail({ admin: true }) }, 'invalid_authorization_details'],
      ['no scopes', { authorization_details: detail({ scopes: [] }) }, 'invalid_authorization_details'],
      ['a negative duration', { authorization_details: detail({ duration: -5 }) }, 'invalid_authorization_details'],
      ['a duration beyond the maximum', { authorization_details: detail({ duration: 10_000_000 }) }, 'invalid_authorization_details'],
      ['an unregistered resource', { authorization_details: detail({ resource: 'https://nowhere.test' }) }, 'invalid_authorization_details'],
      ['a scope the resource does not define', { authorization_details: detail({ scopes: ['read', 'root'] }) }, 'invalid_authorization_details'],
      ['an actor the client may not present', { authorization_details: detail({ actor: 'agent:x' }) }, 'invalid_request'],
      ['an unknown subject', { login_hint: 'mallory' }, 'unknown_user_id'],
      ['a binding message with a line break', { binding_message: 'a\nb' }, 'invalid_binding_message'],
      ['a user_code', { user_code: '1234' }, 'invalid_request'],
    ];
    it.each(refusals)('%s', async (_name, params, error) => {
      const before = await world.sql<{ n: number }>(`SELECT count(*)::int AS n FROM approval_requests`);
      const body = new URLSearchParams({ scope: 'openid', login_hint: 'alice', authorization_details: detail(), ...params });
      if (params.authorization_details === '') body.delete('authorization_details');
      const response = await fetch(`${world.issuer}/backchannel`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`app-a:${SECRETS['app-a']}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body,
      });
      expect(response.status).toBe(400);
      expect(((await response.json()) as { error: string }).error).toBe(error);
      const after = await world.sql<{ n: number }>(`SELECT count(*)::int AS n FROM approval_requests`);
      expect(after[0]!.n).toBe(before[0]!.n);
      const [event] = await world.sql(`SELECT type, client_id, error FROM audit_events ORDER BY id DESC LIMIT 1`);
      expect(event).toMatchObject({ type: 'approval.request_denied', client_id: 'app-a', error });
    });

    it('an unauthenticated request writes nothing', async () => {
      const before = await world.auditCount();
      const response = await fetch(`${world.issuer}/backchannel`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from('app-a:wrong').toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ scope: 'openid', login_hint: 'alice', authorization_details: detail() }),
      });
      expect(response.status).toBe(401);
      expect(await world.auditCount()).toBe(before);
    });

    it('authorization_details on client_credentials is refused, not a server error', async () => {
      const response = await fetch(`${world.issuer}/token`, {
        method: 'POST',
        headers: { authorization: `Basic ${Buffer.from(`app-a:${SECRETS['app-a']}`).toString('base64')}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ grant_type: 'client_credentials', authorization_details: detail() }),
      });
      expect(response.status).toBe(400);
    });
  });
});
