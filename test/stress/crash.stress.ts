/**
 * Stress 1 — `kill -9` under load, then a restart on the same database.
 *
 * Before the kill: a token is minted under carol's grant, then the grant is revoked through the
 * admin API; an actor assertion (agent:b, registered JWKS) is used once. Then 16 workers
 * exchange continuously and Deputy is SIGKILLed mid-load. After a restart on the same database
 * and port:
 * - every 200 received before the kill has its issued_tokens row and its token.exchanged event;
 *   rows and events match one to one overall (a token is recorded with its event or not at all);
 * - the audit chains verify;
 * - carol's revocation holds: her exchange is refused, her earlier token introspects inactive;
 * - the replay store survived: the used actor assertion is refused.
 */
import { afterAll, describe, expect, it } from '@jest/globals';
import { verifyAuditChains } from '../../src/audit/audit-log.js';
import { GRANT_TYPE, RESOURCE, TT } from '../support/exchange-world.js';
import {
  ADMIN_TOKEN,
  Checks,
  addLoadSubjects,
  figures,
  jtiOf,
  prepareStage,
  reconcile,
  round,
  runWorkers,
  say,
  sleep,
  startDeputyProcess,
  stopAll,
  tally,
  tokenRequest,
  type Outcome,
  type PreparedRequest,
} from './harness.js';

const S = 'kill-9';
const LOAD_MS = Number(process.env.STRESS_KILL_LOAD_MS ?? 4000);
/** Workers; each has one request outstanding at any time, so at most this many are cut by the kill. */
const CONCURRENCY = 16;

afterAll(async () => {
  await stopAll();
});

