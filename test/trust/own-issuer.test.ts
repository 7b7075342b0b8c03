/** Deputy's own issuer recognised however it is spelled (src/trust/own-issuer.ts). */
import { describe, expect, it } from '@jest/globals';
import { isOwnIssuer, normalizeIssuer } from '../../src/trust/own-issuer.js';

const OWN = 'https://deputy.example.com';

describe('isOwnIssuer', () => {
  it.each([
    ['exactly', OWN],
    ['with a trailing slash', `${OWN}/`],
    ['with several trailing slashes', `${OWN}///`],
    ['with the scheme and host in capitals', 'HTTPS://DEPUTY.EXAMPLE.COM'],
    ['with the default port', 'https://deputy.example.com:443'],
    ['with dot segments', `${OWN}/a/..`],
    ['with a fragment', `${OWN}#x`],
    ['with surrounding spaces', `  ${OWN} `],
  ])('recognises it %s', (_how, spelling) => {
    expect(isOwnIssuer(spelling, OWN)).toBe(true);
  });

  it.each([
    ['another host', 'https://other.example.com'],
    ['another scheme', 'http://deputy.example.com'],
    ['another port', 'https://deputy.example.com:8443'],
    ['a sub-path', `${OWN}/tenant`],
    ['a query', `${OWN}?x=1`],
  ])('does not confuse it with %s', (_what, issuer) => {
    expect(isOwnIssuer(issuer, OWN)).toBe(false);
  });

  it('keeps a path issuer’s path, case included', () => {
    expect(normalizeIssuer('https://IdP.example.com/Realms/Main/')).toBe('https://idp.example.com/Realms/Main');
  });

  it('compares a value that is not a URL as it is', () => {
    expect(normalizeIssuer('not a url')).toBe('not a url');
    expect(isOwnIssuer('deputy', 'deputy')).toBe(true);
  });
});
