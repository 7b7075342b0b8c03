/**
 * `deputy tokens …` (alias `token`): issued delegated tokens (admin API), and the two things an
 * agent developer does with Deputy: get a delegated token (RFC 8693 exchange) and read one.
 */
import { readFile } from 'node:fs/promises';
import { Option, type Command } from 'commander';
import { createLocalJWKSet, decodeJwt, decodeProtectedHeader, errors as joseErrors, jwtVerify, type JSONWebKeySet } from 'jose';
import { loadSigningKey, signActorAssertion } from '../actor-keys.js';
import { openSession, outputFormat } from '../context.js';
import { CliError, EXIT, RefusedError, UsageError } from '../errors.js';
import { TOKEN_EXCHANGE_GRANT } from '../../token-exchange/request.js';
import type { components } from '../generated/admin-api.js';
import { actChain, drawChain, inactiveReasons } from '../inspect.js';
import { note, out, printObject, table, withOutput, type Column, type Format } from '../output.js';
import { choice, defined, examples, subcommand, readStdin, words } from '../options.js';
import { OAUTH_PATHS, unwrap, type AdminClient, type ClientCredentials, type Query, type RequestBody, type Session } from '../session.js';
import { collect, printPage, withPaging, type PageOptions } from './list.js';

type Token = components['schemas']['Token'];

const COLUMNS: Column<Token>[] = [
  { header: 'JTI', value: (t) => t.jti },
  { header: 'SUBJECT', value: (t) => t.subject },
  { header: 'CHAIN', value: (t) => t.actors.join(' → ') },
  { header: 'CLIENT', value: (t) => t.client_id },
  { header: 'RESOURCE', value: (t) => t.resource },
  { header: 'SCOPE', value: (t) => t.scope },
  { header: 'EXPIRES', value: (t) => t.expires_at },
  { header: 'REVOKED', value: (t) => t.revoked_at },
];

const TOKEN_TYPE = 'urn:ietf:params:oauth:token-type:';
const SUBJECT_TOKEN_TYPES = ['jwt', 'id_token', 'access_token'] as const;

/** A token given on the command line, or `-` to read it from stdin (keeps it out of `ps` and history). */
async function tokenArgument(value: string, what: string): Promise<string> {
  const token = (value === '-' ? await readStdin() : value).trim();
  if (!token) throw new UsageError(`${what} is empty`);
  return token;
}

interface ClientOptions {
  clientId?: string;
  clientSecret?: string;
}

function clientOptions(command: Command): Command {
  return command
    .option('--client-id <id>', 'authenticate as this client (default: the profile’s or DEPUTY_CLIENT_ID)')
    .option('--client-secret <secret>', 'its secret (prefer DEPUTY_CLIENT_SECRET: arguments are visible to other users)');
}

function clientOf(session: Session, options: ClientOptions): ClientCredentials | undefined {
  if (options.clientId || options.clientSecret) {
    if (!options.clientId || !options.clientSecret) throw new UsageError('give --client-id and --client-secret together');
    return { id: options.clientId, secret: options.clientSecret };
  }
  return session.connection.client;
}

interface Decoded {
  header: Record<string, unknown>;
  claims: Record<string, unknown>;
}

function decode(token: string): Decoded {
  try {
    return { header: decodeProtectedHeader(token) as Record<string, unknown>, claims: decodeJwt(token) as Record<string, unknown> };
  } catch {
    throw new CliError('invalid_token: not a signed JWT', EXIT.refused);
  }
}

const seconds = (value: unknown) => (typeof value === 'number' ? new Date(value * 1000).toISOString() : undefined);

function claimRows(claims: Record<string, unknown>): string[][] {
  const rows: Array<[string, unknown]> = [
    ['issuer', claims.iss],
    ['subject', claims.sub],
    ['audience', claims.aud],
    ['client', claims.client_id],
    ['scope', claims.scope],
    ['issued', seconds(claims.iat)],
    ['expires', seconds(claims.exp)],
    ['jti', claims.jti],
    ['grant', claims.grant_id],
  ];
  return rows.filter(([, value]) => value !== undefined).map(([name, value]) => [name, Array.isArray(value) ? value.join(' ') : String(value)]);
}

