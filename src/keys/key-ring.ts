/**
 * Deputy's signing keys. They live in PostgreSQL (so every process shares them and a restart
 * keeps them), their private parts sealed with the key-encryption key (key-encryption.ts), are
 * created on first start, and are loaded at boot. The newest unretired key signs; retired keys
 * stay published in /jwks until every token they signed has expired. Every rotation writes a
 * `key.rotated` audit event in the transaction that makes it.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, type JsonWebKey } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type pg from 'pg';
import { appendAuditEvents } from '../audit/audit-log.js';
import { inTransaction } from '../db/pool.js';
import type { KeyEncryptionKey } from './key-encryption.js';

export type SigningAlg = 'ES256' | 'EdDSA';

export interface SigningKey {
  kid: string;
  alg: SigningAlg;
  privateKey: KeyObject;
  publicKey: KeyObject;
  publicJwk: JWK;
  retiredAt: number | null;
}

/** What may be said about a key to anyone: never private material. */
export interface KeyMetadata {
  kid: string;
  alg: SigningAlg;
  created_at: Date;
  retired_at: Date | null;
  /** Until when /jwks publishes it: null while it signs. */
  published_until: Date | null;
}

export interface Rotation {
  kid: string;
  retired: string[];
}

/** Why a key rotated, for its audit event. */
export interface RotationCause {
  trigger: 'admin' | 'schedule' | 'manual';
  admin?: string | null;
  requestId?: string | null;
}

interface KeyRow {
  kid: string;
  alg: SigningAlg;
  public_jwk: JWK;
  private_jwk: string;
  encrypted: boolean;
  retired_at: Date | null;
}

const KEY_CREATION_LOCK = 7_300_001;

/** The additional authenticated data binding a sealed private key to its row. */
export const sealingContext = (kid: string) => `signing_keys:${kid}`;

function toSigningKey(row: KeyRow, kek: KeyEncryptionKey): SigningKey {
  if (!row.encrypted) throw new Error(`signing key ${row.kid} is stored in clear`);
  const publicKey = createPublicKey({ key: row.public_jwk as JsonWebKey, format: 'jwk' });
  // Only a key that may sign is opened; a retired key only verifies.
  const privateKey =
    row.retired_at === null ? createPrivateKey({ key: JSON.parse(kek.open(row.private_jwk, sealingContext(row.kid))) as JsonWebKey, format: 'jwk' }) : null;
  return {
    kid: row.kid,
    alg: row.alg,
    get privateKey(): KeyObject {
      if (!privateKey) throw new Error(`signing key ${row.kid} is retired`);
      return privateKey;
    },
    publicKey,
    publicJwk: row.public_jwk,
    retiredAt: row.retired_at ? Math.floor(row.retired_at.getTime() / 1000) : null,
  };
}

/** A fresh key pair; `kid` is the RFC 7638 thumbprint, `publicJwk` carries kid, alg and use. */
export async function generateKey(alg: SigningAlg): Promise<{ kid: string; publicJwk: JWK; privateJwk: JsonWebKey }> {
  const { privateKey } =
    alg === 'ES256' ? generateKeyPairSync('ec', { namedCurve: 'P-256' }) : generateKeyPairSync('ed25519');
  const privateJwk = privateKey.export({ format: 'jwk' });
  const { d: _private, ...publicParts } = privateJwk;
  const kid = await calculateJwkThumbprint(publicParts as JWK);
  const publicJwk: JWK = { ...(publicParts as JWK), kid, alg, use: 'sig' };
  return { kid, publicJwk, privateJwk };
}

export class KeyRing {
  private keys: SigningKey[] = [];
  private lastReload = 0;
  /** Reloads started, and the latest one applied: an earlier reload never overwrites a later one. */
  private reloadsStarted = 0;
  private reloadApplied = 0;

  constructor(
    private readonly pool: pg.Pool,
    private readonly alg: SigningAlg,
    /** How long a retired key stays published: the longest lifetime a token can have. */
    private readonly publishRetiredForSeconds: number,
    private readonly kek: KeyEncryptionKey,
  ) {}

  /**
   * Seals any private key still stored in clear (keys written before encryption existed), loads
   * the keys, and creates the first one when there is none for this algorithm. A wrong
   * KEY_ENCRYPTION_KEY fails here, before the process serves anything.
   */
  async load(): Promise<void> {
    await this.sealClearKeys();
    await this.reload();
    if (!this.keys.some((key) => key.alg === this.alg && key.retiredAt === null)) {
      await this.createKey(null);
    }
  }

  async reload(): Promise<void> {
    const ticket = ++this.reloadsStarted;
    const { rows } = await this.pool.query<KeyRow>(
      `SELECT kid, alg, public_jwk, private_jwk, encrypted, retired_at FROM signing_keys ORDER BY created_at DESC, kid`,
    );
    if (ticket < this.reloadApplied) return;
    this.reloadApplied = ticket;
    this.keys = rows.map((row) => toSigningKey(row, this.kek));
    this.lastReload = Date.now();
  }

