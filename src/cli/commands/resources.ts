/** `deputy resources …`: the APIs that accept Deputy's tokens, and their scopes. */
import type { Command } from 'commander';
import { openSession, outputFormat } from '../context.js';
import type { components } from '../generated/admin-api.js';
import { printObject, withOutput, type Column } from '../output.js';
import { examples, subcommand, httpUrl, words } from '../options.js';
import { unwrap } from '../session.js';
import { collect, printPage, withPaging, type PageOptions } from './list.js';

type Resource = components['schemas']['Resource'];

const COLUMNS: Column<Resource>[] = [
  { header: 'ID', value: (r) => r.id },
  { header: 'URI', value: (r) => r.uri },
  { header: 'SCOPES', value: (r) => r.scopes },
];

export function resourceCommands(program: Command): void {
  const group = program.command('resources').alias('resource').description('APIs (a token’s aud) and the scopes they define');

  withOutput(withPaging(group.command('list').description('list resources, newest first')))
    .option('--uri <uri>', 'only the resource with this URI', httpUrl)
    .action(async (options: PageOptions & { uri?: string }, command: Command) => {
      const api = await (await openSession(command)).admin();
      const page = await collect(options, (paging) =>
        unwrap(api.GET('/admin/v1/resources', { params: { query: { ...paging, uri: options.uri } } })),
      );
      printPage(page, COLUMNS, outputFormat(command));
    });

  withOutput(group.command('get').description('show a resource').argument('<id>', 'resource id (a UUID)')).action(
    async (id: string, _options: object, command: Command) => {
      const api = await (await openSession(command)).admin();
      printObject(await unwrap(api.GET('/admin/v1/resources/{id}', { params: { path: { id } } })), outputFormat(command));
    },
  );

  examples(
    withOutput(group.command('create').description('register a resource and its scopes').argument('<uri>', 'resource URI (the tokens’ aud)'))
      .requiredOption('--scope <scopes>', 'a scope it defines (repeatable, or space-separated)', words)
      .action(async (uri: string, options: { scope: string[] }, command: Command) => {
        const api = await (await openSession(command)).admin();
        printObject(await unwrap(api.POST('/admin/v1/resources', { body: { uri, scopes: options.scope } })), outputFormat(command));
      }),
    'deputy resources create https://api.example.com/tickets --scope "tickets:read tickets:write"',
  );

  withOutput(group.command('update').description('replace a resource’s scopes').argument('<id>', 'resource id'))
    .requiredOption('--scope <scopes>', 'the full new list of scopes (repeatable, or space-separated)', words)
    .action(async (id: string, options: { scope: string[] }, command: Command) => {
      const api = await (await openSession(command)).admin();
      printObject(await unwrap(api.PATCH('/admin/v1/resources/{id}', { params: { path: { id } }, body: { scopes: options.scope } })), outputFormat(command));
    });

  examples(subcommand(group, 'list'), 'deputy resources list --uri https://api.example.com/tickets');
  examples(subcommand(group, 'get'), 'deputy resources get 5d9c7e1e-2f43-4a8e-9b1d-0c6f3a2b7e11');
  examples(subcommand(group, 'update'), 'deputy resources update 5d9c7e1e-2f43-4a8e-9b1d-0c6f3a2b7e11 --scope "tickets:read tickets:write tickets:close"');
}
