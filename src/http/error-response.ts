/**
 * The one translation of anything thrown into a {@link DeputyError}, and the one rendering of a
 * DeputyError as a response, for both JSON surfaces:
 *
 * - OAuth (token, introspection, revocation): RFC 6749 §5.2 `{ error, error_description }`;
 * - admin API: `{ error, error_description[, issues] }` (src/admin/errors.ts).
 *
 * Every response gets `Cache-Control: no-store` and the error's own headers. `detail` is never
 * rendered; a non-exposed error shows only its surface's generic description.
 */
import type { Context } from 'koa';
import { errors as providerErrors } from 'oidc-provider';
import { isDatabaseUnavailable } from '../db/pool.js';
import { isRejectedValue } from '../db/rejected-value.js';
import { unwrapPrismaError } from '../db/prisma-errors.js';
import { DeputyError, OAuthError, RETRY_AFTER_UNAVAILABLE, UNAVAILABLE_DESCRIPTION, type DeputyErrorOptions, type OAuthErrorCode } from '../errors.js';

export interface ErrorSurface<E extends DeputyError = DeputyError> {
  /** What an unexpected failure (500), or an error that is not exposed, says to the client. */
  serverErrorDescription: string;
  /** What a value PostgreSQL refused says to the client (src/db/rejected-value.ts). */
  rejectedValueDescription: string;
  /** Whether an error already belongs to this surface's family. */
  owns(error: DeputyError): error is E;
  create(code: string, status: number, description: string, options?: DeputyErrorOptions): E;
  /** Failures only this surface knows (admin: constraint violations, body-parser refusals). */
  translate?(thrown: object): E | null;
  /** Members of the body beyond `error` and `error_description` (admin: `issues`). */
  extraBody?(error: E): Record<string, unknown>;
}

export const OAUTH_SURFACE: ErrorSurface<OAuthError> = {
  serverErrorDescription: 'the request could not be completed',
  rejectedValueDescription: 'the request contains a value that is not accepted',
  owns: (error): error is OAuthError => error instanceof OAuthError,
  create: (code, status, description, { detail, ...options } = {}) => new OAuthError(code as OAuthErrorCode, description, detail, status, options),
};

const messageOf = (thrown: unknown) => (thrown instanceof Error ? thrown.message : String(thrown));

/** Anything thrown, as an error of `surface`'s family: the one place each failure gets its status and code. */
export function toDeputyError<E extends DeputyError>(thrown: unknown, surface: ErrorSurface<E>): E {
  if (thrown instanceof DeputyError) {
    if (surface.owns(thrown)) return thrown;
    return surface.create(thrown.code, thrown.status, thrown.description, { detail: thrown.detail, expose: thrown.expose, headers: thrown.headers });
  }
  if (isDatabaseUnavailable(thrown)) {
    return surface.create('temporarily_unavailable', 503, UNAVAILABLE_DESCRIPTION, { detail: 'database unavailable', headers: RETRY_AFTER_UNAVAILABLE });
  }
  if (thrown instanceof providerErrors.OIDCProviderError && thrown.expose) {
    // e.g. invalid_dpop_proof, use_dpop_nonce from oidc-provider's DPoP validation
    const exposed = thrown as unknown as { error: string; error_description?: string; status: number };
    return surface.create(exposed.error, exposed.status, exposed.error_description ?? 'the request is invalid');
  }
  // A Prisma error is judged by the database error under it, as a pg error is.
  const cause = unwrapPrismaError(thrown) ?? thrown;
  if (cause && typeof cause === 'object') {
    const translated = surface.translate?.(cause);
    if (translated) return translated;
  }
  if (isRejectedValue(cause)) return surface.create('invalid_request', 400, surface.rejectedValueDescription, { detail: messageOf(thrown) });
  return surface.create('server_error', 500, surface.serverErrorDescription, { detail: messageOf(thrown), expose: false });
}

export interface ErrorResponse {
  status: number;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

/** The response for an error on `surface`. Pure: the one place a response body is built from an error. */
export function errorResponse<E extends DeputyError>(error: E, surface: ErrorSurface<E>): ErrorResponse {
  const body = error.expose
    ? { error: error.code, error_description: error.description, ...surface.extraBody?.(error) }
    : { error: 'server_error', error_description: surface.serverErrorDescription };
  return { status: error.status, headers: { 'Cache-Control': 'no-store', ...error.headers }, body };
}

export function renderError<E extends DeputyError>(ctx: Context, error: E, surface: ErrorSurface<E>): void {
  const response = errorResponse(error, surface);
  ctx.status = response.status;
  for (const [name, value] of Object.entries(response.headers)) ctx.set(name, value);
  ctx.body = response.body;
}

/**
 * On oidc-provider's routes an error must be thrown for oidc-provider's error handler to stop
 * the request: this sets the error's headers and returns oidc-provider's error class carrying
 * the same status and body as {@link errorResponse} (oidc-provider renders an exposed error as
 * `{ error, error_description }`).
 */
export function providerError(ctx: Context, error: OAuthError): Error {
  const { status, headers, body } = errorResponse(error, OAUTH_SURFACE);
  for (const [name, value] of Object.entries(headers)) ctx.set(name, value);
  const rendered = new providerErrors.CustomOIDCProviderError(body.error as string, body.error_description as string);
  // oidc-provider hides errors of status >= 500 as server_error unless they are marked exposed.
  Object.assign(rendered, { status, statusCode: status, expose: true });
  return rendered;
}
