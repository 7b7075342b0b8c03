/**
 * RFC 6750 §3 / RFC 9449 §7.1 challenges and the Authorization header parsing.
 */
import { describe, expect, it } from '@jest/globals';
import { AccessError, refusal, wwwAuthenticate } from '../../src/resource-server/errors.js';
import { credentialsOf } from '../../src/resource-server/request.js';

describe('WWW-Authenticate', () => {
  it('no credentials: no error code; both schemes offered when DPoP is accepted', () => {
    const error = new AccessError(null, 'an access token is required');
    expect(wwwAuthenticate(error, { realm: 'tickets' })).toBe('Bearer realm="tickets"');
    expect(wwwAuthenticate(error, { realm: 'tickets', dpopAlgorithms: ['ES256'] })).toBe('Bearer realm="tickets", DPoP realm="tickets", algs="ES256"');
    expect(refusal(error).status).toBe(401);
  });

  it('invalid_token → 401 with error and description', () => {
    const answer = refusal(new AccessError('invalid_token', 'the access token has expired'), { realm: 'api' });
    expect(answer.status).toBe(401);
    expect(answer.headers['www-authenticate']).toBe('Bearer realm="api", error="invalid_token", error_description="the access token has expired"');
    expect(answer.body).toEqual({ error: 'invalid_token', error_description: 'the access token has expired' });
    expect(answer.headers['cache-control']).toBe('no-store');
  });

  it('insufficient_scope → 403 naming the needed scope; DPoP scheme for a DPoP token', () => {
    const answer = refusal(new AccessError('insufficient_scope', 'the token lacks the scope write', { scheme: 'DPoP', scope: ['write'] }), { dpopAlgorithms: ['ES256', 'EdDSA'] });
    expect(answer.status).toBe(403);
    expect(answer.headers['www-authenticate']).toBe('DPoP error="insufficient_scope", error_description="the token lacks the scope write", scope="write", algs="ES256 EdDSA"');
  });

  it('invalid_request → 400; invalid_dpop_proof → 401 DPoP; temporarily_unavailable → 503 without error in the challenge', () => {
    expect(refusal(new AccessError('invalid_request', 'x')).status).toBe(400);
    const proof = refusal(new AccessError('invalid_dpop_proof', 'x', { scheme: 'DPoP' }));
    expect([proof.status, proof.headers['www-authenticate']]).toEqual([401, 'DPoP error="invalid_dpop_proof", error_description="x"']);
    const down = refusal(new AccessError('temporarily_unavailable', 'the token status could not be checked'));
    expect([down.status, down.headers['www-authenticate'], down.headers['retry-after']]).toEqual([503, 'Bearer', '1']);
  });

  it('quotes are escaped in parameters', () => {
    expect(wwwAuthenticate(new AccessError('invalid_token', 'say "no"'))).toBe('Bearer error="invalid_token", error_description="say \\"no\\""');
  });
});

describe('credentialsOf', () => {
  const request = (headers: Record<string, string | string[]>) => ({ method: 'GET', url: 'http://api.test/x', headers });

  it('reads Bearer and DPoP (scheme case-insensitive) and the DPoP proof', () => {
    expect(credentialsOf(request({ authorization: 'Bearer abc.def.ghi' }))).toEqual({ scheme: 'Bearer', token: 'abc.def.ghi', proof: null });
    expect(credentialsOf(request({ Authorization: 'dpop abc.def.ghi', DPoP: 'p.r.f' }))).toEqual({ scheme: 'DPoP', token: 'abc.def.ghi', proof: 'p.r.f' });
    expect(credentialsOf({ method: 'GET', url: 'http://x/', headers: new Headers({ authorization: 'Bearer t' }) }).token).toBe('t');
  });

  it.each<[string, Record<string, string | string[]>, string | null]>([
    ['no Authorization', {}, null],
    ['Basic', { authorization: 'Basic dXNlcjpwYXNz' }, null],
    ['a scheme without token', { authorization: 'Bearer' }, null],
    ['two Authorization headers', { authorization: ['Bearer a', 'Bearer b'] }, 'invalid_request'],
    ['a token with illegal characters', { authorization: 'Bearer a"b' }, 'invalid_request'],
    ['two DPoP proofs', { authorization: 'DPoP a', dpop: ['x', 'y'] }, 'invalid_dpop_proof'],
    ['two DPoP proofs in one header', { authorization: 'DPoP a', dpop: 'x, y' }, 'invalid_dpop_proof'],
  ])('refuses %s', (_name, headers, code) => {
    let caught: unknown;
    try {
      credentialsOf(request(headers));
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(AccessError);
    expect((caught as AccessError).code).toBe(code);
  });
});
