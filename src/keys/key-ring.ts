/**
 * Deputy's signing keys. They live in PostgreSQL (so every process shares them and a restart
 * keeps them), are created on first start, and are loaded at boot. The newest unretired key
 * signs; retired keys stay published in /jwks until every token they signed has expired.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, type JsonWebKey } from 'node:crypto';
import { calculateJwkThumbprint, type JWK } from 'jose';
import type pg from 'pg';
import { inTransaction } from '../db/pool.js';

export type SigningAlg = 'ES256' | 'EdDSA';

export interface SigningKey {
  kid: string;
  alg: SigningAlg;
  privateKey: KeyObject;
  publicKey: KeyObject;
  publicJwk: JWK;
  retiredAt: number | null;
}

interface KeyRow {
  kid: string;
  alg: SigningAlg;
  public_jwk: JWK;
  private_jwk: string;
  retired_at: Date | null;
}

const KEY_CREATION_LOCK = 7_300_001;

function toSigningKey(row: KeyRow): SigningKey {
  const privateJwk = JSON.parse(row.private_jwk) as JsonWebKey;
  const privateKey = createPrivateKey({ key: privateJwk, format: 'jwk' });
  return {
    kid: row.kid,
    alg: row.alg,
    privateKey,
    publicKey: createPublicKey(privateKey),
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

  constructor(
    private readonly pool: pg.Pool,
    private readonly alg: SigningAlg,
    /** How long a retired key stays published: the longest lifetime a token can have. */
    private readonly publishRetiredForSeconds: number,
  ) {}

  /** Loads the keys, creating the first one when there is none for this algorithm. */
  async load(): Promise<void> {
    await this.reload();
    if (!this.keys.some((key) => key.alg === this.alg && key.retiredAt === null)) {
      await this.createKey({ retireOthers: false });
    }
  }

  async reload(): Promise<void> {
    const { rows } = await this.pool.query<KeyRow>(
      `SELECT kid, alg, public_jwk, private_jwk, retired_at FROM signing_keys ORDER BY created_at DESC, kid`,
    );
    this.keys = rows.map(toSigningKey);
    this.lastReload = Date.now();
  }

  /** A new active key; the previous ones are retired (still published, no longer signing). */
  async rotate(): Promise<SigningKey> {
    return this.createKey({ retireOthers: true });
  }

  private async createKey({ retireOthers }: { retireOthers: boolean }): Promise<SigningKey> {
    await inTransaction(this.pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [KEY_CREATION_LOCK]);
      const existing = await client.query(`SELECT 1 FROM signing_keys WHERE alg = $1 AND retired_at IS NULL`, [this.alg]);
      if (!retireOthers && existing.rowCount !== 0) return;
      const { kid, publicJwk, privateJwk } = await generateKey(this.alg);
      if (retireOthers) await client.query(`UPDATE signing_keys SET retired_at = now() WHERE retired_at IS NULL`);
      await client.query(`INSERT INTO signing_keys (kid, alg, public_jwk, private_jwk) VALUES ($1, $2, $3, $4)`, [
        kid,
        this.alg,
        publicJwk,
        JSON.stringify(privateJwk),
      ]);
    });
    await this.reload();
    return this.active;
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
