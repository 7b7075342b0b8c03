/** `deputy issuers …`: trusted issuers of user and workload tokens. */
import type { Command } from 'commander';
import { openSession, outputFormat } from '../context.js';
import { UsageError } from '../errors.js';
import type { components } from '../generated/admin-api.js';
import { note, printObject, withOutput, type Column } from '../output.js';
import { NONE, choice, examples, subcommand, jwksOption, words } from '../options.js';
import { changesSomething, unwrap, type Query, type RequestBody } from '../session.js';
import { collect, printPage, withPaging, type PageOptions } from './list.js';

type Issuer = components['schemas']['Issuer'];
type IssuerCreate = components['schemas']['IssuerCreate'];
const KINDS = ['user', 'workload'] as const;
const ALGORITHMS = ['ES256', 'ES384', 'ES512', 'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'EdDSA'] as const;

const COLUMNS: Column<Issuer>[] = [
  { header: 'ID', value: (i) => i.id },
  { header: 'ISSUER', value: (i) => i.issuer },
  { header: 'KIND', value: (i) => i.kind },
  { header: 'AUDIENCE', value: (i) => i.audience },
  { header: 'KEYS', value: (i) => i.jwks_uri ?? `inline (${i.jwks?.keys.length ?? 0})` },
];

interface IssuerFields {
  jwksUri?: string;
  jwksFile?: string;
  audience?: string;
  subjectClaim?: string;
  algorithm?: string[];
}

function fieldOptions(command: Command, creating: boolean): Command {
  const clear = creating ? '' : ` (${NONE} to clear, to switch to the other source)`;
  return command
    .option('--jwks-uri <url>', `where its keys are published (https; http only on localhost)${clear}`)
    .option('--jwks-file <path>', `its keys inline: a JWK Set or JWK file, - for stdin${clear}`)
    .option('--audience <aud>', 'the aud its tokens must carry for Deputy')
    .option('--subject-claim <claim>', 'the claim holding the subject or actor id (default sub)')
    .option('--algorithm <alg>', `an accepted algorithm (repeatable): ${ALGORITHMS.join(', ')}`, words);
}

async function issuerBody(options: IssuerFields): Promise<RequestBody<'updateIssuer'>> {
  for (const alg of options.algorithm ?? []) {
    if (!(ALGORITHMS as readonly string[]).includes(alg)) throw new UsageError(`--algorithm ${alg} is not one of ${ALGORITHMS.join(', ')}`);
  }
  return {
    jwks_uri: options.jwksUri === NONE ? null : options.jwksUri,
    jwks: (await jwksOption(options.jwksFile)) as components['schemas']['Jwks'] | null | undefined,
    audience: options.audience,
    subject_claim: options.subjectClaim,
    algorithms: options.algorithm as IssuerCreate['algorithms'],
  };
}

export function issuerCommands(program: Command): void {
  const group = program.command('issuers').alias('issuer').description('trusted issuers of user and workload tokens');

  withOutput(withPaging(group.command('list').description('list trusted issuers, newest first')))
    .addOption(choice('--kind <kind>', 'only this kind', KINDS))
    .option('--issuer <iss>', 'only this issuer')
    .action(async (options: PageOptions & { kind?: Issuer['kind']; issuer?: string }, command: Command) => {
      const api = await (await openSession(command)).admin();
      const filters: Query<'listIssuers'> = { kind: options.kind, issuer: options.issuer };
      const page = await collect(options, (paging) => unwrap(api.GET('/admin/v1/issuers', { params: { query: { ...paging, ...filters } } })));
      printPage(page, COLUMNS, outputFormat(command));
    });

  withOutput(group.command('get').description('show a trusted issuer').argument('<id>', 'issuer id (a UUID)')).action(
    async (id: string, _options: object, command: Command) => {
      const api = await (await openSession(command)).admin();
      printObject(await unwrap(api.GET('/admin/v1/issuers/{id}', { params: { path: { id } } })), outputFormat(command));
    },
  );

  examples(
    fieldOptions(withOutput(group.command('create').description('trust an issuer').argument('<issuer>', 'its iss value')), true)
      .addOption(choice('--kind <kind>', 'user or workload', KINDS).makeOptionMandatory())
      .action(async (issuer: string, options: IssuerFields & { kind: Issuer['kind'] }, command: Command) => {
        const { audience, ...rest } = await issuerBody(options);
        if (!audience) throw new UsageError("required option '--audience <aud>' not specified");
        const api = await (await openSession(command)).admin();
        const body: RequestBody<'createIssuer'> = { ...rest, issuer, kind: options.kind, audience };
        printObject(await unwrap(api.POST('/admin/v1/issuers', { body })), outputFormat(command));
      }),
    'deputy issuers create https://idp.example.com --kind user --audience https://deputy.example.com \\\n      --jwks-uri https://idp.example.com/.well-known/jwks.json',
  );

  fieldOptions(withOutput(group.command('update').description('change an issuer’s keys, audience, subject claim or algorithms').argument('<id>', 'issuer id')), false).action(
    async (id: string, options: IssuerFields, command: Command) => {
      const body = await issuerBody(options);
      if (!changesSomething(body)) throw new UsageError('name at least one field to change');
      const api = await (await openSession(command)).admin();
      printObject(await unwrap(api.PATCH('/admin/v1/issuers/{id}', { params: { path: { id } }, body })), outputFormat(command));
    },
  );

  group
    .command('delete')
    .description('stop trusting an issuer: its tokens are refused from the next exchange on')
    .argument('<id>', 'issuer id')
    .action(async (id: string, _options: object, command: Command) => {
      const api = await (await openSession(command)).admin();
      await unwrap(api.DELETE('/admin/v1/issuers/{id}', { params: { path: { id } } }));
      note(`issuer ${id} deleted`);
    });

  examples(subcommand(group, 'list'), 'deputy issuers list --kind workload');
  examples(subcommand(group, 'get'), 'deputy issuers get 1b4e28ba-2fa1-4d2b-883f-0016d3cca427');
  examples(subcommand(group, 'update'), 'deputy issuers update 1b4e28ba-2fa1-4d2b-883f-0016d3cca427 --jwks-file idp-keys.json --jwks-uri none');
  examples(subcommand(group, 'delete'), 'deputy issuers delete 1b4e28ba-2fa1-4d2b-883f-0016d3cca427');
}
