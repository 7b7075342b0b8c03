/**
 * The API as an OpenID SSF 1.0 receiver of Deputy's revocations: it learns each revoked access
 * token's jti by push (RFC 8935: a handler the app mounts) or by poll (RFC 8936: a loop against
 * Deputy), keeps it until the token's own expiry (`token_exp`), and manages its stream through
 * Deputy's transmitter API.
 */
import { timingSafeEqual } from 'node:crypto';
import type { JWTVerifyGetKey } from 'jose';
import { MemoryJtiStore, type JtiStore } from './expiring-set.js';
import { SetError, verifySecurityEvent, type SecurityEvent } from './security-event.js';

export const PUSH_DELIVERY = 'urn:ietf:rfc:8935';
export const POLL_DELIVERY = 'urn:ietf:rfc:8936';

export interface SsfReceiverOptions {
  issuer: string;
  /** The stream's aud: the resource URI(s) this API protects. */
  audience: string | readonly string[];
  keys: JWTVerifyGetKey;
  algorithms: readonly string[];
  /** A bearer token for Deputy's transmitter API (client_credentials, scope ssf:stream). */
  accessToken?: () => Promise<string>;
  /** Where revoked jtis are kept; a shared store for an API of several processes. */
  revoked?: JtiStore;
  /** How long to keep a revoked jti whose SET gives no token_exp (seconds; Deputy always gives one). */
  fallbackRetentionSeconds?: number;
  /** The Authorization header value Deputy must send with pushes (the stream's authorization_header). */
  pushAuthorization?: string;
  fetch?: typeof fetch;
  /** Called for every event accepted (after it is recorded), e.g. for metrics or logs. */
  onEvent?: (event: SecurityEvent) => void;
  /** Called when a poll or a stream call fails (the loop keeps going with backoff). */
  onError?: (error: Error) => void;
  /** Unix seconds. */
  now?: () => number;
}

export interface PushRequest {
  contentType: string | undefined;
  authorization: string | undefined;
  body: string;
}

export interface PushResponse {
  status: number;
  headers: Record<string, string>;
  body: string;
}

export interface StreamConfig {
  stream_id: string;
  iss?: string;
  aud?: string | string[];
  delivery: { method: string; endpoint_url?: string; authorization_header?: string };
  events_requested?: string[];
  events_delivered?: string[];
  [field: string]: unknown;
}

export type Delivery =
  | { method: 'push'; endpointUrl: string; authorizationHeader?: string }
  | { method: 'poll' };

interface TransmitterMetadata {
  configuration_endpoint: string;
  verification_endpoint?: string;
  status_endpoint?: string;
}

const equalSecrets = (a: string, b: string) => {
  const left = Buffer.from(a);
  const right = Buffer.from(b);
  return left.length === right.length && timingSafeEqual(left, right);
};

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(resolve, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(timer);
      resolve();
    }, { once: true });
  });

export class SsfReceiver {
  readonly revoked: JtiStore;
  /** Unix seconds from which this receiver has been receiving events (null until it has). */
  coveredSince: number | null = null;
  private readonly now: () => number;
  private readonly fetch: typeof fetch;
  private metadata: TransmitterMetadata | null = null;
  private streamId: string | null = null;
  private readonly waitingStates = new Map<string, () => void>();
  /** The poll endpoint, as the stream's delivery names it. */
  private pollUrl: string | null = null;
  private polling: { controller: AbortController; done: Promise<void> } | null = null;

  constructor(private readonly options: SsfReceiverOptions) {
    this.now = options.now ?? (() => Math.floor(Date.now() / 1000));
    this.revoked = options.revoked ?? new MemoryJtiStore(() => this.now() * 1000, Number.POSITIVE_INFINITY);
    this.fetch = options.fetch ?? globalThis.fetch;
  }

  get stream(): string | null {
    return this.streamId;
  }

  async isRevoked(jti: string): Promise<boolean> {
    return this.revoked.has(jti);
  }

  /**
   * Marks the receiver as listening from now: tokens issued earlier may have been revoked before
   * this process could learn it, and are introspected when introspection is configured. Done by
   * ensureStream, the first push and the first poll; call it yourself if you skip ensureStream.
   */
  markListening(): void {
    this.coveredSince ??= this.now();
  }

  /** Verifies one SET and records what it says. Throws SetError when it is refused. */
  async accept(set: string): Promise<SecurityEvent> {
    const event = await verifySecurityEvent(set, { issuer: this.options.issuer, audience: this.options.audience, keys: this.options.keys, algorithms: this.options.algorithms });
    if (event.kind === 'token-revoked') {
      const until = event.tokenExp ?? this.now() + (this.options.fallbackRetentionSeconds ?? 86_400);
      if (until > this.now()) await this.revoked.add(event.jti, until);
    } else if (event.kind === 'verification' && event.state !== null) {
      this.waitingStates.get(event.state)?.();
    }
    this.options.onEvent?.(event);
    return event;
  }

