/**
 * Issue 16.3, poll: Deputy polls a trusted issuer's transmitter (RFC 8936) for an upstream
 * stream with delivery `poll`, applies each verified SET, acknowledges it, reports the ones it
 * refuses in setErrs, and sends its Authorization header.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { startExchangeWorld, USER_ISSUER, type World } from '../support/exchange-world.js';
import { call, SESSION_REVOKED } from './support.js';

const ADMIN_TOKEN = `ssf-upstream-poll-${'p'.repeat(32)}`;
const ALL = ['read', 'write', 'delete', 'admin'];

describe('upstream Shared Signals by poll', () => {
  let w: World;
  let transmitter: Server;
  let pollUrl: string;
  const queue = new Map<string, string>();
  const acked: string[] = [];
  const errors: Record<string, { err: string }> = {};
  const authorizations: Array<string | undefined> = [];

  const set = (sub: string, key?: CryptoKey) =>
    new SignJWT({
      iss: USER_ISSUER,
      aud: w.issuer,
      iat: Math.floor(Date.now() / 1000),
      jti: randomUUID(),
      sub_id: { format: 'iss_sub', iss: USER_ISSUER, sub },
      events: { [SESSION_REVOKED]: { event_timestamp: Math.floor(Date.now() / 1000) } },
    })
      .setProtectedHeader({ alg: 'ES256', kid: w.userKey.kid, typ: 'secevent+jwt' })
      .sign(key ?? w.userKey.privateKey);

  beforeAll(async () => {
    transmitter = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (chunk: Buffer) => chunks.push(chunk));
      req.on('end', () => {
        authorizations.push(req.headers.authorization);
        const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { ack?: string[]; setErrs?: Record<string, { err: string }>; maxEvents?: number };
        for (const jti of body.ack ?? []) {
          acked.push(jti);
          queue.delete(jti);
        }
        for (const [jti, problem] of Object.entries(body.setErrs ?? {})) {
          errors[jti] = problem;
          queue.delete(jti);
        }
        const sets = Object.fromEntries([...queue.entries()].slice(0, body.maxEvents ?? 100));
        res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ sets, moreAvailable: false }));
      });
    });
    await new Promise<void>((resolve) => transmitter.listen(0, '127.0.0.1', resolve));
    pollUrl = `http://127.0.0.1:${(transmitter.address() as AddressInfo).port}/poll`;
    w = await startExchangeWorld({ DEPUTY_ADMIN_TOKEN: ADMIN_TOKEN, SSF_ALLOW_PRIVATE_NETWORK: 'true', SSF_UPSTREAM_POLL_INTERVAL_MS: '100' });
  });
  afterAll(async () => {
    await w?.stop();
    transmitter.closeAllConnections();
    await new Promise((resolve) => transmitter.close(resolve));
  });

  it('applies and acknowledges verified SETs, reports refused ones, sends its Authorization header', async () => {
    await w.addSubject('poll-alice', { entitlements: ALL, grants: { 'agent:a': ['read'] } });
    const minted = await w.exchangeAs('poll-alice', { scope: 'read' });
    const token = minted.json.access_token as string;
    const good = randomUUID();
    const bad = randomUUID();
    queue.set(good, await set('poll-alice'));
    queue.set(bad, await set('alice', (await generateKeyPair('ES256')).privateKey));
    const [issuer] = await w.sql<{ id: string }>(`SELECT id::text FROM trusted_issuers WHERE issuer = $1 AND kind = 'user'`, [USER_ISSUER]);
    const created = await call(w.deputy.url, ADMIN_TOKEN, 'POST', '/admin/v1/upstream-streams', {
      trusted_issuer_id: issuer!.id,
      delivery_method: 'poll',
      poll_url: pollUrl,
      authorization_header: 'Bearer deputy-at-idp',
    });
    expect(created.status).toBe(201);
    expect(created.json.push_endpoint).toBeNull();
    const deadline = Date.now() + 20_000;
    while (!(acked.includes(good) && errors[bad])) {
      if (Date.now() > deadline) throw new Error(`acked ${acked.join(',')}, errors ${Object.keys(errors).join(',')}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(errors[bad]).toMatchObject({ err: 'invalid_key' });
    expect((await w.introspect(token)).json.active).toBe(false);
    expect((await w.introspect((await w.exchangeAs('alice', { scope: 'read' })).json.access_token as string)).json.active).toBe(true);
    expect(authorizations.every((value) => value === 'Bearer deputy-at-idp')).toBe(true);
  });
});
