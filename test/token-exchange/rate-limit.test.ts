import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { hashClientSecret } from '../../src/oauth/client-secrets.js';
import { startTestDeputy, type TestDeputy } from '../support/deputy.js';

const PEPPER = 'p'.repeat(40);
const SECRET = 'rate-limit-client-secret';

describe('token endpoint rate limits', () => {
  let deputy: TestDeputy;
  beforeAll(async () => {
    deputy = await startTestDeputy({ CLIENT_SECRET_PEPPER: PEPPER, RATE_LIMIT_CLIENT_PER_SECOND: '3' });
    await deputy.pool.query(
      `INSERT INTO clients (client_id, client_secret_hash, token_endpoint_auth_method) VALUES ('limited', $1, 'client_secret_basic'), ('other', $1, 'client_secret_basic')`,
      [hashClientSecret(SECRET, PEPPER)],
    );
  });
  afterAll(async () => {
    await deputy.stop();
  });

  const exchange = (clientId: string) =>
    fetch(`${deputy.url}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${clientId}:${SECRET}`).toString('base64')}`,
      },
      body: new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:token-exchange',
        subject_token: 'not-a-token',
        subject_token_type: 'urn:ietf:params:oauth:token-type:jwt',
        resource: 'https://api.example/none',
      }),
    });

  it('answers 429 with Retry-After once a client spends its budget, without touching other clients', async () => {
    const statuses: number[] = [];
    let limited: Response | undefined;
    for (let i = 0; i < 6; i++) {
      const response = await exchange('limited');
      statuses.push(response.status);
      if (response.status === 429) limited ??= response;
      else await response.text();
    }
    expect(statuses.slice(0, 3)).toEqual([400, 400, 400]);
    expect(statuses).toContain(429);
    expect(limited!.headers.get('retry-after')).toMatch(/^[1-9]\d*$/);
    expect(limited!.headers.get('cache-control')).toBe('no-store');
    expect(await limited!.json()).toEqual({ error: 'temporarily_unavailable', error_description: 'too many requests for this client; retry later' });
    const other = await exchange('other');
    expect(other.status).toBe(400);
  });
});
