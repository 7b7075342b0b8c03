/**
 * The audit log: append-only, hash-chained. An event's hash covers its content and the previous
 * event's hash in the same chain, so an edit or a deletion breaks the chain at that event.
 *
 * There are AUDIT_CHAINS independent chains. A batch of events locks one chain's head row
 * (FOR UPDATE) inside the caller's transaction, so concurrent writers serialize per chain only,
 * and every chain stays linear and verifiable on its own.
 */
import { createHash, randomInt } from 'node:crypto';
import type pg from 'pg';

export const AUDIT_CHAINS = 8;
export const GENESIS_HASH = 'genesis';

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

/** The fields an event's hash covers, in the shape they are stored and read back. */
export interface AuditContent {
  chain_id: number;
  seq: number;
  at: string;
  type: string;
  request_id: string | null;
  admin: string | null;
  client_id: string | null;
  subject_id: string | null;
  actor_ids: string[];
  resource_uri: string | null;
  scope_requested: string[];
  scope_granted: string[];
  scope_denied: DroppedScopeRecord[];
  jti: string | null;
  grant_id: string | null;
  error: string | null;
  details: Record<string, unknown> | null;
}

/** JSON with object keys sorted at every depth: jsonb does not keep key order. */
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

export function eventHash(previousHash: string, content: AuditContent): string {
  return createHash('sha256').update(previousHash).update('\n').update(canonicalJson(content)).digest('hex');
}

function contentOf(event: AuditEventInput, chainId: number, seq: number): AuditContent {
  return {
    chain_id: chainId,
    seq,
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
  };
}

const COLUMNS = [
  'chain_id', 'seq', 'at', 'type', 'request_id', 'admin', 'client_id', 'subject_id', 'actor_ids', 'resource_uri',
  'scope_requested', 'scope_granted', 'scope_denied', 'jti', 'grant_id', 'error', 'details', 'prev_hash', 'hash',
] as const;

/**
 * Appends events to one chain. Must run inside the caller's transaction (BEGIN … COMMIT), so
 * the events commit with whatever they record, or not at all.
 */
export async function appendAuditEvents(client: pg.ClientBase, events: readonly AuditEventInput[]): Promise<void> {
  if (events.length === 0) return;
  const chainId = randomInt(AUDIT_CHAINS);
  const head = await client.query<{ seq: number; hash: string }>(
    'SELECT seq, hash FROM audit_chain_heads WHERE chain_id = $1 FOR UPDATE',
    [chainId],
  );
  let { seq, hash } = head.rows[0] ?? { seq: 0, hash: GENESIS_HASH };
  const values: unknown[] = [];
  const rows: string[] = [];
  for (const event of events) {
    seq += 1;
    const content = contentOf(event, chainId, seq);
    const previous = hash;
    hash = eventHash(previous, content);
    const base = values.length;
    rows.push(`(${COLUMNS.map((_, i) => `$${base + i + 1}`).join(', ')})`);
    values.push(
      content.chain_id, content.seq, content.at, content.type, content.request_id, content.admin, content.client_id,
      content.subject_id, content.actor_ids, content.resource_uri, content.scope_requested, content.scope_granted,
      JSON.stringify(content.scope_denied), content.jti, content.grant_id, content.error,
      content.details === null ? null : JSON.stringify(content.details), previous, hash,
    );
  }
  await client.query(`INSERT INTO audit_events (${COLUMNS.join(', ')}) VALUES ${rows.join(', ')}`, values);
  await client.query('UPDATE audit_chain_heads SET seq = $2, hash = $3 WHERE chain_id = $1', [chainId, seq, hash]);
}

/** Runs `work` in a transaction; anything it throws rolls everything back. */
export async function inTransaction<T>(pool: pg.Pool, work: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const result = await work(client);
    await client.query('COMMIT');
    return result;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => {});
    throw error;
  } finally {
    client.release();
  }
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

/** Walks every chain from genesis and reports the first broken link (lowest event id first). */
export async function verifyAuditChains(pool: pg.Pool): Promise<VerificationReport> {
  const broken: BrokenLink[] = [];
  let checked = 0;
  const heads = await pool.query<{ chain_id: number; seq: number; hash: string }>('SELECT chain_id, seq, hash FROM audit_chain_heads ORDER BY chain_id');
  for (const head of heads.rows) {
    const { rows } = await pool.query<AuditContent & { id: number; at: Date; prev_hash: string; hash: string }>(
      `SELECT id, ${COLUMNS.filter((c) => c !== 'prev_hash' && c !== 'hash').join(', ')}, prev_hash, hash
         FROM audit_events WHERE chain_id = $1 ORDER BY seq`,
      [head.chain_id],
    );
    let expectedSeq = 1;
    let previous = GENESIS_HASH;
    let problem: BrokenLink | null = null;
    for (const row of rows) {
      checked += 1;
      if (row.seq !== expectedSeq) {
        problem = { chain_id: head.chain_id, seq: expectedSeq, event_id: row.id, problem: 'missing_event' };
        break;
      }
      if (row.prev_hash !== previous) {
        problem = { chain_id: head.chain_id, seq: row.seq, event_id: row.id, problem: 'previous_hash_mismatch' };
        break;
      }
      const content: AuditContent = {
        chain_id: row.chain_id, seq: row.seq, at: new Date(row.at).toISOString(), type: row.type, request_id: row.request_id,
        admin: row.admin, client_id: row.client_id, subject_id: row.subject_id, actor_ids: row.actor_ids,
        resource_uri: row.resource_uri, scope_requested: row.scope_requested, scope_granted: row.scope_granted,
        scope_denied: row.scope_denied, jti: row.jti, grant_id: row.grant_id, error: row.error, details: row.details,
      };
      if (eventHash(previous, content) !== row.hash) {
        problem = { chain_id: head.chain_id, seq: row.seq, event_id: row.id, problem: 'hash_mismatch' };
        break;
      }
      previous = row.hash;
      expectedSeq += 1;
    }
    if (!problem && (head.seq !== expectedSeq - 1 || head.hash !== previous)) {
      problem = { chain_id: head.chain_id, seq: head.seq, event_id: null, problem: 'head_mismatch' };
    }
    if (problem) broken.push(problem);
  }
  broken.sort((a, b) => (a.event_id ?? Number.MAX_SAFE_INTEGER) - (b.event_id ?? Number.MAX_SAFE_INTEGER));
  return { ok: broken.length === 0, events_checked: checked, chains: heads.rows.length, first_broken_link: broken[0] ?? null };
}
