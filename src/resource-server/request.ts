/**
 * The framework-neutral request the library checks: a method, the URL the client called (for
 * DPoP's `htu`) and the headers. Adapters build it from Koa, Express, Fastify or node:http.
 */
import { AccessError } from './errors.js';

export type HeaderValue = string | readonly string[] | undefined;

export interface RequestLike {
  method: string;
  /** The absolute URL the client called (scheme, host, path; the query is ignored for DPoP). */
  url: string;
  /** Header names in any case (node:http lower-cases them), or a WHATWG Headers. */
  headers: Headers | Record<string, HeaderValue>;
}

/** Every value of a header (a repeated header gives several). */
export function headerValues(headers: RequestLike['headers'], name: string): string[] {
  if (typeof (headers as Headers).get === 'function' && typeof (headers as Headers).forEach === 'function') {
    const value = (headers as Headers).get(name);
    return value === null ? [] : [value];
  }
  const wanted = name.toLowerCase();
  const values: string[] = [];
  for (const [key, value] of Object.entries(headers as Record<string, HeaderValue>)) {
    if (key.toLowerCase() !== wanted || value === undefined) continue;
    if (typeof value === 'string') values.push(value);
    else values.push(...value);
  }
  return values;
}

export interface Credentials {
  scheme: 'Bearer' | 'DPoP';
  token: string;
  /** The DPoP header, when present. */
  proof: string | null;
}

// RFC 6750 §2.1 b64token
const TOKEN = /^[A-Za-z0-9\-._~+/]+=*$/;

/**
 * The access token and DPoP proof of a request (RFC 6750 §2.1, RFC 9449 §7.1). Only the
 * Authorization header is read: tokens in a query or form body are refused by omission.
 */
export function credentialsOf(request: RequestLike): Credentials {
  const authorizations = headerValues(request.headers, 'authorization');
  const proofs = headerValues(request.headers, 'dpop');
  if (authorizations.length === 0) throw new AccessError(null, 'an access token is required');
  if (authorizations.length > 1) throw new AccessError('invalid_request', 'more than one Authorization header');
  const match = /^(\S+) +(\S+)$/.exec(authorizations[0]!.trim());
  const scheme = match?.[1]?.toLowerCase();
  if (!match || (scheme !== 'bearer' && scheme !== 'dpop')) {
    throw new AccessError(null, 'the Authorization header must use the Bearer or DPoP scheme');
  }
  const resolved = scheme === 'dpop' ? 'DPoP' : 'Bearer';
  if (!TOKEN.test(match[2]!)) throw new AccessError('invalid_request', 'the access token is malformed', { scheme: resolved });
  if (proofs.length > 1 || (proofs[0] ?? '').includes(',')) {
    throw new AccessError('invalid_dpop_proof', 'more than one DPoP proof', { scheme: 'DPoP' });
  }
  return { scheme: resolved, token: match[2]!, proof: proofs[0] ?? null };
}
