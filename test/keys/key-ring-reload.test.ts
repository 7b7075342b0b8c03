/**
 * Reloads of the key ring overlap (a rotation's notification, a stale key, an unknown kid): the
 * answer of an earlier reload arriving last must not put back the keys a later one replaced.
 */
import { describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import type pg from 'pg';
import { KeyEncryptionKey } from '../../src/keys/key-encryption.js';
import { generateKey, KeyRing, sealingContext } from '../../src/keys/key-ring.js';

const kek = new KeyEncryptionKey(randomBytes(32));

async function row(retired: boolean) {
  const { kid, publicJwk, privateJwk } = await generateKey('ES256');
  return { kid, alg: 'ES256', public_jwk: publicJwk, private_jwk: kek.seal(JSON.stringify(privateJwk), sealingContext(kid)), encrypted: true, retired_at: retired ? new Date() : null };
}

describe('KeyRing.reload', () => {
  it('applies the newest reload even when an older one answers last', async () => {
    const pending: Array<(rows: unknown[]) => void> = [];
    const pool = { query: () => new Promise((resolve) => pending.push((rows) => resolve({ rows }))) } as unknown as pg.Pool;
    const ring = new KeyRing(pool, 'ES256', 300, kek);
    const before = await row(false);
    const after = await row(false);
    const retired = { ...before, retired_at: new Date() };

    const older = ring.reload();
    const newer = ring.reload();
    pending[1]!([after, retired]);
    await newer;
    pending[0]!([before]);
    await older;
    expect(ring.active.kid).toBe(after.kid);
    expect(ring.publicJwks(Math.floor(Date.now() / 1000)).keys.map((key) => key.kid)).toEqual([after.kid, before.kid]);
  });

  it('opens only the keys that may sign, and refuses a key stored in clear', async () => {
    const active = await row(false);
    const retired = { ...(await row(true)), private_jwk: 'v1.not.a.sealed.value' };
    const ring = new KeyRing({ query: async () => ({ rows: [active, retired] }) } as unknown as pg.Pool, 'ES256', 300, kek);
    await ring.reload();
    expect(ring.active.kid).toBe(active.kid);
    expect((await ring.verificationKey(retired.kid, Math.floor(Date.now() / 1000)))?.kid).toBe(retired.kid);

    const clear = { ...active, private_jwk: '{"d":"x"}', encrypted: false };
    const refusing = new KeyRing({ query: async () => ({ rows: [clear] }) } as unknown as pg.Pool, 'ES256', 300, kek);
    await expect(refusing.reload()).rejects.toThrow(/stored in clear/);
  });
});
