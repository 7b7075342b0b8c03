/** docs/cli.md is the commands' own help: regenerate it (npm run docs:cli) when this fails. */
import { describe, expect, it } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import type { Command } from 'commander';
import { helpOf, renderCliDocs } from '../../src/cli/docs.js';
import { createProgram } from '../../src/cli/program.js';

describe('docs/cli.md', () => {
  it('is up to date with the commands’ help', async () => {
    const committed = await readFile(new URL('../../docs/cli.md', import.meta.url), 'utf8');
    expect(committed).toBe(renderCliDocs());
  });

  it('documents every command, with examples', () => {
    const docs = renderCliDocs();
    for (const command of [
      'login', 'logout', 'profiles', 'subjects list', 'actors keygen', 'clients rotate-secret', 'resources update', 'issuers delete',
      'entitlements create', 'grants revoke', 'tokens exchange', 'tokens inspect', 'tokens revoke', 'audit tail', 'audit verify', 'completion',
    ]) {
      expect(docs).toContain(`## deputy ${command}\n`);
    }
  });

  it('gives every command examples in its --help', () => {
    const leaves = (command: Command, path: string[]): Array<[string, Command]> =>
      command.commands.length === 0 ? [[path.join(' '), command]] : command.commands.filter((c) => c.name() !== 'help').flatMap((c) => leaves(c, [...path, c.name()]));
    const all = leaves(createProgram(), ['deputy']);
    expect(all.length).toBeGreaterThan(45);
    const without = all.filter(([, command]) => !/\nExamples:\n  \$ [^]*deputy /.test(helpOf(command))).map(([path]) => path);
    expect(without).toEqual([]);
  });
});
