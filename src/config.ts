/**
 * Every setting Deputy reads, validated once at start. `.env.example` documents each one;
 * keep the two in step. A bad value stops the process with a message naming the variable.
 */
import { z } from 'zod';
import { decodeKey32 } from './keys/key-encryption.js';

const port = z.coerce.number().int().min(0).max(65535);
const seconds = z.coerce.number().int().positive();
/** A 32-byte key; the message never repeats the value. */
const key32 = z
  .string()
  .refine((value) => decodeKey32(value) !== null, 'must be 32 bytes written as base64url (43 characters) or hex (64 characters)');

export const configSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  /** Port to listen on; 0 picks a free one. */
  PORT: port.default(3000),
  /** Address to bind. */
  HOST: z.string().min(1).default('127.0.0.1'),
  /** The `iss` of every token Deputy mints. Defaults to http://localhost:$PORT. */
  ISSUER: z
    .string()
    .refine(isIssuerIdentifier, 'must be an https (or http) URL without credentials, query or fragment')
    .optional(),
  /** PostgreSQL to use; when absent an embedded PostgreSQL under DEPUTY_HOME is started. */
  DATABASE_URL: z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// or postgresql:// URL').optional(),
  /** Processes serving requests on the shared port (node:cluster); 1 serves in the started process itself. */
  WORKERS: z.coerce.number().int().min(1).max(64).default(1),
  /** Size of the connection pool (per worker). */
  DATABASE_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  /** How long a request waits for a pooled connection before failing closed (503). */
  DATABASE_POOL_TIMEOUT_MS: z.coerce.number().int().positive().default(2000),
  /** Where the embedded PostgreSQL and demo keys live. */
  DEPUTY_HOME: z.string().min(1).default('./.deputy'),
  /** Bootstrap admin bearer secret for /admin/v1 (at least 32 characters). Unset: admin only via deputy:admin tokens. */
  DEPUTY_ADMIN_TOKEN: z.string().min(32, 'must be at least 32 characters').optional(),
  /** Key for HMAC-hashing client secrets; generated and kept in the database (sealed with the key-encryption key) when unset. */
  CLIENT_SECRET_PEPPER: z.string().min(32, 'must be at least 32 characters').optional(),
  /**
   * AES-256-GCM key encrypting the private signing keys (and the generated client-secret pepper)
   * stored in PostgreSQL. Required in production; otherwise a key file under DEPUTY_HOME.
   */
  KEY_ENCRYPTION_KEY: key32.optional(),
  /** Days after which the signing key is rotated automatically; 0 turns scheduled rotation off. */
  KEY_ROTATION_DAYS: z.coerce.number().int().min(0).max(3650).default(90),
  /** Ed25519 private key (32-byte seed) signing audit checkpoints; derived from the key-encryption key when unset. */
  AUDIT_CHECKPOINT_KEY: key32.optional(),
  /** Seconds between two audit checkpoints written to the log; 0 turns them off. */
  AUDIT_CHECKPOINT_INTERVAL_S: z.coerce.number().int().min(0).max(86400).default(300),
  /** Upper bound on a minted token's lifetime, seconds. */
  TOKEN_TTL: seconds.max(86400).default(300),
  /** Maximum number of actors in a delegation chain. */
  MAX_DELEGATION_DEPTH: z.coerce.number().int().min(1).max(10).default(3),
  /** Clock skew tolerated when checking exp/nbf/iat of incoming tokens, seconds. */
  CLOCK_SKEW: z.coerce.number().int().min(0).max(300).default(30),
  /** Signing algorithm of minted tokens. */
  SIGNING_ALG: z.enum(['ES256', 'EdDSA']).default('ES256'),
  /** Timeout for fetching a trusted issuer's JWKS, milliseconds. */
  JWKS_TIMEOUT_MS: z.coerce.number().int().positive().default(2000),
  /** Minimum time between two refetches of one issuer's JWKS, milliseconds. */
  JWKS_COOLDOWN_MS: z.coerce.number().int().min(0).default(30000),
  /** Seconds between two purges of expired rows (oidc-provider payloads, used assertion jtis); 0 disables. */
  PURGE_INTERVAL_S: z.coerce.number().int().min(0).max(86400).default(300),
  /** Rows one purge statement deletes at most (one short transaction each). */
  PURGE_BATCH_SIZE: z.coerce.number().int().min(1).max(100_000).default(10_000),
  /** Statements one purge run executes at most per table; the rest waits for the next run. */
  PURGE_MAX_BATCHES: z.coerce.number().int().min(1).max(10_000).default(100),
  /** Allow trusted issuers' jwks_uri on private networks and loopback (never link-local or reserved ranges). */
  JWKS_ALLOW_PRIVATE_NETWORK: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
  /** Shared Signals push: timeout of one delivery to a receiver, milliseconds. */
  SSF_PUSH_TIMEOUT_MS: z.coerce.number().int().positive().max(60_000).default(5000),
  /** Shared Signals push: first retry delay after a failed delivery, doubled per failure, milliseconds. */
  SSF_RETRY_BASE_MS: z.coerce.number().int().positive().default(1000),
  /** Shared Signals push: the longest delay between two retries, milliseconds. */
  SSF_RETRY_MAX_MS: z.coerce.number().int().positive().default(300_000),
  /** Shared Signals push: streams one process delivers to at once. */
  SSF_DELIVERY_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
  /** Shared Signals: how often each process looks for due deliveries besides the commit notifications, ms; 0 disables delivery here. */
  SSF_DELIVERY_INTERVAL_MS: z.coerce.number().int().min(0).default(1000),
  /** Shared Signals upstream: how often Deputy polls the trusted issuers' transmitters of poll streams, ms; 0 disables polling here. */
  SSF_UPSTREAM_POLL_INTERVAL_MS: z.coerce.number().int().min(0).default(10_000),
  /** Allow Shared Signals push endpoints (and upstream poll URLs) on private networks and loopback. */
  SSF_ALLOW_PRIVATE_NETWORK: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
  /** Token-endpoint requests per second allowed per authenticated client (any grant), in each process; 0 disables. */
  RATE_LIMIT_CLIENT_PER_SECOND: z.coerce.number().int().min(0).default(2000),
  /** Token-endpoint exchanges per second allowed per actor, in each process; 0 disables. */
  RATE_LIMIT_ACTOR_PER_SECOND: z.coerce.number().int().min(0).default(2000),
  /**
   * Seed the demo world when the database is empty. Unset: on only for the embedded database
   * outside production (the quickstart); an explicit value always wins.
   */
  DEMO_SEED: z.enum(['true', 'false']).optional(),
  /** trace, debug, info, warn, error, fatal or silent. */
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  /** On SIGTERM/SIGINT, how long in-flight requests may take before connections are closed, ms. */
  SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).max(300_000).default(10_000),
  /** How long a console sign-in lasts before the admin must sign in again, seconds (at most 24 h). */
  CONSOLE_SESSION_TTL: seconds.max(86400).default(28800),
  /** Lifetime of a just-in-time grant from an approval of a scope that requires approval, seconds. */
  APPROVAL_GRANT_TTL: seconds.max(86400).default(900),
  /** How long an agent's approval request (CIBA auth_req_id) waits for the person's answer, seconds. */
  APPROVAL_REQUEST_TTL: seconds.max(86400).default(600),
  /** The longest delegation an approval request may ask for (authorization_details `duration`), seconds. */
  APPROVAL_MAX_DURATION: seconds.max(31_536_000).default(604_800),
  /** Seconds between runs of the job that marks unanswered approval requests expired (and audits it); 0 disables. */
  APPROVAL_EXPIRY_INTERVAL_S: z.coerce.number().int().min(0).max(3600).default(30),
  /** Minimum seconds between two polls of one auth_req_id; faster polls get slow_down. */
  APPROVAL_POLL_INTERVAL_S: z.coerce.number().int().min(1).max(60).default(5),
  /** The person's sign-in at /approve: an OpenID Connect issuer whose `sub` is the Deputy subject id. Unset: the pages say sign-in is not configured. */
  APPROVAL_LOGIN_ISSUER: z.string().url().optional(),
  APPROVAL_LOGIN_CLIENT_ID: z.string().min(1).optional(),
  APPROVAL_LOGIN_CLIENT_SECRET: z.string().min(1).optional(),
  /** Where each new approval request is announced (POST JSON with the single-use approve_url). Unset: no notification. */
  APPROVAL_WEBHOOK_URL: z.string().url().optional(),
  /** Let the webhook and the sign-in issuer be on a private network or loopback (tests, internal deployments). */
  APPROVAL_ALLOW_PRIVATE_NETWORK: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
  /** Trust X-Forwarded-* headers (behind a reverse proxy). They never change the URLs Deputy publishes. */
  TRUST_PROXY: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
  /**
   * Browser origins allowed to call the token, introspection, revocation and admin endpoints
   * (CORS), comma-separated exact origins such as https://app.example.com. Unset: none.
   */
  CORS_ORIGINS: z
    .string()
    .transform((value) => value.split(',').map((origin) => origin.trim()).filter(Boolean))
    .pipe(z.array(z.string().refine(isExactOrigin, 'must be comma-separated origins such as https://app.example.com (scheme, host, optional port; no path, no wildcard)')))
    .default([]),
});

