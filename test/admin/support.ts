/**
 * A small HTTP client for the admin API tests: JSON in and out, bootstrap token by default.
 */
import { startTestDeputy, type TestDeputy } from '../support/deputy.js';

export const ADMIN_TOKEN = 'x'.repeat(40);

export interface Reply<T = any> {
  status: number;
  body: T;
  headers: Headers;
}

export interface Admin {
  get<T = any>(path: string): Promise<Reply<T>>;
  post<T = any>(path: string, body?: unknown): Promise<Reply<T>>;
  patch<T = any>(path: string, body: unknown): Promise<Reply<T>>;
  delete<T = any>(path: string): Promise<Reply<T>>;
  /** Any request, sent as given (for content-type, size and auth tests). */
  raw(path: string, init: RequestInit): Promise<Reply>;
}

export function adminClient(baseUrl: string, token: string | null = ADMIN_TOKEN): Admin {
  const send = async (path: string, init: RequestInit): Promise<Reply> => {
    const headers = new Headers(init.headers);
    if (token !== null && !headers.has('authorization')) headers.set('authorization', `Bearer ${token}`);
    const response = await fetch(`${baseUrl}/admin/v1${path}`, { ...init, headers });
    const text = await response.text();
    let body: unknown = text;
    try {
      body = text ? JSON.parse(text) : undefined;
    } catch {
      // not JSON: keep the text
    }
    return { status: response.status, body, headers: response.headers };
  };
  const json = (method: string, path: string, body?: unknown) =>
    send(path, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
    });
  return {
    get: (path) => send(path, { method: 'GET' }),
    post: (path, body) => json('POST', path, body),
    patch: (path, body) => json('PATCH', path, body),
    delete: (path) => send(path, { method: 'DELETE' }),
    raw: send,
  };
}

export async function startAdminDeputy(): Promise<{ deputy: TestDeputy; admin: Admin }> {
  const deputy = await startTestDeputy({ DEPUTY_ADMIN_TOKEN: ADMIN_TOKEN, ...(process.env.ADMIN_TEST_LOG ? { LOG_LEVEL: process.env.ADMIN_TEST_LOG } : {}) });
  return { deputy, admin: adminClient(deputy.url) };
}

/** A client_credentials access token for `clientId` (client_secret_basic). */
export async function clientCredentialsToken(deputy: TestDeputy, clientId: string, secret: string, scope?: string): Promise<string> {
  const response = await fetch(`${deputy.url}/token`, {
    method: 'POST',
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${encodeURIComponent(clientId)}:${encodeURIComponent(secret)}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', ...(scope ? { scope } : {}) }),
  });
  const body = (await response.json()) as { access_token?: string };
  if (response.status !== 200 || !body.access_token) throw new Error(`client_credentials failed: ${response.status} ${JSON.stringify(body)}`);
  return body.access_token;
}

/** Minimal world: subject alice, a resource with two scopes, an agent owned by alice. */
export async function seedBasics(admin: Admin, suffix = ''): Promise<{ subject: string; resource: string; actor: string }> {
  const subject = `alice${suffix}`;
  const resource = `https://api${suffix}.example.com/tickets`;
  const actor = `agent:triage${suffix}`;
  expect201(await admin.post('/subjects', { id: subject, email: `${subject}@example.com` }));
  expect201(await admin.post('/resources', { uri: resource, scopes: ['tickets:read', 'tickets:write'] }));
  expect201(await admin.post('/actors', { id: actor, kind: 'agent', owner: subject, purpose: 'triage', resources: [resource] }));
  return { subject, resource, actor };
}

function expect201(reply: Reply): void {
  if (reply.status !== 201) throw new Error(`expected 201, got ${reply.status}: ${JSON.stringify(reply.body)}`);
}
