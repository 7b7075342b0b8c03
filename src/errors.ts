/**
 * Deputy's errors. Every error a request can end in is a {@link DeputyError}: its `code` and
 * `status` choose the response, `description` is what the client reads (when `expose` is true),
 * and `detail` is for the log only — no renderer ever puts it in a response. Each surface renders
 * its errors in one place (src/http/error-response.ts), in its own shape.
 */
export interface DeputyErrorOptions {
  /** For the log only; never rendered. */
  detail?: string | undefined;
  /** False: the client reads the surface's generic description for the status, not `description`. */
  expose?: boolean;
  /** Response headers that belong to the error (e.g. Retry-After, WWW-Authenticate). */
  headers?: Readonly<Record<string, string>>;
}

export class DeputyError extends Error {
  readonly code: string;
  readonly status: number;
  readonly description: string;
  readonly expose: boolean;
  readonly detail: string | undefined;
  readonly headers: Readonly<Record<string, string>>;

  constructor(code: string, status: number, description: string, options: DeputyErrorOptions = {}) {
    super(`${code}: ${description}`);
    this.name = 'DeputyError';
    this.code = code;
    this.status = status;
    this.description = description;
    this.expose = options.expose ?? true;
    this.detail = options.detail;
    this.headers = options.headers ?? {};
  }
}

/** The one error vocabulary of Deputy's OAuth surface (RFC 6749 §5.2, RFC 8693 §2.2.2). */
export type OAuthErrorCode =
  | 'invalid_request'
  | 'invalid_client'
  | 'invalid_grant'
  | 'invalid_scope'
  | 'invalid_target'
  | 'unauthorized_client'
  | 'unsupported_grant_type'
  | 'unsupported_token_type'
  | 'invalid_dpop_proof'
  | 'use_dpop_nonce'
  | 'temporarily_unavailable'
  | 'server_error';

const STATUS: Record<OAuthErrorCode, number> = {
  invalid_request: 400,
  invalid_client: 401,
  invalid_grant: 400,
  invalid_scope: 400,
  invalid_target: 400,
  unauthorized_client: 400,
  unsupported_grant_type: 400,
  unsupported_token_type: 400,
  invalid_dpop_proof: 400,
  use_dpop_nonce: 400,
  temporarily_unavailable: 503,
  server_error: 500,
};

export class OAuthError extends DeputyError {
  declare readonly code: OAuthErrorCode;

  constructor(code: OAuthErrorCode, description: string, detail?: string, status: number = STATUS[code], options: Omit<DeputyErrorOptions, 'detail'> = {}) {
    super(code, status, description, { ...options, detail });
    this.name = 'OAuthError';
  }
}

export const invalidRequest = (description: string, detail?: string) =>
  new OAuthError('invalid_request', description, detail);

/** Every 503 says when to try again. */
export const RETRY_AFTER_UNAVAILABLE = { 'Retry-After': '1' } as const;
export const UNAVAILABLE_DESCRIPTION = 'the service is temporarily unavailable; retry later';

/** A dependency we must not mint without (database, an issuer's JWKS) could not be reached. */
export const temporarilyUnavailable = (detail?: string) =>
  new OAuthError('temporarily_unavailable', UNAVAILABLE_DESCRIPTION, detail, 503, { headers: RETRY_AFTER_UNAVAILABLE });
