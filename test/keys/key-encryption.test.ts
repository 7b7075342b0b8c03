/**
 * The key-encryption key: AES-256-GCM with a random IV, the row as additional data, and errors
 * that say what is wrong without ever carrying a key.
 */
import { describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { decodeKey32, KeyEncryptionError, KeyEncryptionKey } from '../../src/keys/key-encryption.js';

const raw = randomBytes(32);
const kek = new KeyEncryptionKey(raw);
const secret = JSON.stringify({ kty: 'EC', crv: 'P-256', d: 'private-part' });

describe('KeyEncryptionKey', () => {
  it('seals to a versioned ciphertext that opens only in its own context', () => {
    const sealed = kek.seal(secret, 'signing_keys:a');
    expect(KeyEncryptionKey.isSealed(sealed)).toBe(true);
    expect(sealed).not.toContain('private-part');
    expect(sealed.split('.')).toHaveLength(5);
    expect(kek.open(sealed, 'signing_keys:a')).toBe(secret);
    expect(() => kek.open(sealed, 'signing_keys:b')).toThrow(KeyEncryptionError);
  });

  it('uses a fresh IV each time', () => {
    expect(kek.seal(secret, 'x')).not.toBe(kek.seal(secret, 'x'));
  });

  it('refuses another key by name, and an altered value, without showing either key', () => {
    const sealed = kek.seal(secret, 'signing_keys:a');
    const other = new KeyEncryptionKey(randomBytes(32));
    let message = '';
    try {
      other.open(sealed, 'signing_keys:a');
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/KEY_ENCRYPTION_KEY is not the key/);
    for (const key of [raw, randomBytes(0)]) {
      if (key.length) {
        expect(message).not.toContain(key.toString('base64url'));
        expect(message).not.toContain(key.toString('hex'));
      }
    }
    const parts = sealed.split('.');
    const flipped = Buffer.from(parts[3]!, 'base64url');
    flipped[0] = flipped[0]! ^ 1;
    parts[3] = flipped.toString('base64url');
    expect(() => kek.open(parts.join('.'), 'signing_keys:a')).toThrow(/fails authentication/);
    expect(() => kek.open('{"d":"clear"}', 'signing_keys:a')).toThrow(/not in a known sealed format/);
  });

  it('never shows its key when logged or serialised', () => {
    const shown = `${inspect(kek)} ${JSON.stringify({ kek })}`;
    expect(shown).not.toContain(raw.toString('base64url'));
    expect(shown).not.toContain(raw.toString('hex'));
    expect(shown).toContain(kek.id);
  });

  it('derives separate keys per purpose', () => {
    expect(kek.derive('a')).toHaveLength(32);
    expect(kek.derive('a').equals(kek.derive('a'))).toBe(true);
    expect(kek.derive('a').equals(kek.derive('b'))).toBe(false);
    expect(kek.derive('a').equals(raw)).toBe(false);
  });
});

describe('decodeKey32', () => {
  it('takes 32 bytes as base64url or hex, nothing else', () => {
    expect(decodeKey32(raw.toString('base64url'))?.equals(raw)).toBe(true);
    expect(decodeKey32(`${raw.toString('base64url')}=`)?.equals(raw)).toBe(true);
    expect(decodeKey32(raw.toString('hex'))?.equals(raw)).toBe(true);
    expect(decodeKey32(randomBytes(16).toString('hex'))).toBeNull();
    expect(decodeKey32(randomBytes(31).toString('base64url'))).toBeNull();
    expect(decodeKey32('x'.repeat(44))).toBeNull();
  });
});
