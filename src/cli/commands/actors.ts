/** `deputy actors …` (alias `actor`): agents, services and workloads — and their keys. */
import { chmod, open } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { KEY_ALGORITHMS, generateActorKey, type KeyAlgorithm } from '../actor-keys.js';
import { openSession, outputFormat } from '../context.js';
import { UsageError } from '../errors.js';
import type { components } from '../generated/admin-api.js';
import { note, out, printObject, withOutput, type Column } from '../output.js';
import { NONE, choice, examples, subcommand, integer, jwksOption, orNone, orNull, timestamp, words } from '../options.js';
import { changesSomething, unwrap, type Query, type RequestBody } from '../session.js';
import { collect, printPage, withPaging, type PageOptions } from './list.js';

type Actor = components['schemas']['Actor'];
const KINDS = ['agent', 'service', 'workload'] as const;
const STATUSES = ['active', 'disabled'] as const;

const COLUMNS: Column<Actor>[] = [
  { header: 'ID', value: (a) => a.id },
  { header: 'KIND', value: (a) => a.kind },
  { header: 'OWNER', value: (a) => a.owner },
  { header: 'STATUS', value: (a) => a.status },
  { header: 'EXPIRES', value: (a) => a.expires_at },
  { header: 'LAST USED', value: (a) => a.last_used_at },
  { header: 'KEYS', value: (a) => a.jwks?.keys.length ?? (a.workload ? 'workload' : 0) },
];

interface ActorFields {
  kind?: Actor['kind'];
  owner?: string;
  purpose?: string;
  status?: Actor['status'];
  expiresAt?: string;
  jwksFile?: string;
  workloadIssuer?: string;
  workloadSubject?: string;
  scopeCeiling?: string[];
  resource?: string[];
  maxTokenTtl?: number | typeof NONE;
  mayDelegateTo?: string[];
}

function fieldOptions(command: Command, creating: boolean): Command {
  const clear = creating ? '' : ` (${NONE} to clear)`;
  return command
    .addOption(choice('--kind <kind>', 'agent, service or workload', KINDS).makeOptionMandatory(creating))
    .addOption(new Option('--owner <subject>', 'the subject accountable for it').makeOptionMandatory(creating))
    .option('--purpose <text>', 'what it is for')
    .addOption(choice('--status <status>', 'active or disabled', STATUSES))
    .option('--expires-at <time>', `when it lapses (RFC 3339)${clear}`, creating ? timestamp : orNone(timestamp))
    .option('--jwks-file <path>', `its public keys: a JWK Set or JWK file, - for stdin${clear}`)
    .option('--workload-issuer <issuer>', `trusted workload issuer whose tokens act as it${clear}`)
    .option('--workload-subject <subject>', 'the workload token subject (with --workload-issuer)')
    .option('--scope-ceiling <scopes>', 'the most it may ever be granted (repeatable, or space-separated)', words)
    .option('--resource <uri>', 'a resource URI it may target (repeatable)', words)
    .option('--max-token-ttl <seconds>', `longest token lifetime${clear}`, creating ? integer(1, 86400) : orNone(integer(1, 86400)))
    .option('--may-delegate-to <actor>', 'an actor it may pass a delegation on to (repeatable)', words);
}

async function actorBody(options: ActorFields): Promise<RequestBody<'updateActor'>> {
  let workload: { issuer: string; subject: string } | null | undefined;
  if (options.workloadIssuer === NONE) workload = null;
  else if (options.workloadIssuer !== undefined || options.workloadSubject !== undefined) {
    if (!options.workloadIssuer || !options.workloadSubject) throw new UsageError('give --workload-issuer and --workload-subject together');
    workload = { issuer: options.workloadIssuer, subject: options.workloadSubject };
  }
  return {
    kind: options.kind,
    owner: options.owner,
    purpose: options.purpose,
    status: options.status,
    expires_at: orNull(options.expiresAt),
    jwks: (await jwksOption(options.jwksFile)) as components['schemas']['Jwks'] | null | undefined,
    workload,
    scope_ceiling: options.scopeCeiling,
    resources: options.resource,
    max_token_ttl: orNull(options.maxTokenTtl),
    may_delegate_to: options.mayDelegateTo,
  };
}

