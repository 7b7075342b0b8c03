/** The introspection fallback's client: what it asks, what it caches, how it fails closed. */
import { describe, expect, it } from '@jest/globals';
import { IntrospectionClient, IntrospectionUnavailable } from '../../src/resource-server/introspection.js';

const NOW = 1_900_000_000;
const answer = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

function client(responses: Array<() => Promise<Response>>) {
  const calls: RequestInit[] = [];
  const fetch = (async (_url: string, init: RequestInit) => {
    calls.push(init);
    const next = responses.shift();
    if (!next) throw new Error('no more responses');
    return next();
  }) as unknown as typeof globalThis.fetch;
  return { calls, introspection: new IntrospectionClient({ endpoint: 'http://deputy.test/token/introspection', clientId: 'rs', clientSecret: 's', fetch, now: () => NOW }) };
}

describe('introspection client', () => {
  it('asks again once when the request fails before any answer (a connection closed by a restart)', async () => {
    const { calls, introspection } = client([() => Promise.reject(new TypeError('fetch failed')), async () => answer({ active: false })]);
    await expect(introspection.isActive('token-a', NOW + 60, 'jti-a')).resolves.toBe(false);
    expect(calls).toHaveLength(2);
  });

  it('fails closed when the second attempt fails too, and never retries an answer', async () => {
    const failing = client([() => Promise.reject(new TypeError('fetch failed')), () => Promise.reject(new TypeError('fetch failed'))]);
    await expect(failing.introspection.isActive('token-b', NOW + 60, 'jti-b')).rejects.toBeInstanceOf(IntrospectionUnavailable);
    expect(failing.calls).toHaveLength(2);

    const refused = client([async () => answer({ error: 'temporarily_unavailable' }, 503)]);
    await expect(refused.introspection.isActive('token-c', NOW + 60, 'jti-c')).rejects.toBeInstanceOf(IntrospectionUnavailable);
    expect(refused.calls).toHaveLength(1);
  });

  it('is active only for an active answer about the same jti, and keeps an inactive answer', async () => {
    const { calls, introspection } = client([async () => answer({ active: true, jti: 'other' }), async () => answer({ active: true, jti: 'jti-e' })]);
    await expect(introspection.isActive('token-d', NOW + 60, 'jti-d')).resolves.toBe(false);
    await expect(introspection.isActive('token-d', NOW + 60, 'jti-d')).resolves.toBe(false);
    await expect(introspection.isActive('token-e', NOW + 60, 'jti-e')).resolves.toBe(true);
    expect(calls).toHaveLength(2);
  });
});