  /**
   * The push endpoint (RFC 8935 §2): 202 once the SET is verified and recorded (so Deputy
   * retries anything not recorded), 400 `{err, description}` for a SET refused, 401 without
   * the stream's authorization header, 415 for another content type.
   */
  async handlePush(request: PushRequest): Promise<PushResponse> {
    const json = (status: number, body: object): PushResponse => ({ status, headers: { 'content-type': 'application/json', 'cache-control': 'no-store' }, body: JSON.stringify(body) });
    const expected = this.options.pushAuthorization;
    if (expected !== undefined && (request.authorization === undefined || !equalSecrets(request.authorization, expected))) {
      return json(401, { err: 'authentication_failed', description: 'the push must carry the stream authorization header' });
    }
    const type = (request.contentType ?? '').split(';')[0]!.trim().toLowerCase();
    if (type !== 'application/secevent+jwt') return json(415, { err: 'invalid_request', description: 'the body must be application/secevent+jwt' });
    this.markListening();
    try {
      await this.accept(request.body.trim());
    } catch (error) {
      if (error instanceof SetError) return json(400, { err: error.err, description: error.description });
      this.options.onError?.(error as Error);
      return json(503, { err: 'temporarily_unavailable', description: 'the SET could not be processed' });
    }
    return { status: 202, headers: { 'cache-control': 'no-store' }, body: '' };
  }

  private async bearer(): Promise<Record<string, string>> {
    if (!this.options.accessToken) throw new Error('the SSF receiver needs an accessToken function for the transmitter API');
    return { authorization: `Bearer ${await this.options.accessToken()}`, accept: 'application/json' };
  }

