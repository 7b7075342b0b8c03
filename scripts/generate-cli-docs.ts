/** Writes docs/cli.md from the CLI's own help (src/cli/docs.ts). */
import { writeFile } from 'node:fs/promises';
import { renderCliDocs } from '../src/cli/docs.js';

await writeFile(new URL('../docs/cli.md', import.meta.url), renderCliDocs());
