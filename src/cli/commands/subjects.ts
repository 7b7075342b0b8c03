/** `deputy subjects …`: the people tokens are minted for. */
import type { Command } from 'commander';
import { openSession, outputFormat } from '../context.js';
import type { components } from '../generated/admin-api.js';
import { printObject, withOutput, type Column } from '../output.js';
import { NONE, choice, examples, subcommand, orNull } from '../options.js';
import { unwrap, type RequestBody } from '../session.js';
import { collect, printPage, withPaging, type PageOptions } from './list.js';

type Subject = components['schemas']['Subject'];
const STATUSES = ['active', 'disabled'] as const;
type Status = (typeof STATUSES)[number];

const COLUMNS: Column<Subject>[] = [
  { header: 'ID', value: (s) => s.id },
  { header: 'EMAIL', value: (s) => s.email },
  { header: 'STATUS', value: (s) => s.status },
  { header: 'CREATED', value: (s) => s.created_at },
];

export function subjectCommands(program: Command): void {
  const group = program.command('subjects').alias('subject').description('people on whose behalf tokens are minted');

  examples(
    withOutput(withPaging(group.command('list').description('list subjects, newest first')))
      .addOption(choice('--status <status>', 'only subjects with this status', STATUSES))
      .action(async (options: PageOptions & { status?: Status }, command: Command) => {
        const api = await (await openSession(command)).admin();
        const page = await collect(options, (paging) =>
          unwrap(api.GET('/admin/v1/subjects', { params: { query: { ...paging, status: options.status } } })),
        );
        printPage(page, COLUMNS, outputFormat(command));
      }),
    'deputy subjects list --status disabled',
    'deputy subjects list --all --jsonl',
  );

  withOutput(group.command('get').description('show a subject').argument('<id>', 'subject id'))
    .action(async (id: string, _options: object, command: Command) => {
      const api = await (await openSession(command)).admin();
      printObject(await unwrap(api.GET('/admin/v1/subjects/{id}', { params: { path: { id } } })), outputFormat(command));
    });

  examples(
    withOutput(group.command('create').description('create a subject').argument('<id>', 'subject id, e.g. alice'))
      .option('--email <email>', 'email address')
      .addOption(choice('--status <status>', 'initial status (default active)', STATUSES))
      .action(async (id: string, options: { email?: string; status?: Status }, command: Command) => {
        const api = await (await openSession(command)).admin();
        const body: RequestBody<'createSubject'> = { id, email: options.email, status: options.status };
        printObject(await unwrap(api.POST('/admin/v1/subjects', { body })), outputFormat(command));
      }),
    'deputy subjects create alice --email alice@example.com',
  );

  withOutput(group.command('update').description('change a subject’s email or status').argument('<id>', 'subject id'))
    .option('--email <email>', `new email (${NONE} to clear)`)
    .addOption(choice('--status <status>', 'new status', STATUSES))
    .action(async (id: string, options: { email?: string; status?: Status }, command: Command) => {
      const api = await (await openSession(command)).admin();
      const body: RequestBody<'updateSubject'> = { email: orNull(options.email), status: options.status };
      printObject(await unwrap(api.PATCH('/admin/v1/subjects/{id}', { params: { path: { id } }, body })), outputFormat(command));
    });

  for (const [verb, status, description] of [
    ['disable', 'disabled', 'disable a subject: every exchange for them, and every token naming them, stops at once'],
    ['enable', 'active', 'enable a subject again'],
  ] as const) {
    examples(
      withOutput(group.command(verb).description(description).argument('<id>', 'subject id')).action(
        async (id: string, _options: object, command: Command) => {
          const api = await (await openSession(command)).admin();
          printObject(await unwrap(api.PATCH('/admin/v1/subjects/{id}', { params: { path: { id } }, body: { status } })), outputFormat(command));
        },
      ),
      `deputy subjects ${verb} alice`,
    );
  }

  examples(subcommand(group, 'get'), 'deputy subjects get alice --json');
  examples(subcommand(group, 'update'), 'deputy subjects update alice --email alice@corp.example');
}
