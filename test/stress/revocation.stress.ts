/**
 * Stress 4 — a grant revoked through the admin API while exchanges under it run continuously.
 *
 * 16 workers exchange racer's user tokens (grant racer → agent:a) back to back. After
 * STRESS_REVOKE_AFTER_MS (default 3 s) `POST /admin/v1/grants/:id/revoke` is called on its own
 * connection; the workers keep going for STRESS_REVOKE_TAIL_MS (default 3 s) more. Then:
 * - no exchange started after the revoke call returned got a 200 (start times vs return time);
 * - every token minted under the grant (every 200 of the run) introspects inactive;
 * - the figures: 200s before the call, during it, after it; refusals and their codes.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { verifyAuditChains } from '../../src/audit/audit-log.js';
import { GRANT_TYPE, RESOURCE, TT } from '../support/exchange-world.js';
import {
  ADMIN_TOKEN,
  Checks,
  accessTokenOf,
  basicAuth,
  figures,
  jtiOf,
  keepAliveAgent,
  mapBounded,
  prepareStage,
  reconcile,
  round,
  runWorkers,
  say,
  send,
  sleep,
  startDeputyProcess,
  stopAll,
  tally,
  tokenRequest,
  FORM,
  type Outcome,
  type PreparedRequest,
} from './harness.js';

const S = 'revocation-race';
const REVOKE_AFTER_MS = Number(process.env.STRESS_REVOKE_AFTER_MS ?? 3000);
const TAIL_MS = Number(process.env.STRESS_REVOKE_TAIL_MS ?? 3000);
const CONCURRENCY = 16;

afterAll(async () => {
  await stopAll();
});

describe('stress: a grant revoked while exchanges under it run', () => {
  it('refuses every exchange started after the revoke returned, and no token of the grant stays active', async () => {
    const checks = new Checks(S);
    const stage = await prepareStage();
    const { world } = stage;
    const grantId = (await world.addSubject('racer', { entitlements: ['read', 'write'], grants: { 'agent:a': ['read', 'write'] } }))['agent:a']!;
    // A bystander grant, exchanged alongside, which must keep working.
    await world.addSubject('bystander', { entitlements: ['read'], grants: { 'agent:a': ['read'] } });
    const deputy = await startDeputyProcess(stage);
    say(S, `Deputy pid ${deputy.pid} on ${deputy.url}; grant ${grantId}`);

    const requests: PreparedRequest[] = [];
    for (let i = 0; i < 200; i++) {
      requests.push(tokenRequest('app-a', { grant_type: GRANT_TYPE, subject_token: await world.userToken('racer'), subject_token_type: TT.jwt, resource: RESOURCE, scope: 'read' }));
    }
    let cursor = 0;
    const outcomes: Outcome[] = [];
    let stop = false;
    const started = performance.now();
    const running = runWorkers({
      baseUrl: deputy.url,
      concurrency: CONCURRENCY,
      next: () => requests[cursor++ % requests.length]!,
      keepGoing: () => !stop,
      onOutcome: (outcome) => outcomes.push(outcome),
    });
    await sleep(REVOKE_AFTER_MS);

    const adminAgent = keepAliveAgent(1);
    const revokeCalled = performance.now();
    const revoke = await send(deputy.url, adminAgent, {
      method: 'POST',
      path: `/admin/v1/grants/${grantId}/revoke`,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'stress: revocation race' }),
    });
    const revokeReturned = performance.now();
    adminAgent.destroy();
    expect(revoke.error).toBeUndefined();
    expect(revoke.status).toBe(200);
    const revokedAt = (JSON.parse(revoke.body ?? '{}') as { revoked_at?: string }).revoked_at;
    say(S, `revoke call took ${round(revokeReturned - revokeCalled)} ms; revoked_at ${revokedAt}`);

    await sleep(TAIL_MS);
    stop = true;
    await running;
    const stoppedAt = performance.now();

    const ok = outcomes.filter((o) => o.status === 200);
    const before = outcomes.filter((o) => o.startedAt < revokeCalled);
    const during = outcomes.filter((o) => o.startedAt >= revokeCalled && o.startedAt <= revokeReturned);
    const after = outcomes.filter((o) => o.startedAt > revokeReturned);
    const afterOk = after.filter((o) => o.status === 200);
    const lateAnswers = ok.filter((o) => o.respondedAt! > revokeReturned);
    checks.check(outcomes.every((o) => o.error === undefined), `no socket errors (${JSON.stringify(tally(outcomes.filter((o) => o.error).map((o) => o.error!)))})`);
    checks.check(after.length > 0, `exchanges were started after the revoke returned (${after.length})`);
    checks.check(afterOk.length === 0, `no exchange started after the revoke returned got a 200 (${afterOk.length} did; first ${afterOk.slice(0, 3).map((o) => `started +${round(o.startedAt - revokeReturned, 2)} ms`).join(', ')})`);
    checks.check(after.every((o) => o.status === 400 && o.body?.includes('"invalid_request"')), `every exchange started after the return was refused 400 invalid_request (${JSON.stringify(tally(after.map((o) => `${o.status} ${(JSON.parse(o.body ?? '{}') as { error?: string }).error}`)))})`);

    // Introspect every token minted in the run: none may be active now.
    const tokens = ok.map((o) => accessTokenOf(o.body)).filter((t): t is string => t !== null);
    const introspectAgent = keepAliveAgent(8);
    const introspected = await mapBounded(tokens, 8, (token) =>
      send(deputy.url, introspectAgent, {
        method: 'POST',
        path: '/token/introspection',
        headers: { 'content-type': FORM, accept: 'application/json', authorization: basicAuth('app-a') },
        body: new URLSearchParams({ token }).toString(),
      }),
    );
    introspectAgent.destroy();
    const active = introspected.filter((o) => o.status !== 200 || (JSON.parse(o.body ?? '{}') as { active?: boolean }).active !== false);
    checks.check(tokens.length === ok.length, `every 200 carries an access token (${tokens.length}/${ok.length})`);
    checks.check(active.length === 0, `no token minted under the grant introspects active after the revoke (${active.length} of ${tokens.length} not inactive: ${JSON.stringify(tally(active.map((o) => `${o.status} ${o.body?.slice(0, 60)}`)))})`);

    // The grant's tokens in the database, and those recorded after the revocation's timestamp.
    const [db] = (
      await stage.pool.query<{ minted: number; after_revocation: number; revoked_at: Date }>(
        `SELECT (SELECT count(*) FROM issued_tokens WHERE grant_id = $1)::int AS minted,
                (SELECT count(*) FROM issued_tokens t JOIN delegation_grants g ON g.id = t.grant_id
                  WHERE g.id = $1 AND t.issued_at > g.revoked_at)::int AS after_revocation,
                (SELECT revoked_at FROM delegation_grants WHERE id = $1) AS revoked_at`,
        [grantId],
      )
    ).rows;
    const r = await reconcile(stage.pool, ok.map((o) => jtiOf(o.body)).filter((j): j is string => j !== null));
    checks.check(r.withoutRow.length === 0 && r.withoutEvent.length === 0 && r.issuedRows === r.exchangedEvents, `every 200 has its row and event; rows = events (${r.issuedRows} / ${r.exchangedEvents}, missing ${r.withoutRow.length}/${r.withoutEvent.length})`);
    checks.check(db!.after_revocation === 0, `no token of the grant was recorded with an issued_at after the grant's revoked_at (${db!.after_revocation})`);
    const bystander = await world.exchangeAs('bystander', { scope: 'read' });
    checks.check(bystander.status === 200, `another grant of the same actor still works (${bystander.status})`);
    const [revokedEvents] = (await stage.pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM audit_events WHERE type = 'grant.revoked' AND grant_id = $1`, [grantId])).rows;
    checks.check(revokedEvents!.n === 1, `one grant.revoked audit event (${revokedEvents!.n})`);
    const chains = await verifyAuditChains(stage.pool);
    checks.check(chains.ok, `audit chains verify (${chains.events_checked} events, first broken link ${JSON.stringify(chains.first_broken_link)})`);

    const lastOk = ok.reduce((latest, o) => Math.max(latest, o.respondedAt!), 0);
    const lastOkStart = ok.reduce((latest, o) => Math.max(latest, o.startedAt), 0);
    figures(S, {
      'exchanges in all': `${outcomes.length} in ${round((stoppedAt - started) / 1000, 1)} s at concurrency ${CONCURRENCY}`,
      'revoke call (admin API) round trip': `${round(revokeReturned - revokeCalled)} ms`,
      'started before the call: answered': tally(before.map((o) => String(o.status ?? o.error))),
      'started during the call: answered': tally(during.map((o) => String(o.status ?? o.error))),
      'started after the return: answered': tally(after.map((o) => String(o.status ?? o.error))),
      '200s answered after the return (started before it)': lateAnswers.length,
      'latest 200: started / answered, relative to the return (ms)': ok.length ? `${round(lastOkStart - revokeReturned, 2)} / ${round(lastOk - revokeReturned, 2)}` : 'none',
      'tokens introspected / active': `${tokens.length} / ${active.length}`,
      'tokens of the grant in issued_tokens': db!.minted,
      'issued_at later than revoked_at': db!.after_revocation,
      'audit chains': `${chains.ok ? 'verify' : 'BROKEN'}: ${chains.events_checked} events`,
    });
    await deputy.kill();
    checks.assertAll();
  });
});
