/** `deputy approvals …`: agents' requests for a person's approval (CIBA): list, show, cancel. */
import { Option, type Command } from 'commander';
import { APPROVAL_STATUSES, type ApprovalStatus } from '../../approval/statuses.js';
import { openSession, outputFormat } from '../context.js';
import type { components } from '../generated/admin-api.js';
import { printObject, withOutput, type Column } from '../output.js';
import { examples, subcommand } from '../options.js';
import { unwrap, type Query } from '../session.js';
import { collect, printPage, withPaging, type PageOptions } from './list.js';

type Approval = components['schemas']['Approval'];

const COLUMNS: Column<Approval>[] = [
  { header: 'ID', value: (a) => a.id },
  { header: 'STATUS', value: (a) => a.status },
  { header: 'SUBJECT', value: (a) => a.subject },
  { header: 'ACTOR', value: (a) => a.actor },
  { header: 'CLIENT', value: (a) => a.client_id },
  { header: 'SCOPES', value: (a) => a.scopes },
  { header: 'REQUESTED', value: (a) => a.requested_at },
  { header: 'EXPIRES', value: (a) => a.expires_at },
];

export function approvalCommands(program: Command): void {
  const group = program.command('approvals').alias('approval').description('agents’ approval requests (CIBA): what they asked whom, and the answer');

  examples(
    withOutput(withPaging(group.command('list').description('list approval requests, newest first')))
      .addOption(new Option('--status <status>', 'only requests in this state').choices(APPROVAL_STATUSES))
      .option('--subject <subject>', 'only those asking this person')
      .option('--actor <actor>', 'only those for this actor')
      .action(async (options: PageOptions & { status?: ApprovalStatus; subject?: string; actor?: string }, command: Command) => {
        const api = await (await openSession(command)).admin();
        const filters: Query<'listApprovals'> = { status: options.status, subject: options.subject, actor: options.actor };
        const page = await collect(options, (paging) => unwrap(api.GET('/admin/v1/approvals', { params: { query: { ...paging, ...filters } } })));
        printPage(page, COLUMNS, outputFormat(command));
      }),
    'deputy approvals list --status pending',
    'deputy approvals list --subject alice --json',
  );

  withOutput(group.command('get').description('show an approval request').argument('<id>', 'approval request id (a UUID)')).action(
    async (id: string, _options: object, command: Command) => {
      const api = await (await openSession(command)).admin();
      printObject(await unwrap(api.GET('/admin/v1/approvals/{id}', { params: { path: { id } } })), outputFormat(command));
    },
  );

  examples(
    withOutput(
      group
        .command('cancel')
        .description('withdraw a pending request: the agent’s next poll answers access_denied (audited as approval.cancelled)')
        .argument('<id>', 'approval request id'),
    ).action(async (id: string, _options: object, command: Command) => {
      const api = await (await openSession(command)).admin();
      printObject(await unwrap(api.POST('/admin/v1/approvals/{id}/cancel', { params: { path: { id } } })), outputFormat(command));
    }),
    'deputy approvals cancel 6f1c2a9e-0d4b-4c55-9a57-3c2f0e1b7d10',
  );

  examples(subcommand(group, 'get'), 'deputy approvals get 6f1c2a9e-0d4b-4c55-9a57-3c2f0e1b7d10 --json');
}
