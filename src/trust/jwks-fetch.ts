/**
 * The HTTP GET jose uses to fetch a trusted issuer's JWKS (its `customFetch` hook). Unlike the
 * global fetch it
 * - refuses any target outside the allowed address ranges (src/trust/network-target.ts)
 *   before connecting: a literal address is checked as is, a name is resolved once and every
 *   address it resolves to is checked, and the connection is made to those checked addresses
 *   (node's `lookup` hook), so a DNS answer that changes between check and connect (rebinding)
 *   cannot reach anything else;
 * - never follows a redirect (the 3xx status reaches jose, which refuses it);
 * - reads at most MAX_JWKS_BYTES of body.
 */
import { request as httpRequest, type IncomingMessage, type RequestOptions } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { guardedLookup, systemResolver, type Resolver } from './guarded-lookup.js';
import { addressAllowed, isLocalhostName, isLoopback, literalAddress } from './network-target.js';

/** Far above any real JWKS (a 4096-bit RSA key is under 1 KiB of JSON). */
export const MAX_JWKS_BYTES = 256 * 1024;

/** The JWKS target is not one Deputy may connect to; no connection was attempted. */
export class JwksTargetRefused extends Error {
  override name = 'JwksTargetRefused';
}


export interface JwksFetchOptions {
  allowPrivateNetwork: boolean;
  /** Name resolution (tests inject one); the system resolver by default. */
  resolve?: Resolver;
  maxBytes?: number;
}

interface FetchInit {
  signal?: AbortSignal | null;
  headers?: Headers | Record<string, string>;
}

export type JwksFetch = (url: string, init: FetchInit) => Promise<Response>;

export function createJwksFetch(options: JwksFetchOptions): JwksFetch {
  const resolve = options.resolve ?? systemResolver;
  const maxBytes = options.maxBytes ?? MAX_JWKS_BYTES;

  /** Plain http only to loopback, and only with the private-network opt-in. */
  const permitted = (address: string, protocol: string) =>
    addressAllowed(address, options.allowPrivateNetwork) && (protocol === 'https:' || isLoopback(address));

  return async function jwksFetch(input, init) {
    const url = new URL(input);
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && options.allowPrivateNetwork)) {
      throw new JwksTargetRefused(`jwks_uri scheme ${url.protocol} refused`);
    }
    const literal = literalAddress(url);
    if (literal !== null && !permitted(literal, url.protocol)) throw new JwksTargetRefused('jwks_uri address refused');
    if (literal === null && isLocalhostName(url.hostname) && !options.allowPrivateNetwork) {
      throw new JwksTargetRefused('jwks_uri host refused');
    }

    const lookup = guardedLookup(
      resolve,
      (address) => permitted(address, url.protocol),
      (what) => new JwksTargetRefused(what === 'no address' ? 'jwks_uri host has no address' : 'jwks_uri host resolves to a refused address'),
    );

    const request = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const requestOptions: RequestOptions = {
      method: 'GET',
      headers: Object.fromEntries(new Headers(init.headers)),
      lookup,
      agent: false, // a fresh connection to a freshly checked address, every time
      ...(init.signal ? { signal: init.signal } : {}),
    };
    return new Promise<Response>((resolvePromise, reject) => {
      const req = request(url, requestOptions, (res) => {
        readBody(res, maxBytes).then((body) => {
          const status = res.statusCode ?? 0;
          if (status < 200 || status > 599) return reject(new Error(`unexpected status ${status}`));
          resolvePromise(new Response(status === 200 ? body : null, { status, headers: { 'content-type': res.headers['content-type'] ?? 'application/json' } }));
        }, (error: Error) => {
          req.destroy();
          reject(error);
        });
      });
      req.on('error', reject);
      req.end();
    });
  };
}

/** The body of a 200 (at most maxBytes); any other status's body is discarded. */
function readBody(res: IncomingMessage, maxBytes: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    if (res.statusCode !== 200) {
      res.resume();
      res.on('end', () => resolve(Buffer.alloc(0)));
      res.on('error', reject);
      return;
    }
    const declared = Number(res.headers['content-length']);
    if (Number.isFinite(declared) && declared > maxBytes) return reject(new Error(`JWKS larger than ${maxBytes} bytes`));
    const chunks: Buffer[] = [];
    let size = 0;
    res.on('data', (chunk: Buffer) => {
      size += chunk.length;
      if (size > maxBytes) {
        reject(new Error(`JWKS larger than ${maxBytes} bytes`)); // before destroy(), which reports an abort
        res.destroy();
        return;
      }
      chunks.push(chunk);
    });
    res.on('end', () => resolve(Buffer.concat(chunks)));
    res.on('error', reject);
    res.on('aborted', () => reject(new Error('JWKS response aborted')));
  });
}
