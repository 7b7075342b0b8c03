/**
 * The fallback without SSF: ask Deputy (RFC 7662) whether a token is still active, and remember
 * the answer briefly. The API must be a Deputy client whose protected_resources include its
 * audience (Deputy answers anyone else `{"active": false}`).
 */
import { createHash } from 'node:crypto';

export interface IntrospectionOptions {
  /** Deputy's introspection endpoint ({issuer}/token/introspection). */
  endpoint: string;
  clientId: string;
  clientSecret: string;
  /** How long an "active" answer is trusted, in seconds (default 10; never beyond the token's exp). */
  cacheSeconds?: number;
  maxEntries?: number;
  fetch?: typeof fetch;
  /** Unix seconds. */
  now?: () => number;
}

export class IntrospectionUnavailable extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'IntrospectionUnavailable';
  }
}

export class IntrospectionClient {
  private readonly cache = new Map<string, { active: boolean; until: number }>();
  private readonly now: () => number;
  private readonly fetch: typeof fetch;

  constructor(private readonly options: IntrospectionOptions) {
    this.now = options.now ?? (() => Math.floor(Date.now() / 1000));
    this.fetch = options.fetch ?? globalThis.fetch;
  }

  /**
   * Whether Deputy says the token is active. An inactive answer is final (a revoked token never
   * comes back) and kept until the token's exp; an active one for `cacheSeconds`. Throws
   * IntrospectionUnavailable when Deputy cannot be asked: the caller fails closed.
   */
  async isActive(token: string, expiresAt: number, jti: string): Promise<boolean> {
    const key = createHash('sha256').update(token).digest('base64url');
    const now = this.now();
    const cached = this.cache.get(key);
    if (cached && cached.until > now) return cached.active;
    const active = await this.ask(token, jti);
    const until = active ? Math.min(now + (this.options.cacheSeconds ?? 10), expiresAt) : expiresAt;
    this.cache.delete(key);
    this.cache.set(key, { active, until });
    if (this.cache.size > (this.options.maxEntries ?? 10_000)) this.cache.delete(this.cache.keys().next().value!);
    return active;
  }

  private async ask(token: string, jti: string): Promise<boolean> {
    const credentials = Buffer.from(`${encodeURIComponent(this.options.clientId)}:${encodeURIComponent(this.options.clientSecret)}`).toString('base64');
    const request = () =>
      this.fetch(this.options.endpoint, {
        method: 'POST',
        headers: { authorization: `Basic ${credentials}`, 'content-type': 'application/x-www-form-urlencoded', accept: 'application/json' },
        body: new URLSearchParams({ token, token_type_hint: 'access_token' }).toString(),
        signal: AbortSignal.timeout(5000),
      });
    let response: Response;
    try {
      // Asking twice is harmless (introspection changes nothing), and a kept-alive connection
      // that Deputy closed meanwhile (a restart) fails only the first request sent on it.
      response = await request().catch(request);
    } catch {
      throw new IntrospectionUnavailable('introspection could not be reached');
    }
    if (!response.ok) throw new IntrospectionUnavailable(`introspection answered ${response.status}`);
    let body: { active?: unknown; jti?: unknown };
    try {
      body = (await response.json()) as typeof body;
    } catch {
      throw new IntrospectionUnavailable('introspection answered something else than JSON');
    }
    return body.active === true && body.jti === jti;
  }
}
