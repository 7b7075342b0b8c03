/**
 * The thin adapters over verify(): Koa (a real Koa app), node:http / Express-style (req, res,
 * next) middleware and push endpoint (a real node:http server), Fastify's preHandler (typed
 * structurally: exercised with a reply double recording what it was told), and the package
 * entry point `deputy/resource-server` with its types.
 */
import { randomUUID } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import Koa from 'koa';
import { SignJWT, createLocalJWKSet } from 'jose';
import {
  SESSION_REVOKED,
  createResourceServer,
  expressMiddleware,
  fastifyPreHandler,
  koaMiddleware,
  koaSsfPush,
  ssfPushHandler,
  type FastifyReplyLike,
  type ResourceServer,
  type VerifiedToken,
} from '../../src/resource-server/index.js';
import { makeKeyPair, type KeyPair } from '../support/exchange-world.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const ISSUER = 'https://deputy.test';
const AUDIENCE = 'https://api.test/tickets';
const now = () => Math.floor(Date.now() / 1000);

let key: KeyPair;
let rs: ResourceServer;
beforeAll(async () => {
  key = await makeKeyPair('k1');
  rs = createResourceServer({ issuer: ISSUER, audience: AUDIENCE, realm: 'tickets', keys: createLocalJWKSet({ keys: [key.publicJwk] }), ssf: {} });
});

function token(claims: Record<string, unknown> = {}): Promise<string> {
  return new SignJWT({ iss: ISSUER, sub: 'alice', aud: AUDIENCE, iat: now(), exp: now() + 300, jti: randomUUID(), scope: 'read', act: { sub: 'agent:a' }, ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'at+jwt' })
    .sign(key.privateKey);
}

function revocation(jti: string): Promise<string> {
  return new SignJWT({ iss: ISSUER, aud: AUDIENCE, jti: randomUUID(), iat: now(), sub_id: { format: 'jwt_id', iss: ISSUER, jti }, events: { [SESSION_REVOKED]: { token_exp: now() + 300 } } })
    .setProtectedHeader({ alg: 'ES256', kid: key.kid, typ: 'secevent+jwt' })
    .sign(key.privateKey);
}

