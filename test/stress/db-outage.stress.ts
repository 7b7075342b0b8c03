/**
 * The database stops mid-load and comes back: every request answers 200 or 503
 * temporarily_unavailable (never another error, never a hang); every 200 has its issued-token row
 * and its audit event; the process keeps serving; requests succeed again after the database
 * returns, without a restart (the recovery time is reported, bounded at 5 s).
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { startOutageHarness, type OutageHarness } from '../support/outage.js';
import { Checks, figures, say } from './harness.js';

const SCENARIO = 'db-outage';
const CONCURRENCY = 16;
const BEFORE_MS = 2000;
const OUTAGE_MS = 2000;
const AFTER_MS = 3000;
const RECOVERY_BOUND_MS = 5000;

interface Outcome {
  status: number;
  error?: string;
  jti?: string;
  startedAt: number;
}

describe('stress: the database stops mid-load', () => {
  let harness: OutageHarness;
  beforeAll(async () => {
    harness = await startOutageHarness({ RATE_LIMIT_CLIENT_PER_SECOND: '0', RATE_LIMIT_ACTOR_PER_SECOND: '0', DATABASE_POOL_TIMEOUT_MS: '500' });
  });
  afterAll(async () => {
    await harness?.stop();
  });

  it('answers 200 or 503 throughout, loses no record, and recovers without a restart', async () => {
    const w = harness.world;
    const checks = new Checks(SCENARIO);
    const outcomes: Outcome[] = [];
    const userTokens = await Promise.all(Array.from({ length: 50 }, () => w.userToken('alice')));
    let stop = false;
    let next = 0;

    async function worker(): Promise<void> {
      while (!stop) {
        const startedAt = Date.now();
        try {
          const result = await w.exchange({
            subject_token: userTokens[next++ % userTokens.length]!,
            subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
            resource: 'https://api.test/tickets',
            scope: 'read',
          });
          const token = result.json.access_token as string | undefined;
          const jti = token ? (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { jti: string }).jti : undefined;
          outcomes.push({ status: result.status, error: result.json.error as string | undefined, jti, startedAt });
        } catch (error) {
          outcomes.push({ status: 0, error: (error as Error).message, startedAt });
        }
      }
    }

    const workers = Array.from({ length: CONCURRENCY }, () => worker());
    await new Promise((resolve) => setTimeout(resolve, BEFORE_MS));
    const cutAt = Date.now();
    await harness.cutOff();
    say(SCENARIO, 'database cut off');
    await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
    await harness.restore();
    const restoredAt = Date.now();
    say(SCENARIO, 'database restored');
    let recoveredAt: number | null = null;
    while (Date.now() - restoredAt < Math.max(AFTER_MS, RECOVERY_BOUND_MS)) {
      recoveredAt ??= outcomes.find((o) => o.startedAt >= restoredAt && o.status === 200)?.startedAt ?? null;
      if (recoveredAt && Date.now() - restoredAt >= AFTER_MS) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    stop = true;
    await Promise.all(workers);

    const byStatus: Record<string, number> = {};
    for (const o of outcomes) byStatus[`${o.status} ${o.error ?? ''}`.trim()] = (byStatus[`${o.status} ${o.error ?? ''}`.trim()] ?? 0) + 1;
    const during = outcomes.filter((o) => o.startedAt >= cutAt && o.startedAt < restoredAt);
    const jtis = outcomes.flatMap((o) => (o.status === 200 && o.jti ? [o.jti] : []));
    const [recorded] = await w.sql<{ rows: number; events: number }>(
      `SELECT (SELECT count(*)::int FROM issued_tokens WHERE jti = ANY($1)) AS rows,
              (SELECT count(*)::int FROM audit_events WHERE jti = ANY($1) AND type = 'token.exchanged') AS events`,
      [jtis],
    );

    checks.check(outcomes.every((o) => o.status === 200 || (o.status === 503 && o.error === 'temporarily_unavailable')), 'every answer is 200 or 503 temporarily_unavailable');
    checks.check(during.some((o) => o.status === 503), 'requests during the outage were refused with 503');
    checks.check(recorded?.rows === jtis.length && recorded?.events === jtis.length, 'every 200 has its issued-token row and its audit event');
    checks.check(recoveredAt !== null && recoveredAt - restoredAt <= RECOVERY_BOUND_MS, `a request succeeded within ${RECOVERY_BOUND_MS} ms of the database returning`);
    checks.check((await fetch(`${w.deputy.url}/readyz`)).status === 200, 'the process is ready after the outage, without a restart');
    figures(SCENARIO, {
      'requests in all': outcomes.length,
      'answers by status': byStatus,
      'requests started during the outage': during.length,
      '200s / their rows / their events': `${jtis.length} / ${recorded?.rows} / ${recorded?.events}`,
      'first success after the database returned (ms)': recoveredAt === null ? 'none' : recoveredAt - restoredAt,
    });
    checks.assertAll();
    expect(checks.failures).toEqual([]);
  });
});
