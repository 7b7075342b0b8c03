/**
 * The key Deputy keeps outside the database: the key-encryption key (key-encryption.ts). It
 * comes from KEY_ENCRYPTION_KEY or, outside production, from a file under DEPUTY_HOME created on
 * first use: 32 random bytes, base64url, mode 0600 in a 0700 directory. The file is written under a temporary name and
 * linked into place, so processes starting together agree on one key and never read a
 * half-written file. A key file that others may read is refused, as ssh refuses such keys.
 */
import { randomBytes } from 'node:crypto';
import { chmod, link, mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config.js';
import { decodeKey32, KeyEncryptionKey } from './key-encryption.js';

export class LocalKeyError extends Error {
  override name = 'LocalKeyError';
}

export const keyFiles = {
  keyEncryption: 'key-encryption.key',
} as const;

async function readKeyFile(file: string, variable: string): Promise<Buffer> {
  const info = await stat(file);
  if ((info.mode & 0o077) !== 0) {
    throw new LocalKeyError(`${file} (the ${variable} key file) is accessible to other users: chmod 600 it`);
  }
  const key = decodeKey32(await readFile(file, 'utf8'));
  if (!key) throw new LocalKeyError(`${file} (the ${variable} key file) does not hold a 32-byte key (base64url or hex)`);
  return key;
}

/** The key in `home/name`, created when there is none yet. `variable` names the setting it stands in for. */
export async function loadOrCreateKeyFile(home: string, name: string, variable: string): Promise<{ key: Buffer; file: string; created: boolean }> {
  const directory = path.resolve(home);
  const file = path.join(directory, name);
  try {
    return { key: await readKeyFile(file, variable), file, created: false };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  await mkdir(directory, { recursive: true, mode: 0o700 });
  // DEPUTY_HOME may predate this (the embedded database lives there too): make it private too.
  await chmod(directory, 0o700).catch(() => {});
  const temporary = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const handle = await open(temporary, 'wx', 0o600);
  try {
    await handle.writeFile(`${randomBytes(32).toString('base64url')}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  let created = true;
  try {
    await link(temporary, file); // fails with EEXIST when another process got there first
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    created = false;
  } finally {
    await unlink(temporary);
  }
  return { key: await readKeyFile(file, variable), file, created };
}

/** KEY_ENCRYPTION_KEY, or (outside production; config.ts requires the variable there) the key file. */
export async function loadKeyEncryptionKey(config: Pick<Config, 'KEY_ENCRYPTION_KEY' | 'DEPUTY_HOME'>): Promise<KeyEncryptionKey> {
  if (config.KEY_ENCRYPTION_KEY) return new KeyEncryptionKey(decodeKey32(config.KEY_ENCRYPTION_KEY)!);
  const { key } = await loadOrCreateKeyFile(config.DEPUTY_HOME, keyFiles.keyEncryption, 'KEY_ENCRYPTION_KEY');
  return new KeyEncryptionKey(key);
}
