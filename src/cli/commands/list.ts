/** The list commands' paging: `--limit`, `--cursor`, and `--all` to follow every cursor. */
import type { Command } from 'commander';
import { note, printItems, type Column, type Format } from '../output.js';
import { integer } from '../options.js';

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
}

export interface PageOptions {
  limit?: number;
  cursor?: string;
  all?: boolean;
}

export function withPaging(command: Command): Command {
  return command
    .option('--limit <n>', 'page size (1-500; the server default is 50)', integer(1, 500))
    .option('--cursor <cursor>', 'continue after a previous page (its next_cursor)')
    .option('--all', 'follow next_cursor until the last page');
}

/** One page, or every page from `cursor` on with --all. */
export async function collect<T>(options: PageOptions, fetchPage: (page: { limit?: number; cursor?: string }) => Promise<Page<T>>): Promise<Page<T>> {
  const limit = options.limit ?? (options.all ? 500 : undefined);
  let page = await fetchPage({ ...(limit ? { limit } : {}), ...(options.cursor ? { cursor: options.cursor } : {}) });
  if (!options.all) return page;
  const items = [...page.items];
  while (page.next_cursor) {
    page = await fetchPage({ ...(limit ? { limit } : {}), cursor: page.next_cursor });
    items.push(...page.items);
  }
  return { items, next_cursor: null };
}

export function printPage<T>(page: Page<T>, columns: Column<T>[], format: Format): void {
  printItems(page.items, columns, format, page);
  if (format === 'table' && page.next_cursor) note(`more: --cursor ${page.next_cursor} (or --all)`);
}
