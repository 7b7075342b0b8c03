/**
 * How results reach stdout: a readable table by default, `--json` (one JSON document) or
 * `--jsonl` (one JSON value per line, for streams and scripts). Diagnostics go to stderr, so
 * stdout stays parseable.
 */
import Table from 'cli-table3';
import type { Command } from 'commander';
import { UsageError } from './errors.js';

export type Format = 'table' | 'json' | 'jsonl';

export interface Column<T> {
  header: string;
  value(item: T): unknown;
}

/** Adds --json and --jsonl to a command that prints results. */
export function withOutput(command: Command): Command {
  return command.option('--json', 'print one JSON document').option('--jsonl', 'print one JSON value per line');
}

export function formatOf(options: { json?: boolean; jsonl?: boolean }): Format {
  if (options.json && options.jsonl) throw new UsageError('choose one of --json and --jsonl');
  return options.json ? 'json' : options.jsonl ? 'jsonl' : 'table';
}

export const out = (text: string): void => void process.stdout.write(text.endsWith('\n') ? text : `${text}\n`);
export const note = (text: string): void => void process.stderr.write(`${text}\n`);

/** A cell: arrays joined, absent values as "-", objects as compact JSON. */
export function cell(value: unknown): string {
  if (value === null || value === undefined || value === '') return '-';
  if (Array.isArray(value)) return value.length === 0 ? '-' : value.map(cell).join(' ');
  if (typeof value === 'object') return JSON.stringify(value);
  return String(value).replace(/[\u0000-\u001f\u007f]/g, ' ');
}

const BORDERLESS = {
  top: '', 'top-mid': '', 'top-left': '', 'top-right': '',
  bottom: '', 'bottom-mid': '', 'bottom-left': '', 'bottom-right': '',
  left: '', 'left-mid': '', mid: '', 'mid-mid': '', right: '', 'right-mid': '', middle: '  ',
};

export function table(head: string[], rows: string[][]): string {
  const t = new Table({ head, chars: BORDERLESS, style: { head: [], border: [], 'padding-left': 0, 'padding-right': 0 } });
  t.push(...rows);
  return t.toString().split('\n').map((line) => line.trimEnd()).join('\n');
}

export function printItems<T>(items: T[], columns: Column<T>[], format: Format, page?: { next_cursor: string | null }): void {
  if (format === 'json') return out(JSON.stringify(page ? { items, next_cursor: page.next_cursor } : items, null, 2));
  if (format === 'jsonl') {
    for (const item of items) out(JSON.stringify(item));
    return;
  }
  out(table(columns.map((c) => c.header), items.map((item) => columns.map((c) => cell(c.value(item))))));
}

export function printObject(value: Record<string, unknown>, format: Format): void {
  if (format === 'json') return out(JSON.stringify(value, null, 2));
  if (format === 'jsonl') return out(JSON.stringify(value));
  out(table(['FIELD', 'VALUE'], Object.entries(value).map(([name, v]) => [name, cell(v)])));
}
