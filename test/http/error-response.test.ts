/**
 * src/http/error-response.ts: every error family, on each surface, to its status, code, headers
 * and body; and (property) an error's detail, or a thrown message, never reaches a response.
 */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import type { Context } from 'koa';
import { errors as providerErrors } from 'oidc-provider';
import { ADMIN_SURFACE, ApiError, conflict, notFound } from '../../src/admin/errors.js';
import { DeputyError, OAuthError, invalidRequest, temporarilyUnavailable } from '../../src/errors.js';
import { RateLimited } from '../../src/token-exchange/rate-limit.js';
import { OAUTH_SURFACE, errorResponse, providerError, renderError, toDeputyError, type ErrorSurface } from '../../src/http/error-response.js';

const oauth = (thrown: unknown) => errorResponse(toDeputyError(thrown, OAUTH_SURFACE), OAUTH_SURFACE);
const admin = (thrown: unknown) => errorResponse(toDeputyError(thrown, ADMIN_SURFACE), ADMIN_SURFACE);

const NO_STORE = { 'Cache-Control': 'no-store' };
const UNAVAILABLE = { error: 'temporarily_unavailable', error_description: 'the service is temporarily unavailable; retry later' };

const pgError = (code: string, message = 'invalid input syntax for type uuid: "SELECT secret FROM x"', constraint?: string) =>
  Object.assign(new Error(message), { code, ...(constraint ? { constraint } : {}) });
const connectionRefused = () => Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });

describe('the OAuth surface', () => {
  it('renders an OAuthError as RFC 6749 §5.2 JSON with its status', () => {
    expect(oauth(invalidRequest('subject token is expired', 'exp 1 < now 2'))).toEqual({
      status: 400,
      headers: NO_STORE,
      body: { error: 'invalid_request', error_description: 'subject token is expired' },
    });
    expect(oauth(new OAuthError('invalid_target', 'a resource or audience is required'))).toMatchObject({ status: 400, body: { error: 'invalid_target' } });
  });

  it('renders a rate-limit refusal as 429 temporarily_unavailable with Retry-After', () => {
    expect(oauth(new RateLimited(3, 'client'))).toEqual({
      status: 429,
      headers: { ...NO_STORE, 'Retry-After': '3' },
      body: { error: 'temporarily_unavailable', error_description: 'too many requests for this client; retry later' },
    });
  });

  it('renders an unreachable dependency as 503 temporarily_unavailable with Retry-After', () => {
    expect(oauth(temporarilyUnavailable('jwks timeout'))).toEqual({ status: 503, headers: { ...NO_STORE, 'Retry-After': '1' }, body: UNAVAILABLE });
  });

  it('maps an unreachable database to 503 temporarily_unavailable with Retry-After', () => {
    expect(oauth(connectionRefused())).toEqual({ status: 503, headers: { ...NO_STORE, 'Retry-After': '1' }, body: UNAVAILABLE });
    expect(oauth(new Error('timeout exceeded when trying to connect'))).toMatchObject({ status: 503, body: UNAVAILABLE });
  });

  it('keeps an exposed oidc-provider error’s code, status and description', () => {
    expect(oauth(new providerErrors.InvalidDpopProof('DPoP proof JWT replay detected'))).toEqual({
      status: 400,
      headers: NO_STORE,
      body: { error: 'invalid_dpop_proof', error_description: 'DPoP proof JWT replay detected' },
    });
  });

  it.each(['22001', '22003', '22007', '22008', '22021', '22P02', '22P05', '54000'])('maps PostgreSQL’s rejected value %s to 400 invalid_request', (code) => {
    expect(oauth(pgError(code))).toEqual({
      status: 400,
      headers: NO_STORE,
      body: { error: 'invalid_request', error_description: 'the request contains a value that is not accepted' },
    });
  });

  it('answers anything else 500 server_error with a generic description', () => {
    const generic = { status: 500, headers: NO_STORE, body: { error: 'server_error', error_description: 'the request could not be completed' } };
    expect(oauth(new TypeError('cannot read properties of undefined'))).toEqual(generic);
    expect(oauth(pgError('23505', 'duplicate key value violates unique constraint "issued_tokens_pkey"'))).toEqual(generic);
    expect(oauth('a string')).toEqual(generic);
    expect(oauth(null)).toEqual(generic);
  });

  it('keeps the thrown message as the detail, for the log', () => {
    expect(toDeputyError(new TypeError('boom'), OAUTH_SURFACE).detail).toBe('boom');
    expect(toDeputyError(pgError('22P02', 'bad uuid'), OAUTH_SURFACE).detail).toBe('bad uuid');
    expect(toDeputyError(connectionRefused(), OAUTH_SURFACE)).toBeInstanceOf(OAuthError);
  });

  it('passes an OAuthError through as itself', () => {
    const error = new RateLimited(1, 'actor');
    expect(toDeputyError(error, OAUTH_SURFACE)).toBe(error);
  });
});

