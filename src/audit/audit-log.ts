/**
 * The audit log: append-only, hash-chained. An event's hash covers its content and the previous
 * event's hash in the same chain, so an edit or a deletion breaks the chain at that event.
 *
 * There are several independent chains (rows of audit_chain_heads). A batch of events locks one
 * chain's head row inside the caller's transaction, so concurrent writers serialize per chain
 * only, and every chain stays linear and verifiable on its own. Hashing happens in PostgreSQL
 * (migrations/0003_record_functions, 0005_set_based_recording): the canonical content is
 * jsonb's deterministic text form, computed by the same SQL function when writing and when
 * verifying.
 */
import type pg from 'pg';
import type { PrismaTransaction } from '../db/prisma.js';

export { inTransaction } from '../db/pool.js';

export interface DroppedScopeRecord {
  scope: string;
  reason: string;
}

export interface AuditEventInput {
  type: string;
  at: Date;
  requestId?: string | null;
  admin?: string | null;
  clientId?: string | null;
  subjectId?: string | null;
  actorIds?: readonly string[];
  resourceUri?: string | null;
  scopeRequested?: readonly string[];
  scopeGranted?: readonly string[];
  scopeDenied?: readonly DroppedScopeRecord[];
  jti?: string | null;
  grantId?: string | null;
  error?: string | null;
  details?: Record<string, unknown> | null;
}

/** JSON with object keys sorted at every depth, for comparing structured values. */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.keys(value as object)
      .sort()
      .map((key) => `${JSON.stringify(key)}:${canonicalJson((value as Record<string, unknown>)[key])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

/**
 * Text PostgreSQL can store: NUL and unpaired UTF-16 surrogates become U+FFFD. Hostile input
 * must still leave its audit event, so values are made storable rather than refused.
 */
export function storableText(value: string): string {
  return value.replace(/\u0000|[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, '\uFFFD');
}

function storable(value: unknown): unknown {
  if (typeof value === 'string') return storableText(value);
  if (Array.isArray(value)) return value.map(storable);
  if (value && typeof value === 'object') return Object.fromEntries(Object.entries(value).map(([k, v]) => [storableText(k), storable(v)]));
  return value;
}

/** An event as the SQL functions take it: keyed by audit_events column names. */
export function auditRow(event: AuditEventInput): Record<string, unknown> {
  return storable({
    at: event.at.toISOString(),
    type: event.type,
    request_id: event.requestId ?? null,
    admin: event.admin ?? null,
    client_id: event.clientId ?? null,
    subject_id: event.subjectId ?? null,
    actor_ids: [...(event.actorIds ?? [])],
    resource_uri: event.resourceUri ?? null,
    scope_requested: [...(event.scopeRequested ?? [])],
    scope_granted: [...(event.scopeGranted ?? [])],
    scope_denied: (event.scopeDenied ?? []).map(({ scope, reason }) => ({ scope, reason })),
    jti: event.jti ?? null,
    grant_id: event.grantId ?? null,
    error: event.error ?? null,
    details: event.details ?? null,
  }) as Record<string, unknown>;
}

/**
 * Appends events to one chain. Run it inside the caller's transaction (see inTransaction, or
 * Prisma's interactive transaction for the admin API), so the events commit with whatever they
 * record, or not at all. A pg client runs it as a prepared statement (the exchange's hot path).
 */
export async function appendAuditEvents(client: pg.ClientBase | PrismaTransaction, events: readonly AuditEventInput[]): Promise<void> {
  if (events.length === 0) return;
  const rows = JSON.stringify(events.map(auditRow));
  if ('$executeRaw' in client) {
    await client.$executeRaw`SELECT deputy_append_audit(${rows}::jsonb)`;
    return;
  }
  await client.query({ name: 'deputy_append_audit', text: 'SELECT deputy_append_audit($1::jsonb)', values: [rows] });
}

export interface BrokenLink {
  chain_id: number;
  seq: number;
  event_id: number | null;
  problem: 'hash_mismatch' | 'previous_hash_mismatch' | 'missing_event' | 'head_mismatch';
}

export interface VerificationReport {
  ok: boolean;
  events_checked: number;
  chains: number;
  first_broken_link: BrokenLink | null;
}

/**
 * Recomputes every event's hash from its stored content and checks each link to the previous
 * event of its chain and each chain's head; reports the broken link with the lowest event id.
 */
const VERIFY_SQL = `
WITH walked AS (
  SELECT e.id, e.chain_id, e.seq, e.hash, e.prev_hash,
         lag(e.hash, 1, 'genesis') OVER w AS expected_prev,
         lag(e.seq, 1, 0::bigint) OVER w AS previous_seq,
         deputy_audit_hash(e.prev_hash, e) AS recomputed
    FROM audit_events e
  WINDOW w AS (PARTITION BY e.chain_id ORDER BY e.seq)
), problems AS (
  SELECT id AS event_id, chain_id, seq,
         CASE WHEN seq <> previous_seq + 1 THEN 'missing_event'
              WHEN prev_hash <> expected_prev THEN 'previous_hash_mismatch'
              ELSE 'hash_mismatch' END AS problem
    FROM walked
   WHERE seq <> previous_seq + 1 OR prev_hash <> expected_prev OR hash <> recomputed
  UNION ALL
  SELECT NULL, h.chain_id, h.seq, 'head_mismatch'
    FROM audit_chain_heads h
    LEFT JOIN LATERAL (SELECT seq, hash FROM audit_events e WHERE e.chain_id = h.chain_id ORDER BY seq DESC LIMIT 1) last ON true
   WHERE h.seq <> coalesce(last.seq, 0) OR h.hash <> coalesce(last.hash, 'genesis')
)
SELECT (SELECT count(*) FROM audit_events)::bigint AS events_checked,
       (SELECT count(*) FROM audit_chain_heads)::int AS chains,
       (SELECT row_to_json(p) FROM (SELECT * FROM problems ORDER BY event_id NULLS LAST, chain_id LIMIT 1) p) AS first_broken_link`;

export async function verifyAuditChains(pool: pg.Pool): Promise<VerificationReport> {
  const { rows } = await pool.query<{ events_checked: number; chains: number; first_broken_link: BrokenLink | null }>(VERIFY_SQL);
  const row = rows[0]!;
  return { ok: row.first_broken_link === null, events_checked: Number(row.events_checked), chains: row.chains, first_broken_link: row.first_broken_link };
}
