/**
 * The repository's documentation links only to files that exist in it: every relative link
 * of README.md, SECURITY.md, CHANGELOG.md and docs/*.md resolves, and none of them sends a
 * reader to a document outside the repository they do not have.
 */
import { describe, expect, it } from '@jest/globals';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const pages = ['README.md', 'SECURITY.md', 'CHANGELOG.md', ...readdirSync(path.join(ROOT, 'docs')).filter((f) => f.endsWith('.md')).map((f) => `docs/${f}`)];

describe('documentation links', () => {
  it.each(pages)('%s links only to files of the repository', (page) => {
    const text = readFileSync(path.join(ROOT, page), 'utf8');
    const targets = [...text.matchAll(/\]\(([^)\s]+)\)/g)].map((match) => match[1]!).filter((target) => !/^(https?:|mailto:|#)/.test(target));
    const missing = targets.filter((target) => !existsSync(path.resolve(ROOT, path.dirname(page), target.split('#')[0]!)));
    expect(missing).toEqual([]);
    expect(text).not.toMatch(/SPEC\.md|DESIGN\.md|shared docs/);
  });
});
