/**
 * Many exchanges at once, granted and denied mixed: each gets exactly one audit event, each
 * success exactly one issued-token row with a distinct jti, and the hash-chained audit log
 * still verifies.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SignJWT, exportJWK, generateKeyPair } from 'jose';
import { verifyAuditChains } from '../../../src/audit/audit-log.js';
import { RESOURCE, SECRETS, TT, claimsOf, expectRefusalShape, startExchangeWorld, type World } from '../../support/exchange-world.js';

describe('concurrent exchanges', () => {
  let w: World;
  beforeAll(async () => {
    w = await startExchangeWorld({ DATABASE_POOL_SIZE: '20', DATABASE_POOL_TIMEOUT_MS: '10000' });
  });
  afterAll(async () => {
    await w?.stop();
  });

  it('60 at once (40 granted, 20 refused): one audit event each, one row per token, chains intact', async () => {
    const before = {
      issued: await w.issuedCount(),
      exchanged: await w.auditCount({ type: 'token.exchanged' }),
      deniedScope: await w.auditCount({ type: 'token.exchange_denied', error: 'invalid_scope' }),
      deniedRequest: await w.auditCount({ type: 'token.exchange_denied', error: 'invalid_request' }),
    };
    const requests = [
      ...Array.from({ length: 40 }, (_, i) => () => w.exchangeAs('alice', { scope: i % 2 ? 'read' : 'read write' })),
      ...Array.from({ length: 10 }, () => () => w.exchangeAs('alice', { scope: 'admin' })), // not delegated → invalid_scope
      ...Array.from({ length: 10 }, () => () => w.exchangeAs('bob', { scope: 'read' })), // no grant → invalid_request
    ];
    const results = await Promise.all(requests.map((run) => run()));

    const granted = results.filter((r) => r.status === 200);
    expect(granted).toHaveLength(40);
    expect(results.filter((r) => r.json.error === 'invalid_scope')).toHaveLength(10);
    expect(results.filter((r) => r.json.error === 'invalid_request')).toHaveLength(10);

    const jtis = granted.map((r) => claimsOf(r.json.access_token as string).jti as string);
    expect(new Set(jtis).size).toBe(40);
    const [rows] = await w.sql<{ n: number }>('SELECT count(*)::int AS n FROM issued_tokens WHERE jti = ANY($1)', [jtis]);
    expect(rows!.n).toBe(40);
    const [events] = await w.sql<{ n: number }>(`SELECT count(*)::int AS n FROM audit_events WHERE type = 'token.exchanged' AND jti = ANY($1)`, [jtis]);
    expect(events!.n).toBe(40);

    expect(await w.issuedCount()).toBe(before.issued + 40);
    expect(await w.auditCount({ type: 'token.exchanged' })).toBe(before.exchanged + 40);
    expect(await w.auditCount({ type: 'token.exchange_denied', error: 'invalid_scope' })).toBe(before.deniedScope + 10);
    expect(await w.auditCount({ type: 'token.exchange_denied', error: 'invalid_request' })).toBe(before.deniedRequest + 10);

    const report = await verifyAuditChains(w.deputy.pool);
    expect(report.ok).toBe(true);
    expect(report.first_broken_link).toBeNull();
    expect(report.events_checked).toBe(await w.auditCount());
  });

  it('50 at once with one DPoP proof, three rounds: exactly one token each, the rest invalid_dpop_proof, each audited once', async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    const jwk = await exportJWK(pair.publicKey);
    const before = {
      issued: await w.issuedCount(),
      exchanged: await w.auditCount({ type: 'token.exchanged' }),
      denied: await w.auditCount({ type: 'token.exchange_denied', error: 'invalid_dpop_proof' }),
    };
    // Several rounds: the first requests of a run also open connections, which spreads them out.
    for (let round = 0; round < 3; round += 1) {
      const proof = await new SignJWT({ htm: 'POST', htu: `${w.issuer}/token`, jti: randomUUID(), iat: Math.floor(Date.now() / 1000) })
        .setProtectedHeader({ alg: 'ES256', typ: 'dpop+jwt', jwk })
        .sign(pair.privateKey);
      const body = new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        subject_token: await w.userToken('alice'),
        subject_token_type: TT.jwt,
        resource: RESOURCE,
        scope: 'read',
      }).toString();
      const results = await Promise.all(
        Array.from({ length: 50 }, async () => {
          const response = await fetch(`${w.deputy.url}/token`, {
            method: 'POST',
            headers: {
              'content-type': 'application/x-www-form-urlencoded',
              authorization: `Basic ${Buffer.from(`app-a:${SECRETS['app-a']}`).toString('base64')}`,
              dpop: proof,
            },
            body,
          });
          const text = await response.text();
          return { status: response.status, headers: response.headers, text, json: JSON.parse(text) as Record<string, unknown> };
        }),
      );
      // Counts, not the results: a failure must not print the tokens.
      expect(results.filter((r) => r.status === 200).length).toBe(1);
      const refused = results.filter((r) => r.status !== 200);
      expect(refused.length).toBe(49);
      for (const result of refused) {
        expect(result.status).toBe(400);
        expect(result.json.error).toBe('invalid_dpop_proof');
        expectRefusalShape(result);
      }
    }
    expect(await w.issuedCount()).toBe(before.issued + 3);
    expect(await w.auditCount({ type: 'token.exchanged' })).toBe(before.exchanged + 3);
    expect(await w.auditCount({ type: 'token.exchange_denied', error: 'invalid_dpop_proof' })).toBe(before.denied + 3 * 49);
  });
});
