/**
 * Every setting Deputy reads, validated once at start. `.env.example` documents each one;
 * keep the two in step. A bad value stops the process with a message naming the variable.
 */
import { z } from 'zod';

const port = z.coerce.number().int().min(0).max(65535);
const seconds = z.coerce.number().int().positive();
const optionalUrl = z.string().url().optional();

export const configSchema = z.object({
  NODE_ENV: z.enum(['development', 'production', 'test']).default('development'),
  /** Port to listen on; 0 picks a free one. */
  PORT: port.default(3000),
  /** Address to bind. */
  HOST: z.string().min(1).default('127.0.0.1'),
  /** The `iss` of every token Deputy mints. Defaults to http://localhost:$PORT. */
  ISSUER: optionalUrl,
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
  /** Key for HMAC-hashing client secrets; generated and kept in the database when unset. */
  CLIENT_SECRET_PEPPER: z.string().min(32, 'must be at least 32 characters').optional(),
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
  /** Token-endpoint exchanges per second allowed per client, in each process; 0 disables. */
  RATE_LIMIT_CLIENT_PER_SECOND: z.coerce.number().int().min(0).default(2000),
  /** Token-endpoint exchanges per second allowed per actor, in each process; 0 disables. */
  RATE_LIMIT_ACTOR_PER_SECOND: z.coerce.number().int().min(0).default(2000),
  /** Seed the demo world when the database is empty. */
  DEMO_SEED: z.enum(['true', 'false']).default('true').transform((v) => v === 'true'),
  /** trace, debug, info, warn, error, fatal or silent. */
  LOG_LEVEL: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info'),
  /** On SIGTERM/SIGINT, how long in-flight requests may take before connections are closed, ms. */
  SHUTDOWN_GRACE_MS: z.coerce.number().int().min(0).max(300_000).default(10_000),
  /** How long a console sign-in lasts before the admin must sign in again, seconds (at most 24 h). */
  CONSOLE_SESSION_TTL: seconds.max(86400).default(28800),
  /** Trust X-Forwarded-* headers (behind a reverse proxy). */
  TRUST_PROXY: z.enum(['true', 'false']).default('false').transform((v) => v === 'true'),
});

type Raw = z.infer<typeof configSchema>;
export type Config = Omit<Raw, 'ISSUER'> & { ISSUER: string };

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
  const issuer = (raw.ISSUER ?? `http://localhost:${raw.PORT}`).replace(/\/+$/, '');
  return { ...raw, ISSUER: issuer };
}
