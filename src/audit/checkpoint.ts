/**
 * Audit checkpoints: the head of every audit chain (its last event's sequence number, id and
 * hash), signed with an Ed25519 key that is not stored in the database. The hash chain alone
 * proves nothing to someone who can write the database: they can delete the newest events and
 * rewind a chain's head, or edit an event and recompute every later hash. A checkpoint kept
 * outside the database (the log, an auditor's copy) pins each chain at a position: as long as
 * the event at that position still carries the checkpoint's hash and the chain verifies up to it,
 * nothing up to that position was removed or rewritten. Changes after the newest checkpoint an
 * auditor holds remain undetectable by this means (see SECURITY.md).
 *
 * A checkpoint is a compact JWS (a JWT: `typ: deputy-audit-checkpoint+jwt`, `alg: EdDSA`, `kid`
 * the RFC 7638 thumbprint of the public key) whose claims are `iss`, `iat`, `events` (the sum of
 * the chains' lengths) and `chains`.
 */
import { createPrivateKey, createPublicKey, type KeyObject } from 'node:crypto';
import { calculateJwkThumbprint, decodeJwt, decodeProtectedHeader, jwtVerify, SignJWT, type JWK } from 'jose';
import type pg from 'pg';
import { z } from 'zod';

export const CHECKPOINT_TYPE = 'deputy-audit-checkpoint+jwt';

/** DER prefix of a PKCS #8 Ed25519 private key; the 32-byte seed follows (RFC 8410). */
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

export const ChainPosition = z.strictObject({
  chain_id: z.number().int().min(0).max(2_147_483_647),
  seq: z.number().int().min(0),
  event_id: z.number().int().nullable(),
  hash: z.string().min(1).max(128),
});
export type ChainPosition = z.infer<typeof ChainPosition>;

export const CheckpointClaims = z.object({
  iss: z.string(),
  iat: z.number().int(),
  events: z.number().int().min(0),
  chains: z.array(ChainPosition).min(1).max(1024),
});
export type CheckpointClaims = z.infer<typeof CheckpointClaims>;

export class CheckpointKey {
  private constructor(
    private readonly privateKey: KeyObject,
    readonly publicJwk: JWK,
    readonly kid: string,
  ) {}

  /** From a 32-byte Ed25519 seed (AUDIT_CHECKPOINT_KEY, or one derived from the key-encryption key). */
  static async fromSeed(seed: Buffer): Promise<CheckpointKey> {
    const privateKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
    const publicParts = createPublicKey(privateKey).export({ format: 'jwk' }) as JWK;
    const kid = await calculateJwkThumbprint(publicParts);
    return new CheckpointKey(privateKey, { ...publicParts, kid, alg: 'EdDSA', use: 'sig' }, kid);
  }

  sign(claims: CheckpointClaims): Promise<string> {
    return new SignJWT({ events: claims.events, chains: claims.chains })
      .setProtectedHeader({ alg: 'EdDSA', typ: CHECKPOINT_TYPE, kid: this.kid })
      .setIssuer(claims.iss)
      .setIssuedAt(claims.iat)
      .sign(this.privateKey);
  }

  /**
   * The checkpoint's claims and whether this key signed them: 'unknown_key' when another key did
   * (e.g. before AUDIT_CHECKPOINT_KEY changed; check it with that key's public JWK). Null when it
   * is not a checkpoint at all.
   */
  async read(jws: string): Promise<{ signature: 'valid' | 'invalid' | 'unknown_key'; claims: CheckpointClaims } | null> {
    let header: ReturnType<typeof decodeProtectedHeader>;
    let claims: CheckpointClaims;
    try {
      header = decodeProtectedHeader(jws);
      const parsed = CheckpointClaims.safeParse(decodeJwt(jws));
      if (!parsed.success || header.typ !== CHECKPOINT_TYPE) return null;
      claims = parsed.data;
    } catch {
      return null;
    }
    if (header.kid !== this.kid) return { signature: 'unknown_key', claims };
    try {
      await jwtVerify(jws, createPublicKey({ key: this.publicJwk as never, format: 'jwk' }), { algorithms: ['EdDSA'], typ: CHECKPOINT_TYPE });
      return { signature: 'valid', claims };
    } catch {
      return { signature: 'invalid', claims };
    }
  }
}

/** Every chain's head, read in one statement (one snapshot: heads move with their events). */
export async function chainHeads(pool: pg.Pool): Promise<ChainPosition[]> {
  const { rows } = await pool.query<ChainPosition>(
    `SELECT h.chain_id, h.seq, e.id AS event_id, h.hash
       FROM audit_chain_heads h LEFT JOIN audit_events e ON e.chain_id = h.chain_id AND e.seq = h.seq
      ORDER BY h.chain_id`,
  );
  return rows;
}

export async function takeCheckpoint(pool: pg.Pool, key: CheckpointKey, issuer: string, now: Date): Promise<{ jws: string; claims: CheckpointClaims }> {
  const chains = await chainHeads(pool);
  const claims: CheckpointClaims = { iss: issuer, iat: Math.floor(now.getTime() / 1000), events: chains.reduce((sum, chain) => sum + chain.seq, 0), chains };
  return { jws: await key.sign(claims), claims };
}

export type PositionStatus = 'intact' | 'missing_event' | 'hash_mismatch';

export interface PositionCheck {
  chain_id: number;
  seq: number;
  event_id: number | null;
  status: PositionStatus;
}

/** The pure comparison: what the database holds now at each position the checkpoint pinned. */
export function comparePositions(pinned: readonly ChainPosition[], stored: ReadonlyMap<string, { id: number; hash: string }>): PositionCheck[] {
  return pinned.map((position) => {
    const base = { chain_id: position.chain_id, seq: position.seq, event_id: position.event_id };
    // Position 0 is a chain's genesis: nothing was there to remove or rewrite.
    if (position.seq === 0) return { ...base, status: position.hash === 'genesis' ? 'intact' : 'hash_mismatch' };
    const event = stored.get(`${position.chain_id}:${position.seq}`);
    if (!event) return { ...base, status: 'missing_event' };
    return { ...base, status: event.hash === position.hash ? 'intact' : 'hash_mismatch' };
  });
}

/** Reads the events at the checkpoint's positions and compares them. */
export async function checkPositions(pool: pg.Pool, pinned: readonly ChainPosition[]): Promise<PositionCheck[]> {
  const { rows } = await pool.query<{ chain_id: number; seq: number; id: number; hash: string }>(
    `SELECT e.chain_id, e.seq, e.id, e.hash
       FROM jsonb_to_recordset($1::jsonb) AS p(chain_id integer, seq bigint)
       JOIN audit_events e ON e.chain_id = p.chain_id AND e.seq = p.seq`,
    [JSON.stringify(pinned.map(({ chain_id, seq }) => ({ chain_id, seq })))],
  );
  return comparePositions(pinned, new Map(rows.map((row) => [`${row.chain_id}:${row.seq}`, { id: row.id, hash: row.hash }])));
}
