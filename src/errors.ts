/**
 * The one error type of Deputy's OAuth surface (RFC 6749 §5.2, RFC 8693 §2.2.2).
 *
 * `description` is safe to send to the client; `detail` is for the log only and never leaves
 * the process. Anything thrown that is not an OAuthError is answered with a generic error.
 */
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

export class OAuthError extends Error {
  readonly code: OAuthErrorCode;
  readonly description: string;
  readonly status: number;
  readonly detail: string | undefined;

  constructor(code: OAuthErrorCode, description: string, detail?: string, status: number = STATUS[code]) {
    super(`${code}: ${description}`);
    this.name = 'OAuthError';
    this.code = code;
    this.description = description;
    this.status = status;
    this.detail = detail;
  }
}

export const invalidRequest = (description: string, detail?: string) =>
  new OAuthError('invalid_request', description, detail);

/** A dependency we must not mint without (database, an issuer's JWKS) could not be reached. */
export const temporarilyUnavailable = (detail?: string) =>
  new OAuthError('temporarily_unavailable', 'the service is temporarily unavailable; retry later', detail);

/** The RFC 6749 §5.2 body for an error. */
export function errorBody(error: OAuthError): { error: OAuthErrorCode; error_description: string } {
  return { error: error.code, error_description: error.description };
}
