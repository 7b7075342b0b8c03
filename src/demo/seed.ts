/**
 * The demo world `npm start` seeds into an empty database: a trusted issuer of users whose
 * private key stays under DEPUTY_HOME (so `npm run demo:token` can mint user tokens), served as
 * the demo identity provider at ISSUER/demo-idp where the users sign in (src/demo/identity-provider.ts), two users,
 * a ticket API, an agent with its own key pair that may pass work to a summarizer agent,
 * entitlements, delegation grants, an app client acting as the agent, and an admin client; and
 * the users' passwords for the demo identity provider's sign-in page (src/demo/identity-provider.ts).
 */
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { JWK } from 'jose';
import type pg from 'pg';
import { inTransaction } from '../db/pool.js';
import { generateKey } from '../keys/key-ring.js';
import { generateClientSecret, hashClientSecret } from '../oauth/client-secrets.js';

export const DEMO = {
  /** Where the demo identity provider is served under ISSUER; its issuer identifier is ISSUER + this. */
  idpPath: '/demo-idp',
  audience: 'deputy',
  resource: 'https://api.demo.deputy.local/tickets',
  scopes: ['tickets:read', 'tickets:write', 'tickets:delete'],
  agent: 'agent:triage',
  helper: 'agent:summarizer',
  appClient: 'triage-app',
  adminClient: 'deputy-admin',
  /** The only subjects the demo identity provider may speak for. */
  users: ['alice', 'bob'],
} as const;

export interface DemoSecrets {
  issuer: string;
  audience: string;
  issuerPrivateJwk: JWK;
  agentPrivateJwk: JWK;
  appClientSecret: string;
  adminClientSecret: string;
  /** Each demo user's password at the demo identity provider. */
  userPasswords: Record<string, string>;
}

/** The demo identity provider's issuer identifier for a Deputy at `deputyIssuer`. */
export const demoIssuerOf = (deputyIssuer: string) => `${deputyIssuer}${DEMO.idpPath}`;

export const demoSecretsFile = (home: string) => path.join(path.resolve(home), 'demo.json');

export async function readDemoSecrets(home: string): Promise<DemoSecrets | null> {
  try {
    return JSON.parse(await readFile(demoSecretsFile(home), 'utf8')) as DemoSecrets;
  } catch {
    return null;
  }
}

/** The secrets file is readable by its owner only, in a directory only its owner can enter. */
async function writeDemoSecrets(home: string, secrets: DemoSecrets): Promise<void> {
  const dir = path.resolve(home);
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700);
  const file = demoSecretsFile(home);
  await writeFile(file, JSON.stringify(secrets, null, 2), { mode: 0o600 });
  // writeFile's mode applies only when it creates the file.
  await chmod(file, 0o600);
}

const newPasswords = (): Record<string, string> => Object.fromEntries(DEMO.users.map((user) => [user, generateClientSecret()]));

/**
 * The demo secrets, with the users' passwords added (and written) when the file was seeded by a
 * version without them; null when there is no demo world under `home`.
 */
export async function loadDemoSecrets(home: string): Promise<DemoSecrets | null> {
  const secrets = await readDemoSecrets(home);
  if (!secrets || secrets.userPasswords) return secrets;
  const upgraded = { ...secrets, userPasswords: newPasswords() };
  await writeDemoSecrets(home, upgraded);
  return upgraded;
}

async function keyPair(): Promise<{ privateJwk: JWK; publicJwk: JWK }> {
  const { kid, publicJwk, privateJwk } = await generateKey('ES256');
  return { privateJwk: { ...(privateJwk as JWK), kid, alg: 'ES256' }, publicJwk };
}

const publicPart = ({ d: _private, ...publicJwk }: JWK): JWK => publicJwk;

/** The demo identity provider as a trusted issuer of people, limited to the demo users. */
export async function trustDemoIssuer(db: pg.Pool | pg.ClientBase, deputyIssuer: string, secrets: Pick<DemoSecrets, 'issuerPrivateJwk'>): Promise<void> {
  await db.query(
    `INSERT INTO trusted_issuers (issuer, jwks, audience, kind, subject_claim, algorithms, allowed_subjects)
     VALUES ($1, $2, $3, 'user', 'sub', ARRAY['ES256'], $4) ON CONFLICT (issuer, kind) DO NOTHING`,
    [demoIssuerOf(deputyIssuer), { keys: [publicPart(secrets.issuerPrivateJwk)] }, DEMO.audience, DEMO.users],
  );
}

