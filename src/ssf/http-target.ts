/**
 * HTTP requests to a URL an API caller chose (a receiver's push endpoint, a transmitter's poll
 * endpoint): the same address rules as a trusted issuer's jwks_uri (src/trust/network-target.ts)
 * under SSF_ALLOW_PRIVATE_NETWORK. A literal address is checked as is; a name is resolved once,
 * every address checked, and the connection made to those (no DNS rebinding). No redirect is
 * followed, the response body is capped, and every request has a deadline.
 */
import { request as httpRequest, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { guardedLookup, systemResolver, type Resolver } from '../trust/guarded-lookup.js';
import { addressAllowed, classifyAddress, isLocalhostName, isLoopback, literalAddress } from '../trust/network-target.js';

export const MAX_RESPONSE_BYTES = 1024 * 1024;

/** The target is not one Deputy may connect to; no connection was attempted. */
export class TargetRefused extends Error {
  override name = 'TargetRefused';
}


/** Why a URL may not be registered as a push endpoint or poll URL, or null (what is knowable without DNS). */
export function targetUrlRefusal(uri: string, allowPrivateNetwork: boolean): string | null {
  const url = URL.parse(uri);
  if (!url) return 'must be a URL';
  if (url.username || url.password) return 'must not carry credentials';
  const literal = literalAddress(url);
  const loopback = isLocalhostName(url.hostname) || (literal !== null && isLoopback(literal));
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback && allowPrivateNetwork)) {
    return 'must be an https URL (plain http only for loopback, with SSF_ALLOW_PRIVATE_NETWORK=true)';
  }
  if (literal !== null && !addressAllowed(literal, allowPrivateNetwork)) {
    return classifyAddress(literal) === 'private'
      ? 'must not point at a private-network or loopback address (set SSF_ALLOW_PRIVATE_NETWORK=true)'
      : 'must not point at a link-local, multicast, unspecified or reserved address';
  }
  if (isLocalhostName(url.hostname) && !allowPrivateNetwork) return 'must not point at localhost (set SSF_ALLOW_PRIVATE_NETWORK=true)';
  return null;
}

export interface TargetResponse {
  status: number;
  contentType: string;
  body: Buffer;
}

export interface TargetRequest {
  method: 'POST' | 'GET';
  headers: Record<string, string>;
  body?: string;
  timeoutMs: number;
}

export interface TargetClientOptions {
  allowPrivateNetwork: boolean;
  resolve?: Resolver;
  maxBytes?: number;
}

export type TargetClient = (url: string, request: TargetRequest) => Promise<TargetResponse>;

export function createTargetClient(options: TargetClientOptions): TargetClient {
  const resolve = options.resolve ?? systemResolver;
  const maxBytes = options.maxBytes ?? MAX_RESPONSE_BYTES;
  const permitted = (address: string, protocol: string) =>
    addressAllowed(address, options.allowPrivateNetwork) && (protocol === 'https:' || isLoopback(address));

  return async function send(target, { method, headers, body, timeoutMs }) {
    const refusal = targetUrlRefusal(target, options.allowPrivateNetwork);
    if (refusal) throw new TargetRefused(`target ${refusal}`);
    const url = new URL(target);
    const literal = literalAddress(url);
    if (literal !== null && !permitted(literal, url.protocol)) throw new TargetRefused('target address refused');

    const lookup = guardedLookup(
      resolve,
      (address) => permitted(address, url.protocol),
      (what) => new TargetRefused(what === 'no address' ? 'target host has no address' : 'target host resolves to a refused address'),
    );
    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const payload = body === undefined ? undefined : Buffer.from(body, 'utf8');
    const requestOptions: RequestOptions = {
      method,
      headers: { ...headers, ...(payload ? { 'content-length': String(payload.length) } : {}) },
      lookup,
      agent: false,
      signal: AbortSignal.timeout(timeoutMs),
    };
    return new Promise<TargetResponse>((resolvePromise, reject) => {
      const req = request(url, requestOptions, (res) => {
        const chunks: Buffer[] = [];
        let size = 0;
        res.on('data', (chunk: Buffer) => {
          size += chunk.length;
          if (size > maxBytes) {
            reject(new Error(`response larger than ${maxBytes} bytes`));
            res.destroy();
            return;
          }
          chunks.push(chunk);
        });
        res.on('end', () => resolvePromise({ status: res.statusCode ?? 0, contentType: res.headers['content-type'] ?? '', body: Buffer.concat(chunks) }));
        res.on('error', reject);
      });
      req.on('error', reject);
      req.end(payload);
    });
  };
}
