/**
 * Deputy as a Shared Signals receiver (issue 16.3): a trusted issuer's transmitter pushes SETs
 * (RFC 8935) to {ISSUER}/ssf/receiver/{stream id}, or Deputy polls it (RFC 8936). Each SET is
 * verified against that issuer's keys (the same key sources and algorithms as its tokens), its
 * `aud` must be the stream's audience, and its `jti` is taken once. Its action (upstream-events.ts)
 * is applied in one transaction with its audit event; the revocations it causes queue Deputy's
 * own events to the resource servers (migration 0015's triggers).
 */
import { timingSafeEqual, createHash } from 'node:crypto';
import { errors } from 'jose';
import type pg from 'pg';
import { appendAuditEvents, inTransaction } from '../audit/audit-log.js';
import { decodeSignedJwt } from '../jose/compact.js';
import { isForbiddenAlgorithm } from '../jose/jwt-guard.js';
import { verifyJwt } from '../jose/jwt-verify.js';
import type { IssuerKeys } from '../trust/issuer-keys.js';
import { jtiDigest } from '../db/single-use-jtis.js';
import type { Metrics } from '../http/metrics.js';
import type { Logger } from '../log.js';
import { upstreamAction, type SubjectReference, type UpstreamAction } from './upstream-events.js';

/** How long a received SET's jti is remembered (SETs have no exp): far past any redelivery. */
const SET_JTI_RETENTION_SECONDS = 7 * 86400;

export interface UpstreamStreamRow {
  id: string;
  delivery_method: 'push' | 'poll';
  poll_url: string | null;
  authorization_header: string | null;
  audience: string;
  issuer: string;
  jwks_uri: string | null;
  jwks: { keys: unknown[] } | null;
  subject_claim: string;
  algorithms: string[];
  allowed_subjects: string[];
  subject_prefix: string | null;
}

export const UPSTREAM_STREAM_SQL = `
SELECT u.id::text, u.delivery_method, u.poll_url, u.authorization_header, u.audience,
       t.issuer, t.jwks_uri, t.jwks, t.subject_claim, t.algorithms, t.allowed_subjects, t.subject_prefix
  FROM ssf_upstream_streams u JOIN trusted_issuers t ON t.id = u.trusted_issuer_id`;

/** RFC 8935 §2.3 error codes. */
export type SetErr = 'invalid_request' | 'invalid_key' | 'invalid_issuer' | 'invalid_audience' | 'authentication_failed';

export class SetRefused extends Error {
  override name = 'SetRefused';
  constructor(
    readonly err: SetErr,
    readonly description: string,
  ) {
    super(description);
  }
}

export interface UpstreamReceiverDeps {
  pool: pg.Pool;
  issuerKeys: IssuerKeys;
  clockSkewSeconds: number;
  metrics: Metrics;
  logger: Logger;
}

const sha256 = (value: string) => createHash('sha256').update(value, 'utf8').digest();

/** The push's Authorization header matches the one the admin set for the stream (when one is set). */
export function pushAuthorized(expected: string | null, presented: string): boolean {
  if (expected === null) return true;
  return timingSafeEqual(sha256(expected), sha256(presented));
}

