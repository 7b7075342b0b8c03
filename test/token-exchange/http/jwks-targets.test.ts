/**
 * Review item 13: a jwks_uri may not point Deputy at loopback, private networks or link-local
 * addresses (cloud metadata) unless JWKS_ALLOW_PRIVATE_NETWORK=true: refused at registration
 * (400) and again at fetch time (503, no token, no connection). The only server here listens
 * on 127.0.0.1; nothing is ever sent to another address.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { GRANT_TYPE, RESOURCE, TT, makeKeyPair, startExchangeWorld, type KeyPair, type World } from '../../support/exchange-world.js';
import { startTestDeputy, type TestDeputy } from '../../support/deputy.js';
import { postToken } from '../../support/hostile.js';
import { adminClient, ADMIN_TOKEN, type Admin } from '../../admin/support.js';

describe('jwks_uri targets on private networks (default: refused)', () => {
  let w: World;
  let admin: Admin;
  let jwksServer: Server;
  let port: number;
  let connections = 0;
  let key: KeyPair;

  beforeAll(async () => {
    key = await makeKeyPair('loopback-key');
    jwksServer = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ keys: [key.publicJwk] }));
    });
    jwksServer.on('connection', () => (connections += 1));
    await new Promise<void>((resolve) => jwksServer.listen(0, '127.0.0.1', resolve));
    port = (jwksServer.address() as AddressInfo).port;
    w = await startExchangeWorld({ DEPUTY_ADMIN_TOKEN: ADMIN_TOKEN });
    admin = adminClient(w.deputy.url);
  });

  afterAll(async () => {
    await w?.stop();
    jwksServer?.closeAllConnections();
    await new Promise<void>((resolve) => (jwksServer ? jwksServer.close(() => resolve()) : resolve()));
  });

  const refusedUris = () => [
    'https://169.254.169.254/latest/meta-data/',
    'https://10.0.0.1/jwks',
    'https://[fd00::1]/jwks',
    'https://127.0.0.1/jwks',
    'https://[::1]/jwks',
    'https://localhost/jwks',
    `http://localhost:${port}/jwks`,
    `http://127.0.0.1:${port}/jwks`,
  ];

  it('POST /issuers refuses each with 400 invalid_request naming jwks_uri', async () => {
    for (const [i, uri] of refusedUris().entries()) {
      const reply = await admin.post('/issuers', { issuer: `https://private-${i}.test`, jwks_uri: uri, audience: w.issuer, kind: 'user' });
      expect({ uri, status: reply.status }).toEqual({ uri, status: 400 });
      expect(reply.body.error).toBe('invalid_request');
      expect(reply.body.issues[0].path).toEqual(['jwks_uri']);
    }
    expect((await admin.get('/issuers?issuer=https://private-0.test')).body.items).toEqual([]);
  });

  it('PATCH /issuers/:id refuses each too', async () => {
    const created = await admin.post('/issuers', { issuer: 'https://public-idp.test', jwks_uri: 'https://idp.example.com/jwks', audience: w.issuer, kind: 'user' });
    expect(created.status).toBe(201);
    for (const uri of refusedUris()) {
      const reply = await admin.patch(`/issuers/${created.body.id}`, { jwks_uri: uri });
      expect({ uri, status: reply.status }).toEqual({ uri, status: 400 });
      expect(reply.body.issues[0].path).toEqual(['jwks_uri']);
    }
    expect((await admin.get(`/issuers/${created.body.id}`)).body.jwks_uri).toBe('https://idp.example.com/jwks');
  });

  it('a stored jwks_uri on loopback (registered before, or by SQL) is refused at fetch time: 503, no token, no connection', async () => {
    const targets = [`http://127.0.0.1:${port}/jwks`, `http://localhost:${port}/jwks`, `https://localhost:${port}/jwks`];
    for (const [i, uri] of targets.entries()) {
      const issuer = `https://stored-${i}.test`;
      await w.sql(`INSERT INTO trusted_issuers (issuer, jwks_uri, audience, kind, algorithms) VALUES ($1, $2, $3, 'user', ARRAY['ES256'])`, [issuer, uri, w.issuer]);
      const issuedBefore = await w.issuedCount();
      const token = await w.userToken('alice', { claims: { iss: issuer }, header: { kid: key.kid }, key: key.privateKey });
      const result = await postToken(w, { grant_type: GRANT_TYPE, subject_token: token, subject_token_type: TT.jwt, resource: RESOURCE, scope: 'read' });
      expect({ uri, status: result.status, error: result.json.error }).toEqual({ uri, status: 503, error: 'temporarily_unavailable' });
      expect(result.json.access_token).toBeUndefined();
      expect(result.text).not.toContain('127.0.0.1');
      expect(await w.issuedCount()).toBe(issuedBefore);
    }
    expect(connections).toBe(0);
  });
});

describe('jwks_uri targets with JWKS_ALLOW_PRIVATE_NETWORK=true', () => {
  let deputy: TestDeputy;
  let admin: Admin;

  beforeAll(async () => {
    deputy = await startTestDeputy({ DEPUTY_ADMIN_TOKEN: ADMIN_TOKEN, JWKS_ALLOW_PRIVATE_NETWORK: 'true' });
    admin = adminClient(deputy.url);
  });

  afterAll(async () => {
    await deputy?.stop();
  });

  it('accepts private-network and loopback IdPs', async () => {
    for (const [i, uri] of ['https://10.0.0.1/jwks', 'https://[fd00::1]/jwks', 'https://localhost/jwks', 'http://127.0.0.1:8080/jwks'].entries()) {
      const reply = await admin.post('/issuers', { issuer: `https://private-${i}.test`, jwks_uri: uri, audience: deputy.config.ISSUER, kind: 'user' });
      expect({ uri, status: reply.status }).toEqual({ uri, status: 201 });
    }
  });

  it('still refuses link-local (cloud metadata) and plain http beyond loopback', async () => {
    for (const uri of ['https://169.254.169.254/latest/meta-data/', 'https://[fe80::1]/jwks', 'http://10.0.0.1/jwks']) {
      const reply = await admin.post('/issuers', { issuer: 'https://metadata.test', jwks_uri: uri, audience: deputy.config.ISSUER, kind: 'user' });
      expect({ uri, status: reply.status }).toEqual({ uri, status: 400 });
    }
  });
});
