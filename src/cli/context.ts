/** What every command's action needs from the parsed command line. */
import type { Command } from 'commander';
import { formatOf, type Format } from './output.js';
import { Session, type GlobalOptions } from './session.js';

export function globalsOf(command: Command): GlobalOptions {
  const { profile, timeout } = command.optsWithGlobals<{ profile?: string; timeout: number }>();
  return { ...(profile ? { profile } : {}), timeout };
}

export function openSession(command: Command): Promise<Session> {
  return Session.open(globalsOf(command));
}

export function outputFormat(command: Command): Format {
  return formatOf(command.opts<{ json?: boolean; jsonl?: boolean }>());
}
