/**
 * A test IdP for the person's sign-in: an oidc-provider on 127.0.0.1 with its development login
 * form (any login name is accepted; the name is the `sub`). The port is taken before Deputy starts
 * so Deputy can be configured with the issuer; the client (with Deputy's callback) is registered
 * once Deputy's address is known.
 */
import { createServer, type Server } from 'node:http';
import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';
import { freePort } from '../../src/db/embedded.js';

export const IDP_CLIENT_ID = 'deputy-approvals';
export const IDP_CLIENT_SECRET = 'deputy-approvals-test-secret-0123456789';

export interface TestIdp {
  issuer: string;
  /** Registers Deputy's callback and starts answering. */
  serve(redirectUri: string): void;
  stop(): Promise<void>;
}

export async function startTestIdp(): Promise<TestIdp> {
  const port = await freePort();
  const issuer = `http://127.0.0.1:${port}`;
  let handler: ((req: never, res: never) => void) | null = null;
  const server: Server = createServer((req, res) => {
    if (!handler) {
      res.statusCode = 503;
      res.end();
      return;
    }
    handler(req as never, res as never);
  });
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  const { privateKey } = await generateKeyPair('RS256', { extractable: true });
  const signingKey = { ...(await exportJWK(privateKey)), kid: 'idp', alg: 'RS256', use: 'sig' };
  return {
    issuer,
    serve(redirectUri) {
      const provider = new Provider(issuer, {
        clients: [{ client_id: IDP_CLIENT_ID, client_secret: IDP_CLIENT_SECRET, redirect_uris: [redirectUri], grant_types: ['authorization_code'], response_types: ['code'] }],
        features: { devInteractions: { enabled: true } },
        findAccount: async (_ctx, id) => ({ accountId: id, claims: async () => ({ sub: id }) }),
        loadExistingGrant: async (ctx) => {
          const grant = new ctx.oidc.provider.Grant({ clientId: ctx.oidc.client!.clientId, accountId: ctx.oidc.session!.accountId! });
          grant.addOIDCScope('openid');
          await grant.save();
          return grant;
        },
        pkce: { required: () => true },
        jwks: { keys: [signingKey] } as never,
        ttl: { Interaction: 600, Grant: 600, Session: 600, AccessToken: 60, IdToken: 60 },
      });
      handler = provider.callback() as never;
    },
    stop: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