async function listen(server: http.Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function close(server: http.Server): Promise<void> {
  server.closeAllConnections();
  await new Promise((resolve) => server.close(resolve));
}

/** Runs the same checks against an API served at `url` with GET /tickets (read) and POST /tickets (write, agent:a only) and POST /ssf. */
function sharedChecks(name: string, base: () => string) {
  describe(name, () => {
    it('a valid token reaches the handler, which sees the subject and the chain', async () => {
      const response = await fetch(`${base()}/tickets`, { headers: { authorization: `Bearer ${await token()}` } });
      expect(response.status).toBe(200);
      expect(await response.json()).toEqual({ subject: 'alice', chain: ['agent:a'] });
    });

    it('no token → 401 with a challenge naming no error', async () => {
      const response = await fetch(`${base()}/tickets`);
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toMatch(/^Bearer realm="tickets", DPoP realm="tickets", algs="/);
    });

    it('an expired token → 401 invalid_token, JSON body, no-store', async () => {
      const response = await fetch(`${base()}/tickets`, { headers: { authorization: `Bearer ${await token({ exp: now() - 600 })}` } });
      expect(response.status).toBe(401);
      expect(response.headers.get('www-authenticate')).toBe('Bearer realm="tickets", error="invalid_token", error_description="the access token has expired"');
      expect(response.headers.get('cache-control')).toBe('no-store');
      expect(await response.json()).toEqual({ error: 'invalid_token', error_description: 'the access token has expired' });
    });

    it('a policy refusal → 403 insufficient_scope naming the scope', async () => {
      const response = await fetch(`${base()}/tickets`, { method: 'POST', headers: { authorization: `Bearer ${await token()}` } });
      expect(response.status).toBe(403);
      expect(response.headers.get('www-authenticate')).toContain('error="insufficient_scope"');
      expect(response.headers.get('www-authenticate')).toContain('scope="write"');
    });

    it('the push endpoint revokes a token: the next request is refused', async () => {
      const jti = randomUUID();
      const revoked = await token({ jti });
      expect((await fetch(`${base()}/tickets`, { headers: { authorization: `Bearer ${revoked}` } })).status).toBe(200);
      const pushed = await fetch(`${base()}/ssf`, { method: 'POST', headers: { 'content-type': 'application/secevent+jwt' }, body: await revocation(jti) });
      expect(pushed.status).toBe(202);
      const refused = await fetch(`${base()}/tickets`, { headers: { authorization: `Bearer ${revoked}` } });
      expect(refused.status).toBe(401);
      expect(refused.headers.get('www-authenticate')).toContain('the access token was revoked');
      const forged = await fetch(`${base()}/ssf`, { method: 'POST', headers: { 'content-type': 'application/secevent+jwt' }, body: 'a.b.c' });
      expect(forged.status).toBe(400);
      expect(await forged.json()).toMatchObject({ err: 'invalid_request' });
    });
  });
}

describe('adapters', () => {
  let koaServer: http.Server;
  let nodeServer: http.Server;
  let koaUrl = '';
  let nodeUrl = '';

  beforeAll(async () => {
    const app = new Koa();
    const read = koaMiddleware(rs, { scopes: ['read'] });
    const write = koaMiddleware(rs, { scopes: ['write'], allowedActors: ['agent:a'] });
    const push = koaSsfPush(rs);
    app.use(async (ctx, next) => {
      if (ctx.path === '/ssf' && ctx.method === 'POST') return push(ctx);
      if (ctx.path !== '/tickets') return next();
      const guard = ctx.method === 'POST' ? write : read;
      await guard(ctx, async () => {
        const caller = ctx.state.deputy as VerifiedToken;
        ctx.body = { subject: caller.subject, chain: caller.chain };
      });
    });
    koaServer = http.createServer(app.callback());
    koaUrl = await listen(koaServer);

    const readMw = expressMiddleware(rs, { scopes: ['read'] });
    const writeMw = expressMiddleware(rs, { scopes: ['write'] });
    const pushHandler = ssfPushHandler(rs);
    nodeServer = http.createServer((req, res) => {
      if (req.url === '/ssf') return pushHandler(req, res);
      const mw = req.method === 'POST' ? writeMw : readMw;
      mw(req, res, (error) => {
        if (error) {
          res.statusCode = 500;
          return res.end();
        }
        const caller = (req as typeof req & { deputy: VerifiedToken }).deputy;
        res.setHeader('content-type', 'application/json');
        res.end(JSON.stringify({ subject: caller.subject, chain: caller.chain }));
      });
    });
    nodeUrl = await listen(nodeServer);
  });
  afterAll(async () => {
    await close(koaServer);
    await close(nodeServer);
  });

  sharedChecks('Koa', () => koaUrl);
  sharedChecks('node:http / Express-style middleware', () => nodeUrl);

  describe('Fastify preHandler', () => {
    function reply() {
      const told: { status?: number; headers?: Record<string, string>; body?: unknown } = {};
      const double: FastifyReplyLike = {
        code(status) {
          told.status = status;
          return double;
        },
        headers(values) {
          told.headers = values;
          return double;
        },
        send(body) {
          told.body = body;
          return double;
        },
      };
      return { double, told };
    }

    it('sets request.deputy on success, without answering', async () => {
      const request = { method: 'GET', url: '/tickets?x=1', hostname: 'api.test', headers: { authorization: `Bearer ${await token()}` } } as Parameters<ReturnType<typeof fastifyPreHandler>>[0];
      const { double, told } = reply();
      await fastifyPreHandler(rs, { scopes: ['read'] })(request, double);
      expect(told).toEqual({});
      expect(request.deputy).toMatchObject({ subject: 'alice', chain: ['agent:a'] });
    });

    it('answers a refusal with status, challenge and body', async () => {
      const request = { method: 'GET', url: '/tickets', headers: { authorization: `Bearer ${await token({ aud: 'https://other.test' })}` } };
      const { double, told } = reply();
      await fastifyPreHandler(rs)(request, double);
      expect(told.status).toBe(401);
      expect(told.headers!['www-authenticate']).toContain('error="invalid_token"');
      expect(JSON.parse(told.body as string)).toEqual({ error: 'invalid_token', error_description: 'the access token is for another audience' });
    });
  });
});

describe('package entry point', () => {
  it('`deputy/resource-server` resolves to dist/resource-server with its types', () => {
    expect(existsSync(path.join(ROOT, 'dist/resource-server/index.js'))).toBe(true);
    expect(existsSync(path.join(ROOT, 'dist/resource-server/index.d.ts'))).toBe(true);
    const run = spawnSync(process.execPath, ['--input-type=module', '-e', "const m = await import('deputy/resource-server'); console.log(typeof m.createResourceServer, typeof m.koaMiddleware, typeof m.expressMiddleware, typeof m.fastifyPreHandler)"], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    expect([run.status, run.stdout.trim()]).toEqual([0, 'function function function function']);
  });
});
