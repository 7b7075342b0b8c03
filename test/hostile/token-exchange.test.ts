/**
 * Hostile input corpus for POST /token, token-exchange grant: RFC 8725 / RFC 9700 attack classes
 * on the subject and actor tokens (alg none and its spellings, HMAC keyed with the public key,
 * algorithm substitution, kid injection — SQL-, path- and type-confused kids —, header-embedded
 * keys, crit, JWE, oversized tokens, hostile claims really signed by the trusted keys), hostile
 * parameters (control characters, NUL, bidi overrides, emoji, SQL- and path-looking text,
 * duplicated and repeated parameters), a fixed corpus and fast-check properties.
 *
 * Every response: status < 500, no access_token unless the request was a deliberately valid
 * control (and then only alice's token with at most the requested scope), no stack trace, SQL
 * text or echoed secret/token in the body. Counts are printed at the end and asserted to be 0.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { exportJWK, exportSPKI } from 'jose';
import {
  GRANT_TYPE,
  OTHER_RESOURCE,
  RESOURCE,
  SECRETS,
  TT,
  USER_ISSUER,
  claimsOf,
  makeKeyPair,
  startExchangeWorld,
  type HttpResult,
  type KeyPair,
  type World,
} from '../support/exchange-world.js';
import { HOSTILE_STRINGS, basic, check, newTally, postToken, report, signCompactEs256, signCompactHs256, type Tally } from '../support/hostile.js';

const now = () => Math.floor(Date.now() / 1000);
const b64 = (value: string) => Buffer.from(value).toString('base64url');
/** What a request may legitimately get: `refuse` (never a token) or `either` (a token is acceptable, but only a correct one). */
type Verdict = 'refuse' | 'either';
/** The scopes of alice's grants to agent:a and agent:b in the exchange world. */
const GRANT_SCOPES = ['read', 'write', 'delete'];

