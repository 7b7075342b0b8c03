/**
 * The DNS step of every outbound request to a URL an admin registered (a trusted issuer's
 * `jwks_uri`, a Shared Signals push endpoint or poll URL): resolve once, refuse unless every
 * address is allowed (network-target.ts), and hand node:http exactly the addresses checked, so
 * the connection goes where the check looked (no second lookup an attacker's DNS could answer
 * differently).
 */
import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import type { LookupFunction } from 'node:net';

export type Resolver = (hostname: string) => Promise<LookupAddress[]>;

export const systemResolver: Resolver = (hostname) =>
  new Promise((resolve, reject) => {
    dnsLookup(hostname, { all: true, verbatim: true }, (error, addresses) => (error ? reject(error) : resolve(addresses)));
  });

/** A `lookup` for node:http that connects only to addresses `permitted` accepts; `refused` builds the error. */
export function guardedLookup(resolve: Resolver, permitted: (address: string) => boolean, refused: (what: 'no address' | 'refused address') => Error): LookupFunction {
  return (hostname, lookupOptions, callback) => {
    resolve(hostname).then(
      (addresses) => {
        if (addresses.length === 0) return callback(refused('no address'), '', 0);
        if (!addresses.every((entry) => permitted(entry.address))) return callback(refused('refused address'), '', 0);
        if (lookupOptions.all) return (callback as unknown as (e: null, a: LookupAddress[]) => void)(null, addresses);
        return callback(null, addresses[0]!.address, addresses[0]!.family);
      },
      (error: NodeJS.ErrnoException) => callback(error, '', 0),
    );
  };
}
