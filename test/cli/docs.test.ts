/** docs/cli.md is the commands' own help: regenerate it (npm run docs:cli) when this fails. */
import { describe, expect, it } from '@jest/globals';
import { readFile } from 'node:fs/promises';
import { renderCliDocs } from '../../src/cli/docs.js';

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
    expect(docs.match(/^Examples:$/gm)?.length).toBeGreaterThan(20);
  });
});
