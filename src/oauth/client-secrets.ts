/**
 * Client secrets are 256-bit random values, shown once and stored as HMAC-SHA-256 under a
 * server-side key (the pepper). For secrets of that entropy a keyed hash is as strong as a slow
 * password hash, and keeps the token endpoint fast.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

export function generateClientSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function hashClientSecret(secret: string, pepper: string): string {
  return createHmac('sha256', pepper).update(secret).digest('base64url');
}

export function clientSecretMatches(presented: string, storedHash: string, pepper: string): boolean {
  const actual = Buffer.from(hashClientSecret(presented, pepper));
  const expected = Buffer.from(storedHash);
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}