  private async call(method: string, url: string, body?: unknown): Promise<Response> {
    const headers = await this.bearer();
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await this.fetch(url, { method, headers, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
    return response;
  }

  private async callJson<T>(method: string, url: string, body?: unknown): Promise<T> {
    const response = await this.call(method, url, body);
    if (!response.ok) throw new Error(`SSF ${method} ${new URL(url).pathname} answered ${response.status}`);
    return (await response.json()) as T;
  }

  async transmitter(): Promise<TransmitterMetadata> {
    if (this.metadata) return this.metadata;
    const response = await this.fetch(`${this.options.issuer}/.well-known/ssf-configuration`, { headers: { accept: 'application/json' } });
    if (!response.ok) throw new Error(`SSF configuration answered ${response.status}`);
    const metadata = (await response.json()) as TransmitterMetadata;
    if (typeof metadata.configuration_endpoint !== 'string') throw new Error('SSF configuration has no configuration_endpoint');
    this.metadata = metadata;
    return metadata;
  }

  /**
   * The stream for this delivery: an existing stream of this receiver with the same method (and
   * endpoint, for push) is reused, else one is created. Returns its configuration.
   */
  async ensureStream(delivery: Delivery, eventsRequested: readonly string[] = ['https://schemas.openid.net/secevent/caep/event-type/session-revoked']): Promise<StreamConfig> {
    const { configuration_endpoint: endpoint } = await this.transmitter();
    const listed = await this.callJson<StreamConfig[] | StreamConfig>('GET', endpoint);
    const streams = Array.isArray(listed) ? listed : [listed];
    const method = delivery.method === 'push' ? PUSH_DELIVERY : POLL_DELIVERY;
    const existing = streams.find(
      (stream) => stream?.delivery?.method === method && (delivery.method === 'poll' || stream.delivery.endpoint_url === delivery.endpointUrl),
    );
    const config =
      existing ??
      (await this.callJson<StreamConfig>('POST', endpoint, {
        delivery:
          delivery.method === 'push'
            ? { method, endpoint_url: delivery.endpointUrl, ...(delivery.authorizationHeader ? { authorization_header: delivery.authorizationHeader } : {}) }
            : { method },
        events_requested: eventsRequested,
      }));
    this.streamId = config.stream_id;
    this.pollUrl = delivery.method === 'poll' ? (config.delivery.endpoint_url ?? null) : null;
    // From now on every revocation reaches this process: Deputy holds what it has not delivered
    // (or what was not acknowledged) until this receiver takes it.
    this.markListening();
    return config;
  }

  /**
   * Sets the stream `enabled` (SSF 1.0 §8.1.2.2). Deputy then delivers what it holds at once
   * instead of at its next retry: call it when the push endpoint is back after an outage.
   */
  async resume(): Promise<void> {
    const { status_endpoint: endpoint } = await this.transmitter();
    if (!endpoint || !this.streamId) throw new Error('no stream to resume (ensureStream first) or no status_endpoint');
    const response = await this.call('POST', endpoint, { stream_id: this.streamId, status: 'enabled' });
    if (!response.ok) throw new Error(`SSF status answered ${response.status}`);
  }

  async deleteStream(): Promise<void> {
    if (!this.streamId) return;
    const { configuration_endpoint: endpoint } = await this.transmitter();
    const response = await this.call('DELETE', `${endpoint}?stream_id=${encodeURIComponent(this.streamId)}`);
    if (!response.ok && response.status !== 404) throw new Error(`SSF DELETE stream answered ${response.status}`);
    this.streamId = null;
  }

  /**
   * Asks Deputy for a verification event (SSF §8.1.4) and resolves once it arrived through this
   * receiver (push or poll): proof the stream works end to end.
   */
  async verifyStream(timeoutMs = 10_000): Promise<void> {
    const { verification_endpoint: endpoint } = await this.transmitter();
    if (!endpoint || !this.streamId) throw new Error('no stream to verify (ensureStream first) or no verification_endpoint');
    const state = crypto.randomUUID();
    const arrived = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.waitingStates.delete(state);
        reject(new Error('the verification event did not arrive'));
      }, timeoutMs);
      this.waitingStates.set(state, () => {
        clearTimeout(timer);
        this.waitingStates.delete(state);
        resolve();
      });
    });
    const response = await this.call('POST', endpoint, { stream_id: this.streamId, state });
    if (!response.ok) {
      this.waitingStates.get(state)?.();
      throw new Error(`SSF verification answered ${response.status}`);
    }
    await arrived;
  }

  /** One poll (RFC 8936 §2.4): acknowledges `ack`, returns the SETs verified and the ones refused. */
  async pollOnce(ack: string[], setErrs: Record<string, { err: string; description: string }>, maxEvents = 100): Promise<{ accepted: string[]; refused: typeof setErrs; moreAvailable: boolean }> {
    if (!this.streamId) throw new Error('no stream to poll (ensureStream first)');
    const pollUrl = this.pollUrl ?? `${this.options.issuer}/ssf/poll/${encodeURIComponent(this.streamId)}`;
    const result = await this.callJson<{ sets?: Record<string, string>; moreAvailable?: boolean }>('POST', pollUrl, {
      maxEvents,
      returnImmediately: true,
      ack,
      ...(Object.keys(setErrs).length ? { setErrs } : {}),
    });
    this.markListening();
    const accepted: string[] = [];
    const refused: typeof setErrs = {};
    // In the order Deputy gave them: the order of the changes.
    for (const [jti, set] of Object.entries(result.sets ?? {})) {
      try {
        await this.accept(set);
        accepted.push(jti);
      } catch (error) {
        if (!(error instanceof SetError)) throw error;
        refused[jti] = { err: error.err, description: error.description };
      }
    }
    return { accepted, refused, moreAvailable: result.moreAvailable === true };
  }

  /**
   * Polls until `stop()`: acknowledges each batch on the next request (so nothing is lost if
   * this process dies in between: Deputy redelivers what was not acknowledged), waits
   * `intervalMs` when nothing is pending, backs off up to 30 s on errors.
   */
  startPolling(intervalMs = 1000): void {
    if (this.polling) return;
    const controller = new AbortController();
    const loop = async () => {
      let ack: string[] = [];
      let setErrs: Record<string, { err: string; description: string }> = {};
      let backoff = intervalMs;
      while (!controller.signal.aborted) {
        try {
          const batch = await this.pollOnce(ack, setErrs);
          ack = batch.accepted;
          setErrs = batch.refused;
          backoff = intervalMs;
          if (!batch.moreAvailable && ack.length === 0 && Object.keys(setErrs).length === 0) await sleep(intervalMs, controller.signal);
        } catch (error) {
          this.options.onError?.(error as Error);
          await sleep(backoff, controller.signal);
          backoff = Math.min(backoff * 2, 30_000);
        }
      }
      // Acknowledge the last batch so it is not redelivered to the next run.
      if (ack.length || Object.keys(setErrs).length) await this.pollOnce(ack, setErrs, 0).catch(() => undefined);
    };
    this.polling = { controller, done: loop() };
  }

  async stop(): Promise<void> {
    if (!this.polling) return;
    this.polling.controller.abort();
    await this.polling.done;
    this.polling = null;
  }
}
