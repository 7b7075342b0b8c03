import { errors as providerErrors } from 'oidc-provider';
import type { OAuthError } from '../errors.js';

/** oidc-provider renders its own error class on its routes; Deputy's OAuthError maps onto it one to one. */
export function toProviderError(error: OAuthError): Error {
  const rendered = new providerErrors.CustomOIDCProviderError(error.code, error.description);
  // oidc-provider hides errors of status >= 500 as server_error unless they are marked exposed.
  Object.assign(rendered, { status: error.status, statusCode: error.status, expose: true });
  return rendered;
}