describe('the admin surface', () => {
  it('renders an ApiError with its issues and headers', () => {
    const error = new ApiError(401, 'invalid_token', 'the token is not valid', undefined, { 'WWW-Authenticate': 'Bearer realm="deputy"' });
    expect(admin(error)).toEqual({
      status: 401,
      headers: { ...NO_STORE, 'WWW-Authenticate': 'Bearer realm="deputy"' },
      body: { error: 'invalid_token', error_description: 'the token is not valid' },
    });
    const issues = [{ in: 'body' as const, path: ['owner'], code: 'unknown_reference', message: 'no such subject' }];
    expect(admin(new ApiError(400, 'invalid_request', 'body.owner: no such subject', issues)).body).toEqual({
      error: 'invalid_request',
      error_description: 'body.owner: no such subject',
      issues,
    });
    expect(admin(notFound('subject'))).toMatchObject({ status: 404, body: { error: 'not_found', error_description: 'no such subject' } });
    expect(admin(conflict('taken'))).toMatchObject({ status: 409, body: { error: 'conflict' } });
  });

  it('maps an unreachable database to 503 temporarily_unavailable with Retry-After, as on the OAuth surface', () => {
    expect(admin(connectionRefused())).toEqual(oauth(connectionRefused()));
  });

  it.each(['22001', '22003', '22007', '22008', '22021', '22P02', '22P05', '54000', '23514'])('maps PostgreSQL’s rejected value %s to 400 invalid_request', (code) => {
    expect(admin(pgError(code))).toEqual({
      status: 400,
      headers: NO_STORE,
      body: { error: 'invalid_request', error_description: 'a value is out of range or malformed' },
    });
  });

  it('maps constraint violations to the field or conflict they mean', () => {
    expect(admin(pgError('23505', 'duplicate key', 'subjects_email_key'))).toEqual({
      status: 409,
      headers: NO_STORE,
      body: { error: 'conflict', error_description: 'another subject has this email' },
    });
    expect(admin(pgError('23503', 'violates foreign key', 'actors_owner_id_fkey'))).toMatchObject({
      status: 400,
      body: { error: 'invalid_request', error_description: 'body.owner: no such subject', issues: [{ in: 'body', path: ['owner'], code: 'unknown_reference' }] },
    });
  });

  it.each([
    [413, 'the request body exceeds 64 KiB'],
    [415, 'unsupported request body encoding'],
    [400, 'the request body is not a JSON object'],
  ])('maps a body-parser refusal %i', (status, description) => {
    expect(admin(Object.assign(new Error('raw-body'), { status }))).toEqual({
      status,
      headers: NO_STORE,
      body: { error: 'invalid_request', error_description: description },
    });
  });

  it('answers anything else 500 server_error with a generic description', () => {
    expect(admin(new Error('relation "x" does not exist'))).toEqual({
      status: 500,
      headers: NO_STORE,
      body: { error: 'server_error', error_description: 'an unexpected error occurred' },
    });
  });

  it('renders an OAuth error raised under an admin route in the admin shape, with its status and headers', () => {
    expect(admin(new RateLimited(2, 'client'))).toEqual({
      status: 429,
      headers: { ...NO_STORE, 'Retry-After': '2' },
      body: { error: 'temporarily_unavailable', error_description: 'too many requests for this client; retry later' },
    });
  });
});

