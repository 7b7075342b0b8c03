/** `deputy entitlements …`: what a subject may do, scope by scope, optionally until a time. */
import type { Command } from 'commander';
import { openSession, outputFormat } from '../context.js';
import type { components } from '../generated/admin-api.js';
import { note, printObject, withOutput, type Column } from '../output.js';
import { examples, subcommand, httpUrl, timestamp } from '../options.js';
import { unwrap, type Query, type RequestBody } from '../session.js';
import { collect, printPage, withPaging, type PageOptions } from './list.js';

type Entitlement = components['schemas']['Entitlement'];

const COLUMNS: Column<Entitlement>[] = [
  { header: 'ID', value: (e) => e.id },
  { header: 'SUBJECT', value: (e) => e.subject },
  { header: 'RESOURCE', value: (e) => e.resource },
  { header: 'SCOPE', value: (e) => e.scope },
  { header: 'EXPIRES', value: (e) => e.expires_at },
];

export function entitlementCommands(program: Command): void {
  const group = program.command('entitlements').alias('entitlement').description('what subjects may do (subject × resource × scope)');

  withOutput(withPaging(group.command('list').description('list entitlements, newest first')))
    .option('--subject <subject>', 'only this subject’s')
    .option('--resource <uri>', 'only on this resource', httpUrl)
    .action(async (options: PageOptions & { subject?: string; resource?: string }, command: Command) => {
      const api = await (await openSession(command)).admin();
      const filters: Query<'listEntitlements'> = { subject: options.subject, resource: options.resource };
      const page = await collect(options, (paging) => unwrap(api.GET('/admin/v1/entitlements', { params: { query: { ...paging, ...filters } } })));
      printPage(page, COLUMNS, outputFormat(command));
    });

  withOutput(group.command('get').description('show an entitlement').argument('<id>', 'entitlement id (a UUID)')).action(
    async (id: string, _options: object, command: Command) => {
      const api = await (await openSession(command)).admin();
      printObject(await unwrap(api.GET('/admin/v1/entitlements/{id}', { params: { path: { id } } })), outputFormat(command));
    },
  );

  examples(
    withOutput(group.command('create').description('entitle a subject to one scope of a resource'))
      .requiredOption('--subject <subject>', 'subject id')
      .requiredOption('--resource <uri>', 'resource URI', httpUrl)
      .requiredOption('--scope <scope>', 'one scope the resource defines')
      .option('--expires-at <time>', 'just-in-time access: it lapses then (RFC 3339)', timestamp)
      .action(async (options: { subject: string; resource: string; scope: string; expiresAt?: string }, command: Command) => {
        const api = await (await openSession(command)).admin();
        const body: RequestBody<'createEntitlement'> = { subject: options.subject, resource: options.resource, scope: options.scope, expires_at: options.expiresAt };
        printObject(await unwrap(api.POST('/admin/v1/entitlements', { body })), outputFormat(command));
      }),
    'deputy entitlements create --subject alice --resource https://api.example.com/tickets --scope tickets:read',
  );

  group
    .command('delete')
    .alias('revoke')
    .description('withdraw an entitlement (takes effect at once)')
    .argument('<id>', 'entitlement id')
    .action(async (id: string, _options: object, command: Command) => {
      const api = await (await openSession(command)).admin();
      await unwrap(api.DELETE('/admin/v1/entitlements/{id}', { params: { path: { id } } }));
      note(`entitlement ${id} withdrawn`);
    });

  examples(subcommand(group, 'list'), 'deputy entitlements list --subject alice --all');
  examples(subcommand(group, 'get'), 'deputy entitlements get 7c3e1f0a-5b2d-4e6f-8a9b-1c2d3e4f5a6b');
  examples(subcommand(group, 'delete'), 'deputy entitlements delete 7c3e1f0a-5b2d-4e6f-8a9b-1c2d3e4f5a6b');
}
