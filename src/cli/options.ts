/**
 * Parsers for option values. A value that cannot be right is a usage error (exit 2) before any
 * request is sent; what only the server can judge is left to it (exit 1 with its issues).
 */
import { readFile } from 'node:fs/promises';
import { InvalidArgumentError, Option, type Command } from 'commander';
import { UsageError } from './errors.js';

/** The literal that clears a nullable field in an update. */
export const NONE = 'none';

export function integer(min: number, max: number) {
  return (value: string): number => {
    if (!/^\d+$/.test(value)) throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
    const number = Number(value);
    if (number < min || number > max) throw new InvalidArgumentError(`must be a whole number from ${min} to ${max}`);
    return number;
  };
}

const RFC3339 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;

export function timestamp(value: string): string {
  if (!RFC3339.test(value) || Number.isNaN(Date.parse(value))) throw new InvalidArgumentError('must be an RFC 3339 time, e.g. 2030-01-01T00:00:00Z');
  return value;
}

/**
 * A parser that also accepts `none` (clear the field). It returns the literal: commander turns
 * a parser's null into '', so the body builder maps it with `orNull`.
 */
export function orNone<T>(parse: (value: string) => T) {
  return (value: string): T | typeof NONE => (value === NONE ? NONE : parse(value));
}

export function orNull<T>(value: T | typeof NONE | undefined): T | null | undefined {
  return value === NONE ? null : value;
}

export function httpUrl(value: string): string {
  const url = URL.parse(value);
  if (!url || (url.protocol !== 'http:' && url.protocol !== 'https:')) throw new InvalidArgumentError('must be an http(s) URL');
  return value;
}

/** A repeatable option whose values may also be space-separated: `--scope a --scope "b c"`. */
export function words(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), ...value.split(/\s+/).filter(Boolean)];
}

export function choice(flags: string, description: string, choices: readonly string[]): Option {
  return new Option(flags, description).choices(choices);
}

/** Reads stdin to the end (for `-` values). */
export async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** A JSON file (`-` for stdin), e.g. a JWKS printed by `deputy actors keygen`. */
export async function readJsonFile(path: string): Promise<unknown> {
  let text: string;
  try {
    text = path === '-' ? await readStdin() : await readFile(path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read ${path}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  try {
    return JSON.parse(text);
  } catch {
    throw new UsageError(`${path} is not JSON`);
  }
}

/** A JWKS from `--jwks-file`: `none` clears it; a bare JWK is wrapped into a set. */
export async function jwksOption(path: string | undefined): Promise<{ keys: Array<Record<string, unknown>> } | null | undefined> {
  if (path === undefined) return undefined;
  if (path === NONE) return null;
  const value = await readJsonFile(path);
  if (value && typeof value === 'object' && Array.isArray((value as { keys?: unknown }).keys)) return value as { keys: Array<Record<string, unknown>> };
  if (value && typeof value === 'object' && 'kty' in value) return { keys: [value as Record<string, unknown>] };
  throw new UsageError(`${path} is neither a JWK Set nor a JWK`);
}

/** Drops undefined members (a form field or a display line that is absent). */
export function defined<T extends Record<string, unknown>>(value: T): { [K in keyof T]: Exclude<T[K], undefined> } {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as never;
}

/** Examples shown at the end of a command's --help. */
export function examples(command: Command, ...lines: string[]): Command {
  return command.addHelpText('after', `\nExamples:\n${lines.map((line) => `  $ ${line}`).join('\n')}`);
}

/** A subcommand by name (to attach examples after its definition). */
export function subcommand(group: Command, name: string): Command {
  const found = group.commands.find((command) => command.name() === name);
  if (!found) throw new Error(`no command ${name} under ${group.name()}`);
  return found;
}
