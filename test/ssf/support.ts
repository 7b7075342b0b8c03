/**
 * A Shared Signals receiver on loopback for the transmitter tests: a node:http push endpoint
 * that verifies every SET with jose against Deputy's /jwks and keeps them per path, and helpers
 * to obtain a receiver's access token and call the stream management endpoints.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createRemoteJWKSet, jwtVerify, type JWTPayload } from 'jose';

export interface ReceivedSet {
  path: string;
  header: Record<string, unknown>;
  claims: JWTPayload & { sub_id?: Record<string, unknown>; events?: Record<string, Record<string, unknown>> };
  authorization: string | undefined;
}

export interface PushReceiver {
  url: string;
  received: ReceivedSet[];
  /** Answer every push with this status (202 when up). */
  status: number;
  attempts: number;
  on(path: string): ReceivedSet[];
  waitFor(path: string, count: number, timeoutMs?: number): Promise<ReceivedSet[]>;
  close(): Promise<void>;
}

export async function startPushReceiver(deputyUrl: string, issuer: string): Promise<PushReceiver> {
  const jwks = createRemoteJWKSet(new URL(`${deputyUrl}/jwks`));
  const state = { status: 202, attempts: 0 };
  const received: ReceivedSet[] = [];
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      state.attempts += 1;
      if (state.status !== 202) {
        res.writeHead(state.status).end();
        return;
      }
      if (req.headers['content-type'] !== 'application/secevent+jwt') {
        res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ err: 'invalid_request', description: 'content type' }));
        return;
      }
      jwtVerify(Buffer.concat(chunks).toString('utf8'), jwks, { issuer, typ: 'secevent+jwt' }).then(
        ({ payload, protectedHeader }) => {
          received.push({ path: req.url ?? '', header: protectedHeader as Record<string, unknown>, claims: payload as ReceivedSet['claims'], authorization: req.headers.authorization });
          res.writeHead(202).end();
        },
        () => res.writeHead(400, { 'content-type': 'application/json' }).end(JSON.stringify({ err: 'invalid_key', description: 'signature' })),
      );
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const on = (path: string) => received.filter((set) => set.path === path);
  return {
    url,
    received,
    get status() {
      return state.status;
    },
    set status(value: number) {
      state.status = value;
    },
    get attempts() {
      return state.attempts;
    },
    on,
    async waitFor(path, count, timeoutMs = 20_000) {
      const deadline = Date.now() + timeoutMs;
      while (on(path).length < count) {
        if (Date.now() > deadline) throw new Error(`expected ${count} SETs on ${path}, got ${on(path).length}`);
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      return on(path);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A receiver's access token: client_credentials with scope ssf:stream (client_secret_basic). */
export async function receiverToken(deputyUrl: string, clientId: string, secret: string, scope = 'ssf:stream'): Promise<Response> {
  return fetch(`${deputyUrl}/token`, {
    method: 'POST',
    headers: {
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`,
      'content-type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope }),
  });
}

export interface JsonResult {
  status: number;
  json: Record<string, unknown>;
  headers: Headers;
}

export async function call(deputyUrl: string, token: string | null, method: string, path: string, body?: unknown): Promise<JsonResult> {
  const response = await fetch(`${deputyUrl}${path}`, {
    method,
    headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await response.text();
  return { status: response.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {}, headers: response.headers };
}

export const SESSION_REVOKED = 'https://schemas.openid.net/secevent/caep/event-type/session-revoked';
export const VERIFICATION = 'https://schemas.openid.net/secevent/ssf/event-type/verification';
export const PUSH = 'urn:ietf:rfc:8935';
export const POLL = 'urn:ietf:rfc:8936';

export const revokedJti = (set: ReceivedSet) => set.claims.sub_id?.jti as string;
export const reasonOf = (set: ReceivedSet) => (set.claims.events?.[SESSION_REVOKED]?.reason_admin as { en: string } | undefined)?.en;