function printDecoded(decoded: Decoded, format: Format, extra: Record<string, unknown> = {}): void {
  const chain = actChain(decoded.claims);
  if (format !== 'table') {
    const document = { ...extra, header: decoded.header, claims: decoded.claims, chain };
    return out(format === 'json' ? JSON.stringify(document, null, 2) : JSON.stringify(document));
  }
  const { alg, kid, typ } = decoded.header;
  out(table(['FIELD', 'VALUE'], [['token', [typ, alg, kid ? `kid ${String(kid)}` : undefined].filter(Boolean).join(' ')], ...claimRows(decoded.claims)]));
  if (typeof decoded.claims.sub === 'string' && chain.length > 0) out(['', 'delegation chain:', ...drawChain(decoded.claims.sub, chain).map((l) => `  ${l}`)].join('\n'));
}

type Signature = { valid: true; kid: string | null; expired: boolean } | { valid: false; reason: string };

async function verifySignature(session: Session, token: string): Promise<Signature> {
  const [issuer, jwks] = await Promise.all([session.issuer(), session.oauthJson(OAUTH_PATHS.jwks)]);
  const keys = createLocalJWKSet(jwks as unknown as JSONWebKeySet);
  try {
    const { protectedHeader } = await jwtVerify(token, keys, { issuer, typ: 'at+jwt' });
    return { valid: true, kid: protectedHeader.kid ?? null, expired: false };
  } catch (error) {
    // jose checks the signature before the claims: an expired token was signed by Deputy.
    if (error instanceof joseErrors.JWTExpired) return { valid: true, kid: decodeProtectedHeader(token).kid ?? null, expired: true };
    if (error instanceof joseErrors.JWKSNoMatchingKey) return { valid: false, reason: 'no key in /jwks matches (unknown or retired kid)' };
    if (error instanceof joseErrors.JOSEError) return { valid: false, reason: error.message };
    throw error;
  }
}

interface AdminFindings {
  record: Token | null;
  reasons: string[];
  unavailable?: string;
}

async function adminFindings(api: AdminClient, jti: string, now: Date): Promise<AdminFindings> {
  const record = await api.GET('/admin/v1/tokens/{jti}', { params: { path: { jti } } });
  if (record.response.status === 404) return { record: null, reasons: ['Deputy has no record of this token'] };
  const token = await unwrap(Promise.resolve(record));
  const found = <T>(reply: { data?: T }) => reply.data;
  const [grants, subject, actors] = await Promise.all([
    Promise.all(token.grant_ids.map((id) => api.GET('/admin/v1/grants/{id}', { params: { path: { id } } }).then(found))),
    api.GET('/admin/v1/subjects/{id}', { params: { path: { id: token.subject } } }).then(found),
    Promise.all(token.actors.map((id) => api.GET('/admin/v1/actors/{id}', { params: { path: { id } } }).then(found))),
  ]);
  const present = <T>(items: Array<T | undefined>) => items.filter((item): item is T => item !== undefined);
  return { record: token, reasons: inactiveReasons({ token, grants: present(grants), subject, actors: present(actors) }, now) };
}

