/**
 * Hostile input corpus for the OAuth endpoints other than the exchange itself: other grant types
 * at POST /token, HTTP method confusion, wrong content types, oversized bodies, hostile client
 * authentication, POST /token/introspection and POST /token/revocation with forged and malformed
 * tokens, raw HTTP that fetch refuses to build (NUL and CR/LF in headers, smuggling-shaped
 * framing), and path confusion. A fixed corpus plus fast-check properties.
 *
 * Every response: status < 500, no access_token (nor `active: true` for a forged token) unless
 * the request was a deliberately valid control, no stack trace, SQL text or echoed secret/token.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { exportSPKI } from 'jose';
import {
  GRANT_TYPE,
  RESOURCE,
  SECRETS,
  TT,
  claimsOf,
  makeKeyPair,
  startExchangeWorld,
  type HttpResult,
  type KeyPair,
  type World,
} from '../support/exchange-world.js';
import {
  FORM,
  HOSTILE_STRINGS,
  basic,
  check,
  form,
  leaksIn,
  newTally,
  postToken,
  rawHttp,
  report,
  send,
  signCompactEs256,
  signCompactHs256,
  percentEncode,
  refusedByFetch,
  runCases,
  type Tally,
} from '../support/hostile.js';

const b64 = (value: string) => Buffer.from(value).toString('base64url');

describe('hostile input: /token (other grants, methods, content types, client auth), introspection, revocation', () => {
  let w: World;
  let attacker: KeyPair;
  const tally: Tally = newTally('hostile/token-endpoints');
  const sent: string[] = [...Object.values(SECRETS)];
  /** A genuine delegated token of app-a: the valid control for introspection, and the model for forgeries. */
  let genuine: string;

  beforeAll(async () => {
    w = await startExchangeWorld({ DATABASE_POOL_SIZE: '10', DATABASE_POOL_TIMEOUT_MS: '10000' });
    attacker = await makeKeyPair('attacker-key');
    const minted = await postToken(w, { grant_type: GRANT_TYPE, subject_token: await w.userToken('alice'), subject_token_type: TT.jwt, resource: RESOURCE, scope: 'read' });
    if (minted.status !== 200) throw new Error(`control exchange failed: ${minted.text}`);
    genuine = minted.json.access_token as string;
    sent.push(genuine);
  });
  afterAll(async () => {
    await w?.stop();
  });

  /** Records a response that must not carry a token (nor active:true); returns its problems. */
  function judge(label: string, result: HttpResult, { valid = false, mayBeActive = false, unknownMethod = false } = {}): string[] {
    // 501 is the HTTP answer to a method the server does not recognise (RFC 9110 §9.1, §15.6.2).
    const problems = check(tally, label, unknownMethod && result.status === 501 ? { ...result, status: 405 } : result, sent, valid);
    if (!mayBeActive && result.json.active === true) {
      tally.wronglyMinted += 1;
      problems.push('forged or malformed token introspected active');
      tally.failures.push(`${label}: active:true → ${result.text.slice(0, 200)}`);
    }
    if (/"items"\s*:/.test(result.text)) {
      tally.leaks += 1;
      problems.push('admin data served');
      tally.failures.push(`${label}: admin data → ${result.text.slice(0, 200)}`);
    }
    return problems;
  }

  type CaseOptions = { valid?: boolean; mayBeActive?: boolean; unknownMethod?: boolean } | undefined;
  const runAll = (cases: Array<[string, () => Promise<HttpResult>, CaseOptions?]>) =>
    runCases(cases.map(([label, run, options]) => [label, run, options] as const), judge);

  const url = (path: string) => `${w.deputy.url}${path}`;
  const exchangeParams = async () => ({
    grant_type: GRANT_TYPE,
    subject_token: await w.userToken('alice'),
    subject_token_type: TT.jwt,
    resource: RESOURCE,
    scope: 'read',
  });

  it('other grant types and parse-failure fallbacks never mint', async () => {
    const userToken = await w.userToken('alice');
    sent.push(userToken);
    const grants: Array<[string, Record<string, string | string[]>, string | null]> = [
      ['client_credentials, client without scope', { grant_type: 'client_credentials' }, basic('app-a')],
      ['client_credentials asking deputy:admin', { grant_type: 'client_credentials', scope: 'deputy:admin' }, basic('app-a')],
      ['client_credentials asking openid deputy:admin', { grant_type: 'client_credentials', scope: 'openid deputy:admin' }, basic('app-none')],
      ['client_credentials with a resource', { grant_type: 'client_credentials', resource: RESOURCE, scope: 'read' }, basic('app-a')],
      ['client_credentials, no client auth', { grant_type: 'client_credentials', client_id: 'app-a' }, null],
      ['authorization_code with a junk code', { grant_type: 'authorization_code', code: "' OR 1=1 --", redirect_uri: 'https://evil.test/cb' }, basic('app-a')],
      ['authorization_code with a user token as code', { grant_type: 'authorization_code', code: userToken, redirect_uri: 'https://evil.test/cb' }, basic('app-a')],
      ['refresh_token with a junk token', { grant_type: 'refresh_token', refresh_token: '../../etc/passwd' }, basic('app-a')],
      ['refresh_token with a Deputy access token', { grant_type: 'refresh_token', refresh_token: genuine }, basic('app-a')],
      ['password', { grant_type: 'password', username: 'alice', password: 'alice' }, basic('app-a')],
      ['implicit', { grant_type: 'implicit' }, basic('app-a')],
      ['device_code', { grant_type: 'urn:ietf:params:oauth:grant-type:device_code', device_code: 'x' }, basic('app-a')],
      ['jwt-bearer with a trusted user token', { grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer', assertion: userToken, scope: 'read' }, basic('app-a')],
      ['saml2-bearer', { grant_type: 'urn:ietf:params:oauth:grant-type:saml2-bearer', assertion: b64('<saml/>') }, basic('app-a')],
      ['ciba', { grant_type: 'urn:openid:params:grant-type:ciba', auth_req_id: 'x' }, basic('app-a')],
      ['token-exchange typo', { grant_type: `${GRANT_TYPE} `, subject_token: userToken, subject_token_type: TT.jwt, resource: RESOURCE }, basic('app-a')],
      ['token-exchange upper case', { grant_type: GRANT_TYPE.toUpperCase(), subject_token: userToken, subject_token_type: TT.jwt, resource: RESOURCE }, basic('app-a')],
      ['token-exchange with a NUL', { grant_type: `${GRANT_TYPE}\u0000`, subject_token: userToken, subject_token_type: TT.jwt, resource: RESOURCE }, basic('app-a')],
      ['token-exchange without subject_token but with a code', { grant_type: GRANT_TYPE, code: 'x', subject_token_type: TT.jwt, resource: RESOURCE }, basic('app-a')],
      ['token-exchange with a refresh_token instead', { grant_type: GRANT_TYPE, refresh_token: genuine, resource: RESOURCE }, basic('app-a')],
      ['token-exchange plus client_credentials grant', { grant_type: [GRANT_TYPE, 'client_credentials'], subject_token: userToken, subject_token_type: TT.jwt, resource: RESOURCE }, basic('app-a')],
      ['no grant_type', { subject_token: userToken, subject_token_type: TT.jwt, resource: RESOURCE }, basic('app-a')],
      ['token-exchange for a client without an actor', { grant_type: GRANT_TYPE, subject_token: userToken, subject_token_type: TT.jwt, resource: RESOURCE }, basic('app-none')],
    ];
    const bad = await runAll(grants.map(([label, params, auth]) => [label, () => postToken(w, params, auth)]));
    expect(bad).toEqual([]);
  });

  it('method confusion and path confusion on the OAuth endpoints', async () => {
    const cases: Array<[string, () => Promise<HttpResult>, { valid?: boolean; unknownMethod?: boolean }?]> = [];
    const query = form(await exchangeParams());
    for (const path of ['/token', '/token/introspection', '/token/revocation']) {
      for (const method of ['GET', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD', 'PROPFIND', 'FOO']) {
        const withBody = method !== 'GET' && method !== 'HEAD';
        const unknownMethod = method === 'PROPFIND' || method === 'FOO';
        cases.push([`${method} ${path} with exchange params in the query`, () =>
          send(url(`${path}?${query}&token=${encodeURIComponent(genuine)}`), { method, headers: { authorization: basic('app-a') } }), { unknownMethod }]);
        if (withBody) {
          cases.push([`${method} ${path} with a form body`, async () =>
            send(url(path), { method, headers: { authorization: basic('app-a'), 'content-type': FORM }, body: form({ ...(await exchangeParams()), token: genuine }) }), { unknownMethod }]);
        }
      }
    }
    cases.push(['GET /token with the params in the query (as a browser would)', async () => send(url(`/token?${form(await exchangeParams())}`), { headers: { authorization: basic('app-a') } })]);
    for (const path of [
      '/TOKEN',
      '/token/',
      '//token',
      '/token;x=1',
      '/token%00',
      '/token/..',
      '/token/%2e%2e/jwks',
      '/token/..%2Fadmin%2Fv1%2Fsubjects',
      '/%2e%2e/admin/v1/subjects',
      '/admin/v1/../v1/subjects',
      '/admin/v1/%2e%2e/v1/subjects',
      '/admin%2Fv1%2Fsubjects',
      '/admin/v1/subjects%00',
      '/admin/v1//subjects',
      '/ADMIN/v1/subjects',
      '/token/introspection/../../admin/v1/grants',
      '/.well-known/../admin/v1/tokens',
    ]) {
      // The router matches /TOKEN and /token/ as /token: the same endpoint, the same checks.
      const sameEndpoint = path === '/TOKEN' || path === '/token/';
      cases.push([`POST ${path}`, async () => send(url(path), { method: 'POST', headers: { authorization: basic('app-a'), 'content-type': FORM }, body: form(await exchangeParams()) }), { valid: sameEndpoint }]);
      cases.push([`GET ${path} with the client's Basic credentials`, () => send(url(path), { headers: { authorization: basic('app-a') } })]);
      cases.push([`GET ${path} with a delegated token as bearer`, () => send(url(path), { headers: { authorization: `Bearer ${genuine}` } })]);
    }
    expect(await runAll(cases)).toEqual([]);
  });

  it('content types and oversized bodies at POST /token', async () => {
    const params = await exchangeParams();
    const json = JSON.stringify(params);
    // Tolerated (a correct token may be minted): an unknown charset is read as UTF-8; junk bytes in
    // an unknown parameter are ignored; a Content-Encoding the server does not apply is ignored.
    const cases: Array<[string, () => Promise<HttpResult>, { valid?: boolean }?]> = [
      ['control: form with charset', async () =>
        send(url('/token'), { method: 'POST', headers: { authorization: basic('app-a'), 'content-type': `${FORM}; charset=utf-8` }, body: form(await exchangeParams()) }), { valid: true }],
      ['JSON body', () => send(url('/token'), { method: 'POST', headers: { authorization: basic('app-a'), 'content-type': 'application/json' }, body: json })],
      ['JSON body typed as form', () => send(url('/token'), { method: 'POST', headers: { authorization: basic('app-a'), 'content-type': FORM }, body: json })],
      ['form body typed as JSON', () => send(url('/token'), { method: 'POST', headers: { authorization: basic('app-a'), 'content-type': 'application/json' }, body: form(params) })],
      ['form body typed text/plain', () => send(url('/token'), { method: 'POST', headers: { authorization: basic('app-a'), 'content-type': 'text/plain' }, body: form(params) })],
      ['form body with no content type', () => send(url('/token'), { method: 'POST', headers: { authorization: basic('app-a') }, body: Buffer.from(form(params)) })],
      ['multipart body', () => {
        const boundary = 'XyZ';
        const body = Object.entries(params).map(([k, v]) => `--${boundary}\r\nContent-Disposition: form-data; name="${k}"\r\n\r\n${v}\r\n`).join('') + `--${boundary}--\r\n`;
        return send(url('/token'), { method: 'POST', headers: { authorization: basic('app-a'), 'content-type': `multipart/form-data; boundary=${boundary}` }, body });
      }],
      ['XML body', () => send(url('/token'), { method: 'POST', headers: { authorization: basic('app-a'), 'content-type': 'application/xml' }, body: '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>' })],
      ['form typed with charset utf-16', () => send(url('/token'), { method: 'POST', headers: { authorization: basic('app-a'), 'content-type': `${FORM}; charset=utf-16` }, body: Buffer.from(form(params), 'utf16le') })],
      ['form typed with an unknown charset', () => send(url('/token'), { method: 'POST', headers: { authorization: basic('app-a'), 'content-type': `${FORM}; charset=x-evil` }, body: form(params) }), { valid: true }],
      ['two content types', () => send(url('/token'), { method: 'POST', headers: { authorization: basic('app-a'), 'content-type': `${FORM}, application/json` }, body: form(params) })],
      ['gzip-encoded form (claimed, not compressed)', () => send(url('/token'), { method: 'POST', headers: { authorization: basic('app-a'), 'content-type': FORM, 'content-encoding': 'gzip' }, body: form(params) }), { valid: true }],
      ['invalid percent-encoding', () => send(url('/token'), { method: 'POST', headers: { authorization: basic('app-a'), 'content-type': FORM }, body: `${form(params)}&scope=%zz%&resource=%E0%A4%A` })],
      ['overlong UTF-8 in the body', () => send(url('/token'), { method: 'POST', headers: { authorization: basic('app-a'), 'content-type': FORM }, body: Buffer.concat([Buffer.from(`${form(params)}&x=`), Buffer.from([0xc0, 0xaf, 0xed, 0xa0, 0x80, 0xff])]) }), { valid: true }],
      ['1 MB form body', async () => send(url('/token'), { method: 'POST', headers: { authorization: basic('app-a'), 'content-type': FORM }, body: `${form(await exchangeParams())}&pad=${'a'.repeat(1024 * 1024)}` })],
      ['5 MB form body', async () => send(url('/token'), { method: 'POST', headers: { authorization: basic('app-a'), 'content-type': FORM }, body: `${form(await exchangeParams())}&pad=${'a'.repeat(5 * 1024 * 1024)}` })],
      ['1 MB subject_token', () => postToken(w, { ...params, subject_token: `${'a'.repeat(512 * 1024)}.${'b'.repeat(512 * 1024)}.c` })],
      ['20,000 parameters', () => send(url('/token'), { method: 'POST', headers: { authorization: basic('app-a'), 'content-type': FORM }, body: `${form(params)}&${Array.from({ length: 20000 }, (_, i) => `p${i}=${i}`).join('&')}` })],
      ['5,000 repeated scope parameters', () => send(url('/token'), { method: 'POST', headers: { authorization: basic('app-a'), 'content-type': FORM }, body: `${form(params)}${'&scope=read'.repeat(5000)}` })],
      ['1 MB JSON body', () => send(url('/token'), { method: 'POST', headers: { authorization: basic('app-a'), 'content-type': 'application/json' }, body: JSON.stringify({ ...params, pad: 'a'.repeat(1024 * 1024) }) })],
      ['a 64 KB header', () => send(url('/token'), { method: 'POST', headers: { authorization: basic('app-a'), 'content-type': FORM, 'x-pad': 'h'.repeat(64 * 1024) }, body: form(params) })],
    ];
    expect(await runAll(cases)).toEqual([]);
  });

  it('hostile client authentication at POST /token', async () => {
    const params = await exchangeParams();
    sent.push(params.subject_token);
    const raw = (value: string) => `Basic ${Buffer.from(value).toString('base64')}`;
    const assertion = (header: Record<string, unknown>, claims: Record<string, unknown>, key = attacker.privateKey) => signCompactEs256(header, claims, key);
    const clientClaims = (overrides: Record<string, unknown> = {}) => ({ iss: 'app-jwt', sub: 'app-jwt', aud: w.issuer, iat: Math.floor(Date.now() / 1000), exp: Math.floor(Date.now() / 1000) + 60, jti: randomUUID(), ...overrides });
    const pem = await exportSPKI(w.clientJwtKey.publicKey);
    const authHeaders: Array<[string, string]> = [
      ['Basic alone', 'Basic'],
      ['Basic with a space', 'Basic '],
      ['Basic not base64', 'Basic !!!***'],
      ['Basic without a colon', raw('app-a')],
      ['Basic with an empty id', raw(`:${SECRETS['app-a']}`)],
      ['Basic with an empty secret', raw('app-a:')],
      ['Basic with the wrong secret', raw('app-a:secret-of-app-b')],
      ['Basic with the secret of another client', raw(`app-b:${SECRETS['app-a']}`)],
      ['Basic with a NUL in the id', raw(`app-a\u0000:${SECRETS['app-a']}`)],
      ['Basic with a NUL-suffixed secret', raw(`app-a:${SECRETS['app-a']}\u0000`)],
      ['Basic with a percent-encoded NUL', raw(`app-a%00:${SECRETS['app-a']}`)],
      ['Basic with broken percent-encoding', raw(`app-a%zz:${SECRETS['app-a']}`)],
      ['Basic with a SQL id', raw(`' OR '1'='1:x`)],
      ['Basic with a path id', raw(`../../etc/passwd:x`)],
      ['Basic with an RTL id', raw(`app-a\u202E:${SECRETS['app-a']}`)],
      ['Basic with an emoji id', raw(`\uD83D\uDE00:x`)],
      ['Basic with a 10 KB id', raw(`${'i'.repeat(10_240)}:x`)],
      ['Basic with a 100 KB secret', raw(`app-a:${'s'.repeat(100 * 1024)}`)],
      ['Basic with the admin-looking id', raw('bootstrap:x')],
      ['Bearer with a delegated token', `Bearer ${genuine}`],
      ['Bearer with the client secret', `Bearer ${SECRETS['app-a']}`],
      ['Digest', 'Digest username="app-a", realm="x"'],
      ['lower-case basic', `basic ${Buffer.from(`app-a:${SECRETS['app-a']}`).toString('base64')}`],
    ];
    const cases: Array<[string, () => Promise<HttpResult>, { valid?: boolean }?]> = authHeaders.map(([label, header]) => [label, () => postToken(w, params, header)]);
    cases[cases.length - 1]![2] = { valid: true }; // lower-case scheme is legal (RFC 7235)
    cases.push(
      ['basic and client_secret_post at once', () => postToken(w, { ...params, client_id: 'app-a', client_secret: SECRETS['app-a']! })],
      ['client_secret_post for a basic client with the wrong secret', () => postToken(w, { ...params, client_id: 'app-a', client_secret: 'nope' }, null)],
      ['client_id in the body differing from Basic', () => postToken(w, { ...params, client_id: 'app-b' })],
      ['client_id only, no secret', () => postToken(w, { ...params, client_id: 'app-a' }, null)],
      ['client_id repeated', () => postToken(w, { ...params, client_id: ['app-a', 'app-b'], client_secret: SECRETS['app-a']! }, null)],
      ['client_id SQL, no secret', () => postToken(w, { ...params, client_id: "app-a' --" }, null)],
      ['client_assertion alg none', () => postToken(w, { ...params, client_id: 'app-jwt', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: `${b64(JSON.stringify({ alg: 'none' }))}.${b64(JSON.stringify(clientClaims()))}.` }, null)],
      ['client_assertion HS256 keyed with the public key', () => postToken(w, { ...params, client_id: 'app-jwt', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: signCompactHs256({ alg: 'HS256', kid: w.clientJwtKey.kid }, clientClaims(), pem) }, null)],
      ['client_assertion attacker-signed under the registered kid', () => postToken(w, { ...params, client_id: 'app-jwt', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion({ alg: 'ES256', kid: w.clientJwtKey.kid }, clientClaims()) }, null)],
      ['client_assertion with an embedded jwk', async () => postToken(w, { ...params, client_id: 'app-jwt', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion({ alg: 'ES256', jwk: attacker.publicJwk }, clientClaims()) }, null)],
      ['client_assertion with a kid injection', () => postToken(w, { ...params, client_id: 'app-jwt', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: assertion({ alg: 'ES256', kid: "' OR 1=1 --" }, clientClaims()) }, null)],
      ['client_assertion for another client', () => postToken(w, { ...params, client_id: 'app-a', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: signCompactEs256({ alg: 'ES256', kid: w.clientJwtKey.kid }, clientClaims({ iss: 'app-a', sub: 'app-a' }), w.clientJwtKey.privateKey) }, null)],
      ['client_assertion garbage', () => postToken(w, { ...params, client_id: 'app-jwt', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: '\u0000garbage' }, null)],
      ['client_assertion with a wrong type', () => postToken(w, { ...params, client_id: 'app-jwt', client_assertion_type: 'urn:evil', client_assertion: signCompactEs256({ alg: 'ES256', kid: w.clientJwtKey.kid }, clientClaims(), w.clientJwtKey.privateKey) }, null)],
      ['client_assertion 1 MB', () => postToken(w, { ...params, client_id: 'app-jwt', client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer', client_assertion: signCompactEs256({ alg: 'ES256', kid: w.clientJwtKey.kid }, clientClaims({ pad: 'p'.repeat(1024 * 1024) }), w.clientJwtKey.privateKey) }, null)],
      ['client_secret for a private_key_jwt client', () => postToken(w, { ...params, client_id: 'app-jwt', client_secret: 'x' }, null)],
    );
    expect(await runAll(cases)).toEqual([]);
  });

  it('property: random Authorization headers never authenticate', async () => {
    const params = await exchangeParams();
    const value = fc.oneof(
      fc.string({ unit: 'binary-ascii', maxLength: 120 }).map((s) => s.replace(/[^\t\x20-\x7e]/g, '').trim()),
      fc.tuple(fc.constantFrom('Basic ', 'Bearer ', 'basic ', 'Basic  ', ''), fc.string({ unit: 'binary', maxLength: 80 })).map(
        ([scheme, creds]) => `${scheme}${Buffer.from(creds).toString('base64')}`,
      ),
      fc.tuple(fc.constantFrom(...HOSTILE_STRINGS), fc.constantFrom(...HOSTILE_STRINGS)).map(([id, secret]) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`),
    );
    await fc.assert(
      fc.asyncProperty(value, async (header) => {
        if (header === basic('app-a') || /^basic\s+/i.test(header) && Buffer.from(header.replace(/^basic\s+/i, ''), 'base64').toString().startsWith(`app-a:${SECRETS['app-a']}`)) return true;
        let result: HttpResult;
        try {
          result = await postToken(w, params, header);
        } catch (error) {
          if (refusedByFetch(error)) return true; // fetch refused to build the request
          throw error;
        }
        return judge(`Authorization ${JSON.stringify(header.slice(0, 60))}`, result).length === 0;
      }),
      { numRuns: 150 },
    );
  });

  it('introspection and revocation with forged, malformed and hostile tokens', async () => {
    const claims = claimsOf(genuine);
    const kid = w.deputy.keyRing.active.kid;
    const [h, p, s] = genuine.split('.') as [string, string, string];
    const forged: Array<[string, string]> = [
      ['alg none under Deputy kid', `${b64(JSON.stringify({ alg: 'none', kid, typ: 'at+jwt' }))}.${p}.`],
      ['attacker-signed copy (same jti)', signCompactEs256({ alg: 'ES256', kid, typ: 'at+jwt' }, claims, attacker.privateKey)],
      ['HS256 keyed with Deputy public JWK', signCompactHs256({ alg: 'HS256', kid, typ: 'at+jwt' }, claims, JSON.stringify(w.deputy.keyRing.active.publicJwk))],
      ['widened payload, original signature', `${h}.${b64(JSON.stringify({ ...claims, scope: 'read write delete admin' }))}.${s}`],
      ['original token with a flipped signature bit', `${h}.${p}.${(() => { const bytes = Buffer.from(s, 'base64url'); bytes[3] = (bytes[3] ?? 0) ^ 1; return bytes.toString('base64url'); })()}`],
      ['jti SQL, attacker-signed', signCompactEs256({ alg: 'ES256', kid, typ: 'at+jwt' }, { ...claims, jti: "' OR '1'='1" }, attacker.privateKey)],
      ['jti NUL, attacker-signed', signCompactEs256({ alg: 'ES256', kid, typ: 'at+jwt' }, { ...claims, jti: `${String(claims.jti)}\u0000` }, attacker.privateKey)],
      ['kid path, attacker-signed', signCompactEs256({ alg: 'ES256', kid: '../../../dev/null', typ: 'at+jwt' }, claims, attacker.privateKey)],
      ['a trusted IdP user token', await w.userToken('alice')],
      ['an actor assertion', await w.actorAssertion('agent:b')],
      ['1 MB token', `${h}.${b64(JSON.stringify({ ...claims, pad: 'p'.repeat(1024 * 1024) }))}.${s}`],
      ...HOSTILE_STRINGS.map((value): [string, string] => [`hostile string ${JSON.stringify(value.slice(0, 30))}`, value]),
    ];
    for (const [, token] of forged) sent.push(token);
    const introspect = (token: string | string[], extra: Record<string, string> = {}, auth: string | null = basic('app-a')) =>
      send(url('/token/introspection'), { method: 'POST', headers: { 'content-type': FORM, ...(auth ? { authorization: auth } : {}) }, body: form({ token, ...extra }) });
    const revoke = (token: string | string[], extra: Record<string, string> = {}, auth: string | null = basic('app-b')) =>
      send(url('/token/revocation'), { method: 'POST', headers: { 'content-type': FORM, ...(auth ? { authorization: auth } : {}) }, body: form({ token, ...extra }) });

    const cases: Array<[string, () => Promise<HttpResult>, { valid?: boolean; mayBeActive?: boolean }?]> = [
      ['control: introspect the genuine token', () => introspect(genuine), { mayBeActive: true }],
    ];
    for (const [label, token] of forged) {
      cases.push([`introspect ${label}`, () => introspect(token)]);
      cases.push([`introspect ${label} with token_type_hint refresh_token`, () => introspect(token, { token_type_hint: 'refresh_token' })]);
      cases.push([`revoke ${label} (as app-b)`, () => revoke(token)]);
      cases.push([`revoke ${label} (as app-a, whose jti it copies)`, () => revoke(token, {}, basic('app-a'))]);
    }
    for (const hint of HOSTILE_STRINGS) {
      cases.push([`introspect genuine with token_type_hint ${JSON.stringify(hint.slice(0, 20))}`, () => introspect(genuine, { token_type_hint: hint }), { mayBeActive: true }]);
    }
    cases.push(
      ['introspect without client auth', () => introspect(genuine, {}, null)],
      ['introspect with a wrong secret', () => introspect(genuine, {}, basic('app-a', 'wrong'))],
      ['introspect with the delegated token as bearer', () => introspect(genuine, {}, `Bearer ${genuine}`)],
      ['introspect with the token repeated', () => introspect([genuine, genuine])],
      ['introspect with a genuine and a forged token', () => introspect([forged[1]![1], genuine])],
      ['introspect with no token', () => send(url('/token/introspection'), { method: 'POST', headers: { 'content-type': FORM, authorization: basic('app-a') }, body: '' })],
      ['introspect as JSON', () => send(url('/token/introspection'), { method: 'POST', headers: { 'content-type': 'application/json', authorization: basic('app-a') }, body: JSON.stringify({ token: genuine }) })],
      ['revoke without client auth', () => revoke(genuine, {}, null)],
      ['revoke the genuine token as app-b with a wrong secret', () => revoke(genuine, {}, basic('app-b', 'wrong'))],
      ['revoke with the token repeated', () => revoke([genuine, genuine], {}, basic('app-b'))],
    );
    const bad = await runAll(cases);
    // None of the forgeries (nor app-b) revoked app-a's genuine token.
    const after = await introspect(genuine);
    if (after.json.active !== true) bad.push(`the genuine token was revoked by a hostile request: ${after.text}`);
    expect(bad).toEqual([]);
  });

  it('raw HTTP that fetch will not build: NUL and CR/LF in headers, smuggling-shaped framing, lying lengths', async () => {
    const host = new URL(w.deputy.url).host;
    const body = form(await exchangeParams());
    const auth = basic('app-a');
    const requests: Array<[string, string | Buffer]> = [
      ['NUL in a header value', `POST /token HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${auth}\r\nX-A: a\u0000b\r\nContent-Type: ${FORM}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`],
      ['NUL in the Authorization header', `POST /token HTTP/1.1\r\nHost: ${host}\r\nAuthorization: Basic \u0000${auth.slice(6)}\r\nContent-Type: ${FORM}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`],
      ['bare LF line endings', `POST /token HTTP/1.1\nHost: ${host}\nAuthorization: ${auth}\nContent-Type: ${FORM}\nContent-Length: ${Buffer.byteLength(body)}\nConnection: close\n\n${body}`],
      ['obs-fold continuation line', `POST /token HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${auth}\r\nContent-Type: ${FORM}\r\n x-folded: yes\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`],
      ['two Authorization headers', `POST /token HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${basic('app-b', 'wrong')}\r\nAuthorization: ${auth}\r\nContent-Type: ${FORM}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`],
      ['two Content-Type headers', `POST /token HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${auth}\r\nContent-Type: application/json\r\nContent-Type: ${FORM}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`],
      ['Content-Length and Transfer-Encoding', `POST /token HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${auth}\r\nContent-Type: ${FORM}\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${Buffer.byteLength(body).toString(16)}\r\n${body}\r\n0\r\n\r\n`],
      ['two Content-Length headers that differ', `POST /token HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${auth}\r\nContent-Type: ${FORM}\r\nContent-Length: 5\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`],
      ['a negative Content-Length', `POST /token HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${auth}\r\nContent-Type: ${FORM}\r\nContent-Length: -1\r\nConnection: close\r\n\r\n${body}`],
      ['a bad chunk size', `POST /token HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${auth}\r\nContent-Type: ${FORM}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\nzz\r\n${body}\r\n0\r\n\r\n`],
      ['a chunked body smuggling a second request', `POST /token HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${auth}\r\nContent-Type: ${FORM}\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /admin/v1/subjects HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`],
      ['Transfer-Encoding with a space', `POST /token HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${auth}\r\nContent-Type: ${FORM}\r\nTransfer-Encoding : chunked\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`],
      ['HTTP/1.0 without Host', `POST /token HTTP/1.0\r\nAuthorization: ${auth}\r\nContent-Type: ${FORM}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`],
      ['an absolute-form request target', `POST http://evil.test/token HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${auth}\r\nContent-Type: ${FORM}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`],
      ['a Host header with CR/LF-looking text', `POST /token HTTP/1.1\r\nHost: evil.test%0d%0aX: 1\r\nAuthorization: ${auth}\r\nContent-Type: ${FORM}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`],
      ['a TRACE request', `TRACE /token HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${auth}\r\nConnection: close\r\n\r\n`],
      ['a CONNECT request', `CONNECT 127.0.0.1:5432 HTTP/1.1\r\nHost: 127.0.0.1:5432\r\nConnection: close\r\n\r\n`],
      ['a garbage request line', `\u0000\u0001\u0002 / HTTP/9.9\r\n\r\n`],
      ['2,000 headers', `POST /token HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${auth}\r\n${Array.from({ length: 2000 }, (_, i) => `X-H${i}: v`).join('\r\n')}\r\nContent-Type: ${FORM}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`],
      ['an 80 KB request line', `GET /token?${'q'.repeat(80 * 1024)} HTTP/1.1\r\nHost: ${host}\r\nConnection: close\r\n\r\n`],
      ['Expect: 100-continue', `POST /token HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${auth}\r\nExpect: 100-continue\r\nContent-Type: ${FORM}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`],
      ['Expect: something-else', `POST /token HTTP/1.1\r\nHost: ${host}\r\nAuthorization: ${auth}\r\nExpect: 200-ok\r\nContent-Type: ${FORM}\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`],
    ];
    const bad: string[] = [];
    const validControl = new Set(['bare LF line endings', 'obs-fold continuation line', 'two Authorization headers', 'HTTP/1.0 without Host', 'an absolute-form request target', 'Expect: 100-continue', 'two Content-Type headers', 'a Host header with CR/LF-looking text']);
    for (const [label, request] of requests) {
      // Fresh subject token per request, so that a replay is never why something is refused.
      const text = typeof request === 'string' ? request.replace(body, form(await exchangeParams())) : request;
      const response = await rawHttp(w.deputy.url, text);
      const result: HttpResult = { status: response.status, headers: new Headers(), json: safeJson(response.text), text: response.text };
      // status 0: the server closed the connection without answering (acceptable for broken framing).
      const problems = judge(`raw: ${label}`, result, { valid: validControl.has(label), unknownMethod: /TRACE|CONNECT|garbage request line/.test(label) });
      if (problems.length > 0) bad.push(`${label}: ${problems.join('; ')}`);
    }
    expect(bad).toEqual([]);
    // The server is still healthy after all of that.
    expect((await postToken(w, await exchangeParams())).status).toBe(200);
  });

  it('property: random method, path, content type and body never mint, never 5xx, never leak', async () => {
    const path = fc.oneof(
      fc.constantFrom('/token', '/token/introspection', '/token/revocation', '/jwks', '/.well-known/openid-configuration', '/healthz', '/readyz', '/metrics', '/admin/v1/subjects', '/', '/favicon.ico', '/auth', '/reg', '/session/end', '/me', '/request'),
      fc.tuple(fc.constantFrom('/token', '/admin/v1/grants', '/jwks'), fc.constantFrom(...HOSTILE_STRINGS)).map(([prefix, suffix]) => `${prefix}/${percentEncode(suffix)}`),
    );
    const contentType = fc.constantFrom(FORM, 'application/json', 'text/plain', 'multipart/form-data; boundary=x', 'application/octet-stream', '', `${FORM}; charset=latin1`);
    const body = fc.oneof(
      fc.constant(''),
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.dictionary(fc.constantFrom('grant_type', 'subject_token', 'subject_token_type', 'resource', 'scope', 'token', 'client_id', 'client_secret', 'code'), fc.oneof(fc.constantFrom(...HOSTILE_STRINGS), fc.constant(GRANT_TYPE), fc.constant(TT.jwt), fc.constant(RESOURCE))).map((params) => form(params)),
      fc.jsonValue({ maxDepth: 3 }).map((value) => JSON.stringify(value)),
    );
    const method = fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS', 'HEAD');
    const auth = fc.constantFrom<string | null>(null, basic('app-a'), basic('app-a', 'wrong'), 'Bearer x', `Bearer ${'y'.repeat(40)}`);
    await fc.assert(
      fc.asyncProperty(method, path, contentType, body, auth, async (m, p, type, payload, authorization) => {
        const headers: Record<string, string> = {};
        if (type) headers['content-type'] = type;
        if (authorization) headers.authorization = authorization;
        let result: HttpResult;
        try {
          result = await send(url(p), { method: m, headers, body: m === 'GET' || m === 'HEAD' ? null : payload });
        } catch (error) {
          if (refusedByFetch(error)) return true;
          throw error;
        }
        // /metrics and discovery are public and legitimately mention grant types; they must still not leak.
        return judge(`${m} ${p} [${type}] ${JSON.stringify(payload.slice(0, 60))}`, result).length === 0;
      }),
      { numRuns: 300 },
    );
  });

  /**
   * Formerly a bug (fixed): a token containing a NUL character at the introspection or revocation endpoint answers
   * 500 server_error. The token is not JWT-shaped, so it goes to oidc-provider's opaque-token
   * lookup, whose adapter (src/oauth/adapter.ts find) passes it to PostgreSQL, which refuses it:
   * `invalid byte sequence for encoding "UTF8": 0x00` (logged as "server error"). Expected:
   * introspection 200 {"active":false}, revocation 200 (RFC 7662 §2.2, RFC 7009 §2.2).
   * Exact case: POST /token/introspection, Basic app-a, body `token=a%00b` → 500
   * {"error":"server_error","error_description":"oops! something went wrong"}; the same body at
   * POST /token/revocation → 500. Also `token=%00` and `token=read%00`.
   */
  it('a NUL character in the token at introspection/revocation answers active:false / 200', async () => {
    for (const path of ['/token/introspection', '/token/revocation']) {
      for (const token of ['a\u0000b', '\u0000', 'read\u0000']) {
        const result = await send(url(path), { method: 'POST', headers: { 'content-type': FORM, authorization: basic('app-a') }, body: form({ token }) });
        expect(result.status).toBe(200);
        if (path === '/token/introspection') expect(result.json.active).toBe(false);
      }
    }
  });

  /**
   * Formerly a bug (fixed): a client_id containing a NUL character (client_secret_post) answers 500 server_error at
   * POST /token: oidc-provider looks the client up through the adapter (src/oauth/adapter.ts
   * findClient), PostgreSQL refuses the NUL (`invalid byte sequence for encoding "UTF8": 0x00`).
   * Expected: 401 invalid_client. Exact case: POST /token, no Authorization header, body
   * `grant_type=client_credentials&client_id=app%00a&client_secret=x` → 500
   * {"error":"server_error","error_description":"oops! something went wrong"}; the same with a
   * token-exchange body.
   */
  it('a NUL character in client_id (client_secret_post) answers 401 invalid_client', async () => {
    const cc = await send(url('/token'), { method: 'POST', headers: { 'content-type': FORM }, body: form({ grant_type: 'client_credentials', client_id: 'app\u0000a', client_secret: 'x' }) });
    expect(cc.status).toBe(401);
    expect(cc.json.error).toBe('invalid_client');
    const exchange = await send(url('/token'), { method: 'POST', headers: { 'content-type': FORM }, body: form({ ...(await exchangeParams()), client_id: 'app-a\u0000', client_secret: SECRETS['app-a']! }) });
    expect(exchange.status).toBe(401);
    expect(exchange.json.access_token).toBeUndefined();
  });

  it('totals: no 5xx, no wrongly minted (or wrongly active) token, no leak', () => {
    report(tally);
    expect(tally.failures).toEqual([]);
    expect(tally.fiveXx).toBe(0);
    expect(tally.wronglyMinted).toBe(0);
    expect(tally.leaks).toBe(0);
  });
});

function safeJson(text: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(text);
    return parsed && typeof parsed === 'object' && !Array.isArray(parsed) ? (parsed as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}



void leaksIn;
