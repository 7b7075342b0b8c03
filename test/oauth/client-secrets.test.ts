/** Client secrets: generated at 256 bits, stored as HMAC-SHA-256 under the pepper (src/oauth/client-secrets.ts). */
import { describe, expect, it } from '@jest/globals';
import fc from 'fast-check';
import { clientSecretMatches, generateClientSecret, hashClientSecret } from '../../src/oauth/client-secrets.js';

const PEPPER = 'p'.repeat(43);

describe('client secrets', () => {
  it('are 32 random bytes, base64url, never repeated', () => {
    const secrets = Array.from({ length: 50 }, generateClientSecret);
    for (const secret of secrets) expect(Buffer.from(secret, 'base64url')).toHaveLength(32);
    expect(new Set(secrets).size).toBe(50);
  });

  it('are stored as their keyed hash, not as themselves', () => {
    const secret = generateClientSecret();
    const hash = hashClientSecret(secret, PEPPER);
    expect(hash).not.toContain(secret);
    expect(hash).toBe(hashClientSecret(secret, PEPPER));
    expect(hash).not.toBe(hashClientSecret(secret, 'q'.repeat(43)));
  });

  it('match only the secret that was hashed, under the same pepper', () => {
    const secret = generateClientSecret();
    const hash = hashClientSecret(secret, PEPPER);
    expect(clientSecretMatches(secret, hash, PEPPER)).toBe(true);
    expect(clientSecretMatches(`${secret}x`, hash, PEPPER)).toBe(false);
    expect(clientSecretMatches(secret, hash, 'q'.repeat(43))).toBe(false);
    expect(clientSecretMatches(secret, hash.slice(1), PEPPER)).toBe(false);
    expect(clientSecretMatches(secret, '', PEPPER)).toBe(false);
  });

  it('never match another presented value (property)', () => {
    const secret = generateClientSecret();
    const hash = hashClientSecret(secret, PEPPER);
    fc.assert(fc.property(fc.string(), (presented) => presented === secret || !clientSecretMatches(presented, hash, PEPPER)));
  });
});