export function tokenCommands(program: Command): void {
  const group = program.command('tokens').alias('token').description('get, read, list and revoke delegated tokens');

  examples(
    clientOptions(
      withOutput(
        group
          .command('exchange')
          .description('get a delegated token: an RFC 8693 token exchange with a client’s credentials; prints the access token'),
      ),
    )
      .requiredOption('--subject-token <token>', 'the person’s token (- reads it from stdin)')
      .addOption(choice('--subject-token-type <type>', 'jwt or id_token (a trusted issuer’s), access_token (Deputy’s: extends its chain)', SUBJECT_TOKEN_TYPES).default('jwt'))
      .option('--actor <id>', 'the actor acting (with --actor-key: signs a fresh actor assertion)')
      .option('--actor-key <path>', 'the actor’s private key (PEM), e.g. from deputy actors keygen')
      .option('--actor-token <jwt>', 'an actor token you already have (a workload token)')
      .option('--resource <uri>', 'the target resource (RFC 8707)')
      .option('--audience <aud>', 'the target, as an audience (instead of --resource)')
      .option('--scope <scopes>', 'requested scopes (repeatable, or space-separated; default: the grant’s)', words)
      .addOption(choice('--requested-token-type <type>', 'access_token or jwt', ['access_token', 'jwt']))
      .addOption(new Option('--decode', 'print the token’s header, claims and act chain instead of the token'))
      .action(
        async (
          options: ClientOptions & {
            subjectToken: string;
            subjectTokenType: (typeof SUBJECT_TOKEN_TYPES)[number];
            actor?: string;
            actorKey?: string;
            actorToken?: string;
            resource?: string;
            audience?: string;
            scope?: string[];
            requestedTokenType?: string;
            decode?: boolean;
          },
          command: Command,
        ) => {
          if (Boolean(options.actor) !== Boolean(options.actorKey)) throw new UsageError('give --actor and --actor-key together');
          if (options.actorKey && options.actorToken) throw new UsageError('give --actor-key or --actor-token, not both');
          if (!options.resource === !options.audience) throw new UsageError('give one of --resource and --audience');
          const format = outputFormat(command);
          const session = await openSession(command);
          const client = clientOf(session, options);
          if (!client) throw new UsageError('no client credentials: run deputy login with --client-id, pass --client-id/--client-secret, or set DEPUTY_CLIENT_ID/DEPUTY_CLIENT_SECRET');

          let actorToken = options.actorToken;
          if (options.actorKey && options.actor) {
            let pem: string;
            try {
              pem = await readFile(options.actorKey, 'utf8');
            } catch (error) {
              throw new UsageError(`cannot read ${options.actorKey}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
            }
            actorToken = await signActorAssertion(await loadSigningKey(pem, options.actorKey), options.actor, await session.issuer());
          }
          const form = {
            grant_type: TOKEN_EXCHANGE_GRANT,
            subject_token: await tokenArgument(options.subjectToken, 'the subject token'),
            subject_token_type: `${TOKEN_TYPE}${options.subjectTokenType}`,
            ...defined({
              actor_token: actorToken,
              actor_token_type: actorToken ? `${TOKEN_TYPE}jwt` : undefined,
              resource: options.resource,
              audience: options.audience,
              scope: options.scope?.join(' '),
              requested_token_type: options.requestedTokenType ? `${TOKEN_TYPE}${options.requestedTokenType}` : undefined,
            }),
          };
          const response = await session.postForm(OAUTH_PATHS.token, form, client);
          if (typeof response.access_token !== 'string') throw new RefusedError('unexpected_response', 'the token endpoint returned no access_token', 200);
          if (options.scope && typeof response.scope === 'string') {
            const granted = response.scope.split(' ');
            const dropped = options.scope.filter((scope) => !granted.includes(scope));
            if (dropped.length > 0) note(`not granted: ${dropped.join(' ')}`);
          }
          if (options.decode) return printDecoded(decode(response.access_token), format === 'table' ? 'json' : format);
          if (format !== 'table') return out(format === 'json' ? JSON.stringify(response, null, 2) : JSON.stringify(response));
          out(response.access_token);
        },
      ),
    'USER_TOKEN=$(npm run -s demo:token -- alice)',
    'deputy tokens exchange --subject-token "$USER_TOKEN" --resource https://api.example.com/tickets --scope tickets:read',
    'deputy tokens exchange --subject-token - --actor agent:triage --actor-key triage.pem \\\n      --resource https://api.example.com/tickets --decode < user-token.jwt',
  );

  examples(
    clientOptions(
      withOutput(
        group
          .command('inspect')
          .description(
            'decode a token, verify it against the server’s /jwks, draw its act chain, and show its introspection status and, ' +
              'with admin rights, why it is inactive. Exits 1 when the token is invalid, expired or inactive',
          )
          .argument('<jwt>', 'the token, or - to read it from stdin'),
      ),
    ).action(async (value: string, options: ClientOptions, command: Command) => {
      const format = outputFormat(command);
      const token = await tokenArgument(value, 'the token');
      const decoded = decode(token);
      const session = await openSession(command);
      const signature = await verifySignature(session, token);

      const client = clientOf(session, options);
      let introspection: Record<string, unknown> | { error: string } | null = null;
      if (client) {
        try {
          introspection = await session.postForm(OAUTH_PATHS.introspection, { token }, client);
        } catch (error) {
          if (!(error instanceof RefusedError)) throw error;
          introspection = { error: error.code };
        }
      }
      const jti = typeof decoded.claims.jti === 'string' ? decoded.claims.jti : undefined;
      let admin: AdminFindings | null = null;
      if (session.hasAdminCredentials && jti) {
        try {
          admin = await adminFindings(await session.admin(), jti, new Date());
        } catch (error) {
          if (!(error instanceof RefusedError)) throw error;
          admin = { record: null, reasons: [], unavailable: error.code };
        }
      }

      const active = introspection && 'active' in introspection ? introspection.active === true : null;
      const status = !signature.valid ? 'invalid' : signature.expired ? 'expired' : active === false ? 'inactive' : active === true ? 'active' : 'unknown';
      const reasons = admin?.reasons ?? [];
      if (format !== 'table') {
        printDecoded(decoded, format, { status, signature, introspection, record: admin?.record ?? null, inactive_reasons: reasons });
      } else {
        printDecoded(decoded, format);
        const verdict = signature.valid ? `valid (kid ${signature.kid ?? '-'})${signature.expired ? ', expired' : ''}` : `INVALID: ${signature.reason}`;
        const introspected =
          introspection === null ? 'not checked (no client credentials)' : 'error' in introspection ? `refused (${introspection.error})` : introspection.active ? 'active' : 'inactive';
        out(['', `signature:      ${verdict}`, `introspection:  ${introspected}`, `status:         ${status}`].join('\n'));
        if (admin?.unavailable) out(`admin records:  unavailable (${admin.unavailable})`);
        if (reasons.length > 0) out(['', 'why inactive:', ...reasons.map((reason) => `  - ${reason}`)].join('\n'));
        else if (status === 'inactive' && admin && !admin.unavailable) out('\nwhy inactive: nothing in the records (an ancestor token may have been revoked)');
      }
      if (status !== 'active' && status !== 'unknown') throw new CliError(`the token is ${status}`, EXIT.refused);
    }),
    'deputy tokens inspect "$ACCESS_TOKEN"',
    'deputy tokens exchange … | deputy tokens inspect - --json',
  );

  examples(
    withOutput(withPaging(group.command('list').description('list issued delegated tokens, newest first')))
      .option('--subject <subject>', 'only this subject’s')
      .option('--actor <actor>', 'only tokens whose chain names this actor')
      .option('--grant <id>', 'only tokens minted under this grant')
      .option('--client <client_id>', 'only tokens issued to this client')
      .action(async (options: PageOptions & { subject?: string; actor?: string; grant?: string; client?: string }, command: Command) => {
        const api = await (await openSession(command)).admin();
        const filters: Query<'listTokens'> = { subject: options.subject, actor: options.actor, grant: options.grant, client: options.client };
        const page = await collect(options, (paging) => unwrap(api.GET('/admin/v1/tokens', { params: { query: { ...paging, ...filters } } })));
        printPage(page, COLUMNS, outputFormat(command));
      }),
    'deputy tokens list --actor agent:triage --all --jsonl',
  );

  withOutput(group.command('get').description('show an issued token’s record').argument('<jti>', 'the token’s jti')).action(
    async (jti: string, _options: object, command: Command) => {
      const api = await (await openSession(command)).admin();
      printObject(await unwrap(api.GET('/admin/v1/tokens/{jti}', { params: { path: { jti } } })), outputFormat(command));
    },
  );

  examples(
    withOutput(group.command('revoke').description('revoke one issued token (and every token derived from it)').argument('<jti>', 'the token’s jti'))
      .option('--reason <text>', 'recorded in the audit event')
      .action(async (jti: string, options: { reason?: string }, command: Command) => {
        const api = await (await openSession(command)).admin();
        const body: RequestBody<'revokeToken'> = { reason: options.reason };
        printObject(await unwrap(api.POST('/admin/v1/tokens/{jti}/revoke', { params: { path: { jti } }, body })), outputFormat(command));
      }),
    'deputy tokens revoke 3f9e1c1e-8f0a-4a43-9d4e-1d2b8c7a6e55 --reason "leaked in a log"',
  );

  examples(subcommand(group, 'get'), 'deputy tokens get 3f9e1c1e-8f0a-4a43-9d4e-1d2b8c7a6e55');
}
