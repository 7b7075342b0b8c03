/**
 * Parses the token-exchange parameters once, at the edge, into an immutable request.
 * oidc-provider has already rejected duplicated parameters and authenticated the client.
 */
import { OAuthError, invalidRequest } from '../errors.js';

export const TOKEN_EXCHANGE_GRANT = 'urn:ietf:params:oauth:grant-type:token-exchange';
export const TOKEN_TYPE = {
  accessToken: 'urn:ietf:params:oauth:token-type:access_token',
  jwt: 'urn:ietf:params:oauth:token-type:jwt',
  idToken: 'urn:ietf:params:oauth:token-type:id_token',
} as const;

/** The parameters of the grant (besides grant_type and client authentication). */
export const EXCHANGE_PARAMETERS = [
  'subject_token',
  'subject_token_type',
  'actor_token',
  'actor_token_type',
  'resource',
  'audience',
  'scope',
  'requested_token_type',
] as const;

export type SubjectTokenKind = 'deputy' | 'external';

export interface ExchangeRequest {
  readonly subjectToken: string;
  readonly subjectTokenKind: SubjectTokenKind;
  readonly actorToken: string | null;
  readonly resource: string;
  /** null when the `scope` parameter is absent (the grant's scopes are then requested). */
  readonly scopes: readonly string[] | null;
}

const SCOPE_TOKEN = /^[\x21\x23-\x5B\x5D-\x7E]+$/; // RFC 6749 §3.3
const MAX_SCOPES = 64;
const MAX_TARGET_LENGTH = 2048;

type Params = Record<string, unknown>;

function optionalString(params: Params, name: string): string | null {
  const value = params[name];
  if (value === undefined || value === null || value === '') return null;
  if (typeof value !== 'string') throw invalidRequest(`${name} must be a single value`);
  return value;
}

function requiredString(params: Params, name: string): string {
  const value = optionalString(params, name);
  if (value === null) throw invalidRequest(`${name} is required`);
  return value;
}

function parseSubjectTokenKind(type: string): SubjectTokenKind {
  if (type === TOKEN_TYPE.accessToken) return 'deputy';
  if (type === TOKEN_TYPE.jwt || type === TOKEN_TYPE.idToken) return 'external';
  throw invalidRequest('unsupported subject_token_type');
}

function parseTarget(params: Params): string {
  const resource = optionalString(params, 'resource');
  const audience = optionalString(params, 'audience');
  if (resource !== null && audience !== null && resource !== audience) {
    throw new OAuthError('invalid_target', 'resource and audience name different targets');
  }
  const target = resource ?? audience;
  if (target === null) throw new OAuthError('invalid_target', 'a resource or audience is required');
  if (target.length > MAX_TARGET_LENGTH || /[\u0000-\u001F\u007F]/.test(target)) {
    throw new OAuthError('invalid_target', 'the requested resource is not acceptable');
  }
  if (resource !== null) {
    // RFC 8707 §2: an absolute URI without a fragment.
    const url = URL.parse(resource);
    if (!url || resource.includes('#')) throw new OAuthError('invalid_target', 'resource must be an absolute URI without a fragment');
  }
  return target;
}

function parseScopes(params: Params): string[] | null {
  const raw = optionalString(params, 'scope');
  if (raw === null) return null;
  const scopes = [...new Set(raw.split(' ').filter((scope) => scope.length > 0))];
  if (scopes.length === 0) return null;
  if (scopes.length > MAX_SCOPES || scopes.some((scope) => !SCOPE_TOKEN.test(scope) || scope.length > 256)) {
    throw new OAuthError('invalid_scope', 'scope is malformed');
  }
  return scopes;
}

export function parseExchangeRequest(params: Params): ExchangeRequest {
  const subjectToken = requiredString(params, 'subject_token');
  const subjectTokenKind = parseSubjectTokenKind(requiredString(params, 'subject_token_type'));

  const actorToken = optionalString(params, 'actor_token');
  const actorTokenType = optionalString(params, 'actor_token_type');
  if (actorToken !== null && actorTokenType === null) throw invalidRequest('actor_token_type is required with actor_token');
  if (actorToken === null && actorTokenType !== null) throw invalidRequest('actor_token_type was sent without actor_token');
  if (actorTokenType !== null && actorTokenType !== TOKEN_TYPE.jwt) throw invalidRequest('unsupported actor_token_type');

  const requestedTokenType = optionalString(params, 'requested_token_type');
  if (requestedTokenType !== null && requestedTokenType !== TOKEN_TYPE.accessToken && requestedTokenType !== TOKEN_TYPE.jwt) {
    throw invalidRequest('unsupported requested_token_type');
  }

  return Object.freeze({
    subjectToken,
    subjectTokenKind,
    actorToken,
    resource: parseTarget(params),
    scopes: parseScopes(params),
  });
}
