/**
 * The token-exchange request parser (src/token-exchange/request.ts), one test per rule, without HTTP
 * or a database (like Spring's OAuth2TokenExchangeAuthenticationConverter tests). The HTTP
 * suites (test/token-exchange/http, test/hostile) prove the same rules reach the wire.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { OAuthError } from '../../src/errors.js';
import { EXCHANGE_PARAMETERS, TOKEN_EXCHANGE_GRANT, TOKEN_TYPE, parseExchangeRequest } from '../../src/token-exchange/request.js';

const RESOURCE = 'https://api.example.com';

/** A minimal valid request: a Deputy subject token and a resource. */
const valid = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  subject_token: 'subject.token.value',
  subject_token_type: TOKEN_TYPE.accessToken,
  resource: RESOURCE,
  ...overrides,
});

/** Parses, expecting a refusal; returns the OAuth error. */
function refusal(params: Record<string, unknown>): OAuthError {
  try {
    parseExchangeRequest(params);
  } catch (error) {
    expect(error).toBeInstanceOf(OAuthError);
    return error as OAuthError;
  }
  throw new Error('the request was accepted');
}

const refusedWith = (params: Record<string, unknown>) => {
  const { code, description, status } = refusal(params);
  return { code, description, status };
};

describe('parseExchangeRequest', () => {
  it('declares the token-exchange grant type and the RFC 8693 parameters it reads', () => {
    expect(TOKEN_EXCHANGE_GRANT).toBe('urn:ietf:params:oauth:grant-type:token-exchange');
    expect([...EXCHANGE_PARAMETERS].sort()).toEqual(
      ['actor_token', 'actor_token_type', 'audience', 'requested_token_type', 'resource', 'scope', 'subject_token', 'subject_token_type'].sort(),
    );
  });

  it('parses a minimal request into an immutable value', () => {
    const request = parseExchangeRequest(valid());
    expect(request).toEqual({
      subjectToken: 'subject.token.value',
      subjectTokenKind: 'deputy',
      actorToken: null,
      resource: RESOURCE,
      scopes: null,
    });
    expect(Object.isFrozen(request)).toBe(true);
  });

  describe('subject_token', () => {
    it('is required', () => {
      const { subject_token: _omitted, ...params } = valid();
      expect(refusedWith(params)).toEqual({ code: 'invalid_request', description: 'subject_token is required', status: 400 });
    });

    it('is required: an empty value counts as absent', () => {
      expect(refusedWith(valid({ subject_token: '' }))).toMatchObject({ code: 'invalid_request', description: 'subject_token is required' });
    });

    it('must be a single value', () => {
      expect(refusedWith(valid({ subject_token: ['a', 'b'] }))).toMatchObject({
        code: 'invalid_request',
        description: 'subject_token must be a single value',
      });
    });
  });

  describe('subject_token_type', () => {
    it('is required', () => {
      const { subject_token_type: _omitted, ...params } = valid();
      expect(refusedWith(params)).toMatchObject({ code: 'invalid_request', description: 'subject_token_type is required' });
    });

    it('access_token means a Deputy token', () => {
      expect(parseExchangeRequest(valid({ subject_token_type: TOKEN_TYPE.accessToken })).subjectTokenKind).toBe('deputy');
    });

    it('jwt and id_token mean a token of a trusted issuer', () => {
      expect(parseExchangeRequest(valid({ subject_token_type: TOKEN_TYPE.jwt })).subjectTokenKind).toBe('external');
      expect(parseExchangeRequest(valid({ subject_token_type: TOKEN_TYPE.idToken })).subjectTokenKind).toBe('external');
    });

    it('refuses any other type, including near misses', () => {
      for (const type of ['urn:ietf:params:oauth:token-type:saml2', 'urn:ietf:params:oauth:token-type:refresh_token', 'access_token', `${TOKEN_TYPE.jwt} `]) {
        expect([type, refusedWith(valid({ subject_token_type: type }))]).toEqual([
          type,
          { code: 'invalid_request', description: 'unsupported subject_token_type', status: 400 },
        ]);
      }
    });
  });

  describe('actor_token and actor_token_type', () => {
    it('accepts an actor token typed as a JWT', () => {
      expect(parseExchangeRequest(valid({ actor_token: 'actor.jwt', actor_token_type: TOKEN_TYPE.jwt })).actorToken).toBe('actor.jwt');
    });

    it('requires actor_token_type with actor_token', () => {
      expect(refusedWith(valid({ actor_token: 'actor.jwt' }))).toMatchObject({
        code: 'invalid_request',
        description: 'actor_token_type is required with actor_token',
      });
    });

    it('refuses actor_token_type without actor_token', () => {
      expect(refusedWith(valid({ actor_token_type: TOKEN_TYPE.jwt }))).toMatchObject({
        code: 'invalid_request',
        description: 'actor_token_type was sent without actor_token',
      });
    });

    it('accepts only the JWT token type for the actor', () => {
      for (const type of [TOKEN_TYPE.accessToken, TOKEN_TYPE.idToken, 'urn:ietf:params:oauth:token-type:saml2']) {
        expect([type, refusedWith(valid({ actor_token: 'actor.jwt', actor_token_type: type }))]).toEqual([
          type,
          { code: 'invalid_request', description: 'unsupported actor_token_type', status: 400 },
        ]);
      }
    });

    it('must each be a single value', () => {
      expect(refusedWith(valid({ actor_token: ['a', 'b'], actor_token_type: TOKEN_TYPE.jwt }))).toMatchObject({
        code: 'invalid_request',
        description: 'actor_token must be a single value',
      });
    });
  });

  describe('requested_token_type', () => {
    it('accepts access_token and jwt (Deputy issues JWT access tokens), or nothing', () => {
      for (const type of [TOKEN_TYPE.accessToken, TOKEN_TYPE.jwt, undefined]) {
        expect(() => parseExchangeRequest(valid({ requested_token_type: type }))).not.toThrow();
      }
    });

    it('refuses any other type', () => {
      expect(refusedWith(valid({ requested_token_type: TOKEN_TYPE.idToken }))).toMatchObject({
        code: 'invalid_request',
        description: 'unsupported requested_token_type',
      });
    });
  });

  describe('resource and audience (the target)', () => {
    it('requires one of them: invalid_target', () => {
      const { resource: _omitted, ...params } = valid();
      expect(refusedWith(params)).toEqual({ code: 'invalid_target', description: 'a resource or audience is required', status: 400 });
    });

    it('takes the audience as the target when no resource is sent', () => {
      const { resource: _omitted, ...params } = valid();
      expect(parseExchangeRequest({ ...params, audience: RESOURCE }).resource).toBe(RESOURCE);
    });

    it('accepts both when they name the same target', () => {
      expect(parseExchangeRequest(valid({ audience: RESOURCE })).resource).toBe(RESOURCE);
    });

    it('refuses both when they name different targets', () => {
      expect(refusedWith(valid({ audience: 'https://other.example.com' }))).toMatchObject({
        code: 'invalid_target',
        description: 'resource and audience name different targets',
      });
    });

    it('refuses a resource that is not an absolute URI (RFC 8707 §2)', () => {
      for (const resource of ['api.example.com', '/relative/path', 'not a uri']) {
        expect([resource, refusedWith(valid({ resource }))]).toEqual([
          resource,
          { code: 'invalid_target', description: 'resource must be an absolute URI without a fragment', status: 400 },
        ]);
      }
    });

    it('refuses a resource with a fragment (RFC 8707 §2)', () => {
      expect(refusedWith(valid({ resource: `${RESOURCE}/#part` }))).toMatchObject({ code: 'invalid_target' });
      expect(refusedWith(valid({ resource: `${RESOURCE}#` }))).toMatchObject({ code: 'invalid_target' });
    });

    it('refuses a target longer than 2048 characters', () => {
      const long = `${RESOURCE}/${'a'.repeat(2048 - RESOURCE.length)}`;
      expect(long.length).toBe(2049);
      expect(refusedWith(valid({ resource: long }))).toMatchObject({ code: 'invalid_target', description: 'the requested resource is not acceptable' });
      expect(parseExchangeRequest(valid({ resource: long.slice(0, 2048) })).resource).toHaveLength(2048);
    });

    it('refuses a target with control characters, as resource or as audience', () => {
      for (const control of ['\u0000', '\n', '\u001F', '\u007F']) {
        expect(refusedWith(valid({ resource: `${RESOURCE}/${control}x` }))).toMatchObject({ code: 'invalid_target' });
        const { resource: _omitted, ...params } = valid();
        expect(refusedWith({ ...params, audience: `aud${control}` })).toMatchObject({ code: 'invalid_target' });
      }
    });

    it('must be single values', () => {
      expect(refusedWith(valid({ resource: [RESOURCE, 'https://other.example.com'] }))).toMatchObject({
        code: 'invalid_request',
        description: 'resource must be a single value',
      });
    });
  });

  describe('scope', () => {
    it('is null when absent, empty or only spaces (the grant’s scopes are then requested)', () => {
      for (const scope of [undefined, '', ' ', '   ']) expect(parseExchangeRequest(valid({ scope })).scopes).toBeNull();
    });

    it('splits on spaces and drops duplicates, keeping first-seen order', () => {
      expect(parseExchangeRequest(valid({ scope: 'read  write read list ' })).scopes).toEqual(['read', 'write', 'list']);
    });

    it('refuses characters outside RFC 6749 §3.3 scope tokens', () => {
      for (const scope of ['read"', 'a\\b', 'tab\there', 'caf\u00e9', 'nul\u0000']) {
        expect([scope, refusedWith(valid({ scope }))]).toEqual([scope, { code: 'invalid_scope', description: 'scope is malformed', status: 400 }]);
      }
    });

    it('refuses more than 64 distinct scopes', () => {
      const scopes = Array.from({ length: 65 }, (_, i) => `s${i}`);
      expect(refusedWith(valid({ scope: scopes.join(' ') }))).toMatchObject({ code: 'invalid_scope' });
      expect(parseExchangeRequest(valid({ scope: scopes.slice(0, 64).join(' ') })).scopes).toHaveLength(64);
    });

    it('refuses a scope longer than 256 characters', () => {
      expect(refusedWith(valid({ scope: 'x'.repeat(257) }))).toMatchObject({ code: 'invalid_scope' });
      expect(parseExchangeRequest(valid({ scope: 'x'.repeat(256) })).scopes).toEqual(['x'.repeat(256)]);
    });

    it('must be a single value', () => {
      expect(refusedWith(valid({ scope: ['read', 'write'] }))).toMatchObject({ code: 'invalid_request', description: 'scope must be a single value' });
    });

    it('yields exactly the distinct well-formed scopes sent, in any order and repetition (property)', () => {
      const token = fc.stringMatching(/^[\x21\x23-\x5B\x5D-\x7E]{1,20}$/);
      fc.assert(
        fc.property(fc.array(token, { minLength: 1, maxLength: 64 }), fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1 }), (scopes, gaps) => {
          const raw = scopes.map((scope, i) => scope + ' '.repeat(gaps[i % gaps.length]!)).join('');
          const distinct = [...new Set(scopes)];
          expect(parseExchangeRequest(valid({ scope: raw })).scopes).toEqual(distinct);
        }),
      );
    });
  });

  it('checks the subject token before the target: a request wrong in both is invalid_request', () => {
    expect(refusedWith({ subject_token_type: TOKEN_TYPE.accessToken })).toMatchObject({ code: 'invalid_request' });
  });
});