export function actorCommands(program: Command): void {
  const group = program.command('actors').alias('actor').description('agents, services and workloads acting for subjects (the NHI inventory)');

  examples(
    withOutput(withPaging(group.command('list').description('list actors, newest first')))
      .option('--owner <subject>', 'only actors owned by this subject')
      .addOption(choice('--kind <kind>', 'only this kind', KINDS))
      .addOption(choice('--status <status>', 'only this status', STATUSES))
      .option('--expiring-before <time>', 'only actors expiring before this time', timestamp)
      .option('--unused-since <time>', 'only actors unused since this time (or never used)', timestamp)
      .action(
        async (
          options: PageOptions & { owner?: string; kind?: Actor['kind']; status?: Actor['status']; expiringBefore?: string; unusedSince?: string },
          command: Command,
        ) => {
          const api = await (await openSession(command)).admin();
          const filters: Query<'listActors'> = {
            owner: options.owner,
            kind: options.kind,
            status: options.status,
            expiring_before: options.expiringBefore,
            unused_since: options.unusedSince,
          };
          const page = await collect(options, (paging) => unwrap(api.GET('/admin/v1/actors', { params: { query: { ...paging, ...filters } } })));
          printPage(page, COLUMNS, outputFormat(command));
        },
      ),
    'deputy actors list --owner alice --status active',
    'deputy actors list --unused-since 2026-01-01T00:00:00Z --all --json',
  );

  withOutput(group.command('get').description('show an actor').argument('<id>', 'actor id')).action(
    async (id: string, _options: object, command: Command) => {
      const api = await (await openSession(command)).admin();
      printObject(await unwrap(api.GET('/admin/v1/actors/{id}', { params: { path: { id } } })), outputFormat(command));
    },
  );

  examples(
    fieldOptions(withOutput(group.command('create').description('register an actor').argument('<id>', 'actor id, e.g. agent:triage')), true)
      .action(async (id: string, options: ActorFields, command: Command) => {
        const body: RequestBody<'createActor'> = { ...(await actorBody(options)), id, kind: options.kind!, owner: options.owner! };
        const api = await (await openSession(command)).admin();
        printObject(await unwrap(api.POST('/admin/v1/actors', { body })), outputFormat(command));
      }),
    'deputy actors keygen --out triage.pem > triage.jwks.json',
    'deputy actors create agent:triage --kind agent --owner alice --purpose "ticket triage" \\\n      --jwks-file triage.jwks.json --resource https://api.example.com/tickets --scope-ceiling "tickets:read tickets:write"',
  );

  examples(
    fieldOptions(withOutput(group.command('update').description('change an actor').argument('<id>', 'actor id')), false).action(
      async (id: string, options: ActorFields, command: Command) => {
        const body = await actorBody(options);
        if (!changesSomething(body)) throw new UsageError('name at least one field to change');
        const api = await (await openSession(command)).admin();
        printObject(await unwrap(api.PATCH('/admin/v1/actors/{id}', { params: { path: { id } }, body })), outputFormat(command));
      },
    ),
    'deputy actors update agent:triage --max-token-ttl 120 --expires-at none',
  );

  for (const [verb, status, description] of [
    ['disable', 'disabled', 'the kill switch: the actor’s exchanges and every token whose chain names it stop at once'],
    ['enable', 'active', 'enable an actor again'],
  ] as const) {
    examples(
      withOutput(group.command(verb).description(description).argument('<id>', 'actor id')).action(
        async (id: string, _options: object, command: Command) => {
          const api = await (await openSession(command)).admin();
          printObject(await unwrap(api.PATCH('/admin/v1/actors/{id}', { params: { path: { id } }, body: { status } })), outputFormat(command));
        },
      ),
      `deputy actors ${verb} agent:triage`,
    );
  }

  examples(
    group
      .command('keygen')
      .description('create an agent key pair: the private key to a PEM file (mode 0600), the public JWKS to stdout, to register')
      .requiredOption('--out <path>', 'where to write the private key (PEM, PKCS #8)')
      .addOption(choice('--alg <alg>', 'signing algorithm', KEY_ALGORITHMS).default('ES256'))
      .option('--force', 'overwrite an existing file')
      .action(async (options: { out: string; alg: KeyAlgorithm; force?: boolean }) => {
        const { privatePem, publicJwk } = await generateActorKey(options.alg);
        let handle;
        try {
          handle = await open(options.out, options.force ? 'w' : 'wx', 0o600);
        } catch (error) {
          const code = (error as NodeJS.ErrnoException).code;
          throw new UsageError(code === 'EEXIST' ? `${options.out} exists (--force to overwrite)` : `cannot write ${options.out}: ${code ?? 'error'}`);
        }
        try {
          await handle.chmod(0o600);
          await handle.truncate(0);
          await handle.writeFile(privatePem);
        } finally {
          await handle.close();
        }
        await chmod(options.out, 0o600);
        out(JSON.stringify({ keys: [publicJwk] }, null, 2));
        note(`private key written to ${options.out} (kid ${publicJwk.kid}); register the JWKS above with: deputy actors update <id> --jwks-file <file>`);
      }),
    'deputy actors keygen --out triage.pem > triage.jwks.json',
    'deputy actors keygen --alg EdDSA --out triage.pem | deputy actors update agent:triage --jwks-file -',
  );

  examples(subcommand(group, 'get'), 'deputy actors get agent:triage');
}
