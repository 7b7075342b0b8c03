/**
 * docs/cli.md, rendered from the commands' own help (`npm run docs:cli` writes it;
 * test/cli/docs.test.ts fails when the file is stale).
 */
import type { Command } from 'commander';
import { HELP_WIDTH, createProgram } from './program.js';

export function helpOf(command: Command): string {
  let text = '';
  command.configureOutput({ writeOut: (chunk) => (text += chunk), getOutHelpWidth: () => HELP_WIDTH, getOutHasColors: () => false });
  command.outputHelp();
  return text.trimEnd();
}

function sections(command: Command, path: string[]): string[] {
  const own = command.name() === 'help' ? [] : [`## ${path.join(' ')}`, '', '```text', helpOf(command), '```', ''];
  return [...own, ...command.commands.flatMap((sub) => sections(sub, [...path, sub.name()]))];
}

export function renderCliDocs(): string {
  const program = createProgram();
  return [
    '# `deputy` command reference',
    '',
    'Generated from the commands’ own `--help` by `npm run docs:cli`; do not edit by hand.',
    'Every command also answers `--help`. Getting started: the README’s quickstart.',
    '',
    ...sections(program, ['deputy']),
  ].join('\n');
}
