/**
 * Hostile DPoP proofs (RFC 9449) at POST /token, token exchange: alg none and HMAC proofs,
 * private or symmetric keys in the `jwk` header, key substitution, wrong htm/htu/iat, missing or
 * oversized jti, replays, duplicated DPoP headers, garbage, plus fast-check properties.
 *
 * A request carrying a DPoP header either gets no token, or a token bound (token_type DPoP,
 * cnf.jkt) to the key that really signed the proof — never a Bearer token (no silent downgrade)
 * and never a token bound to another key. Status < 500, nothing internal or secret echoed.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { calculateJwkThumbprint, exportJWK, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { GRANT_TYPE, RESOURCE, SECRETS, TT, claimsOf, startExchangeWorld, type HttpResult, type World } from '../support/exchange-world.js';
import { FORM, HOSTILE_STRINGS, basic, check, form, newTally, report, send, signCompactEs256, signCompactHs256, type Tally } from '../support/hostile.js';

const b64 = (value: string) => Buffer.from(value).toString('base64url');
/** refuse: no token; either: a token only if DPoP-bound to the signing key; absent: an empty DPoP header counts as none (a Bearer token is fine). */
type Verdict = 'refuse' | 'either' | 'absent';

describe('hostile input: DPoP proofs at POST /token', () => {
  let w: World;
  let key: { privateKey: CryptoKey; publicJwk: JWK; privateJwk: JWK; jkt: string };
  let other: { privateKey: CryptoKey; publicJwk: JWK; jkt: string };
  const tally: Tally = newTally('hostile/dpop');
  const sent: string[] = [...Object.values(SECRETS)];

  beforeAll(async () => {
    w = await startExchangeWorld({ DATABASE_POOL_SIZE: '10', DATABASE_POOL_TIMEOUT_MS: '10000' });
    const a = await generateKeyPair('ES256', { extractable: true });
    const publicJwk = await exportJWK(a.publicKey);
    key = { privateKey: a.privateKey, publicJwk, privateJwk: await exportJWK(a.privateKey), jkt: await calculateJwkThumbprint(publicJwk) };
    const b = await generateKeyPair('ES256', { extractable: true });
    const otherJwk = await exportJWK(b.publicKey);
    other = { privateKey: b.privateKey, publicJwk: otherJwk, jkt: await calculateJwkThumbprint(otherJwk) };
  });
  afterAll(async () => {
    await w?.stop();
  });

  const now = () => Math.floor(Date.now() / 1000);
  const claims = (overrides: Record<string, unknown> = {}) => {
    const value: Record<string, unknown> = { htm: 'POST', htu: `${w.issuer}/token`, jti: randomUUID(), iat: now(), ...overrides };
    for (const [name, v] of Object.entries(value)) if (v === undefined) delete value[name];
    return value;
  };
  const header = (overrides: Record<string, unknown> = {}) => {
    const value: Record<string, unknown> = { alg: 'ES256', typ: 'dpop+jwt', jwk: key.publicJwk, ...overrides };
    for (const [name, v] of Object.entries(value)) if (v === undefined) delete value[name];
    return value;
  };
  const proof = (claimOverrides: Record<string, unknown> = {}, headerOverrides: Record<string, unknown> = {}, signer: CryptoKey = key.privateKey) =>
    signCompactEs256(header(headerOverrides), claims(claimOverrides), signer);

  async function exchange(dpop: string | null, extraHeaders: Record<string, string> = {}): Promise<HttpResult> {
    const subjectToken = await w.userToken('alice');
    sent.push(subjectToken);
    return send(`${w.deputy.url}/token`, {
      method: 'POST',
      headers: { 'content-type': FORM, authorization: basic('app-a'), ...(dpop === null ? {} : { dpop }), ...extraHeaders },
      body: form({ grant_type: GRANT_TYPE, subject_token: subjectToken, subject_token_type: TT.jwt, resource: RESOURCE, scope: 'read' }),
    });
  }

  /** `either`: a token is acceptable only if DPoP-bound to `boundTo` (the key that really signed). */
  function judge(label: string, result: HttpResult, verdict: Verdict, boundTo: string = key.jkt): string[] {
    const problems = check(tally, label, result, sent, verdict !== 'refuse');
    if (verdict === 'either' && typeof result.json.access_token === 'string') {
      const cnf = claimsOf(result.json.access_token).cnf as { jkt?: string } | undefined;
      if (result.json.token_type !== 'DPoP' || cnf?.jkt !== boundTo) {
        tally.wronglyMinted += 1;
        problems.push(`minted ${String(result.json.token_type)} bound to ${String(cnf?.jkt)}, expected DPoP bound to ${boundTo}`);
        tally.failures.push(`${label}: ${problems.at(-1)}`);
      }
    }
    return problems;
  }

  it('control: a valid proof binds the token to its key', async () => {
    const result = await exchange(proof());
    expect(judge('control', result, 'either')).toEqual([]);
    expect(result.status).toBe(200);
  });

  it('fixed corpus: hostile proofs never yield an unbound or wrongly bound token', async () => {
    const pem = JSON.stringify(key.publicJwk);
    const cases: Array<[string, Verdict, () => string, Record<string, string>?]> = [
      ['alg none', 'refuse', () => `${b64(JSON.stringify(header({ alg: 'none' })))}.${b64(JSON.stringify(claims()))}.`],
      ['alg None with a signature', 'refuse', () => `${b64(JSON.stringify(header({ alg: 'None' })))}.${b64(JSON.stringify(claims()))}.${b64('x')}`],
      ['HS256 keyed with the public JWK', 'refuse', () => signCompactHs256(header({ alg: 'HS256' }), claims(), pem)],
      ['HS256 with an oct jwk carrying the secret', 'refuse', () => signCompactHs256(header({ alg: 'HS256', jwk: { kty: 'oct', k: b64('s3cret') } }), claims(), 's3cret')],
      ['alg RS256 on an ES256 signature', 'refuse', () => proof({}, { alg: 'RS256' })],
      ['alg ES384 on an ES256 signature', 'refuse', () => proof({}, { alg: 'ES384' })],
      ['the private key in the jwk header', 'refuse', () => proof({}, { jwk: key.privateJwk })],
      ['no jwk header', 'refuse', () => proof({}, { jwk: undefined })],
      ['jku instead of jwk', 'refuse', () => proof({}, { jwk: undefined, jku: 'http://127.0.0.1:1/jwks' })],
      ['kid instead of jwk', 'refuse', () => proof({}, { jwk: undefined, kid: "' OR 1=1 --" })],
      ['x5c instead of jwk', 'refuse', () => proof({}, { jwk: undefined, x5c: ['MIIB'] })],
      ['jwk of another key (signed by ours)', 'refuse', () => proof({}, { jwk: other.publicJwk })],
      ['jwk with a junk coordinate', 'refuse', () => proof({}, { jwk: { ...key.publicJwk, x: 'AAAA' } })],
      ['jwk with kty confusion', 'refuse', () => proof({}, { jwk: { ...key.publicJwk, kty: 'RSA' } })],
      ['jwk as a string', 'refuse', () => proof({}, { jwk: JSON.stringify(key.publicJwk) })],
      ['typ JWT', 'refuse', () => proof({}, { typ: 'JWT' })],
      ['no typ', 'refuse', () => proof({}, { typ: undefined })],
      ['typ at+jwt', 'refuse', () => proof({}, { typ: 'at+jwt' })],
      ['htm GET', 'refuse', () => proof({ htm: 'GET' })],
      ['htm missing', 'refuse', () => proof({ htm: undefined })],
      ['htm an array', 'refuse', () => proof({ htm: ['POST'] })],
      ['htu another host', 'refuse', () => proof({ htu: 'https://evil.test/token' })],
      ['htu another path', 'refuse', () => proof({ htu: `${w.issuer}/token/introspection` })],
      ['htu missing', 'refuse', () => proof({ htu: undefined })],
      // The WHATWG URL parser strips trailing C0 controls, so this htu is the token endpoint.
      ['htu with a trailing NUL', 'either', () => proof({ htu: `${w.issuer}/token\u0000` })],
      ['htu with an inner NUL', 'refuse', () => proof({ htu: `${w.issuer}/to\u0000ken` })],
      ['htu with a query (ignored by RFC 9449)', 'either', () => proof({ htu: `${w.issuer}/token?x=1` })],
      ['htu an array', 'refuse', () => proof({ htu: [`${w.issuer}/token`] })],
      ['iat an hour ago', 'refuse', () => proof({ iat: now() - 3600 })],
      ['iat an hour ahead', 'refuse', () => proof({ iat: now() + 3600 })],
      ['iat a string', 'refuse', () => proof({ iat: String(now()) })],
      ['iat missing', 'refuse', () => proof({ iat: undefined })],
      ['jti missing', 'refuse', () => proof({ jti: undefined })],
      ['jti empty', 'refuse', () => proof({ jti: '' })],
      ['jti an object', 'refuse', () => proof({ jti: { $ne: 1 } })],
      ['jti 64 KB', 'either', () => proof({ jti: 'j'.repeat(64 * 1024) })],
      ['jti with a NUL', 'either', () => proof({ jti: `${randomUUID()}\u0000` })],
      ['jti SQL', 'either', () => proof({ jti: `' OR 1=1 -- ${randomUUID()}` })],
      ['ath present', 'either', () => proof({ ath: b64('x') })],
      ['nonce garbage', 'either', () => proof({ nonce: "' OR 1=1 --" })],
      ['signature flipped', 'refuse', () => {
        const [h, p, s] = proof().split('.') as [string, string, string];
        const bytes = Buffer.from(s, 'base64url');
        bytes[0] = (bytes[0] ?? 0) ^ 1;
        return `${h}.${p}.${bytes.toString('base64url')}`;
      }],
      ['signed by another key than the jwk', 'refuse', () => proof({}, {}, other.privateKey)],
      ['payload not JSON', 'refuse', () => signCompactEs256(header(), '{"htm":', key.privateKey)],
      ['payload an array', 'refuse', () => signCompactEs256(header(), '[]', key.privateKey)],
      ['a 200 KB proof', 'either', () => proof({ pad: 'p'.repeat(200 * 1024) })],
      ['garbage', 'refuse', () => 'garbage'],
      ['empty', 'absent', () => ''],
      ['two proofs in one header', 'refuse', () => `${proof()}, ${proof()}`],
      ['a JWE-shaped proof', 'refuse', () => 'a.b.c.d.e'],
      ...HOSTILE_STRINGS.filter((s) => s.trim() !== '' && !/[\u0000-\u001f\u007f-\uffff]/.test(s)).map((s): [string, Verdict, () => string] => [`hostile header value ${JSON.stringify(s.slice(0, 30))}`, 'refuse', () => s]),
    ];
    const bad: string[] = [];
    for (let i = 0; i < cases.length; i += 8) {
      await Promise.all(
        cases.slice(i, i + 8).map(async ([label, verdict, build]) => {
          const value = build();
          sent.push(value);
          let result: HttpResult;
          try {
            result = await exchange(value);
          } catch (error) {
            if (error instanceof TypeError) return; // fetch refused the header value
            throw error;
          }
          const problems = judge(label, result, verdict);
          if (problems.length > 0) bad.push(`${label}: ${problems.join('; ')}`);
        }),
      );
    }
    expect(bad).toEqual([]);
  });

  it('a replayed proof is refused the second time; a proof for another request method via method override is refused', async () => {
    const once = proof();
    const bad: string[] = [];
    bad.push(...judge('replay: first use', await exchange(once), 'either'));
    bad.push(...judge('replay: second use', await exchange(once), 'refuse'));
    bad.push(...judge('X-HTTP-Method-Override with an htm GET proof', await exchange(proof({ htm: 'GET' }), { 'x-http-method-override': 'GET' }), 'refuse'));
    expect(bad).toEqual([]);
  });

  it('property: random extra members on a valid proof never bind to another key or downgrade to Bearer', async () => {
    const member = fc.tuple(
      fc.constantFrom('header', 'claims'),
      fc.constantFrom('typ', 'alg', 'jwk', 'kid', 'crit', 'htm', 'htu', 'iat', 'jti', 'nonce', 'ath', 'exp', 'nbf', 'cnf', 'x'),
      fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constantFrom(...HOSTILE_STRINGS)),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(member, { minLength: 1, maxLength: 3 }), async (members) => {
        const h = header();
        const c = claims();
        for (const [where, name, value] of members) (where === 'header' ? h : c)[name] = value;
        const value = signCompactEs256(h, c, key.privateKey);
        sent.push(value);
        const result = await exchange(value);
        // Whatever was changed, a token may only come bound to the signing key.
        return judge(`proof header ${JSON.stringify(h).slice(0, 100)} claims ${JSON.stringify(c).slice(0, 100)}`, result, 'either').length === 0;
      }),
      { numRuns: 150 },
    );
  });

  it('property: random JWT-shaped DPoP values never yield a token', async () => {
    const segment = fc.oneof(fc.jsonValue({ maxDepth: 2 }).map((v) => b64(JSON.stringify(v))), fc.string({ unit: 'binary-ascii', maxLength: 40 }).map(b64));
    await fc.assert(
      fc.asyncProperty(fc.array(segment, { minLength: 1, maxLength: 5 }), async (segments) => {
        const value = segments.join('.');
        if (value.trim() === '') return true; // an empty DPoP header counts as none
        const result = await exchange(value);
        return judge(`random DPoP ${value.slice(0, 80)}`, result, 'refuse').length === 0;
      }),
      { numRuns: 100 },
    );
  });

  /**
   * Formerly a bug (fixed): a DPoP proof whose `nonce` claim is the empty string answers 500 server_error ("the
   * request could not be completed"; the log says only `detail: "server_error"`). Any other
   * nonce is refused properly: a non-string → 400 invalid_dpop_proof "DPoP proof nonce must be a
   * string", "x" → 400 invalid_dpop_proof "DPoP nonces are not supported". Expected: 400
   * invalid_dpop_proof, no token. Exact case: POST /token (token exchange, Basic app-a, alice's
   * user token, resource RESOURCE, scope read) with header DPoP = an ES256 proof, header
   * {"alg":"ES256","typ":"dpop+jwt","jwk":<its public key>}, claims {"htm":"POST",
   * "htu":"<issuer>/token","jti":<uuid>,"iat":<now>,"nonce":""} → 500. Found by the property above
   * (counterexample [["claims","nonce",""]]).
   */
  it('a DPoP proof with an empty nonce answers 400 invalid_dpop_proof', async () => {
    const result = await exchange(proof({ nonce: '' }));
    expect(result.status).toBe(400);
    expect(result.json.error).toBe('invalid_dpop_proof');
    expect(result.json.access_token).toBeUndefined();
  });

  it('property: a DPoP-bound Deputy token as subject_token yields a child only bound to the same key (review item 2)', async () => {
    const parentResult = await exchange(proof());
    expect(judge('bound parent', parentResult, 'either')).toEqual([]);
    const parent = parentResult.json.access_token as string;
    sent.push(parent);
    const chainExchange = (dpop: string | null) =>
      send(`${w.deputy.url}/token`, {
        method: 'POST',
        headers: { 'content-type': FORM, authorization: basic('app-b'), ...(dpop === null ? {} : { dpop }) },
        body: form({ grant_type: GRANT_TYPE, subject_token: parent, subject_token_type: TT.accessToken, resource: RESOURCE, scope: 'read' }),
      });
    const member = fc.tuple(
      fc.constantFrom('header', 'claims'),
      fc.constantFrom('typ', 'alg', 'jwk', 'htm', 'htu', 'iat', 'jti', 'cnf', 'x'),
      fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant(other.publicJwk), fc.constantFrom(...HOSTILE_STRINGS)),
    );
    await fc.assert(
      fc.asyncProperty(
        fc.constantFrom('none', 'own key', 'other key'),
        fc.array(member, { maxLength: 2 }),
        async (signer, members) => {
          let dpop: string | null = null;
          if (signer !== 'none') {
            const h = header(signer === 'other key' ? { jwk: other.publicJwk } : {});
            const c = claims();
            for (const [where, name, value] of members) (where === 'header' ? h : c)[name] = value;
            dpop = signCompactEs256(h, c, signer === 'other key' ? other.privateKey : key.privateKey);
            sent.push(dpop);
          }
          const result = await chainExchange(dpop);
          // Whoever signed the proof (or none), a child may only be DPoP-bound to the parent's key.
          return judge(`chain, proof by ${signer}, ${JSON.stringify(members).slice(0, 120)}`, result, 'either', key.jkt).length === 0;
        },
      ),
      { numRuns: 60 },
    );
    // Not vacuous: a proof by the parent's key gets a child.
    const control = await chainExchange(proof());
    expect(judge('chain control', control, 'either', key.jkt)).toEqual([]);
    expect(control.status).toBe(200);
  });

  it('totals: no 5xx, no wrongly minted or wrongly bound token, no leak', () => {
    report(tally);
    expect(tally.failures).toEqual([]);
    expect(tally.fiveXx).toBe(0);
    expect(tally.wronglyMinted).toBe(0);
    expect(tally.leaks).toBe(0);
  });
});
