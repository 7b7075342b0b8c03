/**
 * Refusals of a protected-resource request, in the vocabulary of RFC 6750 §3.1 (Bearer) and
 * RFC 9449 §7.1 (DPoP), with the WWW-Authenticate challenge that goes with each.
 */

export type ErrorCode =
  | 'invalid_request'
  | 'invalid_token'
  | 'insufficient_scope'
  | 'invalid_dpop_proof'
  /** The token's status could not be learnt (introspection down): fail closed, but not as the client's fault. */
  | 'temporarily_unavailable';

export type Scheme = 'Bearer' | 'DPoP';

const STATUS: Record<ErrorCode, number> = {
  invalid_request: 400,
  invalid_token: 401,
  insufficient_scope: 403,
  invalid_dpop_proof: 401,
  temporarily_unavailable: 503,
};

export interface AccessErrorOptions {
  /** The scheme the challenge names; DPoP for a DPoP-bound token or a DPoP request. */
  scheme?: Scheme;
  /** insufficient_scope: the scopes the operation needs (RFC 6750 §3 `scope`). */
  scope?: readonly string[];
}

/**
 * A refused request. `code` is null when the request carried no credentials at all (RFC 6750
 * §3.1: then the challenge names no error). `description` is safe to send: it never contains
 * the token or a key.
 */
export class AccessError extends Error {
  readonly status: number;
  readonly scheme: Scheme;
  readonly scope: readonly string[] | undefined;

  constructor(readonly code: ErrorCode | null, readonly description: string, options: AccessErrorOptions = {}) {
    super(code ? `${code}: ${description}` : description);
    this.name = 'AccessError';
    this.status = code ? STATUS[code] : 401;
    this.scheme = options.scheme ?? 'Bearer';
    this.scope = options.scope;
  }
}

export interface ChallengeOptions {
  realm?: string;
  /** DPoP algorithms the API accepts, advertised in DPoP challenges (RFC 9449 §7.1 `algs`). */
  dpopAlgorithms?: readonly string[];
}

const quoted = (value: string) => `"${value.replace(/[\\"]/g, '\\$&').replace(/[^\x20-\x7e]/g, '')}"`;

function challenge(scheme: Scheme, error: AccessError | null, options: ChallengeOptions): string {
  const params: string[] = [];
  if (options.realm) params.push(`realm=${quoted(options.realm)}`);
  if (error?.code && error.code !== 'temporarily_unavailable') {
    params.push(`error=${quoted(error.code)}`);
    params.push(`error_description=${quoted(error.description)}`);
  }
  if (error?.scope?.length) params.push(`scope=${quoted(error.scope.join(' '))}`);
  if (scheme === 'DPoP' && options.dpopAlgorithms?.length) params.push(`algs=${quoted(options.dpopAlgorithms.join(' '))}`);
  return params.length ? `${scheme} ${params.join(', ')}` : scheme;
}

/**
 * The WWW-Authenticate value for a refusal. A request without credentials is offered both
 * schemes (when DPoP algorithms are given); otherwise the challenge names the refusal's scheme.
 */
export function wwwAuthenticate(error: AccessError, options: ChallengeOptions = {}): string {
  if (error.code === null && options.dpopAlgorithms?.length) {
    return `${challenge('Bearer', null, options)}, ${challenge('DPoP', null, options)}`;
  }
  return challenge(error.scheme, error, options);
}

/** The JSON body sent with a refusal (status, headers and body: everything an adapter writes). */
export interface Refusal {
  status: number;
  headers: Record<string, string>;
  body: { error: string; error_description: string } | { error_description: string };
}

export function refusal(error: AccessError, options: ChallengeOptions = {}): Refusal {
  const headers: Record<string, string> = { 'www-authenticate': wwwAuthenticate(error, options), 'cache-control': 'no-store' };
  if (error.status === 503) headers['retry-after'] = '1';
  return {
    status: error.status,
    headers,
    body: error.code ? { error: error.code, error_description: error.description } : { error_description: error.description },
  };
}
