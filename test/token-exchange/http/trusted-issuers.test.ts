/**
 * Trusted issuers over HTTP: a user issuer whose keys come from a jwks_uri (served here by a
 * local HTTP server whose behaviour the tests switch), fail-closed 503 when those keys cannot be
 * fetched, recovery when they can again, key rollover at the issuer; and the workload-identity
 * actor path (an actor_token from a trusted workload issuer bound to an actor).
 */
import { randomUUID } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { SignJWT, type JWK, type JWTPayload } from 'jose';
import {
  PEPPER,
  RESOURCE,
  SECRETS,
  TT,
  claimsOf,
  expectRefusalShape,
  makeKeyPair,
  startExchangeWorld,
  type KeyPair,
  type World,
} from '../../support/exchange-world.js';
import { hashClientSecret } from '../../../src/oauth/client-secrets.js';

type Mode = 'ok' | 'error' | 'hang' | 'not-json';

/** A JWKS endpoint whose answer the test controls. */
interface JwksServer {
  url: string;
  mode: Mode;
  keys: JWK[];
  requests: number;
  close(): Promise<void>;
}

async function startJwksServer(keys: JWK[]): Promise<JwksServer> {
  const state: { mode: Mode; keys: JWK[]; requests: number } = { mode: 'ok', keys, requests: 0 };
  const hanging = new Set<import('node:http').ServerResponse>();
  const server: Server = createServer((request, response) => {
    state.requests += 1;
    if (state.mode === 'hang') {
      hanging.add(response);
      return;
    }
    if (state.mode === 'error') {
      response.writeHead(500, { 'content-type': 'text/plain' }).end('boom');
      return;
    }
    if (state.mode === 'not-json') {
      response.writeHead(200, { 'content-type': 'application/json' }).end('<html>');
      return;
    }
    response.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: state.keys }));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/jwks`,
    get mode() {
      return state.mode;
    },
    set mode(mode: Mode) {
      state.mode = mode;
    },
    get keys() {
      return state.keys;
    },
    set keys(keys: JWK[]) {
      state.keys = keys;
    },
    get requests() {
      return state.requests;
    },
    close: () =>
      new Promise<void>((resolve) => {
        for (const response of hanging) response.destroy();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

const now = () => Math.floor(Date.now() / 1000);

describe('trusted issuers', () => {
  let w: World;
  let jwks: JwksServer;
  let remoteKey: KeyPair;
  let workloadKey: KeyPair;
  const REMOTE_ISSUER = 'https://remote-idp.test';
  const FLAKY_ISSUER = 'https://flaky-idp.test';
  const DEAD_ISSUER = 'https://dead-idp.test';
  const WORKLOAD_ISSUER = 'https://workloads.test';

  beforeAll(async () => {
    w = await startExchangeWorld({ JWKS_ALLOW_PRIVATE_NETWORK: 'true', JWKS_TIMEOUT_MS: '300', JWKS_COOLDOWN_MS: '0' });
    remoteKey = await makeKeyPair('remote-key-1');
    workloadKey = await makeKeyPair('workload-key-1');
    jwks = await startJwksServer([remoteKey.publicJwk]);
    const flaky = jwks.url.replace('/jwks', '/flaky');
    await w.sql(
      `INSERT INTO trusted_issuers (issuer, jwks_uri, audience, kind) VALUES ($1, $2, $5, 'user'), ($3, $4, $5, 'user'), ($6, $7, $5, 'user')`,
      [REMOTE_ISSUER, jwks.url, FLAKY_ISSUER, flaky, w.issuer, DEAD_ISSUER, 'http://127.0.0.1:9/jwks'],
    );
    await w.sql(`INSERT INTO trusted_issuers (issuer, jwks, audience, kind) VALUES ($1, $2, $3, 'workload')`, [
      WORKLOAD_ISSUER,
      { keys: [workloadKey.publicJwk] },
      w.issuer,
    ]);
    await w.addActor('agent:wl');
    await w.sql(`UPDATE actors SET workload_issuer = $1, workload_subject = 'spiffe://cluster/ns/app/sa/runner' WHERE id = 'agent:wl'`, [WORKLOAD_ISSUER]);
    await w.addGrant('alice', 'agent:wl', ['read', 'write']);
    await w.sql(
      `INSERT INTO clients (client_id, client_secret_hash, token_endpoint_auth_method, allowed_actors) VALUES ('app-platform', $1, 'client_secret_basic', ARRAY['agent:wl'])`,
      [hashClientSecret('secret-of-app-platform', PEPPER)],
    );
    SECRETS['app-platform'] = 'secret-of-app-platform';
  });
  afterAll(async () => {
    await jwks?.close();
    await w?.stop();
  });

  function userToken(issuer: string, key: KeyPair, claims: Record<string, unknown> = {}): Promise<string> {
    return new SignJWT({ iss: issuer, sub: 'alice', aud: w.issuer, iat: now(), exp: now() + 300, jti: randomUUID(), ...claims } as JWTPayload)
      .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'JWT' })
      .sign(key.privateKey);
  }

  const exchangeWith = (subjectToken: string) =>
    w.exchange({ subject_token: subjectToken, subject_token_type: TT.jwt, resource: RESOURCE, scope: 'read' });

  describe('a user issuer with a jwks_uri', () => {
    it('verifies a subject token with the fetched keys', async () => {
      const result = await exchangeWith(await userToken(REMOTE_ISSUER, remoteKey));
      expect(result.status).toBe(200);
      expect(claimsOf(result.json.access_token as string).sub).toBe('alice');
    });

    it('follows a key rollover at the issuer (unknown kid → refetch)', async () => {
      const next = await makeKeyPair('remote-key-2');
      jwks.keys = [remoteKey.publicJwk, next.publicJwk];
      const result = await exchangeWith(await userToken(REMOTE_ISSUER, next));
      expect(result.status).toBe(200);
    });

    it('a kid the issuer does not publish is invalid_request, not an outage', async () => {
      const stranger = await makeKeyPair('never-published');
      await w.expectRefused(async () => exchangeWith(await userToken(REMOTE_ISSUER, stranger)), 'invalid_request');
    });

    it('keys that cannot be fetched → 503 temporarily_unavailable, no token, audited (fail closed)', async () => {
      for (const mode of ['error', 'not-json', 'hang'] as const) {
        jwks.mode = mode;
        try {
          const flakyKey = await makeKeyPair(`flaky-${mode}`);
          await w.expectRefused(async () => exchangeWith(await userToken(FLAKY_ISSUER, flakyKey)), 'temporarily_unavailable', 503);
        } finally {
          jwks.mode = 'ok';
        }
      }
    });

    it('an unreachable jwks_uri → 503 temporarily_unavailable', async () => {
      const result = await w.expectRefused(async () => exchangeWith(await userToken(DEAD_ISSUER, remoteKey)), 'temporarily_unavailable', 503);
      expectRefusalShape(result);
    });

    it('recovers as soon as the keys can be fetched again, without a restart', async () => {
      const flakyKey = await makeKeyPair('flaky-recovering');
      jwks.keys = [...jwks.keys, flakyKey.publicJwk];
      jwks.mode = 'error';
      try {
        expect((await exchangeWith(await userToken(FLAKY_ISSUER, flakyKey))).status).toBe(503);
      } finally {
        jwks.mode = 'ok';
      }
      expect((await exchangeWith(await userToken(FLAKY_ISSUER, flakyKey))).status).toBe(200);
    });
  });

  describe('a workload-identity actor token', () => {
    function workloadToken(claims: Record<string, unknown> = {}, key: KeyPair = workloadKey): Promise<string> {
      return new SignJWT({
        iss: WORKLOAD_ISSUER,
        sub: 'spiffe://cluster/ns/app/sa/runner',
        aud: w.issuer,
        iat: now(),
        exp: now() + 300,
        ...claims,
      } as JWTPayload)
        .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'JWT' })
        .sign(key.privateKey);
    }

    const withActor = async (actorToken: string) =>
      w.exchange(
        { subject_token: await w.userToken('alice'), subject_token_type: TT.jwt, actor_token: actorToken, actor_token_type: TT.jwt, resource: RESOURCE },
        { clientId: 'app-platform' },
      );

    it('acts as the actor bound to (issuer, subject)', async () => {
      const result = await withActor(await workloadToken());
      expect(result.status).toBe(200);
      const claims = claimsOf(result.json.access_token as string);
      expect(claims.act).toEqual({ sub: 'agent:wl' });
      expect(claims.scope).toBe('read write');
    });

    it('a workload subject bound to no actor → invalid_request', async () => {
      await w.expectRefused(async () => withActor(await workloadToken({ sub: 'spiffe://cluster/ns/app/sa/other' })), 'invalid_request');
    });

    it('a workload token signed with another key → invalid_request', async () => {
      const stranger = await makeKeyPair(workloadKey.kid);
      await w.expectRefused(async () => withActor(await workloadToken({}, stranger)), 'invalid_request');
    });

    it('a workload token for another audience, or expired → invalid_request', async () => {
      await w.expectRefused(async () => withActor(await workloadToken({ aud: 'https://elsewhere.test' })), 'invalid_request');
      await w.expectRefused(async () => withActor(await workloadToken({ iat: now() - 600, exp: now() - 120 })), 'invalid_request');
    });

    it('a user-issuer token is not a workload token, and a workload token is not a subject token', async () => {
      await w.expectRefused(async () => withActor(await w.userToken('alice')), 'invalid_request');
      await w.expectRefused(async () => exchangeWith(await workloadToken({ sub: 'alice' })), 'invalid_request');
    });

    it('the client must be allowed to present the bound actor', async () => {
      await w.expectRefused(
        async () =>
          w.exchange(
            { subject_token: await w.userToken('alice'), subject_token_type: TT.jwt, actor_token: await workloadToken(), actor_token_type: TT.jwt, resource: RESOURCE },
            { clientId: 'app-b' },
          ),
        'invalid_request',
      );
    });
  });
});
