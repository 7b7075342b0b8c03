import { DEMO } from './seed.js';

/** What `npm start` prints: a newcomer pastes these lines into a second terminal. */
export function quickstart(baseUrl: string, appClientSecret: string | null, adminToken: string | null): string {
  const secret = appClientSecret ?? '<the triage-app secret printed on first start, kept in .deputy/demo.json>';
  const lines = [
    '',
    `Deputy is ready at ${baseUrl}`,
    '',
    '  Discovery:  curl -s ' + `${baseUrl}/.well-known/oauth-authorization-server`,
    '  Keys:       curl -s ' + `${baseUrl}/jwks`,
    '',
    'Try a delegated exchange (in another terminal):',
    '',
    '  # 1. a session token for alice from the demo identity provider',
    '  USER_TOKEN=$(npm run -s demo:token -- alice)',
    '',
    `  # 2. the ${DEMO.appClient} app exchanges it for a token acting as ${DEMO.agent}`,
    `  curl -s ${baseUrl}/token -u '${DEMO.appClient}:${secret}' \\`,
    `    -d grant_type=urn:ietf:params:oauth:grant-type:token-exchange \\`,
    `    -d subject_token="$USER_TOKEN" -d subject_token_type=urn:ietf:params:oauth:token-type:jwt \\`,
    `    -d resource=${DEMO.resource} -d scope='tickets:read tickets:delete'`,
    '',
    '  # tickets:delete is dropped (the grant and the agent\'s ceiling exclude it); the response',
    '  # lists exactly what was granted. Decode the access_token at any JWT viewer or with:',
    `  #   node -e 'const t=process.argv[1].split(".")[1];console.log(JSON.parse(Buffer.from(t,"base64url")))' <access_token>`,
  ];
  if (adminToken) {
    lines.push('', 'Admin API:', `  curl -s ${baseUrl}/admin/v1/grants -H 'Authorization: Bearer ${adminToken}'`);
  }
  lines.push('');
  return lines.join('\n');
}
