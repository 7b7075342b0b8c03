/**
 * The key-encryption key file under DEPUTY_HOME (used when KEY_ENCRYPTION_KEY is not set,
 * outside production): created once with owner-only permissions, agreed on by processes
 * starting together, refused when others may read it.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { chmod, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadKeyEncryptionKey, loadOrCreateKeyFile, keyFiles } from '../../src/keys/local-keys.js';

describe('the key file under DEPUTY_HOME', () => {
  let root: string;
  beforeAll(async () => {
    root = await mkdtemp(path.join(os.tmpdir(), 'deputy-keys-'));
  });
  afterAll(async () => {
    await rm(root, { recursive: true, force: true });
  });

  it('is created 0600 in a 0700 directory, and read back the same', async () => {
    const home = path.join(root, 'fresh', 'home');
    const first = await loadOrCreateKeyFile(home, keyFiles.keyEncryption, 'KEY_ENCRYPTION_KEY');
    expect(first.created).toBe(true);
    expect(first.key).toHaveLength(32);
    expect((await stat(first.file)).mode & 0o777).toBe(0o600);
    expect((await stat(home)).mode & 0o777).toBe(0o700);
    const again = await loadOrCreateKeyFile(home, keyFiles.keyEncryption, 'KEY_ENCRYPTION_KEY');
    expect(again.created).toBe(false);
    expect(again.key.equals(first.key)).toBe(true);
    expect((await loadKeyEncryptionKey({ DEPUTY_HOME: home })).id).toBe((await loadKeyEncryptionKey({ DEPUTY_HOME: home })).id);
  });

  it('is one key for processes creating it at once, with no temporary file left', async () => {
    const home = path.join(root, 'race');
    const results = await Promise.all(Array.from({ length: 20 }, () => loadOrCreateKeyFile(home, keyFiles.keyEncryption, 'KEY_ENCRYPTION_KEY')));
    expect(new Set(results.map((r) => r.key.toString('hex'))).size).toBe(1);
    expect(results.filter((r) => r.created)).toHaveLength(1);
    expect(await readdir(home)).toEqual([keyFiles.keyEncryption]);
  });

  it('is refused when other users may read it, or when it holds no key', async () => {
    const home = path.join(root, 'loose');
    const { file } = await loadOrCreateKeyFile(home, keyFiles.keyEncryption, 'KEY_ENCRYPTION_KEY');
    await chmod(file, 0o644);
    await expect(loadOrCreateKeyFile(home, keyFiles.keyEncryption, 'KEY_ENCRYPTION_KEY')).rejects.toThrow(/accessible to other users/);
    await writeFile(file, 'not a key\n', { mode: 0o600 });
    await chmod(file, 0o600);
    await expect(loadOrCreateKeyFile(home, keyFiles.keyEncryption, 'KEY_ENCRYPTION_KEY')).rejects.toThrow(/does not hold a 32-byte key/);
  });
});