  /**
   * Idempotent and safe with several processes: a row is sealed only while it is still clear, so
   * of two processes sealing at once one update wins and the other changes nothing.
   */
  private async sealClearKeys(): Promise<void> {
    const { rows } = await this.pool.query<{ kid: string; private_jwk: string }>(`SELECT kid, private_jwk FROM signing_keys WHERE NOT encrypted`);
    if (rows.length === 0) return;
    // Never seal under a wrong key next to rows sealed under the right one: check it opens one first.
    const sealed = await this.pool.query<{ kid: string; private_jwk: string }>(`SELECT kid, private_jwk FROM signing_keys WHERE encrypted LIMIT 1`);
    if (sealed.rows[0]) this.kek.open(sealed.rows[0].private_jwk, sealingContext(sealed.rows[0].kid));
    for (const row of rows) {
      await this.pool.query(`UPDATE signing_keys SET private_jwk = $2, encrypted = true WHERE kid = $1 AND NOT encrypted`, [
        row.kid,
        this.kek.seal(row.private_jwk, sealingContext(row.kid)),
      ]);
    }
  }

  /** A new active key; the previous ones are retired (still published, no longer signing). */
  async rotate(cause: RotationCause = { trigger: 'manual' }): Promise<SigningKey> {
    await this.createKey(cause);
    return this.active;
  }

  /** Rotates; answers the new key's kid and the kids it retired. */
  async rotateReporting(cause: RotationCause): Promise<Rotation> {
    return (await this.createKey(cause))!;
  }

  /**
   * Rotates when the active key is older than `maxAgeDays`. The age is read under the creation
   * lock, so among processes checking together exactly one rotates. Returns the new key, or null.
   */
  async rotateIfOlderThan(maxAgeDays: number): Promise<SigningKey | null> {
    const rotated = await this.createKey({ trigger: 'schedule' }, maxAgeDays);
    return rotated ? (this.keys.find((key) => key.kid === rotated.kid) ?? null) : null;
  }

  /** Public metadata of every key, newest first; never private material. */
  async list(): Promise<KeyMetadata[]> {
    const { rows } = await this.pool.query<{ kid: string; alg: SigningAlg; created_at: Date; retired_at: Date | null }>(
      `SELECT kid, alg, created_at, retired_at FROM signing_keys ORDER BY created_at DESC, kid`,
    );
    return rows.map((row) => ({
      ...row,
      published_until: row.retired_at ? new Date(row.retired_at.getTime() + this.publishRetiredForSeconds * 1000) : null,
    }));
  }

  /**
   * Creates a key under the creation lock. `cause` null: the first key, only if none is active.
   * With a cause, the active keys are retired and the rotation audited in the same transaction;
   * with `olderThanDays` too, only when the active key is at least that old.
   */
  private async createKey(cause: RotationCause | null, olderThanDays?: number): Promise<Rotation | null> {
    const created = await inTransaction(this.pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [KEY_CREATION_LOCK]);
      const active = await client.query<{ kid: string; due: boolean }>(
        `SELECT kid, created_at <= now() - make_interval(days => $2::int) AS due FROM signing_keys WHERE alg = $1 AND retired_at IS NULL`,
        [this.alg, olderThanDays ?? 0],
      );
      if (cause === null && active.rowCount !== 0) return null;
      if (olderThanDays !== undefined && active.rows.some((row) => !row.due)) return null;
      const { kid, publicJwk, privateJwk } = await generateKey(this.alg);
      const retired = cause
        ? (await client.query<{ kid: string }>(`UPDATE signing_keys SET retired_at = now() WHERE retired_at IS NULL RETURNING kid`)).rows.map((row) => row.kid)
        : [];
      await client.query(`INSERT INTO signing_keys (kid, alg, public_jwk, private_jwk, encrypted) VALUES ($1, $2, $3, $4, true)`, [
        kid,
        this.alg,
        publicJwk,
        this.kek.seal(JSON.stringify(privateJwk), sealingContext(kid)),
      ]);
      if (cause) {
        await appendAuditEvents(client, [
          {
            type: 'key.rotated',
            at: new Date(),
            admin: cause.admin ?? null,
            requestId: cause.requestId ?? null,
            details: { kid, alg: this.alg, retired, trigger: cause.trigger },
          },
        ]);
      }
      return { kid, retired };
    });
    await this.reload();
    return created;
  }

  get loaded(): boolean {
    return this.keys.some((key) => key.alg === this.alg && key.retiredAt === null);
  }

  /** The key that signs new tokens. */
  get active(): SigningKey {
    const key = this.keys.find((candidate) => candidate.alg === this.alg && candidate.retiredAt === null);
    if (!key) throw new Error('no active signing key is loaded');
    return key;
  }

  /** Public keys to publish at /jwks: active ones, and retired ones whose tokens may still live. */
  publicJwks(nowSeconds: number): { keys: JWK[] } {
    return {
      keys: this.keys
        .filter((key) => key.retiredAt === null || key.retiredAt + this.publishRetiredForSeconds > nowSeconds)
        .map((key) => key.publicJwk),
    };
  }

  /** The verification key for a kid; an unknown kid triggers at most one reload per second. */
  async verificationKey(kid: string, nowSeconds: number): Promise<SigningKey | undefined> {
    const find = () =>
      this.keys.find((key) => key.kid === kid && (key.retiredAt === null || key.retiredAt + this.publishRetiredForSeconds > nowSeconds));
    const found = find();
    if (found || Date.now() - this.lastReload < 1000) return found;
    await this.reload();
    return find();
  }
}
