// Prints one secret of the demo world, for a command line to read without showing it:
//   curl -u "triage-app:$(npm run -s demo:secret -- app)" ...
// `app`: the triage-app client's secret; `admin`: the deputy-admin client's secret.
import 'dotenv/config';
import { loadConfig } from '../src/config.js';
import { readDemoSecrets, type DemoSecrets } from '../src/demo/seed.js';

const SECRETS: Record<string, (secrets: DemoSecrets) => string> = {
  app: (secrets) => secrets.appClientSecret,
  admin: (secrets) => secrets.adminClientSecret,
};

const name = process.argv[2] ?? '';
const pick = SECRETS[name];
if (!pick) {
  console.error(`usage: npm run -s demo:secret -- <${Object.keys(SECRETS).join('|')}>`);
  process.exit(2);
}
const config = loadConfig(process.env);
const secrets = await readDemoSecrets(config.DEPUTY_HOME);
if (!secrets) {
  console.error(`no demo world under ${config.DEPUTY_HOME}: run \`npm start\` once first`);
  process.exit(1);
}
process.stdout.write(`${pick(secrets)}\n`);
