import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import pg from 'pg';
import { createConfigCache, type ConfigCache } from '../../src/db/change-feed.js';
import { createTestDatabase, type TestDatabase } from '../support/database.js';
import { until } from '../support/wait.js';

describe('change-notified configuration cache', () => {
  let db: TestDatabase;
  let pool: pg.Pool;
  let cache: ConfigCache;
  beforeAll(async () => {
    db = await createTestDatabase();
    pool = new pg.Pool({ connectionString: db.url, max: 3 });
    await pool.query(`INSERT INTO clients (client_id, token_endpoint_auth_method, scope) VALUES ('app', 'client_secret_basic', '')`);
    cache = createConfigCache({ url: db.url, retryMs: 50 });
    await until(() => cache.listening, 'the feed to listen');
  });
  afterAll(async () => {
    await cache.close();
    await pool.end();
    await db.drop();
  });

  function countingLoader() {
    let loads = 0;
    return {
      get loads() {
        return loads;
      },
      load: async () => {
        loads += 1;
        const { rows } = await pool.query(`SELECT scope FROM clients WHERE client_id = 'app'`);
        return rows[0] as { scope: string };
      },
    };
  }

  it('serves a cached value until the row changes, then the new one', async () => {
    const loader = countingLoader();
    expect(await cache.get('clients:app', loader.load)).toEqual({ scope: '' });
    expect(await cache.get('clients:app', loader.load)).toEqual({ scope: '' });
    expect(loader.loads).toBe(1);

    await pool.query(`UPDATE clients SET scope = 'deputy:admin' WHERE client_id = 'app'`);
    await until(async () => (await cache.get('clients:app', loader.load)).scope === 'deputy:admin', 'the change to be seen');
    expect(loader.loads).toBe(2);
  });

  it('does not cache absent values', async () => {
    let loads = 0;
    const load = async () => {
      loads += 1;
      return null;
    };
    await cache.get('clients:nobody', load);
    await cache.get('clients:nobody', load);
    expect(loads).toBe(2);
  });

  it('bypasses the cache while its connection is lost, and resumes when it is back', async () => {
    const loader = countingLoader();
    await cache.get('clients:app', loader.load);
    await pool.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'deputy-change-feed' AND datname = current_database()`);
    await until(() => !cache.listening, 'the feed to notice');
    const before = loader.loads;
    await cache.get('clients:app', loader.load);
    await cache.get('clients:app', loader.load);
    expect(loader.loads - before).toBe(2);
    await until(() => cache.listening, 'the feed to come back');
    await cache.get('clients:app', loader.load);
    const cachedAgain = loader.loads;
    await cache.get('clients:app', loader.load);
    expect(loader.loads).toBe(cachedAgain);
  });

  it('tells listeners each dropped key, and null when listening is lost and resumed', async () => {
    const dropped: Array<string | null> = [];
    cache.onChange((key) => dropped.push(key));
    await pool.query(`INSERT INTO trusted_issuers (issuer, jwks, audience, kind) VALUES ('https://idp.feed.test', '{"keys":[]}', 'deputy', 'user')`);
    await pool.query(`UPDATE trusted_issuers SET audience = 'other' WHERE issuer = 'https://idp.feed.test'`);
    await pool.query(`DELETE FROM trusted_issuers WHERE issuer = 'https://idp.feed.test'`);
    await until(() => dropped.length >= 3, 'three notifications');
    expect(dropped).toEqual(Array(3).fill('trusted_issuers:https://idp.feed.test'));
    dropped.length = 0;
    await pool.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'deputy-change-feed' AND datname = current_database()`);
    await until(() => !cache.listening, 'the feed to notice');
    await until(() => cache.listening, 'the feed to come back');
    expect(dropped.length).toBeGreaterThanOrEqual(2);
    expect(new Set(dropped)).toEqual(new Set([null]));
  });
});
