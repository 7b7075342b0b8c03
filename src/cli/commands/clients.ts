/**
 * `deputy clients …`: OAuth clients of the token endpoint. A new secret (create, rotate-secret,
 * or a switch to a secret method) is shown once by the API; the CLI prints it once too, or,
 * with --secret-file, writes it to a 0600 file and leaves it out of the output.
 */
import { open, rm } from 'node:fs/promises';
import type { Command } from 'commander';
import { openSession, outputFormat } from '../context.js';
import { UsageError } from '../errors.js';
import type { components } from '../generated/admin-api.js';
import { note, printObject, withOutput, type Column, type Format } from '../output.js';
import { NONE, choice, examples, subcommand, jwksOption, words } from '../options.js';
import { changesSomething, unwrap, type RequestBody } from '../session.js';
import { collect, printPage, withPaging, type PageOptions } from './list.js';

type Client = components['schemas']['Client'];
type ClientWithSecret = components['schemas']['ClientWithSecret'];
const AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'] as const;

const COLUMNS: Column<Client>[] = [
  { header: 'CLIENT ID', value: (c) => c.client_id },
  { header: 'AUTH METHOD', value: (c) => c.token_endpoint_auth_method },
  { header: 'ACTOR', value: (c) => c.actor },
  { header: 'ALLOWED ACTORS', value: (c) => c.allowed_actors },
  { header: 'SCOPE', value: (c) => c.scope },
  { header: 'CREATED', value: (c) => c.created_at },
];

interface ClientFields {
  authMethod?: Client['token_endpoint_auth_method'];
  jwksFile?: string;
  actor?: string;
  allowedActor?: string[];
  scope?: string;
  secretFile?: string;
}

function fieldOptions(command: Command, creating: boolean): Command {
  const clear = creating ? '' : ` (${NONE} to clear)`;
  return command
    .addOption(choice('--auth-method <method>', 'token endpoint authentication (default client_secret_basic)', AUTH_METHODS))
    .option('--jwks-file <path>', `public keys for private_key_jwt: a JWK Set or JWK file, - for stdin${clear}`)
    .option('--actor <actor>', `the actor it acts as when no actor token is sent${clear}`)
    .option('--allowed-actor <actor>', 'a further actor it may present actor tokens for (repeatable)', words)
    .option('--scope <scope>', 'its own scope: "deputy:admin" makes an admin client')
    .option('--secret-file <path>', 'write a newly issued secret to this file (mode 0600) instead of printing it');
}

async function clientBody(options: ClientFields): Promise<RequestBody<'updateClient'>> {
  return {
    token_endpoint_auth_method: options.authMethod,
    jwks: (await jwksOption(options.jwksFile)) as components['schemas']['Jwks'] | null | undefined,
    actor: options.actor === NONE ? null : options.actor,
    allowed_actors: options.allowedActor,
    scope: options.scope,
  };
}

/**
 * Runs a call that may issue a secret, then prints the client. With --secret-file the file is
 * created (0600, never overwriting) before the call, so a secret is never issued with nowhere
 * to go; it is removed again if the call fails or issues no secret.
 */
async function withSecretOutput(secretFile: string | undefined, format: Format, call: () => Promise<ClientWithSecret>): Promise<void> {
  if (secretFile === undefined) {
    const client = await call();
    printObject(client, format);
    if (client.client_secret !== undefined) note('the client_secret is shown this once: store it now');
    return;
  }
  let handle;
  try {
    handle = await open(secretFile, 'wx', 0o600);
  } catch (error) {
    throw new UsageError(`cannot create ${secretFile}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  let written = false;
  try {
    const { client_secret: secret, ...client } = await call();
    if (secret !== undefined) {
      await handle.writeFile(`${secret}\n`);
      written = true;
    }
    printObject(client, format);
    note(written ? `client_secret written to ${secretFile}` : 'no secret was issued');
  } finally {
    await handle.close();
    if (!written) await rm(secretFile, { force: true });
  }
}

export function clientCommands(program: Command): void {
  const group = program.command('clients').alias('client').description('OAuth clients of the token endpoint');

  withOutput(withPaging(group.command('list').description('list clients, newest first')))
    .option('--actor <actor>', 'only clients acting as this actor')
    .action(async (options: PageOptions & { actor?: string }, command: Command) => {
      const api = await (await openSession(command)).admin();
      const page = await collect(options, (paging) =>
        unwrap(api.GET('/admin/v1/clients', { params: { query: { ...paging, actor: options.actor } } })),
      );
      printPage(page, COLUMNS, outputFormat(command));
    });

  withOutput(group.command('get').description('show a client (never its secret)').argument('<client_id>', 'client id')).action(
    async (id: string, _options: object, command: Command) => {
      const api = await (await openSession(command)).admin();
      printObject(await unwrap(api.GET('/admin/v1/clients/{id}', { params: { path: { id } } })), outputFormat(command));
    },
  );

  examples(
    fieldOptions(withOutput(group.command('create').description('register a client').argument('<client_id>', 'client id, e.g. triage-app')), true).action(
      async (id: string, options: ClientFields, command: Command) => {
        const api = await (await openSession(command)).admin();
        const body: RequestBody<'createClient'> = { ...(await clientBody(options)), client_id: id };
        await withSecretOutput(options.secretFile, outputFormat(command), () => unwrap(api.POST('/admin/v1/clients', { body })));
      },
    ),
    'deputy clients create triage-app --actor agent:triage --secret-file triage-app.secret',
    'deputy clients create ops-admin --scope deputy:admin',
  );

  fieldOptions(withOutput(group.command('update').description('change a client').argument('<client_id>', 'client id')), false).action(
    async (id: string, options: ClientFields, command: Command) => {
      const body = await clientBody(options);
      if (!changesSomething(body)) throw new UsageError('name at least one field to change');
      const api = await (await openSession(command)).admin();
      await withSecretOutput(options.secretFile, outputFormat(command), () =>
        unwrap(api.PATCH('/admin/v1/clients/{id}', { params: { path: { id } }, body })),
      );
    },
  );

  examples(
    withOutput(group.command('rotate-secret').description('issue a new secret; the old one stops working at once').argument('<client_id>', 'client id'))
      .option('--secret-file <path>', 'write the new secret to this file (mode 0600) instead of printing it')
      .action(async (id: string, options: { secretFile?: string }, command: Command) => {
        const api = await (await openSession(command)).admin();
        await withSecretOutput(options.secretFile, outputFormat(command), () =>
          unwrap(api.POST('/admin/v1/clients/{id}/secret', { params: { path: { id } } })),
        );
      }),
    'deputy clients rotate-secret triage-app --secret-file triage-app.secret',
  );

  examples(subcommand(group, 'list'), 'deputy clients list --actor agent:triage');
  examples(subcommand(group, 'get'), 'deputy clients get triage-app --json');
  examples(subcommand(group, 'update'), 'deputy clients update triage-app --allowed-actor agent:summarizer --actor none');
}
