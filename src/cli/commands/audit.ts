/** `deputy audit …`: read the audit log (`tail`, optionally following it) and verify its hash chains. */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { openSession, outputFormat } from '../context.js';
import { CliError, EXIT, UsageError } from '../errors.js';
import type { components } from '../generated/admin-api.js';
import { cell, note, out, printObject, withOutput, type Format } from '../output.js';
import { defined, examples, integer, timestamp } from '../options.js';
import { unwrap, type AdminClient, type Query } from '../session.js';

type AuditEvent = components['schemas']['AuditEvent'];

interface TailOptions {
  lines: number;
  follow?: boolean;
  interval: number;
  subject?: string;
  actor?: string;
  client?: string;
  type?: string;
  admin?: string;
  since?: string;
  until?: string;
}

/** One event per line: time, type, then what it is about. */
export function eventLine(event: AuditEvent): string {
  const facts = defined({
    admin: event.admin ?? undefined,
    client: event.client_id ?? undefined,
    subject: event.subject ?? undefined,
    actors: event.actors.length > 0 ? event.actors.join('→') : undefined,
    resource: event.resource ?? undefined,
    granted: event.scope_granted.length > 0 ? event.scope_granted.join(' ') : undefined,
    denied: event.scope_denied.length > 0 ? event.scope_denied.map((d) => `${d.scope}(${d.reason})`).join(' ') : undefined,
    error: event.error ?? undefined,
    jti: event.jti ?? undefined,
    grant: event.grant_id ?? undefined,
  });
  const rendered = Object.entries(facts).map(([name, value]) => `${name}=${cell(value).includes(' ') ? JSON.stringify(cell(value)) : cell(value)}`);
  return [event.at, `#${event.id}`, event.type, ...rendered].join('  ');
}

function print(events: AuditEvent[], format: Format): void {
  for (const event of events) out(format === 'table' ? eventLine(event) : JSON.stringify(event));
}

/** Events newer than `afterId`, oldest first, following cursors back until reaching it. */
async function newerThan(api: AdminClient, filters: Query<'listAuditEvents'>, afterId: number): Promise<AuditEvent[]> {
  const found: AuditEvent[] = [];
  let cursor: string | undefined;
  for (;;) {
    const page = await unwrap(api.GET('/admin/v1/audit', { params: { query: { ...filters, limit: 500, ...(cursor ? { cursor } : {}) } } }));
    const fresh = page.items.filter((event) => event.id > afterId);
    found.push(...fresh);
    if (fresh.length < page.items.length || !page.next_cursor) break;
    cursor = page.next_cursor;
  }
  return found.reverse();
}

export function auditCommands(program: Command): void {
  const group = program.command('audit').description('the audit log: every exchange, refusal and admin change');

  examples(
    withOutput(group.command('tail').description('print the newest audit events, oldest first; --follow keeps printing new ones'))
      .option('-n, --lines <n>', 'how many recent events to print first', integer(0, 500), 20)
      .option('-f, --follow', 'keep polling for new events until interrupted (with --jsonl for scripts)')
      .option('--interval <seconds>', 'how often --follow polls', integer(1, 3600), 2)
      .option('--subject <subject>', 'only events about this subject')
      .option('--actor <actor>', 'only events whose actor chain names this actor')
      .option('--client <client_id>', 'only events of this client')
      .option('--type <type>', 'only this event type, e.g. token.exchanged')
      .option('--admin <admin>', 'only changes by this admin (bootstrap or client:<id>)')
      .option('--since <time>', 'only events at or after this time', timestamp)
      .option('--until <time>', 'only events before this time', timestamp)
      .action(async (options: TailOptions, command: Command) => {
        const format = outputFormat(command);
        if (options.follow && format === 'json') throw new UsageError('--follow prints a stream: use --jsonl');
        const api = await (await openSession(command)).admin();
        const filters: Query<'listAuditEvents'> = {
          subject: options.subject,
          actor: options.actor,
          client: options.client,
          type: options.type,
          admin: options.admin,
          since: options.since,
          until: options.until,
        };
        const first = await unwrap(api.GET('/admin/v1/audit', { params: { query: { ...filters, limit: Math.max(options.lines, 1) } } }));
        const recent = first.items.slice(0, options.lines).reverse();
        if (format === 'json') return out(JSON.stringify(recent, null, 2));
        print(recent, format);
        if (!options.follow) return;

        let lastId = first.items[0]?.id ?? 0;
        note(`following events after #${lastId} (Ctrl-C to stop)`);
        const stop = new AbortController();
        process.once('SIGINT', () => stop.abort());
        process.once('SIGTERM', () => stop.abort());
        while (!stop.signal.aborted) {
          try {
            await sleep(options.interval * 1000, undefined, { signal: stop.signal });
          } catch {
            break;
          }
          const events = await newerThan(api, filters, lastId);
          print(events, format);
          lastId = events.at(-1)?.id ?? lastId;
        }
      }),
    'deputy audit tail -n 50 --type token.exchange_denied',
    'deputy audit tail --follow --actor agent:triage --jsonl',
  );

  examples(
    withOutput(group.command('verify').description('check every audit hash chain; exits 1 and names the first broken link if one is broken')).action(
      async (_options: object, command: Command) => {
        const api = await (await openSession(command)).admin();
        const report = await unwrap(api.GET('/admin/v1/audit/verify'));
        printObject(report, outputFormat(command));
        const broken = report.first_broken_link;
        if (!report.ok) {
          throw new CliError(
            broken ? `audit_chain_broken: chain ${broken.chain_id}, seq ${broken.seq} (${broken.problem})` : 'audit_chain_broken',
            EXIT.refused,
          );
        }
      },
    ),
    'deputy audit verify && echo "audit log intact"',
  );
}