/**
 * On each quickstart start: the demo identity provider at this ISSUER becomes a trusted issuer
 * when it is missing (ISSUER changed, or a demo world seeded by an earlier version under another
 * identifier), but only in a database that already trusts the demo key, i.e. holds this demo
 * world: a demo.json lying in DEPUTY_HOME never makes another database trust its key.
 */
export async function ensureDemoIssuer(pool: pg.Pool, deputyIssuer: string, secrets: Pick<DemoSecrets, 'issuerPrivateJwk'>): Promise<boolean> {
  const { kid, x, y } = secrets.issuerPrivateJwk;
  const { rows } = await pool.query(`SELECT 1 FROM trusted_issuers WHERE kind = 'user' AND jwks -> 'keys' @> $1::jsonb LIMIT 1`, [JSON.stringify([{ kid, x, y }])]);
  if (rows.length === 0) return false;
  await trustDemoIssuer(pool, deputyIssuer, secrets);
  return true;
}

/** Seeds the demo world when the database has no subjects yet. Returns whether it seeded. */
export async function seedDemoWorld(pool: pg.Pool, home: string, pepper: string, deputyIssuer: string): Promise<boolean> {
  return inTransaction(pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock(7300002)');
    const { rows } = await client.query('SELECT 1 FROM subjects LIMIT 1');
    if (rows.length > 0) return false;
    const issuerKeys = await keyPair();
    const agentKeys = await keyPair();
    const appClientSecret = generateClientSecret();
    const adminClientSecret = generateClientSecret();
    const days = (n: number) => new Date(Date.now() + n * 86400_000);

    await trustDemoIssuer(client, deputyIssuer, { issuerPrivateJwk: issuerKeys.privateJwk });
    await client.query(
      `INSERT INTO subjects (id, email) VALUES ('alice', 'alice@example.com'), ('bob', 'bob@example.com')`,
    );
    await client.query(`INSERT INTO resources (uri, scopes) VALUES ($1, $2)`, [DEMO.resource, DEMO.scopes]);
    await client.query(
      `INSERT INTO entitlements (subject_id, resource_uri, scope) VALUES
         ('alice', $1, 'tickets:read'), ('alice', $1, 'tickets:write'), ('alice', $1, 'tickets:delete'), ('bob', $1, 'tickets:read')`,
      [DEMO.resource],
    );
    await client.query(
      `INSERT INTO actors (id, kind, owner_id, purpose, jwks, scope_ceiling, resources, max_token_ttl, may_delegate_to) VALUES
         ($1, 'agent', 'alice', 'Triages incoming support tickets', $3, ARRAY['tickets:read','tickets:write'], ARRAY[$4], 600, ARRAY[$2]),
         ($2, 'agent', 'alice', 'Summarizes ticket threads', NULL, ARRAY['tickets:read'], ARRAY[$4], 300, ARRAY[]::text[])`,
      [DEMO.agent, DEMO.helper, { keys: [agentKeys.publicJwk] }, DEMO.resource],
    );
    await client.query(
      `INSERT INTO delegation_grants (subject_id, actor_id, resource_uri, scopes, expires_at) VALUES
         ('alice', $1, $3, ARRAY['tickets:read','tickets:write'], $4),
         ('alice', $2, $3, ARRAY['tickets:read'], $4)`,
      [DEMO.agent, DEMO.helper, DEMO.resource, days(90)],
    );
    await client.query(
      `INSERT INTO clients (client_id, client_secret_hash, token_endpoint_auth_method, actor_id, allowed_actors, scope) VALUES
         ($1, $2, 'client_secret_basic', $3, ARRAY[$4], ''),
         ($5, $6, 'client_secret_basic', NULL, ARRAY[]::text[], 'deputy:admin')`,
      [DEMO.appClient, hashClientSecret(appClientSecret, pepper), DEMO.agent, DEMO.helper, DEMO.adminClient, hashClientSecret(adminClientSecret, pepper)],
    );
    const secrets: DemoSecrets = {
      issuer: demoIssuerOf(deputyIssuer),
      audience: DEMO.audience,
      issuerPrivateJwk: issuerKeys.privateJwk,
      agentPrivateJwk: agentKeys.privateJwk,
      appClientSecret,
      adminClientSecret,
      userPasswords: newPasswords(),
    };
    await writeDemoSecrets(home, secrets);
    return true;
  });
}