describe('a detail never reaches a response', () => {
  const SURFACES: Array<[string, ErrorSurface<DeputyError>]> = [
    ['oauth', OAUTH_SURFACE as ErrorSurface<DeputyError>],
    ['admin', ADMIN_SURFACE as unknown as ErrorSurface<DeputyError>],
  ];
  // A marker no description contains, around arbitrary text.
  const secret = fc.string({ minLength: 1, maxLength: 40 }).map((text) => `«secret:${text}»`);
  const thrownWith = (detail: string) =>
    fc.constantFrom<() => unknown>(
      () => invalidRequest('subject token is malformed', detail),
      () => temporarilyUnavailable(detail),
      () => new OAuthError('server_error', 'the request could not be completed', detail),
      () => new ApiError(400, 'invalid_request', 'bad', undefined, {}, { detail }),
      () => new ApiError(500, 'server_error', detail, undefined, {}, { detail, expose: false }),
      () => new DeputyError('server_error', 500, detail, { detail, expose: false }),
      () => new Error(detail),
      () => pgError('22P02', detail),
      () => pgError('23505', detail, 'subjects_pkey'),
      () => pgError('XX000', detail),
      () => Object.assign(new Error(detail), { code: 'ECONNREFUSED' }),
      () => Object.assign(new Error(detail), { status: 413 }),
      () => detail,
    );

  it.each(SURFACES)('on the %s surface (property)', (_name, surface) => {
    fc.assert(
      fc.property(
        secret.chain((detail) => fc.tuple(fc.constant(detail), thrownWith(detail))),
        ([detail, make]) => {
          const response = errorResponse(toDeputyError(make(), surface), surface);
          expect(JSON.stringify(response)).not.toContain(detail);
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('rendering onto a response', () => {
  function fakeContext() {
    const headers: Record<string, string> = {};
    const ctx = { status: 404, body: undefined as unknown, set: (name: string, value: string) => void (headers[name] = value) };
    return { ctx, headers };
  }

  it('renderError sets the status, the headers and the body of errorResponse', () => {
    const { ctx, headers } = fakeContext();
    const error = new RateLimited(4, 'actor');
    renderError(ctx as unknown as Context, error, OAUTH_SURFACE);
    const expected = errorResponse(error, OAUTH_SURFACE);
    expect({ status: ctx.status, headers, body: ctx.body }).toEqual(expected);
  });

  it('providerError sets the headers and carries the same status and body for oidc-provider to render', () => {
    const { ctx, headers } = fakeContext();
    const error = toDeputyError(connectionRefused(), OAUTH_SURFACE);
    const raised = providerError(ctx as unknown as Context, error) as Error & Record<string, unknown>;
    const expected = errorResponse(error, OAUTH_SURFACE);
    expect(headers).toEqual(expected.headers);
    expect(raised).toBeInstanceOf(providerErrors.OIDCProviderError);
    expect({ status: raised.status, statusCode: raised.statusCode, expose: raised.expose }).toEqual({ status: 503, statusCode: 503, expose: true });
    expect({ error: raised.error, error_description: raised.error_description }).toEqual(expected.body);
  });

  it('providerError of an unexpected failure carries only the generic description', () => {
    const { ctx } = fakeContext();
    const raised = providerError(ctx as unknown as Context, toDeputyError(new Error('SELECT * FROM secrets'), OAUTH_SURFACE)) as Error & Record<string, unknown>;
    expect({ status: raised.status, error: raised.error, error_description: raised.error_description }).toEqual({
      status: 500,
      error: 'server_error',
      error_description: 'the request could not be completed',
    });
  });
});
