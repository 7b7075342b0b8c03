import { TOKEN_EXCHANGE_GRANT } from '../token-exchange/request.js';
import { DEMO } from './seed.js';

export interface QuickstartOptions {
  baseUrl: string;
  /** Where the demo world's secrets are kept (readable only by the owner). */
  secretsFile: string;
  /** Whether DEPUTY_ADMIN_TOKEN is set: the banner then shows how to use it, never its value. */
  bootstrapTokenConfigured: boolean;
  /**
   * Where people sign in at /approve: the demo identity provider (one process), the configured
   * APPROVAL_LOGIN_ISSUER, or nowhere (several workers and no APPROVAL_LOGIN_*).
   */
  approvalSignIn: 'demo' | 'configured' | 'none';
}

/**
 * What `npm start` writes to stderr: a newcomer pastes these lines into a second terminal. It
 * never contains a secret: the commands read them from the secrets file when they run.
 */
export function quickstart({ baseUrl, secretsFile, bootstrapTokenConfigured, approvalSignIn }: QuickstartOptions): string {
  const lines = [
    '',
    `Deputy is ready at ${baseUrl}`,
    '',
    '  Discovery:  curl -s ' + `${baseUrl}/.well-known/oauth-authorization-server`,
    '  Keys:       curl -s ' + `${baseUrl}/jwks`,
    '',
    `The demo world's secrets are in ${secretsFile} (readable only by you);`,
    'the commands below read them from there, nothing secret is printed.',
    '',
    'Try a delegated exchange (in another terminal):',
    '',
    '  # 1. a session token for alice from the demo identity provider',
    '  USER_TOKEN=$(npm run -s demo:token -- alice)',
    '',
    `  # 2. the ${DEMO.appClient} app exchanges it for a token acting as ${DEMO.agent}`,
    `  curl -s ${baseUrl}/token -u "${DEMO.appClient}:$(npm run -s demo:secret -- app)" \\`,
    `    -d grant_type=${TOKEN_EXCHANGE_GRANT} \\`,
    `    -d subject_token="$USER_TOKEN" -d subject_token_type=urn:ietf:params:oauth:token-type:jwt \\`,
    `    -d resource=${DEMO.resource} -d scope='tickets:read tickets:delete'`,
    '',
    '  # tickets:delete is dropped (the grant and the agent\'s ceiling exclude it); the response',
    '  # lists exactly what was granted. Decode the access_token at any JWT viewer or with:',
    `  #   node -e 'const t=process.argv[1].split(".")[1];console.log(JSON.parse(Buffer.from(t,"base64url")))' <access_token>`,
    '',
    `Admin API, with an access token of the demo admin client (${DEMO.adminClient}):`,
    '',
    `  ADMIN_TOKEN=$(curl -s ${baseUrl}/token -u "${DEMO.adminClient}:$(npm run -s demo:secret -- admin)" \\`,
    `    -d grant_type=client_credentials -d scope=deputy:admin | node -pe 'JSON.parse(require("fs").readFileSync(0, "utf8")).access_token')`,
    `  curl -s ${baseUrl}/admin/v1/grants -H "Authorization: Bearer $ADMIN_TOKEN"`,
  ];
  if (bootstrapTokenConfigured) {
    lines.push('', '  # or with the DEPUTY_ADMIN_TOKEN you configured (export it in that shell first):', `  curl -s ${baseUrl}/admin/v1/grants -H "Authorization: Bearer $DEPUTY_ADMIN_TOKEN"`);
  }
  lines.push(
    '',
    'An agent asks a person for approval (CIBA; the whole flow: docs/guide-agent-approval.md):',
    '',
    `  curl -s ${baseUrl}/backchannel -u "${DEMO.appClient}:$(npm run -s demo:secret -- app)" \\`,
    `    --data-urlencode scope=openid --data-urlencode login_hint=bob --data-urlencode binding_message=K7 \\`,
    `    --data-urlencode 'authorization_details=[{"type":"delegation","resource":"${DEMO.resource}","scopes":["tickets:read"],"duration":3600}]'`,
    '',
    ...{
      demo: [
        `  # bob answers at ${baseUrl}/approve, signing in at the demo identity provider`,
        '  # as bob with the password from: npm run -s demo:secret -- bob',
      ],
      configured: [`  # bob answers at ${baseUrl}/approve, signing in at APPROVAL_LOGIN_ISSUER`],
      none: ['  # /approve needs APPROVAL_LOGIN_* when WORKERS > 1 (the demo identity provider serves one process)'],
    }[approvalSignIn],
    '',
    `The web console: ${baseUrl}/console (client id ${DEMO.adminClient}; its secret: npm run -s demo:secret -- admin)`,
    `The admin API's reference: ${baseUrl}/admin/v1/docs`,
    '',
  );
  return lines.join('\n');
}
