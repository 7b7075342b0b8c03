// Prints one secret of the demo world, for a command line to read without showing it:
//   curl -u "triage-app:$(npm run -s demo:secret -- app)" ...
// `app`: the triage-app client's secret; `admin`: the deputy-admin client's secret;
// `alice`, `bob`: that user's password at the demo identity provider (ISSUER/demo-idp).
import 'dotenv/config';
import { loadConfig } from '../src/config.js';
import { DEMO, loadDemoSecrets, type DemoSecrets } from '../src/demo/seed.js';

const SECRETS: Record<string, (secrets: DemoSecrets) => string> = {
  app: (secrets) => secrets.appClientSecret,
  admin: (secrets) => secrets.adminClientSecret,
  ...Object.fromEntries(DEMO.users.map((user) => [user, (secrets: DemoSecrets) => secrets.userPasswords[user]!])),
};

const name = process.argv[2] ?? '';
const pick = SECRETS[name];
if (!pick) {
  console.error(`usage: npm run -s demo:secret -- <${Object.keys(SECRETS).join('|')}>`);
  process.exit(2);
}
const config = loadConfig(process.env);
const secrets = await loadDemoSecrets(config.DEPUTY_HOME);
if (!secrets) {
  console.error(`no demo world under ${config.DEPUTY_HOME}: run \`npm start\` once first`);
  process.exit(1);
}
process.stdout.write(`${pick(secrets)}\n`);
