/**
 * `deputy login`, `logout` and `profiles`: named connection profiles (src/cli/profiles.ts).
 * Login checks the URL and the credentials before storing anything, and never prints a secret.
 */
import type { Command } from 'commander';
import { globalsOf } from '../context.js';
import { RefusedError, UsageError } from '../errors.js';
import { out, table } from '../output.js';
import { examples, readStdin } from '../options.js';
import { DEFAULT_PROFILE, ProfileName, listProfiles, removeProfile, saveProfile, type Profile } from '../profiles.js';
import { Session, normalizeUrl } from '../session.js';

interface LoginOptions {
  url: string;
  clientId?: string;
  clientSecret?: string;
  token?: string;
  verify: boolean;
}

const secretArgument = async (value: string) => (value === '-' ? (await readStdin()).trim() : value);

function profileName(command: Command): string {
  const name = globalsOf(command).profile ?? process.env.DEPUTY_PROFILE ?? DEFAULT_PROFILE;
  if (!ProfileName.safeParse(name).success) throw new UsageError('profile names are 1-64 letters, digits, ".", "_" or "-"');
  return name;
}

/** What the credentials can do, checked against the server; refuses credentials it rejects. */
async function check(session: Session): Promise<string> {
  await session.issuer();
  const { token, client } = session.connection;
  if (token) {
    await (await session.admin()).GET('/admin/v1/subjects', { params: { query: { limit: 1 } } }).then(({ response, error }) => {
      if (!response.ok) throw new RefusedError((error as { error?: string })?.error ?? 'invalid_token', 'the admin API refused this token', response.status);
    });
    return 'admin token';
  }
  try {
    await session.adminToken();
    return `client ${client!.id} (admin)`;
  } catch (error) {
    // Any refusal but invalid_client means the credentials are good, just not an admin's.
    if (error instanceof RefusedError && error.code !== 'invalid_client') return `client ${client!.id} (not an admin client: token exchange only)`;
    throw error;
  }
}

export function loginCommands(program: Command): void {
  examples(
    program
      .command('login')
      .description('store a connection profile (file mode 0600); --profile names it. Checks the credentials first')
      .requiredOption('--url <url>', 'Deputy’s URL, e.g. https://deputy.example.com')
      .option('--client-id <id>', 'a client (an admin client, scope deputy:admin, for admin commands)')
      .option('--client-secret <secret>', 'its secret; - reads it from stdin (keeps it out of ps and shell history)')
      .option('--token <token>', 'an admin bearer token (DEPUTY_ADMIN_TOKEN); - reads it from stdin')
      .option('--no-verify', 'store without checking the URL and credentials')
      .action(async (options: LoginOptions, command: Command) => {
        const name = profileName(command);
        const url = normalizeUrl(options.url);
        if (options.token !== undefined && (options.clientId !== undefined || options.clientSecret !== undefined)) {
          throw new UsageError('give --token or --client-id/--client-secret, not both');
        }
        let profile: Profile;
        if (options.token !== undefined) {
          const token = await secretArgument(options.token);
          if (!token) throw new UsageError('the token is empty');
          profile = { url, token };
        } else if (options.clientId !== undefined && options.clientSecret !== undefined) {
          const secret = await secretArgument(options.clientSecret);
          if (!options.clientId || !secret) throw new UsageError('the client id and secret must not be empty');
          profile = { url, client_id: options.clientId, client_secret: secret };
        } else {
          throw new UsageError('give --client-id with --client-secret, or --token');
        }

        let what = 'token' in profile ? 'admin token' : `client ${profile.client_id}`;
        if (options.verify) {
          const connection = 'token' in profile ? { url, token: profile.token } : { url, client: { id: profile.client_id, secret: profile.client_secret } };
          what = await check(new Session(connection, globalsOf(command).timeout));
        }
        const path = await saveProfile(name, profile);
        out(`profile "${name}" saved to ${path}: ${url} as ${what}`);
      }),
    'deputy login --url http://localhost:3000 --token - < admin-token.txt',
    'deputy --profile prod login --url https://deputy.example.com --client-id ops-admin --client-secret -',
  );

  examples(program
    .command('logout')
    .description('remove a stored profile (--profile, default "default")')
    .action(async (_options: object, command: Command) => {
      const name = profileName(command);
      out((await removeProfile(name)) ? `profile "${name}" removed` : `no profile named "${name}"`);
    }), 'deputy --profile prod logout');

  examples(program
    .command('profiles')
    .description('list stored profiles (never their secrets)')
    .option('--json', 'print one JSON document')
    .action(async (options: { json?: boolean }) => {
      const profiles = Object.entries(await listProfiles()).map(([name, profile]) => ({
        name,
        url: profile.url,
        credentials: 'token' in profile ? 'admin token' : `client ${profile.client_id}`,
      }));
      out(options.json ? JSON.stringify(profiles, null, 2) : table(['PROFILE', 'URL', 'CREDENTIALS'], profiles.map((p) => [p.name, p.url, p.credentials])));
    }), 'deputy profiles');
}

