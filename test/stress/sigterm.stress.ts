/**
 * Stress 2 — SIGTERM under load.
 *
 * 16 workers exchange continuously on keep-alive sockets; Deputy gets SIGTERM mid-load and the
 * workers keep sending (as real clients would) until the process has exited, or at most
 * STRESS_SIGTERM_GRACE_MS (default 15 s) after the signal. Then:
 * - every request sent before the signal got an answer (no connection reset, no socket hang up)
 *   and that answer is a 200;
 * - the process exits with code 0, within the grace period;
 * - after a restart on the same database: issued_tokens rows = token.exchanged events = 200s
 *   received (before and after the signal).
 */
import { afterAll, describe, it } from '@jest/globals';
import { verifyAuditChains } from '../../src/audit/audit-log.js';
import { GRANT_TYPE, RESOURCE, TT } from '../support/exchange-world.js';
import {
  Checks,
  keepAliveAgent,
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

const S = 'sigterm';
const LOAD_MS = Number(process.env.STRESS_SIGTERM_LOAD_MS ?? 4000);
const GRACE_MS = Number(process.env.STRESS_SIGTERM_GRACE_MS ?? 15_000);
const CONCURRENCY = 16;
const IDLE_WAIT_MS = Number(process.env.STRESS_SIGTERM_IDLE_WAIT_MS ?? 10_000);

afterAll(async () => {
  await stopAll();
});

describe('stress: SIGTERM under load', () => {
  it('finishes the requests in flight, exits 0, and every 200 is recorded once', async () => {
    const checks = new Checks(S);
    const stage = await prepareStage();
    const { world } = stage;
    const load = await addLoadSubjects(world, 'term', 20);
    let deputy = await startDeputyProcess(stage);
    say(S, `Deputy pid ${deputy.pid} on ${deputy.url}`);

    const requests: PreparedRequest[] = [];
    for (let i = 0; i < 400; i++) {
      const subject = load.ids[i % load.ids.length]!;
      requests.push(tokenRequest('app-a', { grant_type: GRANT_TYPE, subject_token: await world.userToken(subject), subject_token_type: TT.jwt, resource: RESOURCE, scope: 'read write' }));
    }
    let cursor = 0;
    const outcomes: Outcome[] = [];
    let exitedAt: number | null = null;
    let gaveUp = false;
    void deputy.exited.then((exit) => (exitedAt = exit.at));
    const started = performance.now();
    const running = runWorkers({
      baseUrl: deputy.url,
      concurrency: CONCURRENCY,
      next: () => requests[cursor++ % requests.length]!,
      keepGoing: () => exitedAt === null && !gaveUp,
      onOutcome: (outcome) => outcomes.push(outcome),
    });
    await sleep(LOAD_MS);
    const signalAt = performance.now();
    deputy.child.kill('SIGTERM');
    const graceTimer = setTimeout(() => (gaveUp = true), GRACE_MS);
    await running; // until the process has exited, or the grace period is over (the agent is then closed)
    clearTimeout(graceTimer);
    const loadStoppedAt = performance.now();
    const stillRunningAfterLoad = deputy.alive();
    const exitTimer = setTimeout(() => deputy.child.kill('SIGKILL'), 10_000);
    const exit = await deputy.exited;
    clearTimeout(exitTimer);
    const exitMs = exit.at - signalAt;
    say(S, `SIGTERM after ${round((signalAt - started) / 1000, 2)} s of load; exit code ${exit.code} signal ${exit.signal} ${round(exitMs)} ms after the signal${stillRunningAfterLoad ? ' (only after the clients stopped sending)' : ''}`);

    const before = outcomes.filter((o) => o.startedAt < signalAt);
    const after = outcomes.filter((o) => o.startedAt >= signalAt);
    const beforeFailed = before.filter((o) => o.error !== undefined);
    const beforeNon200 = before.filter((o) => o.status !== undefined && o.status !== 200);
    const okAll = outcomes.filter((o) => o.status === 200);
    const describeFailure = (o: Outcome) =>
      `${o.error} (sent ${o.sentAt === undefined ? 'never' : `${round(o.sentAt - signalAt, 2)} ms`} vs signal, reused socket ${String(o.reusedSocket)})`;

    checks.check(beforeFailed.length === 0, `every request sent before SIGTERM got an answer: ${before.length - beforeFailed.length}/${before.length}; failures ${JSON.stringify(tally(beforeFailed.map((o) => o.error!)))}${beforeFailed.length ? ` e.g. ${beforeFailed.slice(0, 3).map(describeFailure).join('; ')}` : ''}`);
    checks.check(beforeNon200.length === 0, `every request sent before SIGTERM was answered 200 (others: ${JSON.stringify(tally(beforeNon200.map((o) => `${o.status} ${o.body?.slice(0, 80)}`)))})`);
    checks.check(exit.code === 0 && exit.signal === null, `the process exits 0 (code ${exit.code}, signal ${exit.signal})`);
    checks.check(!stillRunningAfterLoad && exitMs <= GRACE_MS, `the process exits within ${GRACE_MS} ms of SIGTERM while clients keep sending (${round(exitMs)} ms${stillRunningAfterLoad ? `; still running when the clients stopped, ${round(loadStoppedAt - signalAt)} ms after the signal` : ''})`);

    deputy = await startDeputyProcess(stage);
    const jtis = okAll.map((o) => jtiOf(o.body)).filter((j): j is string => j !== null);
    const r = await reconcile(stage.pool, jtis);
    checks.check(jtis.length === okAll.length, `every 200 carries a decodable jti (${jtis.length}/${okAll.length})`);
    checks.check(r.issuedRows === r.exchangedEvents, `issued_tokens rows = token.exchanged events (${r.issuedRows} = ${r.exchangedEvents})`);
    checks.check(r.issuedRows === okAll.length, `issued_tokens rows = 200s received (${r.issuedRows} = ${okAll.length})`);
    checks.check(r.withoutRow.length === 0 && r.withoutEvent.length === 0 && r.withSeveralEvents.length === 0, `each 200's jti has one row and one event (missing rows ${r.withoutRow.length}, missing events ${r.withoutEvent.length}, several events ${r.withSeveralEvents.length})`);
    const chains = await verifyAuditChains(stage.pool);
    checks.check(chains.ok, `audit chains verify (${chains.events_checked} events, first broken link ${JSON.stringify(chains.first_broken_link)})`);

    const inFlightAtSignal = before.filter((o) => o.respondedAt === undefined || o.respondedAt > signalAt);
    figures(S, {
      'load before the signal': `${round((signalAt - started) / 1000, 2)} s at concurrency ${CONCURRENCY}`,
      'requests sent before SIGTERM': before.length,
      'of which in flight at the signal': inFlightAtSignal.length,
      'in flight at the signal, answered 200': inFlightAtSignal.filter((o) => o.status === 200).length,
      'sent before SIGTERM, reset / hung up': beforeFailed.length,
      'requests sent after SIGTERM': after.length,
      'after SIGTERM, answered': tally(after.filter((o) => o.status !== undefined).map((o) => String(o.status))),
      'answers after SIGTERM with Connection: close': after.filter((o) => o.connection === 'close').length + inFlightAtSignal.filter((o) => o.connection === 'close').length,
      'after SIGTERM, socket errors': tally(after.filter((o) => o.error !== undefined).map((o) => o.error!)),
      'exit code': `${exit.code} (signal ${exit.signal})`,
      'signal to exit (ms)': round(exitMs),
      'clients still sending when it exited': !stillRunningAfterLoad,
      '200s received in all': okAll.length,
      'issued_tokens rows / token.exchanged events': `${r.issuedRows} / ${r.exchangedEvents}`,
      'audit chains': `${chains.ok ? 'verify' : 'BROKEN'}: ${chains.events_checked} events`,
    });

    // Phase B: the same signal, but the clients stop sending 1 s after it and keep their idle
    // keep-alive sockets open (what an HTTP client pool does). A graceful shutdown closes them.
    const idleAgent = keepAliveAgent(CONCURRENCY);
    let idleExitAt: number | null = null;
    void deputy.exited.then((e) => (idleExitAt = e.at));
    let sendingB = true;
    const outcomesB: Outcome[] = [];
    const runningB = runWorkers({ baseUrl: deputy.url, agent: idleAgent, concurrency: CONCURRENCY, next: () => requests[cursor++ % requests.length]!, keepGoing: () => sendingB && idleExitAt === null, onOutcome: (o) => outcomesB.push(o) });
    await sleep(2000);
    const signalB = performance.now();
    deputy.child.kill('SIGTERM');
    await sleep(1000);
    sendingB = false;
    await runningB;
    const idleSince = performance.now();
    while (idleExitAt === null && performance.now() - idleSince < IDLE_WAIT_MS) await sleep(50);
    const exitedWhileIdle = idleExitAt !== null;
    const idleExitMs = exitedWhileIdle ? idleExitAt! - idleSince : null;
    idleAgent.destroy();
    const exitB = await deputy.exited;
    const failedB = outcomesB.filter((o) => o.error !== undefined && o.startedAt < signalB);
    checks.check(failedB.length === 0, `phase B: every request sent before SIGTERM got an answer (${failedB.length} failed)`);
    checks.check(exitedWhileIdle, `phase B: the process exits within ${IDLE_WAIT_MS} ms once the clients are idle, keep-alive sockets open (${exitedWhileIdle ? `${round(idleExitMs!)} ms` : 'still running; it exited only when the client closed its sockets'}; exit code ${exitB.code})`);

    figures(`${S} phase B`, {
      'requests before / after SIGTERM': `${outcomesB.filter((o) => o.startedAt < signalB).length} / ${outcomesB.filter((o) => o.startedAt >= signalB).length}`,
      'after SIGTERM, answered': tally(outcomesB.filter((o) => o.startedAt >= signalB && o.status !== undefined).map((o) => String(o.status))),
      'after SIGTERM, socket errors': tally(outcomesB.filter((o) => o.startedAt >= signalB && o.error !== undefined).map((o) => o.error!)),
      'clients idle (sockets open) to exit (ms)': exitedWhileIdle ? round(idleExitMs!) : `> ${IDLE_WAIT_MS} (exited ${round(exitB.at - idleSince)} ms after idle, when the client closed its sockets)`,
      'exit code': `${exitB.code} (signal ${exitB.signal})`,
    });
    checks.assertAll();
  });
});
