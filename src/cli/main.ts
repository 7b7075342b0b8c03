#!/usr/bin/env node
/**
 * `deputy`: runs one command and exits with its code (src/cli/errors.ts). Commander's own
 * failures (unknown command or flag, invalid or missing value) are usage errors, exit 2.
 */
import { CommanderError } from 'commander';
import { CliError, EXIT } from './errors.js';
import { createProgram } from './program.js';

const USAGE_OK = new Set(['commander.helpDisplayed', 'commander.version', 'commander.help']);

export async function run(argv: string[]): Promise<number> {
  const program = createProgram();
  try {
    await program.parseAsync(argv);
    return EXIT.ok;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Commander has printed its message (or the help) already.
      return USAGE_OK.has(error.code) && error.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (error instanceof CliError) {
      for (const line of error.lines()) process.stderr.write(`${line}\n`);
      return error.exitCode;
    }
    // A bug: say so without details that could carry a secret (DEPUTY_DEBUG=1 shows the stack).
    if (process.env.DEPUTY_DEBUG) process.stderr.write(`${error instanceof Error ? error.stack : String(error)}\n`);
    process.stderr.write(`error: unexpected failure (${error instanceof Error ? error.name : 'unknown'})\n`);
    return EXIT.refused;
  }
}

process.exitCode = await run(process.argv);
