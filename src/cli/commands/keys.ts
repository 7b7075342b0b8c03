/** `deputy keys …`: Deputy's own signing keys — their public metadata, and rotation. */
import type { Command } from 'commander';
import { openSession, outputFormat } from '../context.js';
import type { components } from '../generated/admin-api.js';
import { printItems, printObject, withOutput, type Column } from '../output.js';
import { examples } from '../options.js';
import { unwrap } from '../session.js';

type SigningKey = components['schemas']['SigningKey'];

const COLUMNS: Column<SigningKey>[] = [
  { header: 'KID', value: (k) => k.kid },
  { header: 'ALG', value: (k) => k.alg },
  { header: 'STATUS', value: (k) => k.status },
  { header: 'CREATED', value: (k) => k.created_at },
  { header: 'RETIRED', value: (k) => k.retired_at },
  { header: 'PUBLISHED UNTIL', value: (k) => k.published_until },
];

export function keyCommands(program: Command): void {
  const group = program.command('keys').alias('key').description('Deputy’s signing keys: list them, rotate the active one');

  examples(
    withOutput(group.command('list').description('list the signing keys, newest first (public metadata only, never private material)')).action(
      async (_options: object, command: Command) => {
        const api = await (await openSession(command)).admin();
        const { items } = await unwrap(api.GET('/admin/v1/keys'));
        printItems(items, COLUMNS, outputFormat(command));
      },
    ),
    'deputy keys list',
    'deputy keys list --json',
  );

  examples(
    withOutput(
      group
        .command('rotate')
        .description(
          'create a new signing key for every token from now on; the previous key is retired but stays published in /jwks until its tokens expire (audited as key.rotated)',
        ),
    ).action(async (_options: object, command: Command) => {
      const api = await (await openSession(command)).admin();
      printObject(await unwrap(api.POST('/admin/v1/keys/rotate')), outputFormat(command));
    }),
    'deputy keys rotate',
  );
}