describe('hostile input: POST /token (token exchange)', () => {
  let w: World;
  let attacker: KeyPair;
  const tally: Tally = newTally('hostile/token-exchange');
  /** Every token and secret sent, to detect echoes. */
  const sent: string[] = [...Object.values(SECRETS)];

  beforeAll(async () => {
    w = await startExchangeWorld({ DATABASE_POOL_SIZE: '10', DATABASE_POOL_TIMEOUT_MS: '10000' });
    attacker = await makeKeyPair('attacker-key');
  });
  afterAll(async () => {
    await w?.stop();
  });
  /** Fixed-corpus cases allowed to mint ('either') that did mint a (correct) token. */
  const tolerated: string[] = [];

  const userClaims = (overrides: Record<string, unknown> = {}) => {
    const claims: Record<string, unknown> = { iss: USER_ISSUER, sub: 'alice', aud: w.issuer, iat: now(), exp: now() + 300, jti: randomUUID(), ...overrides };
    for (const [name, value] of Object.entries(claims)) if (value === undefined) delete claims[name];
    return claims;
  };
  const actorClaims = (overrides: Record<string, unknown> = {}) => {
    const claims: Record<string, unknown> = { iss: 'agent:b', sub: 'agent:b', aud: w.issuer, iat: now(), exp: now() + 120, jti: randomUUID(), ...overrides };
    for (const [name, value] of Object.entries(claims)) if (value === undefined) delete claims[name];
    return claims;
  };
  const idpSigned = (header: Record<string, unknown> | string, payload: Record<string, unknown> | string | unknown[]) => signCompactEs256(header, payload, w.userKey.privateKey);
  const actorSigned = (header: Record<string, unknown> | string, payload: Record<string, unknown> | string | unknown[]) =>
    signCompactEs256(header, payload, w.actorKeys['agent:b']!.privateKey);

  /**
   * Checks a response; for a token that may be minted, also that it is alice's, for RESOURCE, with
   * at most the requested scopes that alice's grant to the actor holds (the whole grant when the
   * request named none: an empty `scope` is treated as absent).
   */
  function judge(label: string, result: HttpResult, verdict: Verdict, requestedScope = 'read'): string[] {
    const problems = check(tally, label, result, sent, verdict === 'either');
    if (verdict === 'either' && typeof result.json.access_token === 'string') {
      const claims = claimsOf(result.json.access_token);
      const scopes = String(claims.scope ?? '').split(' ');
      const requested = requestedScope.split(' ').filter(Boolean);
      const allowed = new Set(requested.length === 0 ? GRANT_SCOPES : requested.filter((scope) => GRANT_SCOPES.includes(scope)));
      const wrong = claims.sub !== 'alice' || claims.aud !== RESOURCE || scopes.some((scope) => !allowed.has(scope));
      if (!wrong && !label.startsWith('control') && !label.startsWith('mutation') && !label.startsWith('header {')) tolerated.push(label);
      if (wrong) {
        tally.wronglyMinted += 1;
        problems.push(`minted a wrong token ${JSON.stringify(claims)}`);
        tally.failures.push(`${label}: minted ${JSON.stringify(claims)}`);
      }
    }
    return problems;
  }

  async function exchangeWith(subjectToken: string, extra: Record<string, string | string[]> = {}, auth = basic('app-a')): Promise<HttpResult> {
    sent.push(subjectToken);
    return postToken(w, { grant_type: GRANT_TYPE, subject_token: subjectToken, subject_token_type: TT.jwt, resource: RESOURCE, scope: 'read', ...extra }, auth);
  }

  async function withActor(actorToken: string): Promise<HttpResult> {
    sent.push(actorToken);
    return exchangeWith(await w.userToken('alice'), { actor_token: actorToken, actor_token_type: TT.jwt });
  }

  /** Runs cases 8 at a time; returns the labels that had problems. */
  async function runAll(cases: Array<[string, Verdict, () => Promise<HttpResult>, string?]>): Promise<string[]> {
    const bad: string[] = [];
    for (let i = 0; i < cases.length; i += 8) {
      await Promise.all(
        cases.slice(i, i + 8).map(async ([label, verdict, run, requestedScope]) => {
          const problems = judge(label, await run(), verdict, requestedScope);
          if (problems.length > 0) bad.push(`${label}: ${problems.join('; ')}`);
        }),
      );
    }
    return bad;
  }

  /** Header attacks, each on a token otherwise really signed by the key it names (or by the attacker). */
  async function headerCorpus(kind: 'subject' | 'actor'): Promise<Array<[string, Verdict, () => Promise<string>]>> {
    const claims = kind === 'subject' ? userClaims : actorClaims;
    const signed = kind === 'subject' ? idpSigned : actorSigned;
    const key = kind === 'subject' ? w.userKey : w.actorKeys['agent:b']!;
    const attackerJwk = await exportJWK(attacker.publicKey);
    const publicPem = await exportSPKI(key.publicKey);
    const publicJwkText = JSON.stringify(key.publicJwk);
    const kidInjections = [
      "' OR 1=1 --",
      `${key.kid}' OR '1'='1`,
      "x'; DROP TABLE trusted_issuers; --",
      "' UNION SELECT private_jwk FROM signing_keys --",
      '../../../../../../dev/null',
      '/dev/null',
      '../../../../etc/passwd',
      'file:///etc/passwd',
      'http://127.0.0.1:1/jwks',
      `${key.kid}\u0000`,
      `\u0000${key.kid}`,
      `${key.kid}\u202E`,
      `${key.kid} `,
      key.kid.toUpperCase(),
      '%00',
      '\uD83D\uDE00',
      'k'.repeat(10_000),
      '',
    ];
    const cases: Array<[string, Verdict, () => Promise<string>]> = [
      ['control: a well-formed token', 'either', async () => signed({ alg: 'ES256', kid: key.kid, typ: 'JWT' }, claims())],
      ['alg none, empty signature', 'refuse', async () => `${b64(JSON.stringify({ alg: 'none', typ: 'JWT' }))}.${b64(JSON.stringify(claims()))}.`],
      ['alg None', 'refuse', async () => `${b64(JSON.stringify({ alg: 'None', kid: key.kid }))}.${b64(JSON.stringify(claims()))}.`],
      ['alg NONE', 'refuse', async () => `${b64(JSON.stringify({ alg: 'NONE', kid: key.kid }))}.${b64(JSON.stringify(claims()))}.`],
      ['alg nOnE with a signature', 'refuse', async () => `${b64(JSON.stringify({ alg: 'nOnE', kid: key.kid }))}.${b64(JSON.stringify(claims()))}.${b64('sig')}`],
      ['alg none, no third segment', 'refuse', async () => `${b64(JSON.stringify({ alg: 'none' }))}.${b64(JSON.stringify(claims()))}`],
      ['HS256 keyed with the PEM public key', 'refuse', async () => signCompactHs256({ alg: 'HS256', kid: key.kid, typ: 'JWT' }, claims(), publicPem)],
      ['HS256 keyed with the JWK text', 'refuse', async () => signCompactHs256({ alg: 'HS256', kid: key.kid, typ: 'JWT' }, claims(), publicJwkText)],
      ['HS256 keyed with the x coordinate', 'refuse', async () => signCompactHs256({ alg: 'HS256', kid: key.kid }, claims(), Buffer.from(String(key.publicJwk.x), 'base64url'))],
      ['HS256 with an empty secret', 'refuse', async () => signCompactHs256({ alg: 'HS256', kid: key.kid }, claims(), '')],
      ['HS512 header, HS256 signature', 'refuse', async () => signCompactHs256({ alg: 'HS512', kid: key.kid }, claims(), publicPem)],
      ['alg RS256 on an ES256 signature', 'refuse', async () => signed({ alg: 'RS256', kid: key.kid }, claims())],
      ['alg PS256 on an ES256 signature', 'refuse', async () => signed({ alg: 'PS256', kid: key.kid }, claims())],
      ['alg ES384 on an ES256 signature', 'refuse', async () => signed({ alg: 'ES384', kid: key.kid }, claims())],
      ['alg EdDSA on an ES256 signature', 'refuse', async () => signed({ alg: 'EdDSA', kid: key.kid }, claims())],
      ['alg "ES256 " (trailing space)', 'refuse', async () => signed({ alg: 'ES256 ', kid: key.kid }, claims())],
      ['alg es256 (lower case)', 'refuse', async () => signed({ alg: 'es256', kid: key.kid }, claims())],
      ['alg as an array', 'refuse', async () => signed({ alg: ['ES256'], kid: key.kid }, claims())],
      ['alg null', 'refuse', async () => signed({ alg: null, kid: key.kid }, claims())],
      ['no alg', 'refuse', async () => signed({ kid: key.kid }, claims())],
      ['alg dir (JWE) on a JWS', 'refuse', async () => signed({ alg: 'dir', enc: 'A256GCM', kid: key.kid }, claims())],
      ['embedded jwk (attacker key, attacker signature)', 'refuse', async () =>
        signCompactEs256({ alg: 'ES256', typ: 'JWT', jwk: attackerJwk }, claims(), attacker.privateKey)],
      ['embedded jwk (attacker key) under the registered kid', 'refuse', async () =>
        signCompactEs256({ alg: 'ES256', kid: key.kid, jwk: attackerJwk }, claims(), attacker.privateKey)],
      ['embedded jwk equal to the registered key, really signed', 'refuse', async () => signed({ alg: 'ES256', kid: key.kid, jwk: key.publicJwk }, claims())],
      ['jku to loopback, really signed', 'refuse', async () => signed({ alg: 'ES256', kid: key.kid, jku: 'http://127.0.0.1:1/jwks.json' }, claims())],
      ['jku, attacker signature', 'refuse', async () => signCompactEs256({ alg: 'ES256', kid: attacker.kid, jku: 'https://evil.test/jwks' }, claims(), attacker.privateKey)],
      ['x5u, really signed', 'refuse', async () => signed({ alg: 'ES256', kid: key.kid, x5u: 'https://evil.test/cert.pem' }, claims())],
      ['x5c with junk, really signed', 'refuse', async () => signed({ alg: 'ES256', kid: key.kid, x5c: ['MIIBIjANBgkqhkiG9w0BAQEFAAOC'] }, claims())],
      ['crit [exp], really signed', 'refuse', async () => signed({ alg: 'ES256', kid: key.kid, crit: ['exp'] }, claims())],
      ['crit [b64] with b64 false, really signed', 'refuse', async () => signed({ alg: 'ES256', kid: key.kid, crit: ['b64'], b64: false }, claims())],
      ['crit with an unknown extension, really signed', 'refuse', async () => signed({ alg: 'ES256', kid: key.kid, crit: ['urn:evil'], 'urn:evil': 1 }, claims())],
      ['kid as a number, really signed', 'either', async () => signed({ alg: 'ES256', kid: 1 }, claims())],
      ['kid as an array of the registered kid, really signed', 'either', async () => signed({ alg: 'ES256', kid: [key.kid] }, claims())],
      ['kid as an object, really signed', 'either', async () => signed({ alg: 'ES256', kid: { $ne: null } }, claims())],
      ['kid null, really signed', 'either', async () => signed({ alg: 'ES256', kid: null }, claims())],
      ['no kid, really signed', 'either', async () => signed({ alg: 'ES256' }, claims())],
      ['x5t junk, really signed', 'either', async () => signed({ alg: 'ES256', kid: key.kid, 'x5t#S256': 'AAAA' }, claims())],
      ['duplicate alg members (none then ES256), really signed', 'either', async () => signed(`{"alg":"none","alg":"ES256","kid":${JSON.stringify(key.kid)}}`, claims())],
      ['duplicate kid members, really signed', 'either', async () => signed(`{"alg":"ES256","kid":"' OR 1=1 --","kid":${JSON.stringify(key.kid)}}`, claims())],
      ['header __proto__ member, really signed', 'either', async () => signed(`{"alg":"ES256","kid":${JSON.stringify(key.kid)},"__proto__":{"alg":"none"}}`, claims())],
      ['header not JSON, really signed', 'refuse', async () => signed('{"alg":"ES256",', claims())],
      ['header a JSON array, really signed', 'refuse', async () => signed('["ES256"]', claims())],
      ['header with a NUL, really signed', 'refuse', async () => signed(`{"alg":"ES256\u0000","kid":${JSON.stringify(key.kid)}}`, claims())],
      ['JWE-shaped, five segments', 'refuse', async () => `${b64(JSON.stringify({ alg: 'RSA-OAEP', enc: 'A256GCM', kid: key.kid }))}.${b64('k')}.${b64('iv')}.${b64('ct')}.${b64('tag')}`],
      ['JWE-shaped with alg dir and an empty key', 'refuse', async () => `${b64(JSON.stringify({ alg: 'dir', enc: 'A128CBC-HS256' }))}..${b64('iv')}.${b64('ct')}.${b64('tag')}`],
      ['oversized token (1 MB claim), really signed', 'refuse', async () => signed({ alg: 'ES256', kid: key.kid }, claims({ pad: 'p'.repeat(1024 * 1024) }))],
      ['oversized header (200 KB), really signed', 'refuse', async () => signed({ alg: 'ES256', kid: key.kid, pad: 'h'.repeat(200 * 1024) }, claims())],
      ['signature flipped', 'refuse', async () => {
        const good = signed({ alg: 'ES256', kid: key.kid }, claims());
        const [h, p, s] = good.split('.') as [string, string, string];
        const bytes = Buffer.from(s, 'base64url');
        bytes[5] = (bytes[5] ?? 0) ^ 0x80;
        return `${h}.${p}.${bytes.toString('base64url')}`;
      }],
      ['signature empty', 'refuse', async () => `${signed({ alg: 'ES256', kid: key.kid }, claims()).split('.').slice(0, 2).join('.')}.`],
      ['signature of the right length but zeros', 'refuse', async () => `${signed({ alg: 'ES256', kid: key.kid }, claims()).split('.').slice(0, 2).join('.')}.${Buffer.alloc(64).toString('base64url')}`],
      ['signature DER-encoded instead of raw', 'refuse', async () => {
        const good = signed({ alg: 'ES256', kid: key.kid }, claims());
        return `${good.split('.').slice(0, 2).join('.')}.${Buffer.concat([Buffer.from([0x30, 0x44, 0x02, 0x20]), Buffer.alloc(66, 1)]).toString('base64url')}`;
      }],
      ['payload swapped onto another token signature', 'refuse', async () => {
        const a = signed({ alg: 'ES256', kid: key.kid }, claims());
        const b = signed({ alg: 'ES256', kid: key.kid }, claims({ sub: kind === 'subject' ? 'bob' : 'agent:c' }));
        const [ha, , sa] = a.split('.') as [string, string, string];
        return `${ha}.${b.split('.')[1]}.${sa}`;
      }],
      ['standard base64 with padding instead of base64url', 'either', async () => {
        const good = signed({ alg: 'ES256', kid: key.kid }, claims());
        return good.split('.').map((part) => Buffer.from(part, 'base64url').toString('base64')).join('.');
      }],
      ['whitespace and newlines inside the token', 'refuse', async () => {
        const good = signed({ alg: 'ES256', kid: key.kid }, claims());
        return `${good.slice(0, 20)}\n \t${good.slice(20)}`;
      }],
      ['a leading "Bearer "', 'refuse', async () => `Bearer ${signed({ alg: 'ES256', kid: key.kid }, claims())}`],
      ['one segment', 'refuse', async () => b64(JSON.stringify(claims()))],
      ['four segments', 'refuse', async () => `${signed({ alg: 'ES256', kid: key.kid }, claims())}.extra`],
      ['dots only', 'refuse', async () => '..'],
      ['empty string', 'refuse', async () => ''],
      ['NUL bytes', 'refuse', async () => '\u0000\u0000\u0000'],
    ];
    for (const kid of kidInjections) {
      cases.push([`kid injection ${JSON.stringify(kid.slice(0, 40))}, really signed`, 'refuse', async () => signed({ alg: 'ES256', kid }, claims())]);
      cases.push([`kid injection ${JSON.stringify(kid.slice(0, 40))}, attacker-signed`, 'refuse', async () => signCompactEs256({ alg: 'ES256', kid }, claims(), attacker.privateKey)]);
    }
    return cases;
  }

  /** Hostile claims, really signed by the trusted IdP's key. */
  function subjectClaimCorpus(): Array<[string, Verdict, () => Promise<string>]> {
    const header = () => ({ alg: 'ES256', kid: w.userKey.kid, typ: 'JWT' });
    const refuse = (label: string, overrides: Record<string, unknown>): [string, Verdict, () => Promise<string>] => [label, 'refuse', async () => idpSigned(header(), userClaims(overrides))];
    const either = (label: string, overrides: Record<string, unknown>): [string, Verdict, () => Promise<string>] => [label, 'either', async () => idpSigned(header(), userClaims(overrides))];
    const cases: Array<[string, Verdict, () => Promise<string>]> = [
      refuse('sub with a trailing NUL', { sub: 'alice\u0000' }),
      refuse('sub with an embedded NUL', { sub: 'ali\u0000ce' }),
      refuse('sub with an RTL override', { sub: 'alice\u202E' }),
      refuse('sub with a zero-width space', { sub: 'al\u200Bice' }),
      refuse('sub in fullwidth letters', { sub: 'ａｌｉｃｅ' }),
      refuse('sub upper case', { sub: 'ALICE' }),
      refuse('sub with a leading space', { sub: ' alice' }),
      refuse('sub with a trailing newline', { sub: 'alice\n' }),
      refuse('sub SQL tautology', { sub: "alice' OR '1'='1" }),
      refuse('sub SQL comment', { sub: "alice'--" }),
      refuse('sub LIKE wildcard', { sub: 'ali%' }),
      refuse('sub regex', { sub: '.*' }),
      refuse('sub as an array', { sub: ['alice'] }),
      refuse('sub as an object', { sub: { $ne: null } }),
      refuse('sub as a number', { sub: 1 }),
      refuse('sub true', { sub: true }),
      refuse('sub empty', { sub: '' }),
      refuse('sub missing', { sub: undefined }),
      refuse('sub 100 KB', { sub: 'a'.repeat(100 * 1024) }),
      refuse('sub an emoji', { sub: '\uD83D\uDE00' }),
      refuse('sub a lone surrogate', { sub: '\uD800' }),
      refuse('sub bob (no grant to agent:a)', { sub: 'bob' }),
      refuse('iss with a trailing slash', { iss: `${USER_ISSUER}/` }),
      refuse('iss as an array', { iss: [USER_ISSUER] }),
      refuse('iss with a NUL', { iss: `${USER_ISSUER}\u0000` }),
      refuse('iss SQL', { iss: "https://idp.test' OR '1'='1" }),
      refuse('iss of Deputy itself', { iss: 'DEPUTY' }),
      refuse('aud missing', { aud: undefined }),
      refuse('aud another service', { aud: 'https://someone-else.test' }),
      refuse('aud an object', { aud: { '0': 'x' } }),
      either('aud a list including Deputy', { aud: ['https://someone-else.test', 'DEPUTY_AUD'] }),
      refuse('exp in the past', { exp: now() - 3600, iat: now() - 7200 }),
      refuse('exp a string', { exp: String(now() + 300) }),
      refuse('exp null', { exp: null }),
      refuse('exp negative', { exp: -1 }),
      refuse('exp missing', { exp: undefined }),
      either('exp 1e308', { exp: 1e308 }),
      refuse('iat in the future', { iat: now() + 3600, exp: now() + 7200 }),
      refuse('iat a string', { iat: 'yesterday' }),
      refuse('iat missing', { iat: undefined }),
      refuse('nbf in the future', { nbf: now() + 3600 }),
      refuse('may_act naming another actor', { may_act: { sub: 'agent:b' } }),
      refuse('may_act with a NUL-suffixed actor', { may_act: { sub: 'agent:a\u0000' } }),
      either('may_act naming agent:a', { may_act: { sub: 'agent:a' } }),
      either('an act claim trying to seed a chain', { act: { sub: 'agent:c', act: { sub: "'; DROP TABLE issued_tokens; --" } } }),
      either('a scope claim wider than the grant', { scope: 'read write delete admin' }),
      either('jti with a NUL', { jti: 'j\u0000ti' }),
      either('jti 10 KB', { jti: 'j'.repeat(10_240) }),
      either('__proto__ claim', { ['__proto__']: { sub: 'bob' } }),
    ];
    // Replace the placeholder audience with Deputy's issuer at build time.
    return cases.map(([label, verdict, build]) => [
      label,
      verdict,
      label === 'aud a list including Deputy'
        ? async () => idpSigned(header(), userClaims({ aud: ['https://someone-else.test', w.issuer] }))
        : label === 'iss of Deputy itself'
          ? async () => idpSigned(header(), userClaims({ iss: w.issuer }))
          : build,
    ]);
  }

  /** Payloads that are not a JSON object, really signed. */
  function payloadShapes(): Array<[string, Verdict, () => Promise<string>]> {
    const header = { alg: 'ES256', kid: '' };
    return [
      ['payload a JSON array', '[1,2]'],
      ['payload a JSON string', '"alice"'],
      ['payload null', 'null'],
      ['payload a number', '12345'],
      ['payload not JSON', '{"sub":"alice",'],
      ['payload with a BOM', `\uFEFF${JSON.stringify({ iss: USER_ISSUER, sub: 'alice' })}`],
      ['payload deeply nested (5000 levels)', `${'{"a":'.repeat(5000)}1${'}'.repeat(5000)}`],
      ['payload duplicate sub (bob then alice)', 'DUP'],
    ].map(([label, text]) => [
      label!,
      (label === 'payload duplicate sub (bob then alice)' ? 'either' : 'refuse') as Verdict,
      async () => {
        header.kid = w.userKey.kid;
        if (text === 'DUP') {
          const claims = userClaims();
          const body = JSON.stringify(claims).replace('"sub":"alice"', '"sub":"bob","sub":"alice"');
          return idpSigned(header, body);
        }
        return idpSigned(header, text!);
      },
    ]);
  }

  it('baseline controls succeed (the corpus below is measured against a working exchange)', async () => {
    const plain = await exchangeWith(await w.userToken('alice'));
    expect(judge('control: plain exchange', plain, 'either')).toEqual([]);
    expect(plain.status).toBe(200);
    const withActorToken = await withActor(await w.actorAssertion('agent:b'));
    expect(judge('control: actor assertion', withActorToken, 'either')).toEqual([]);
    expect(withActorToken.status).toBe(200);
  });

  it('fixed corpus: hostile subject tokens (headers, signatures, claims, shapes)', async () => {
    const cases = [...(await headerCorpus('subject')), ...subjectClaimCorpus(), ...payloadShapes()];
    const bad = await runAll(cases.map(([label, verdict, build]) => [`subject: ${label}`, verdict, async () => exchangeWith(await build())]));
    expect(bad).toEqual([]);
  });

  it('fixed corpus: hostile actor assertions', async () => {
    const claimCases: Array<[string, Verdict, () => Promise<string>]> = [
      ['iss differs from sub', 'refuse', async () => actorSigned({ alg: 'ES256', kid: w.actorKeys['agent:b']!.kid }, actorClaims({ iss: 'agent:a' }))],
      ['sub agent:b with a NUL', 'refuse', async () => actorSigned({ alg: 'ES256', kid: w.actorKeys['agent:b']!.kid }, actorClaims({ iss: 'agent:b\u0000', sub: 'agent:b\u0000' }))],
      ['sub SQL', 'refuse', async () => actorSigned({ alg: 'ES256', kid: w.actorKeys['agent:b']!.kid }, actorClaims({ iss: "agent:b' OR '1'='1", sub: "agent:b' OR '1'='1" }))],
      ['sub path-like', 'refuse', async () => actorSigned({ alg: 'ES256', kid: w.actorKeys['agent:b']!.kid }, actorClaims({ iss: '../agent:b', sub: '../agent:b' }))],
      ['exp an hour ahead', 'refuse', async () => actorSigned({ alg: 'ES256', kid: w.actorKeys['agent:b']!.kid }, actorClaims({ exp: now() + 3600 }))],
      ['aud Deputy with a trailing slash', 'refuse', async () => actorSigned({ alg: 'ES256', kid: w.actorKeys['agent:b']!.kid }, actorClaims({ aud: `${w.issuer}/x` }))],
      ['jti an object', 'refuse', async () => actorSigned({ alg: 'ES256', kid: w.actorKeys['agent:b']!.kid }, actorClaims({ jti: { $gt: '' } }))],
      ['jti with a NUL', 'either', async () => actorSigned({ alg: 'ES256', kid: w.actorKeys['agent:b']!.kid }, actorClaims({ jti: `${randomUUID()}\u0000` }))],
      ['jti SQL', 'either', async () => actorSigned({ alg: 'ES256', kid: w.actorKeys['agent:b']!.kid }, actorClaims({ jti: `'); DELETE FROM actor_assertion_jtis; -- ${randomUUID()}` }))],
      ['jti 64 KB', 'either', async () => actorSigned({ alg: 'ES256', kid: w.actorKeys['agent:b']!.kid }, actorClaims({ jti: `${randomUUID()}${'j'.repeat(64 * 1024)}` }))],
    ];
    const replayed = await w.actorAssertion('agent:b');
    const cases: Array<[string, Verdict, () => Promise<HttpResult>]> = [
      ...[...(await headerCorpus('actor')), ...claimCases].map(
        ([label, verdict, build]): [string, Verdict, () => Promise<HttpResult>] => [`actor: ${label}`, verdict, async () => withActor(await build())],
      ),
    ];
    const bad = await runAll(cases);
    // A replay: the first use may mint, the second must not.
    const first = await withActor(replayed);
    bad.push(...judge('actor: replay, first use', first, 'either'));
    const second = await withActor(replayed);
    bad.push(...judge('actor: replay, second use', second, 'refuse'));
    expect(bad).toEqual([]);
  });

  it('fixed corpus: forged Deputy tokens as access_token subjects (chains)', async () => {
    const minted = await exchangeWith(await w.userToken('alice'), { scope: 'read' });
    expect(minted.status).toBe(200);
    const token = minted.json.access_token as string;
    const claims = claimsOf(token);
    const kid = w.deputy.keyRing.active.kid;
    const asChain = (subject: string) =>
      postToken(w, { grant_type: GRANT_TYPE, subject_token: subject, subject_token_type: TT.accessToken, resource: RESOURCE, scope: 'read' }, basic('app-b'));
    const forgedClaims = { ...claims, scope: 'read write delete admin', jti: randomUUID() };
    const cases: Array<[string, Verdict, () => Promise<HttpResult>]> = [
      ['alg none with Deputy kid', 'refuse', () => asChain(`${b64(JSON.stringify({ alg: 'none', kid, typ: 'at+jwt' }))}.${b64(JSON.stringify(forgedClaims))}.`)],
      ['attacker-signed under Deputy kid', 'refuse', async () => asChain(signCompactEs256({ alg: 'ES256', kid, typ: 'at+jwt' }, forgedClaims, attacker.privateKey))],
      ['HS256 keyed with Deputy public JWK', 'refuse', async () => asChain(signCompactHs256({ alg: 'HS256', kid, typ: 'at+jwt' }, forgedClaims, JSON.stringify(w.deputy.keyRing.active.publicJwk)))],
      ['widened payload with the original signature', 'refuse', async () => {
        const [h, , s] = token.split('.') as [string, string, string];
        return asChain(`${h}.${b64(JSON.stringify({ ...claims, scope: 'read write delete admin' }))}.${s}`);
      }],
      ['embedded jwk header, attacker-signed', 'refuse', async () => asChain(signCompactEs256({ alg: 'ES256', typ: 'at+jwt', jwk: await exportJWK(attacker.publicKey) }, forgedClaims, attacker.privateKey))],
      ['kid injection into the issued-token lookup', 'refuse', async () => asChain(signCompactEs256({ alg: 'ES256', kid: "' OR 1=1 --", typ: 'at+jwt' }, { ...forgedClaims, jti: "' OR '1'='1" }, attacker.privateKey))],
      ['a user token typed as access_token', 'refuse', async () => asChain(await w.userToken('alice'))],
      ['a Deputy token typed as jwt', 'refuse', () =>
        postToken(w, { grant_type: GRANT_TYPE, subject_token: token, subject_token_type: TT.jwt, resource: RESOURCE, scope: 'read' }, basic('app-b'))],
      ['a Deputy token for another resource', 'refuse', () =>
        postToken(w, { grant_type: GRANT_TYPE, subject_token: token, subject_token_type: TT.accessToken, resource: OTHER_RESOURCE, scope: 'read' }, basic('app-b'))],
    ];
    sent.push(token);
    expect(await runAll(cases)).toEqual([]);
  });

  it('fixed corpus: hostile and repeated parameters', async () => {
    const good = () => w.userToken('alice');
    const cases: Array<[string, Verdict, () => Promise<HttpResult>, string?]> = [];
    for (const value of HOSTILE_STRINGS) {
      const short = JSON.stringify(value.slice(0, 30));
      cases.push([`resource ${short}`, 'refuse', async () => exchangeWith(await good(), { resource: value })]);
      cases.push([`audience ${short} (no resource)`, 'refuse', async () =>
        postToken(w, { grant_type: GRANT_TYPE, subject_token: await good(), subject_token_type: TT.jwt, audience: value, scope: 'read' })]);
      cases.push([`subject_token_type ${short}`, 'refuse', async () => exchangeWith(await good(), { subject_token_type: value })]);
      // An empty optional parameter counts as absent (form-encoding convention, as oidc-provider does).
      cases.push([`requested_token_type ${short}`, value === '' ? 'either' : 'refuse', async () => exchangeWith(await good(), { requested_token_type: value })]);
      cases.push([`actor_token_type ${short}`, 'refuse', async () => exchangeWith(await good(), { actor_token: await w.actorAssertion('agent:b'), actor_token_type: value })]);
      cases.push([`subject_token ${short}`, 'refuse', async () => exchangeWith(value)]);
      cases.push([`actor_token ${short}`, 'refuse', async () => withActor(value)]);
      // A scope with a character outside RFC 6749's scope-token set must be refused; a plain one may mint read at most.
      const scopeVerdict: Verdict = /^[\x21\x23-\x5b\x5d-\x7e ]*$/.test(value) ? 'either' : 'refuse';
      cases.push([`scope ${short}`, scopeVerdict, async () => exchangeWith(await good(), { scope: value }), value]);
      cases.push([`scope "read ${short}"`, scopeVerdict, async () => exchangeWith(await good(), { scope: `read ${value}` }), `read ${value}`]);
      cases.push([`unknown parameter with hostile name and value ${short}`, 'either', async () => exchangeWith(await good(), { [`x${value}`]: value })]);
      cases.push([`grant_type ${short}`, 'refuse', async () =>
        postToken(w, { grant_type: value, subject_token: await good(), subject_token_type: TT.jwt, resource: RESOURCE, scope: 'read' })]);
    }
    for (const name of ['grant_type', 'subject_token', 'subject_token_type', 'resource', 'audience', 'scope', 'actor_token', 'actor_token_type', 'requested_token_type']) {
      cases.push([`${name} repeated (same value)`, 'refuse', async () => {
        const params: Record<string, string | string[]> = {
          grant_type: GRANT_TYPE,
          subject_token: await good(),
          subject_token_type: TT.jwt,
          resource: RESOURCE,
          scope: 'read',
          actor_token: await w.actorAssertion('agent:b'),
          actor_token_type: TT.jwt,
          requested_token_type: TT.accessToken,
          audience: RESOURCE,
        };
        if (name !== 'audience') delete params.audience;
        params[name] = [params[name] as string, params[name] as string];
        return postToken(w, params);
      }]);
      cases.push([`${name}[] array syntax`, 'either', async () =>
        postToken(w, { grant_type: GRANT_TYPE, subject_token: await good(), subject_token_type: TT.jwt, resource: RESOURCE, scope: 'read', [`${name}[]`]: 'x' })]);
    }
    cases.push(['resource and audience disagreeing', 'refuse', async () => exchangeWith(await good(), { audience: OTHER_RESOURCE })]);
    cases.push(['resource and audience both the resource', 'either', async () => exchangeWith(await good(), { audience: RESOURCE })]);
    cases.push(['1000 scopes', 'either', async () => exchangeWith(await good(), { scope: `${Array.from({ length: 1000 }, (_, i) => `s${i}`).join(' ')} read` })]);
    cases.push(['scope 1 MB', 'either', async () => exchangeWith(await good(), { scope: `read ${'s'.repeat(1024 * 1024)}` })]);
    cases.push(['resource 1 MB', 'refuse', async () => exchangeWith(await good(), { resource: `${RESOURCE}/${'r'.repeat(1024 * 1024)}` })]);
    cases.push(['resource with userinfo', 'refuse', async () => exchangeWith(await good(), { resource: 'https://alice@api.test/tickets' })]);
    cases.push(['resource with a trailing slash', 'refuse', async () => exchangeWith(await good(), { resource: `${RESOURCE}/` })]);
    cases.push(['resource upper-cased host', 'either', async () => exchangeWith(await good(), { resource: 'https://API.TEST/tickets' })]);
    cases.push(['resource with a dot segment', 'refuse', async () => exchangeWith(await good(), { resource: 'https://api.test/x/../tickets' })]);
    cases.push(['resource javascript:', 'refuse', async () => exchangeWith(await good(), { resource: 'javascript:alert(1)' })]);
    cases.push(['resource with a NUL before the path', 'refuse', async () => exchangeWith(await good(), { resource: 'https://api.test\u0000/tickets' })]);
    cases.push(['5000 unknown parameters', 'either', async () => {
      const params: Record<string, string> = { grant_type: GRANT_TYPE, subject_token: await good(), subject_token_type: TT.jwt, resource: RESOURCE, scope: 'read' };
      for (let i = 0; i < 5000; i += 1) params[`p${i}`] = String(i);
      return postToken(w, params);
    }]);
    expect(await runAll(cases)).toEqual([]);
  });

  it('property: one hostile mutation of a valid exchange never mints a token it should not, never 5xx, never leaks', async () => {
    const hostileChar = fc.constantFrom('\u0000', '\u0001', '\u001f', '\u007f', '\u202E', '\u202D', '\u200B', '\uFEFF', '\uD83D\uDE00', '"', '\\', '\n', '\r', '\t', 'é');
    const hostileString = fc.oneof(
      fc.constantFrom(...HOSTILE_STRINGS),
      fc.string({ unit: 'binary', maxLength: 64 }),
      fc.string({ unit: 'grapheme', maxLength: 32 }),
      fc.tuple(fc.string({ maxLength: 16 }), hostileChar, fc.string({ maxLength: 16 })).map(([a, c, b]) => a + c + b),
    );
    type Mutation = { kind: string; value: string; name?: string };
    const mutation: fc.Arbitrary<Mutation> = fc.oneof(
      fc.record({ kind: fc.constantFrom('resource', 'audience', 'subject_token_type', 'requested_token_type', 'subject_token', 'grant_type', 'actor_token_type'), value: hostileString }),
      fc.record({ kind: fc.constant('scope-bad-char'), value: fc.tuple(fc.string({ maxLength: 12 }), hostileChar).map(([a, c]) => `read ${a}${c}`) }),
      fc.record({ kind: fc.constant('duplicate'), value: hostileString, name: fc.constantFrom('grant_type', 'subject_token', 'subject_token_type', 'resource', 'scope') }),
      fc.record({ kind: fc.constant('extra'), value: hostileString, name: hostileString }),
    );
    const valid = new Set([TT.accessToken, TT.jwt, TT.idToken]);
    await fc.assert(
      fc.asyncProperty(mutation, async (m) => {
        const params: Record<string, string | string[]> = {
          grant_type: GRANT_TYPE,
          subject_token: await w.userToken('alice'),
          subject_token_type: TT.jwt,
          resource: RESOURCE,
          scope: 'read',
        };
        let verdict: Verdict = 'refuse';
        switch (m.kind) {
          case 'resource':
            params.resource = m.value;
            if (m.value === RESOURCE) verdict = 'either';
            break;
          case 'audience':
            delete params.resource;
            params.audience = m.value;
            if (m.value === RESOURCE) verdict = 'either';
            break;
          case 'subject_token_type':
            params[m.kind] = m.value;
            if (valid.has(m.value as typeof TT.jwt)) verdict = 'either';
            break;
          case 'requested_token_type':
            params[m.kind] = m.value;
            // Empty counts as absent.
            if (m.value === '' || m.value === TT.accessToken || m.value === TT.jwt) verdict = 'either';
            break;
          case 'actor_token_type':
            params.actor_token = await w.actorAssertion('agent:b');
            params.actor_token_type = m.value;
            if (m.value === TT.jwt) verdict = 'either';
            break;
          case 'subject_token':
          case 'grant_type':
            params[m.kind] = m.value;
            if (m.kind === 'grant_type' && m.value === GRANT_TYPE) verdict = 'either';
            break;
          case 'scope-bad-char':
            params.scope = m.value;
            break;
          case 'duplicate':
            params[m.name!] = [params[m.name!] as string, m.value];
            break;
          case 'extra': {
            const name = m.name!;
            if (name in params || name === 'actor_token' || name === 'actor_token_type' || name === 'audience' || name.startsWith('client_') ||
                name === 'requested_token_type') return;
            params[name] = m.value;
            verdict = 'either';
            break;
          }
        }
        const result = await postToken(w, params);
        const problems = judge(`mutation ${m.kind} ${m.name ? `${JSON.stringify(m.name.slice(0, 20))} ` : ''}${JSON.stringify(m.value.slice(0, 40))}`, result, verdict);
        return problems.length === 0;
      }),
      { numRuns: 300 },
    );
  });

  it('property: really signed subject tokens with random header members are refused unless the header is benign', async () => {
    const member = fc.oneof(
      fc.tuple(fc.constantFrom('kid'), fc.oneof(fc.constantFrom(...HOSTILE_STRINGS), fc.string({ unit: 'binary', maxLength: 40 }))),
      fc.tuple(fc.constantFrom('jwk', 'jku', 'x5u', 'x5c', 'crit'), fc.oneof(fc.string(), fc.array(fc.string(), { maxLength: 2 }), fc.constant({ kty: 'EC' }))),
      fc.tuple(fc.constantFrom('typ', 'cty', 'zip', 'enc', 'b64', 'x5t', 'nonce', fc.sample(fc.string({ maxLength: 8 }), 1)[0] ?? 'zz'), fc.jsonValue({ maxDepth: 2 })),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(member, { minLength: 1, maxLength: 4 }), async (members) => {
        const header: Record<string, unknown> = { alg: 'ES256', kid: w.userKey.kid };
        for (const [name, value] of members) header[name] = value;
        // zip and b64 (without crit) mean nothing on a JWS and are ignored: a token is acceptable.
        const dangerous = ['jwk', 'jku', 'x5u', 'x5c', 'crit'].some((name) => name in header) || (typeof header.kid === 'string' && header.kid !== w.userKey.kid);
        const token = idpSigned(header, userClaims());
        const result = await exchangeWith(token);
        return judge(`header ${JSON.stringify(header).slice(0, 160)}`, result, dangerous ? 'refuse' : 'either').length === 0;
      }),
      { numRuns: 200 },
    );
  });

  it('property: really signed subject tokens with a hostile sub or iss are refused', async () => {
    const hostile = fc.oneof(fc.constantFrom(...HOSTILE_STRINGS), fc.string({ unit: 'binary', maxLength: 40 }), fc.string({ unit: 'grapheme', maxLength: 20 }));
    await fc.assert(
      fc.asyncProperty(fc.constantFrom('sub', 'iss'), hostile, async (claim, value) => {
        if ((claim === 'sub' && value === 'alice') || (claim === 'iss' && value === USER_ISSUER)) return true;
        const token = idpSigned({ alg: 'ES256', kid: w.userKey.kid }, userClaims({ [claim]: value }));
        const result = await exchangeWith(token);
        return judge(`${claim} ${JSON.stringify(value.slice(0, 40))}`, result, 'refuse').length === 0;
      }),
      { numRuns: 150 },
    );
  });

  it('property: random JWT-shaped garbage never mints', async () => {
    const segment = fc.oneof(
      fc.jsonValue({ maxDepth: 3 }).map((value) => b64(JSON.stringify(value))),
      fc.string({ unit: 'binary', maxLength: 80 }).map((value) => b64(value)),
      fc.string({ maxLength: 60 }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(segment, { minLength: 1, maxLength: 6 }), fc.constantFrom('subject', 'actor'), async (segments, position) => {
        const token = segments.join('.');
        const result = position === 'subject' ? await exchangeWith(token) : await withActor(token);
        return judge(`garbage ${position} token ${token.slice(0, 80)}`, result, 'refuse').length === 0;
      }),
      { numRuns: 150 },
    );
  });

  it('totals: no 5xx, no wrongly minted token, no leak', () => {
    report(tally);
    const notable = tolerated.filter((label) => /^(subject|actor): /.test(label) && !label.includes('control'));
    console.log(`hostile/token-exchange: ${tolerated.length} tolerated requests minted a correct token; the token-shaped ones: ${notable.join(' | ')}`);
    expect(tally.failures).toEqual([]);
    expect(tally.fiveXx).toBe(0);
    expect(tally.wronglyMinted).toBe(0);
    expect(tally.leaks).toBe(0);
  });
});
