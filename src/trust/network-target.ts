/**
 * Which network addresses Deputy may fetch a trusted issuer's JWKS from. A jwks_uri is chosen
 * by an admin but fetched by Deputy from inside its network, so by default it must reach the
 * public internet: never loopback, private (RFC 1918, fc00::/7), shared (CGNAT), link-local
 * (cloud metadata lives at 169.254.169.254), multicast, documentation, benchmarking or other
 * special-purpose ranges (IANA special-purpose address registries).
 *
 * JWKS_ALLOW_PRIVATE_NETWORK=true opts in to IdPs on private networks and loopback; link-local,
 * unspecified, multicast and reserved addresses stay refused even then: no IdP lives there.
 */
import { BlockList, isIP } from 'node:net';

export type AddressClass = 'public' | 'private' | 'forbidden';

interface Ranges {
  check(address: string, family: 'ipv4' | 'ipv6'): boolean;
}

/**
 * One BlockList per family: node's BlockList matches an IPv4 address against IPv6 rules through
 * its mapped form (::ffff:a.b.c.d), so a single list holding ::ffff:0:0/96 would match every
 * IPv4 address.
 */
function blockList(ranges: Array<[string, number]>): Ranges {
  const lists = { ipv4: new BlockList(), ipv6: new BlockList() };
  for (const [network, prefix] of ranges) {
    const family = network.includes(':') ? 'ipv6' : 'ipv4';
    lists[family].addSubnet(network, prefix, family);
  }
  return { check: (address, family) => lists[family].check(address, family) };
}

/** Ranges a private IdP may use, with the opt-in. */
const PRIVATE = blockList([
  ['10.0.0.0', 8],
  ['100.64.0.0', 10], // shared address space (CGNAT)
  ['127.0.0.0', 8],
  ['172.16.0.0', 12],
  ['192.168.0.0', 16],
  ['::1', 128],
  ['fc00::', 7], // unique local
]);

/** Ranges never fetched from. */
const FORBIDDEN = blockList([
  ['0.0.0.0', 8],
  ['169.254.0.0', 16], // link-local, cloud metadata
  ['192.0.0.0', 24],
  ['192.0.2.0', 24],
  ['192.88.99.0', 24],
  ['198.18.0.0', 15],
  ['198.51.100.0', 24],
  ['203.0.113.0', 24],
  ['224.0.0.0', 4], // multicast
  ['240.0.0.0', 4], // reserved, broadcast
  ['::', 128],
  ['::ffff:0:0', 96], // IPv4-mapped: an IPv4 address in IPv6 clothing
  ['64:ff9b::', 96], // NAT64, embeds an IPv4 address
  ['64:ff9b:1::', 48],
  ['100::', 64], // discard
  ['2001::', 23], // IETF protocol assignments (Teredo among them)
  ['2001:db8::', 32], // documentation
  ['2002::', 16], // 6to4, embeds an IPv4 address
  ['fe80::', 10], // link-local
  ['fec0::', 10], // site-local (deprecated)
  ['ff00::', 8], // multicast
  ['3fff::', 20], // documentation (RFC 9637)
]);

/**
 * IPv6 unicast the internet routes: 2000::/3 (IANA). Everything else outside the ranges above is
 * reserved by the IETF (::/96 IPv4-compatible addresses such as ::127.0.0.1 among them), and some
 * hosts still route those to the IPv4 address they embed.
 */
const GLOBAL_UNICAST_V6 = blockList([['2000::', 3]]);

/** Classifies an IP address literal (IPv6 without brackets). Not an IP at all: forbidden. */
export function classifyAddress(address: string): AddressClass {
  const version = isIP(address);
  if (version === 0) return 'forbidden';
  const family = version === 4 ? 'ipv4' : 'ipv6';
  if (FORBIDDEN.check(address, family)) return 'forbidden';
  if (PRIVATE.check(address, family)) return 'private';
  if (family === 'ipv6' && !GLOBAL_UNICAST_V6.check(address, family)) return 'forbidden';
  return 'public';
}

export function addressAllowed(address: string, allowPrivateNetwork: boolean): boolean {
  const kind = classifyAddress(address);
  return kind === 'public' || (kind === 'private' && allowPrivateNetwork);
}

/** A URL's host as an IP literal (brackets removed), or null when it is a name. */
export function literalAddress(url: URL): string | null {
  const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
  return isIP(host) ? host : null;
}

/** RFC 6761: `localhost` and names under it always mean loopback. */
export function isLocalhostName(hostname: string): boolean {
  const name = hostname.toLowerCase().replace(/\.$/, '');
  return name === 'localhost' || name.endsWith('.localhost');
}

/**
 * Why a jwks_uri may not be registered, or null. Checks what can be known without DNS (a
 * literal address, a localhost name, the scheme); the fetch checks every resolved address.
 */
export function jwksUriRefusal(uri: string, allowPrivateNetwork: boolean): string | null {
  const url = URL.parse(uri);
  if (!url) return 'must be a URL';
  const literal = literalAddress(url);
  const loopback = isLocalhostName(url.hostname) || (literal !== null && isLoopback(literal));
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback && allowPrivateNetwork)) {
    return 'must be an https URL (plain http only for loopback, with JWKS_ALLOW_PRIVATE_NETWORK=true)';
  }
  if (literal !== null && !addressAllowed(literal, allowPrivateNetwork)) {
    return classifyAddress(literal) === 'private'
      ? 'must not point at a private-network or loopback address (set JWKS_ALLOW_PRIVATE_NETWORK=true for a private IdP)'
      : 'must not point at a link-local, multicast, unspecified or reserved address';
  }
  if (isLocalhostName(url.hostname) && !allowPrivateNetwork) {
    return 'must not point at localhost (set JWKS_ALLOW_PRIVATE_NETWORK=true for a private IdP)';
  }
  return null;
}

const LOOPBACK = blockList([
  ['127.0.0.0', 8],
  ['::1', 128],
]);

export function isLoopback(address: string): boolean {
  const version = isIP(address);
  return version !== 0 && LOOPBACK.check(address, version === 4 ? 'ipv4' : 'ipv6');
}
