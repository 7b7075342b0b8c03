/**
 * The admin API's errors. Every failure leaves as JSON `{ error, error_description[, issues] }`;
 * nothing else (stack, SQL, constraint names, database messages) ever reaches a response.
 *
 * | status | error |
 * |---|---|
 * | 400 | `invalid_request` (bad JSON, failed validation, unknown referenced object) |
 * | 401 | `invalid_token` (with `WWW-Authenticate: Bearer`) |
 * | 403 | `insufficient_scope` |
 * | 404 | `not_found` |
 * | 409 | `conflict` |
 * | 413, 415 | `invalid_request` |
 * | 500 | `server_error` (detail in the log only) |
 * | 503 | `temporarily_unavailable` (the database cannot be reached) |
 */
import type { Context, Next } from 'koa';
import type { z } from 'zod';
import { isDatabaseUnavailable } from '../db/pool.js';
import { unwrapPrismaError } from '../db/prisma-errors.js';
import type { Logger } from '../log.js';

export interface Issue {
  in: 'body' | 'query' | 'path';
  path: Array<string | number>;
  code: string;
  message: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly description: string,
    readonly issues?: Issue[],
    readonly headers: Record<string, string> = {},
  ) {
    super(`${code}: ${description}`);
    this.name = 'ApiError';
  }

  body(): Record<string, unknown> {
    return { error: this.code, error_description: this.description, ...(this.issues ? { issues: this.issues } : {}) };
  }
}

export const notFound = (what: string) => new ApiError(404, 'not_found', `no such ${what}`);
export const conflict = (description: string) => new ApiError(409, 'conflict', description);

export function invalidRequest(issues: Issue[]): ApiError {
  const first = issues[0];
  const where = first ? [first.in, ...first.path].join('.') : 'request';
  const more = issues.length > 1 ? ` (and ${issues.length - 1} more)` : '';
  return new ApiError(400, 'invalid_request', `${where}: ${first?.message ?? 'invalid'}${more}`, issues);
}

export function issuesOf(location: Issue['in'], error: z.ZodError): Issue[] {
  return error.issues.map((issue) => ({
    in: location,
    path: issue.path.map((part) => (typeof part === 'symbol' ? String(part) : part)),
    code: issue.code,
    message: issue.message,
  }));
}

/** A body field that names an object which does not exist (e.g. an unknown owner). */
export const unknownReference = (field: string, message: string) =>
  invalidRequest([{ in: 'body', path: [field], code: 'unknown_reference', message }]);

/**
 * Foreign keys a create or update can violate, and the body field each one comes from. A body
 * naming a missing object is a bad request (400), not a conflict: the caller must fix the body.
 */
const FOREIGN_KEYS: Record<string, [field: string, message: string]> = {
  actors_owner_id_fkey: ['owner', 'no such subject'],
  clients_actor_id_fkey: ['actor', 'no such actor'],
  entitlements_subject_id_fkey: ['subject', 'no such subject'],
  entitlements_resource_uri_fkey: ['resource', 'no such resource'],
  delegation_grants_subject_id_fkey: ['subject', 'no such subject'],
  delegation_grants_actor_id_fkey: ['actor', 'no such actor'],
  delegation_grants_resource_uri_fkey: ['resource', 'no such resource'],
};

const UNIQUE_KEYS: Record<string, string> = {
  subjects_pkey: 'a subject with this id already exists',
  subjects_email_key: 'another subject has this email',
  actors_pkey: 'an actor with this id already exists',
  actors_workload_issuer_workload_subject_key: 'another actor is bound to this workload issuer and subject',
  clients_pkey: 'a client with this client_id already exists',
  resources_uri_key: 'a resource with this uri already exists',
  trusted_issuers_issuer_kind_key: 'this issuer is already trusted for this kind',
  entitlements_subject_id_resource_uri_scope_key: 'the subject already has this entitlement',
};

interface PgError {
  code?: string;
  constraint?: string;
}

function fromDatabase(error: PgError): ApiError | null {
  switch (error.code) {
    case '23505':
      return conflict(UNIQUE_KEYS[error.constraint ?? ''] ?? 'conflicts with an existing object');
    case '23503': {
      const [field, message] = FOREIGN_KEYS[error.constraint ?? ''] ?? ['body', 'refers to an object that does not exist'];
      return unknownReference(field, message);
    }
    case '23514': // check constraint: the schemas should have caught it first
    case '22P02': // invalid text representation
    case '22007': // invalid datetime format
    case '22008': // datetime out of range
    case '22021': // character not in repertoire (e.g. NUL)
    case '22P05': // untranslatable character
      return new ApiError(400, 'invalid_request', 'a value is out of range or malformed');
    default:
      return null;
  }
}

/** Errors raised by @koa/bodyparser (co-body / raw-body) carry an HTTP status. */
function fromBodyParser(error: { status?: unknown; type?: unknown }): ApiError | null {
  if (error.status === 413) return new ApiError(413, 'invalid_request', 'the request body exceeds 64 KiB');
  if (error.status === 415) return new ApiError(415, 'invalid_request', 'unsupported request body encoding');
  if (error.status === 400) return new ApiError(400, 'invalid_request', 'the request body is not a JSON object');
  return null;
}

/** The first middleware of every admin route: turns anything thrown into a safe JSON error. */
export function handleErrors(logger: Logger) {
  return async function adminErrors(ctx: Context, next: Next): Promise<void> {
    try {
      await next();
    } catch (error) {
      const requestId = ctx.state.requestId;
      let answer: ApiError;
      if (error instanceof ApiError) {
        answer = error;
      } else if (isDatabaseUnavailable(error)) {
        logger.warn({ request_id: requestId, err: { message: (error as Error).message } }, 'admin request: database unavailable');
        answer = new ApiError(503, 'temporarily_unavailable', 'the service is temporarily unavailable; retry later', undefined, { 'Retry-After': '1' });
      } else {
        const mapped =
          error && typeof error === 'object'
            ? fromDatabase(unwrapPrismaError(error) ?? (error as PgError)) ?? fromBodyParser(error as { status?: unknown })
            : null;
        if (mapped) {
          answer = mapped;
        } else {
          logger.error({ request_id: requestId, err: error }, 'admin request failed');
          answer = new ApiError(500, 'server_error', 'an unexpected error occurred');
        }
      }
      ctx.status = answer.status;
      ctx.set('Cache-Control', 'no-store');
      for (const [name, value] of Object.entries(answer.headers)) ctx.set(name, value);
      ctx.body = answer.body();
    }
  };
}
