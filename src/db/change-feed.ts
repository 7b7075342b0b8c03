/**
 * A cache of rarely-changing configuration (clients, trusted issuers, actors' keys) that stays
 * correct across processes: PostgreSQL notifies every committed change (migration 0004) and each
 * process drops its copy. While the listening connection is down — or before it is up — nothing
 * is served from the cache, and whatever it held is dropped when listening resumes, since
 * notifications sent meanwhile were lost. Live facts (grants, entitlements, statuses) are never
 * cached: see docs/ARCHITECTURE.md.
 */
import pg from 'pg';

export const CONFIG_CHANNEL = 'deputy_config';

export interface ConfigCache {
  /** The cached value for `table:id`, or `load()`'s result (cached when safe to; absent values are not cached). */
  get<T>(key: string, load: () => Promise<T>): Promise<T>;
  /** Whether the cache is serving (listening to changes). */
  readonly listening: boolean;
  /**
   * Calls `listener` with each change notified (`table:id`), and with null whenever changes may
   * have been missed (listening (re)started): for state kept outside this cache, e.g. the key ring.
   */
  onChange(listener: (key: string | null) => void): void;
  close(): Promise<void>;
}

export interface ChangeFeedOptions {
  url: string;
  onError?: (error: Error) => void;
  /** Backoff before reconnecting, ms. */
  retryMs?: number;
  maxEntries?: number;
}

export function createConfigCache(options: ChangeFeedOptions): ConfigCache {
  const entries = new Map<string, unknown>();
  const maxEntries = options.maxEntries ?? 10_000;
  let generation = 0; // bumped by every invalidation, so a load racing a change is not cached
  let listening = false;
  let closed = false;
  let client: pg.Client | null = null;
  let retryTimer: NodeJS.Timeout | null = null;
  const listeners: Array<(key: string | null) => void> = [];
  const tell = (key: string | null) => listeners.forEach((listener) => listener(key));

  const dropAll = () => {
    entries.clear();
    generation += 1;
    tell(null);
  };

  async function connect(): Promise<void> {
    if (closed) return;
    const next = new pg.Client({ connectionString: options.url, application_name: 'deputy-change-feed' });
    next.on('error', (error) => lost(error));
    next.on('end', () => lost(new Error('change feed connection ended')));
    next.on('notification', (message) => {
      if (message.channel !== CONFIG_CHANNEL || !message.payload) return;
      entries.delete(message.payload);
      generation += 1;
      tell(message.payload);
    });
    try {
      await next.connect();
      await next.query(`LISTEN ${CONFIG_CHANNEL}`);
    } catch (error) {
      await next.end().catch(() => {});
      lost(error as Error);
      return;
    }
    if (closed) {
      await next.end().catch(() => {});
      return;
    }
    client = next;
    dropAll(); // anything cached before this point may have missed a notification
    listening = true;
  }

  function lost(error: Error): void {
    if (!listening && client === null && retryTimer) return;
    listening = false;
    dropAll();
    client = null;
    if (closed) return;
    options.onError?.(error);
    if (!retryTimer) {
      retryTimer = setTimeout(() => {
        retryTimer = null;
        void connect();
      }, options.retryMs ?? 1000);
      retryTimer.unref();
    }
  }

  void connect();

  return {
    get listening() {
      return listening;
    },
    onChange(listener) {
      listeners.push(listener);
    },
    async get<T>(key: string, load: () => Promise<T>): Promise<T> {
      if (listening && entries.has(key)) return entries.get(key) as T;
      const startedAt = generation;
      const wasListening = listening;
      const value = await load();
      if (value !== null && value !== undefined && wasListening && listening && generation === startedAt) {
        if (entries.size >= maxEntries) entries.delete(entries.keys().next().value as string);
        entries.set(key, value);
      }
      return value;
    },
    async close() {
      closed = true;
      listening = false;
      if (retryTimer) clearTimeout(retryTimer);
      entries.clear();
      await client?.end().catch(() => {});
      client = null;
    },
  };
}
