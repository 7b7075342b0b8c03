/** `deputy grants …`: delegation grants, a subject's consent that an actor acts for it. */
import { Option, type Command } from 'commander';
import { openSession, outputFormat } from '../context.js';
import type { components } from '../generated/admin-api.js';
import { printObject, withOutput, type Column } from '../output.js';
import { examples, subcommand, httpUrl, timestamp, words } from '../options.js';
import { unwrap, type Query, type RequestBody } from '../session.js';
import { collect, printPage, withPaging, type PageOptions } from './list.js';

type Grant = components['schemas']['Grant'];

const COLUMNS: Column<Grant>[] = [
  { header: 'ID', value: (g) => g.id },
  { header: 'SUBJECT', value: (g) => g.subject },
  { header: 'ACTOR', value: (g) => g.actor },
  { header: 'RESOURCE', value: (g) => g.resource },
  { header: 'SCOPES', value: (g) => g.scopes },
  { header: 'EXPIRES', value: (g) => g.expires_at },
  { header: 'REVOKED', value: (g) => g.revoked_at },
];

export function grantCommands(program: Command): void {
  const group = program.command('grants').alias('grant').description('delegation grants (subject → actor, scopes on one resource)');

  examples(
    withOutput(withPaging(group.command('list').description('list grants, newest first')))
      .option('--subject <subject>', 'only this subject’s')
      .option('--actor <actor>', 'only to this actor')
      .option('--resource <uri>', 'only on this resource', httpUrl)
      .addOption(new Option('--active', 'only unrevoked, unexpired grants').conflicts('inactive'))
      .option('--inactive', 'only revoked or expired grants')
      .action(async (options: PageOptions & { subject?: string; actor?: string; resource?: string; active?: boolean; inactive?: boolean }, command: Command) => {
        const api = await (await openSession(command)).admin();
        const active = options.active ? ('true' as const) : options.inactive ? ('false' as const) : undefined;
        const filters: Query<'listGrants'> = { subject: options.subject, actor: options.actor, resource: options.resource, active };
        const page = await collect(options, (paging) => unwrap(api.GET('/admin/v1/grants', { params: { query: { ...paging, ...filters } } })));
        printPage(page, COLUMNS, outputFormat(command));
      }),
    'deputy grants list --actor agent:triage --active',
  );

  withOutput(group.command('get').description('show a grant').argument('<id>', 'grant id (a UUID)')).action(
    async (id: string, _options: object, command: Command) => {
      const api = await (await openSession(command)).admin();
      printObject(await unwrap(api.GET('/admin/v1/grants/{id}', { params: { path: { id } } })), outputFormat(command));
    },
  );

  examples(
    withOutput(group.command('create').description('record a subject’s delegation to an actor'))
      .requiredOption('--subject <subject>', 'subject id')
      .requiredOption('--actor <actor>', 'actor id')
      .requiredOption('--resource <uri>', 'resource URI', httpUrl)
      .requiredOption('--scope <scopes>', 'a delegated scope (repeatable, or space-separated)', words)
      .option('--expires-at <time>', 'when the grant lapses (RFC 3339)', timestamp)
      .action(async (options: { subject: string; actor: string; resource: string; scope: string[]; expiresAt?: string }, command: Command) => {
        const api = await (await openSession(command)).admin();
        const body: RequestBody<'createGrant'> = {
          subject: options.subject,
          actor: options.actor,
          resource: options.resource,
          scopes: options.scope,
          expires_at: options.expiresAt,
        };
        printObject(await unwrap(api.POST('/admin/v1/grants', { body })), outputFormat(command));
      }),
    'deputy grants create --subject alice --actor agent:triage --resource https://api.example.com/tickets --scope tickets:read',
  );

  examples(
    withOutput(group.command('revoke').description('revoke a grant: further exchanges and every token minted under it stop at once').argument('<id>', 'grant id'))
      .option('--reason <text>', 'recorded in the audit event')
      .action(async (id: string, options: { reason?: string }, command: Command) => {
        const api = await (await openSession(command)).admin();
        const body: RequestBody<'revokeGrant'> = { reason: options.reason };
        printObject(await unwrap(api.POST('/admin/v1/grants/{id}/revoke', { params: { path: { id } }, body })), outputFormat(command));
      }),
    'deputy grants revoke 6f1c2a9e-0d4b-4c55-9a57-3c2f0e1b7d10 --reason "agent retired"',
  );

  examples(subcommand(group, 'get'), 'deputy grants get 6f1c2a9e-0d4b-4c55-9a57-3c2f0e1b7d10 --json');
}