describe('stress: kill -9 under load, restart on the same database', () => {
  it('keeps every answered token, the audit chains, a revocation and the replay store', async () => {
    const checks = new Checks(S);
    const stage = await prepareStage();
    const { world } = stage;
    const load = await addLoadSubjects(world, 'crash', 20);
    const carolGrant = (await world.addSubject('carol', { entitlements: ['read'], grants: { 'agent:a': ['read'] } }))['agent:a']!;

    let deputy = await startDeputyProcess(stage);
    say(S, `Deputy pid ${deputy.pid} on ${deputy.url}`);

    // Before the kill: a token under carol's grant, then the grant revoked via the admin API.
    const carolBefore = await world.exchangeAs('carol', { scope: 'read' });
    expect(carolBefore.status).toBe(200);
    const carolToken = carolBefore.json.access_token as string;
    const revoke = await fetch(`${deputy.url}/admin/v1/grants/${carolGrant}/revoke`, {
      method: 'POST',
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ reason: 'stress: revoked before the kill' }),
    });
    const revokeBody = (await revoke.json()) as { revoked_at?: string | null };
    expect(revoke.status).toBe(200);
    expect(revokeBody.revoked_at).toBeTruthy();
    const carolRefusedBefore = await world.exchangeAs('carol', { scope: 'read' });
    checks.check(carolRefusedBefore.status === 400 && carolRefusedBefore.json.error === 'invalid_request', `before the kill: carol's exchange refused after the revoke (${carolRefusedBefore.status} ${String(carolRefusedBefore.json.error)})`);

    // Before the kill: an actor assertion used once (and refused on a second use).
    const assertion = await world.actorAssertion('agent:b');
    const withAssertion = async () =>
      world.exchange({ subject_token: await world.userToken('alice'), subject_token_type: TT.jwt, actor_token: assertion, actor_token_type: TT.jwt, resource: RESOURCE, scope: 'read' });
    const firstUse = await withAssertion();
    expect(firstUse.status).toBe(200);
    const secondUse = await withAssertion();
    checks.check(secondUse.status === 400 && secondUse.json.error === 'invalid_request', `before the kill: the replayed actor assertion is refused (${secondUse.status} ${String(secondUse.json.error)})`);

    // Load: user tokens pre-signed, rotated over 20 subjects.
    const requests: PreparedRequest[] = [];
    for (let i = 0; i < 400; i++) {
      const subject = load.ids[i % load.ids.length]!;
      requests.push(tokenRequest('app-a', { grant_type: GRANT_TYPE, subject_token: await world.userToken(subject), subject_token_type: TT.jwt, resource: RESOURCE, scope: 'read' }));
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
    await sleep(LOAD_MS);
    const killedAt = performance.now();
    deputy.child.kill('SIGKILL');
    const exit = await deputy.exited;
    stop = true;
    await running;
    say(S, `SIGKILL after ${round((killedAt - started) / 1000, 2)} s of load; exit signal ${exit.signal}`);

    const answered = outcomes.filter((o) => o.status !== undefined);
    const ok = answered.filter((o) => o.status === 200);
    const jtis = ok.map((o) => jtiOf(o.body)).filter((j): j is string => j !== null);
    const socketErrors = outcomes.filter((o) => o.error !== undefined);
    checks.check(jtis.length === ok.length, `every 200 carries a decodable jti (${jtis.length}/${ok.length})`);
    checks.check(ok.every((o) => o.respondedAt! <= exit.at), 'every 200 arrived before the process died');

    // Restart on the same database and port.
    const restartStarted = performance.now();
    deputy = await startDeputyProcess(stage);
    const restartMs = performance.now() - restartStarted;
    say(S, `restarted as pid ${deputy.pid} in ${round(restartMs)} ms`);

    const r = await reconcile(stage.pool, jtis);
    checks.check(r.withoutRow.length === 0, `every 200 before the kill has its issued_tokens row (missing: ${r.withoutRow.length} ${r.withoutRow.slice(0, 3).join(',')})`);
    checks.check(r.withoutEvent.length === 0, `every 200 before the kill has its token.exchanged event (missing: ${r.withoutEvent.length} ${r.withoutEvent.slice(0, 3).join(',')})`);
    checks.check(r.withSeveralEvents.length === 0, `no jti has more than one token.exchanged event (${r.withSeveralEvents.length})`);
    checks.check(r.distinct === r.received, `no jti was answered twice (${r.received} answers, ${r.distinct} distinct)`);
    checks.check(r.exchangedEventsWithoutRow === 0 && r.rowsWithoutEvent === 0, `issued_tokens rows and token.exchanged events match one to one (events without row ${r.exchangedEventsWithoutRow}, rows without event ${r.rowsWithoutEvent})`);
    // 200s received = the load's plus carol's and the assertion exchange before the load.
    const committedNotAnswered = r.issuedRows - (ok.length + 2);
    checks.check(committedNotAnswered >= 0 && committedNotAnswered <= CONCURRENCY, `tokens committed but never answered (cut by the kill) are at most the ${CONCURRENCY} in flight: ${committedNotAnswered}`);

    const chains = await verifyAuditChains(stage.pool);
    checks.check(chains.ok, `audit chains verify after the crash (${chains.events_checked} events, ${chains.chains} chains, first broken link ${JSON.stringify(chains.first_broken_link)})`);

    const carolAfter = await world.exchangeAs('carol', { scope: 'read' });
    checks.check(carolAfter.status === 400 && carolAfter.json.error === 'invalid_request', `after the restart: carol's revoked grant still refuses the exchange (${carolAfter.status} ${String(carolAfter.json.error)})`);
    const carolIntrospection = await world.introspect(carolToken);
    checks.check(carolIntrospection.status === 200 && carolIntrospection.json.active === false, `after the restart: carol's token minted before the revoke introspects inactive (${carolIntrospection.status} active=${String(carolIntrospection.json.active)})`);
    const replayAfter = await withAssertion();
    checks.check(replayAfter.status === 400 && replayAfter.json.error === 'invalid_request', `after the restart: the actor assertion used before the kill is refused (${replayAfter.status} ${String(replayAfter.json.error)})`);
    const fresh = await world.exchangeAs('alice', { scope: 'read' });
    checks.check(fresh.status === 200, `after the restart: a fresh exchange succeeds (${fresh.status})`);

    figures(S, {
      'load before the kill': `${round((killedAt - started) / 1000, 2)} s at concurrency 16`,
      'requests sent': outcomes.length,
      '200 received before the kill': ok.length,
      'other statuses': tally(answered.filter((o) => o.status !== 200).map((o) => String(o.status))),
      'socket errors (requests cut by the kill)': tally(socketErrors.map((o) => o.error!)),
      'throughput before the kill (200/s)': round(ok.length / ((killedAt - started) / 1000)),
      'restart to /readyz 200 (ms)': round(restartMs),
      'issued_tokens rows after restart': r.issuedRows,
      'token.exchanged events after restart': r.exchangedEvents,
      '200s missing their row / event': `${r.withoutRow.length} / ${r.withoutEvent.length}`,
      'committed but never answered (cut in flight)': committedNotAnswered,
      'audit chains': `${chains.ok ? 'verify' : 'BROKEN'}: ${chains.events_checked} events in ${chains.chains} chains`,
      'revocation before the kill honoured after restart': `exchange ${carolAfter.status} ${String(carolAfter.json.error)}, introspection active=${String(carolIntrospection.json.active)}`,
      'replayed actor assertion after restart': `${replayAfter.status} ${String(replayAfter.json.error)}`,
    });
    await deputy.kill();
    checks.assertAll();
  });
});
