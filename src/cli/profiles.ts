/**
 * Named connection profiles in `$XDG_CONFIG_HOME/deputy/profiles.json` (default
 * `~/.config/deputy/profiles.json`). The file holds credentials, so it is written 0600 inside a
 * 0700 directory, through a temporary file renamed over the old one (never half-written, never
 * readable by others even for a moment).
 */
import { chmod, mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { z } from 'zod';
import { UsageError } from './errors.js';

export const DEFAULT_PROFILE = 'default';

const Profile = z.union([
  z.strictObject({ url: z.string(), client_id: z.string(), client_secret: z.string() }),
  z.strictObject({ url: z.string(), token: z.string() }),
]);
export type Profile = z.infer<typeof Profile>;

const ProfileFile = z.strictObject({ profiles: z.record(z.string(), Profile) });
type ProfileFile = z.infer<typeof ProfileFile>;

export const ProfileName = z.string().regex(/^[A-Za-z0-9._-]{1,64}$/, 'profile names are 1-64 letters, digits, ".", "_" or "-"');

export function configDirectory(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_CONFIG_HOME && env.XDG_CONFIG_HOME.startsWith('/') ? env.XDG_CONFIG_HOME : join(homedir(), '.config');
  return join(base, 'deputy');
}

export const profilesPath = (env: NodeJS.ProcessEnv = process.env) => join(configDirectory(env), 'profiles.json');

async function load(env: NodeJS.ProcessEnv): Promise<ProfileFile> {
  const path = profilesPath(env);
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { profiles: {} };
    throw new UsageError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  let parsed: ProfileFile | undefined;
  try {
    parsed = ProfileFile.safeParse(JSON.parse(text)).data;
  } catch {
    parsed = undefined;
  }
  // Never echo the file: it holds secrets.
  if (!parsed) throw new UsageError(`${path} is not a Deputy profile file; fix or remove it`);
  return parsed;
}

export async function readProfile(name: string, env: NodeJS.ProcessEnv = process.env): Promise<Profile | undefined> {
  return (await load(env)).profiles[name];
}

export async function listProfiles(env: NodeJS.ProcessEnv = process.env): Promise<Record<string, Profile>> {
  return (await load(env)).profiles;
}

export async function saveProfile(name: string, profile: Profile, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  const file = await load(env);
  file.profiles[name] = profile;
  return write(file, env);
}

/** True when the profile existed. */
export async function removeProfile(name: string, env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  const file = await load(env);
  if (!(name in file.profiles)) return false;
  delete file.profiles[name];
  await write(file, env);
  return true;
}

async function write(file: ProfileFile, env: NodeJS.ProcessEnv): Promise<string> {
  const directory = configDirectory(env);
  await mkdir(directory, { recursive: true, mode: 0o700 });
  await chmod(directory, 0o700);
  const path = profilesPath(env);
  const temporary = `${path}.${process.pid}.tmp`;
  const handle = await open(temporary, 'wx', 0o600);
  try {
    await handle.writeFile(`${JSON.stringify(file, null, 2)}\n`);
    await handle.sync();
  } finally {
    await handle.close();
  }
  try {
    await rename(temporary, path);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
  return path;
}
