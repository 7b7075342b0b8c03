/**
 * The key-encryption key (KEK): AES-256-GCM over secrets Deputy keeps in PostgreSQL (private
 * signing keys, the client-secret pepper), so the database alone never holds them in clear.
 * The KEK itself comes from KEY_ENCRYPTION_KEY or a key file under DEPUTY_HOME
 * (src/keys/local-keys.ts), never from the database.
 *
 * A sealed value is `v1.<kek id>.<iv>.<ciphertext>.<tag>` (base64url parts): a format version, a
 * short identifier of the KEK (so a wrong key is told apart from a damaged value), a random
 * 96-bit IV, and the GCM tag. The caller's context (e.g. `signing_keys:<kid>`) is the additional
 * authenticated data, so a sealed value moved to another row does not open.
 */
import { createCipheriv, createDecipheriv, createHmac, hkdfSync, randomBytes } from 'node:crypto';

const VERSION = 'v1';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** 32 bytes written as base64url (43 characters, optionally padded) or hex (64 characters); null otherwise. */
export function decodeKey32(text: string): Buffer | null {
  const value = text.trim();
  if (/^[0-9a-fA-F]{64}$/.test(value)) return Buffer.from(value, 'hex');
  if (/^[A-Za-z0-9_-]{43}=?$/.test(value)) {
    const bytes = Buffer.from(value.replace(/=$/, ''), 'base64url');
    return bytes.length === 32 ? bytes : null;
  }
  return null;
}

export class KeyEncryptionError extends Error {
  override name = 'KeyEncryptionError';
}

export class KeyEncryptionKey {
  readonly #key: Buffer;
  /** Names the KEK without revealing it: an HMAC of a fixed label under the key. */
  readonly id: string;

  constructor(key: Buffer) {
    if (key.length !== 32) throw new KeyEncryptionError('a key-encryption key is 32 bytes');
    this.#key = Buffer.from(key);
    this.id = createHmac('sha256', this.#key).update('deputy key-encryption key id').digest().subarray(0, 6).toString('base64url');
  }

  static isSealed(value: string): boolean {
    return value.startsWith(`${VERSION}.`);
  }

  seal(plaintext: string, context: string): string {
    const iv = randomBytes(IV_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#key, iv);
    cipher.setAAD(Buffer.from(context, 'utf8'));
    const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
    return [VERSION, this.id, iv.toString('base64url'), ciphertext.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.');
  }

  /** The plaintext; throws a KeyEncryptionError (naming no secret) when it cannot be opened. */
  open(sealed: string, context: string): string {
    const parts = sealed.split('.');
    if (parts.length !== 5 || parts[0] !== VERSION) throw new KeyEncryptionError(`the value for ${context} is not in a known sealed format`);
    const [, kekId, iv, ciphertext, tag] = parts as [string, string, string, string, string];
    if (kekId !== this.id) {
      throw new KeyEncryptionError(`KEY_ENCRYPTION_KEY is not the key ${context} was encrypted with (sealed under key id ${kekId}, this key's id is ${this.id})`);
    }
    const ivBytes = Buffer.from(iv, 'base64url');
    const tagBytes = Buffer.from(tag, 'base64url');
    if (ivBytes.length !== IV_BYTES || tagBytes.length !== TAG_BYTES) throw new KeyEncryptionError(`the value for ${context} is damaged`);
    try {
      const decipher = createDecipheriv('aes-256-gcm', this.#key, ivBytes);
      decipher.setAAD(Buffer.from(context, 'utf8'));
      decipher.setAuthTag(tagBytes);
      return Buffer.concat([decipher.update(Buffer.from(ciphertext, 'base64url')), decipher.final()]).toString('utf8');
    } catch {
      throw new KeyEncryptionError(`the value for ${context} fails authentication under KEY_ENCRYPTION_KEY: it was altered, moved from another row, or sealed with another key`);
    }
  }

  /** A separate 32-byte key for another purpose (HKDF-SHA-256, `purpose` as info): never the KEK itself. */
  derive(purpose: string): Buffer {
    return Buffer.from(hkdfSync('sha256', this.#key, Buffer.alloc(0), `deputy ${purpose}`, 32));
  }

  /** Keeps the key out of logs, util.inspect and JSON. */
  toJSON(): string {
    return `[KeyEncryptionKey ${this.id}]`;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toJSON();
  }
}
