/**
 * Deputy's own issuer identifier, recognised however it is spelled. Deputy's tokens must never
 * come back through the external path (a trusted issuer's JWT), where their chain, narrowed
 * scope and kill switches would be forgotten and they would count as a fresh user token.
 */

/**
 * An issuer URL in one spelling: scheme and host lower-cased (the URL parser does it), default
 * port dropped, dot segments resolved, trailing slashes removed. Not a URL: the string itself.
 */
export function normalizeIssuer(issuer: string): string {
  const url = URL.parse(issuer.trim());
  if (url === null) return issuer;
  url.hash = '';
  return `${url.origin === 'null' ? `${url.protocol}//${url.host}` : url.origin}${url.pathname.replace(/\/+$/, '')}${url.search}`;
}

export function isOwnIssuer(issuer: string, ownIssuer: string): boolean {
  return normalizeIssuer(issuer) === normalizeIssuer(ownIssuer);
}
