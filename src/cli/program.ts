/**
 * The `deputy` command tree. Built by a function, not at import, so the CLI reference
 * (docs/cli.md) and shell completion are generated from the very commands that run.
 */
import { createRequire } from 'node:module';
import { Command, Option } from 'commander';
import { actorCommands } from './commands/actors.js';
import { auditCommands } from './commands/audit.js';
import { clientCommands } from './commands/clients.js';
import { completionCommand } from './commands/completion.js';
import { entitlementCommands } from './commands/entitlements.js';
import { approvalCommands } from './commands/approvals.js';
import { grantCommands } from './commands/grants.js';
import { issuerCommands } from './commands/issuers.js';
import { keyCommands } from './commands/keys.js';
import { loginCommands } from './commands/login.js';
import { resourceCommands } from './commands/resources.js';
import { subjectCommands } from './commands/subjects.js';
import { tokenCommands } from './commands/tokens.js';
import { integer } from './options.js';

/** The package's version: package.json sits two levels above both src/cli/ and dist/cli/. */
export const VERSION: string = (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
/** Help is wrapped at this width whatever the terminal, so docs/cli.md is reproducible. */
export const HELP_WIDTH = 100;

const ENVIRONMENT = `
Environment:
  DEPUTY_URL            Deputy's URL (overrides the profile's)
  DEPUTY_CLIENT_ID      client credentials (with DEPUTY_CLIENT_SECRET); replace the profile's
  DEPUTY_CLIENT_SECRET
  DEPUTY_ADMIN_TOKEN    admin bearer token; replaces the profile's credentials
  DEPUTY_PROFILE        profile to use when --profile is not given
  XDG_CONFIG_HOME       profiles live in $XDG_CONFIG_HOME/deputy/profiles.json (default ~/.config)

Exit codes: 0 ok, 1 refused or invalid (the API's error is printed), 2 usage, 3 unreachable.`;

export function createProgram(): Command {
  const program = new Command('deputy')
    .description("Deputy's command line: govern delegation (admin API), get and read delegated tokens")
    .version(VERSION)
    .option('--profile <name>', 'connection profile (see deputy login; default "default")')
    .addOption(new Option('--timeout <seconds>', 'give up on a request after this long').argParser(integer(1, 600)).default(30))
    .configureHelp({ helpWidth: HELP_WIDTH, showGlobalOptions: true, sortSubcommands: false })
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .addHelpText('after', ENVIRONMENT);

  loginCommands(program);
  subjectCommands(program);
  actorCommands(program);
  clientCommands(program);
  resourceCommands(program);
  issuerCommands(program);
  entitlementCommands(program);
  grantCommands(program);
  approvalCommands(program);
  tokenCommands(program);
  auditCommands(program);
  keyCommands(program);
  completionCommand(program);
  return program;
}