/**
 * RFC 8414 §2: an issuer identifier has no query or fragment; nor credentials, which every URL
 * Deputy publishes would repeat. The scheme is http(s): every published URL is built on it.
 */
function isIssuerIdentifier(value: string): boolean {
  const url = URL.parse(value);
  return (
    url !== null &&
    (url.protocol === 'https:' || url.protocol === 'http:') &&
    url.username === '' &&
    url.password === '' &&
    !value.includes('?') &&
    !value.includes('#')
  );
}

/** `https://app.example.com` and `http://localhost:8080` are origins; `*`, `null` or a URL with a path are not. */
function isExactOrigin(value: string): boolean {
  const url = URL.parse(value);
  return url !== null && (url.protocol === 'https:' || url.protocol === 'http:') && url.origin === value;
}

const LOOPBACK_HOSTS = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/;

type Raw = z.infer<typeof configSchema>;
export type Config = Omit<Raw, 'ISSUER' | 'DEMO_SEED'> & { ISSUER: string; DEMO_SEED: boolean };

export class ConfigError extends Error {
  override name = 'ConfigError';
}

/** Validates an environment; throws a ConfigError whose message names each bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv | Record<string, string | undefined>): Config {
  const blankAsUnset = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = configSchema.safeParse(blankAsUnset);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  const raw = parsed.data;
  if (raw.NODE_ENV === 'production' && !raw.KEY_ENCRYPTION_KEY) {
    // A key file on one host's disk is no key for a fleet, nor safe by default: say so at start.
    throw new ConfigError('invalid configuration: KEY_ENCRYPTION_KEY: required when NODE_ENV=production (32 bytes, base64url or hex)');
  }
  const issuer = (raw.ISSUER ?? `http://localhost:${raw.PORT}`).replace(/\/+$/, '');
  const production = raw.NODE_ENV === 'production';
  if (production && !servesOverTls(issuer)) {
    throw new ConfigError('invalid configuration: ISSUER: must be an https URL when NODE_ENV=production (http only for localhost or loopback)');
  }
  // The demo world (a trusted IdP whose private key sits on disk) only where it was asked for:
  // the embedded quickstart, never a real database or production unless DEMO_SEED=true.
  const demoSeed = raw.DEMO_SEED === undefined ? !raw.DATABASE_URL && !production : raw.DEMO_SEED === 'true';
  return { ...raw, ISSUER: issuer, DEMO_SEED: demoSeed };
}

function servesOverTls(issuer: string): boolean {
  const url = new URL(issuer);
  return url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK_HOSTS.test(url.hostname));
}
