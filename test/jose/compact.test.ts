/**
 * src/jose/compact.ts: the one reader of compact JWTs. Each strictness rule, and (property) the
 * same header and claims as jose's own decoders on every well-formed token.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { decodeJwt as joseDecodeJwt, decodeProtectedHeader } from 'jose';
import { compactShape, decodeSignedJwt, peekClaims, readCompactJws } from '../../src/jose/compact.js';

const b64 = (value: unknown) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');
const HEADER = b64({ alg: 'ES256', kid: 'k1', typ: 'at+jwt' });
const PAYLOAD = b64({ iss: 'https://idp.test', sub: 'alice', nonce: '' });
const SIGNATURE = Buffer.from('a signature of some length').toString('base64url');
const TOKEN = `${HEADER}.${PAYLOAD}.${SIGNATURE}`;

describe('readCompactJws', () => {
  it('decodes header, claims, signing input, signature and segments', () => {
    const reading = readCompactJws(TOKEN);
    expect(reading).toEqual({
      ok: true,
      jws: {
        header: { alg: 'ES256', kid: 'k1', typ: 'at+jwt' },
        claims: { iss: 'https://idp.test', sub: 'alice', nonce: '' },
        signingInput: `${HEADER}.${PAYLOAD}`,
        signature: Buffer.from('a signature of some length'),
        segments: [HEADER, PAYLOAD, SIGNATURE],
      },
    });
  });

  it.each([
    ['five segments (a JWE)', `${HEADER}.a.b.c.d`, 'encrypted'],
    ['two segments', `${HEADER}.${PAYLOAD}`, 'segment_count'],
    ['four segments', `${TOKEN}.x`, 'segment_count'],
    ['one segment', HEADER, 'segment_count'],
    ['an empty header segment', `.${PAYLOAD}.${SIGNATURE}`, 'not_base64url'],
    ['an empty payload segment', `${HEADER}..${SIGNATURE}`, 'not_base64url'],
    ['base64 padding', `${HEADER}=.${PAYLOAD}.${SIGNATURE}`, 'not_base64url'],
    ["'+' (standard base64)", `${HEADER}.${PAYLOAD}.${SIGNATURE}+`, 'not_base64url'],
    ['whitespace inside a segment', `${HEADER}.${PAYLOAD.slice(0, 4)} ${PAYLOAD.slice(4)}.${SIGNATURE}`, 'not_base64url'],
    ['a header that is not JSON', `${b64('not json')}.${PAYLOAD}.${SIGNATURE}`, 'header_not_json'],
    ['a header that is invalid UTF-8', `${Buffer.from([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d]).toString('base64url')}.${PAYLOAD}.${SIGNATURE}`, 'header_not_json'],
    ['a header that is a JSON array', `${b64([1])}.${PAYLOAD}.${SIGNATURE}`, 'header_not_object'],
    ['a header that is JSON null', `${b64('null')}.${PAYLOAD}.${SIGNATURE}`, 'header_not_object'],
    ['a payload that is not JSON', `${HEADER}.${b64('{')}.${SIGNATURE}`, 'payload_not_json'],
    ['a payload that is a JSON string', `${HEADER}.${b64('"x"')}.${SIGNATURE}`, 'payload_not_object'],
  ])('refuses %s', (_name, token, failure) => {
    expect(readCompactJws(token)).toEqual({ ok: false, failure });
  });

  it('lets an unsecured JWT (empty signature) through, with an empty signature, for the caller to name', () => {
    const reading = readCompactJws(`${HEADER}.${PAYLOAD}.`);
    expect(reading.ok && reading.jws.signature.length).toBe(0);
  });
});

describe('decodeSignedJwt', () => {
  it('returns the decoded token when it carries a signature', () => {
    expect(decodeSignedJwt(TOKEN)?.claims.sub).toBe('alice');
  });

  it('returns null for an unsecured JWT and for anything that is not a compact JWS', () => {
    expect(decodeSignedJwt(`${HEADER}.${PAYLOAD}.`)).toBeNull();
    expect(decodeSignedJwt(`${HEADER}.${PAYLOAD}`)).toBeNull();
    expect(decodeSignedJwt(`${HEADER}.${PAYLOAD}.${SIGNATURE}=`)).toBeNull();
  });

  it('reads every well-formed token as jose’s decoders do (property)', () => {
    const json = fc.dictionary(fc.string({ minLength: 1, maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 6 });
    fc.assert(
      fc.property(json, json, fc.uint8Array({ minLength: 1, maxLength: 96 }), (header, claims, signature) => {
        const token = `${b64(header)}.${b64(claims)}.${Buffer.from(signature).toString('base64url')}`;
        const decoded = decodeSignedJwt(token);
        expect(decoded).not.toBeNull();
        expect(decoded!.header).toEqual(decodeProtectedHeader(token));
        expect(decoded!.claims).toEqual(joseDecodeJwt(token));
        expect(decoded!.signature.equals(Buffer.from(signature))).toBe(true);
      }),
      { numRuns: 300 },
    );
  });

  it('never throws, whatever the input (property)', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (input) => {
        const decoded = decodeSignedJwt(input);
        if (decoded) expect(decoded.segments.join('.')).toBe(input);
      }),
      { numRuns: 1000 },
    );
  });
});

describe('compactShape', () => {
  it.each([
    [TOKEN, 'jws'],
    ['a.b.c', 'jws'],
    ['a.b.c.d.e', 'jwe'],
    ['opaque-token', null],
    ['a.b', null],
    ['a.b.c.d', null],
    [42, null],
    [undefined, null],
  ])('%p is %p', (token, shape) => {
    expect(compactShape(token)).toBe(shape);
  });
});

describe('peekClaims', () => {
  it('reads the payload segment only (the header need not be valid yet)', () => {
    expect(peekClaims(`not-a-header.${PAYLOAD}`)).toEqual({ iss: 'https://idp.test', sub: 'alice', nonce: '' });
    expect(peekClaims(TOKEN)?.iss).toBe('https://idp.test');
  });

  it.each([
    ['no payload segment', HEADER],
    ['an empty payload segment', `${HEADER}..${SIGNATURE}`],
    ['a payload outside the base64url alphabet', `${HEADER}.${PAYLOAD}=.${SIGNATURE}`],
    ['a payload that is not a JSON object', `${HEADER}.${b64('[1]')}.${SIGNATURE}`],
  ])('returns null for %s', (_name, token) => {
    expect(peekClaims(token)).toBeNull();
  });
});