export async function verifyUpstreamSet(set: string, stream: UpstreamStreamRow, deps: UpstreamReceiverDeps, now: Date): Promise<Record<string, unknown>> {
  const decoded = decodeSignedJwt(set);
  if (!decoded) throw new SetRefused('invalid_request', 'the body is not a compact JWS');
  const typ = typeof decoded.header.typ === 'string' ? decoded.header.typ.toLowerCase().replace(/^application\//, '') : '';
  if (typ !== 'secevent+jwt') throw new SetRefused('invalid_request', 'the SET must have typ secevent+jwt');
  if (decoded.claims.iss !== stream.issuer) throw new SetRefused('invalid_issuer', 'the SET is not from this stream’s issuer');
  try {
    const { payload } = await verifyJwt(set, deps.issuerKeys.keysFor({ issuer: stream.issuer, jwksUri: stream.jwks_uri, jwks: stream.jwks }), {
      issuer: stream.issuer,
      audience: stream.audience,
      algorithms: stream.algorithms.filter((alg) => !isForbiddenAlgorithm(alg)),
      clockTolerance: deps.clockSkewSeconds,
      currentDate: now,
      requiredClaims: ['iat', 'jti'],
    });
    if (typeof payload.jti !== 'string' || payload.jti.length === 0 || payload.jti.length > 256) throw new SetRefused('invalid_request', 'the SET has no usable jti');
    return payload as Record<string, unknown>;
  } catch (error) {
    if (error instanceof SetRefused) throw error;
    if (error instanceof errors.JWTClaimValidationFailed) {
      if (error.claim === 'aud') throw new SetRefused('invalid_audience', 'the SET is not for this stream’s audience');
      throw new SetRefused('invalid_request', `the SET's ${error.claim} claim is not acceptable`);
    }
    throw new SetRefused('invalid_key', 'the SET’s signature could not be verified with the issuer’s keys');
  }
}

async function subjectIds(db: pg.ClientBase, subject: SubjectReference, stream: UpstreamStreamRow): Promise<string[]> {
  const { rows } =
    subject.kind === 'id'
      ? await db.query<{ id: string }>('SELECT id FROM subjects WHERE id = $1', [subject.value])
      : await db.query<{ id: string }>('SELECT id FROM subjects WHERE lower(email) = $1', [subject.value]);
  // An issuer acts only on subjects it may speak for (its allowed_subjects / subject_prefix).
  const limited = stream.allowed_subjects.length > 0 || stream.subject_prefix !== null;
  return rows
    .map((row) => row.id)
    .filter((id) => !limited || stream.allowed_subjects.includes(id) || (stream.subject_prefix !== null && id.startsWith(stream.subject_prefix)));
}

export type ApplyOutcome = 'applied' | 'ignored' | 'duplicate';

/** Applies a verified SET once (its jti), with its audit event, in one transaction. */
export async function applyUpstreamSet(claims: Record<string, unknown>, stream: UpstreamStreamRow, deps: UpstreamReceiverDeps, requestId: string | null): Promise<ApplyOutcome> {
  const action: UpstreamAction = upstreamAction(claims, { issuer: stream.issuer, subjectClaim: stream.subject_claim });
  const outcome = await inTransaction(deps.pool, async (db): Promise<ApplyOutcome> => {
    const { rowCount } = await db.query(
      `INSERT INTO used_assertion_jtis (namespace, issuer, jti_sha256, expires_at) VALUES ('ssf_set', $1, $2, now() + make_interval(secs => $3))
       ON CONFLICT (namespace, issuer, jti_sha256) DO NOTHING`,
      [stream.issuer, jtiDigest(String(claims.jti)), SET_JTI_RETENTION_SECONDS],
    );
    if (rowCount !== 1) return 'duplicate';
    await db.query('UPDATE ssf_upstream_streams SET last_event_at = now(), last_error = NULL WHERE id = $1', [stream.id]);
    let affected: string[] = [];
    let changed = 0;
    if (action.action !== 'none') {
      affected = await subjectIds(db, action.subject, stream);
      if (action.action === 'revoke_sessions' && affected.length > 0) {
        await db.query(`SELECT set_config('deputy.revocation_reason', 'upstream_session_revoked', true)`);
        // Event times are whole seconds: a token of that very second counts as before (fail closed).
        const result = await db.query(
          `UPDATE issued_tokens SET revoked_at = now()
            WHERE subject_id = ANY($1) AND issued_at < to_timestamp($2 + 1) AND revoked_at IS NULL AND expires_at > now()`,
          [affected, action.before],
        );
        changed = result.rowCount ?? 0;
      }
      if (action.action === 'disable_subject' && affected.length > 0) {
        await db.query(`SELECT set_config('deputy.revocation_reason', 'upstream_account_disabled', true)`);
        const result = await db.query(`UPDATE subjects SET status = 'disabled', updated_at = now() WHERE id = ANY($1) AND status <> 'disabled'`, [affected]);
        changed = result.rowCount ?? 0;
      }
    }
    await appendAuditEvents(db, [
      {
        type: 'ssf.event_received',
        at: new Date(),
        requestId,
        subjectId: affected[0] ?? null,
        details: {
          issuer: stream.issuer,
          stream_id: stream.id,
          set_jti: String(claims.jti),
          event_type: action.eventType,
          action: action.action,
          ...(action.action === 'none' ? { why: action.why } : { subjects: affected, changed }),
        },
      },
    ]);
    return action.action === 'none' || affected.length === 0 ? 'ignored' : 'applied';
  });
  deps.metrics.ssfReceived.inc({ outcome });
  return outcome;
}

export async function findUpstreamStream(pool: pg.Pool, id: string): Promise<UpstreamStreamRow | null> {
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) return null;
  const { rows } = await pool.query<UpstreamStreamRow>(`${UPSTREAM_STREAM_SQL} WHERE u.id = $1`, [id]);
  return rows[0] ?? null;
}
