/**
 * A set of strings each forgotten after its own expiry: DPoP proof jtis already seen, access
 * token jtis revoked. In memory, per process; an API running several processes plugs a shared
 * store behind the same interface.
 */

export interface JtiStore {
  /** Records `jti` until `expiresAt` (unix seconds). Returns false when it was already there (unexpired). */
  add(jti: string, expiresAt: number): boolean | Promise<boolean>;
  has(jti: string): boolean | Promise<boolean>;
}

export class MemoryJtiStore implements JtiStore {
  private readonly entries = new Map<string, number>();
  private sweptAt = 0;

  /** `now` in milliseconds (tests pass a clock). `maxEntries` bounds memory: beyond it the soonest-expiring go first. */
  constructor(private readonly now: () => number = Date.now, private readonly maxEntries = 100_000) {}

  get size(): number {
    return this.entries.size;
  }

  add(jti: string, expiresAt: number): boolean {
    this.sweep();
    const known = this.entries.get(jti);
    if (known !== undefined && known * 1000 > this.now()) {
      if (expiresAt > known) this.entries.set(jti, expiresAt);
      return false;
    }
    this.entries.set(jti, expiresAt);
    if (this.entries.size > this.maxEntries) this.evictSoonest();
    return true;
  }

  has(jti: string): boolean {
    const expiresAt = this.entries.get(jti);
    if (expiresAt === undefined) return false;
    if (expiresAt * 1000 <= this.now()) {
      this.entries.delete(jti);
      return false;
    }
    return true;
  }

  private sweep(): void {
    const now = this.now();
    if (now - this.sweptAt < 10_000) return;
    this.sweptAt = now;
    for (const [jti, expiresAt] of this.entries) if (expiresAt * 1000 <= now) this.entries.delete(jti);
  }

  private evictSoonest(): void {
    let soonest: string | undefined;
    let soonestAt = Infinity;
    for (const [jti, expiresAt] of this.entries) {
      if (expiresAt < soonestAt) {
        soonest = jti;
        soonestAt = expiresAt;
      }
    }
    if (soonest !== undefined) this.entries.delete(soonest);
  }
}
