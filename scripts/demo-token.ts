// Prints a demo user's session token from the demo identity provider: npm run demo:token -- alice
import 'dotenv/config';
import { loadConfig } from '../src/config.js';
import { readDemoSecrets } from '../src/demo/seed.js';
import { demoUserToken } from '../src/demo/user-token.js';

const subject = process.argv[2] ?? 'alice';
const config = loadConfig(process.env);
const secrets = await readDemoSecrets(config.DEPUTY_HOME);
if (!secrets) {
  console.error(`no demo world under ${config.DEPUTY_HOME}: run \`npm start\` once first`);
  process.exit(1);
}
process.stdout.write(`${await demoUserToken(secrets, subject)}\n`);
