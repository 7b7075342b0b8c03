/**
 * A Deputy whose database can be cut off and restored while it runs. Deputy connects as an
 * ordinary role of its own, because CONNECTION LIMIT does not apply to superusers; the harness
 * keeps a superuser path (`admin`) that works during the outage.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { createTestDatabase, type TestDatabase } from './database.js';
import { startTestDeputy } from './deputy.js';
import { PEPPER, buildWorld, type World } from './exchange-world.js';

export interface OutageHarness {
  world: World;
  /** The database role Deputy connects as. */
  role: string;
  database: TestDatabase;
  /** Runs `work` as a superuser on `databaseName` (or the server's default database). */
  admin<T>(databaseName: string | null, work: (client: pg.Client) => Promise<T>): Promise<T>;
  /** The database refuses new connections and its existing ones are terminated. */
  cutOff(options?: { waitForPoolToEmpty?: boolean }): Promise<void>;
  restore(): Promise<void>;
  stop(): Promise<void>;
}

export async function startOutageHarness(env: Record<string, string> = {}): Promise<OutageHarness> {
  const adminUrl = process.env.DEPUTY_TEST_ADMIN_URL!;
  const role = `deputy_app_${randomBytes(4).toString('hex')}`;
  const password = randomBytes(12).toString('hex');

  async function admin<T>(databaseName: string | null, work: (client: pg.Client) => Promise<T>): Promise<T> {
    const url = new URL(adminUrl);
    if (databaseName) url.pathname = `/${databaseName}`;
    const client = new pg.Client({ connectionString: url.toString() });
    await client.connect();
    try {
      return await work(client);
    } finally {
      await client.end();
    }
  }

  const shared = await createTestDatabase();
  await admin(null, (client) => client.query(`CREATE ROLE ${role} LOGIN PASSWORD '${password}'`));
  await admin(shared.name, async (client) => {
    await client.query(`GRANT CONNECT ON DATABASE ${shared.name} TO ${role}`);
    await client.query(`GRANT USAGE, CREATE ON SCHEMA public TO ${role}`);
    await client.query(`GRANT ALL ON ALL TABLES IN SCHEMA public TO ${role}`);
    await client.query(`GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO ${role}`);
    await client.query(`GRANT EXECUTE ON ALL FUNCTIONS IN SCHEMA public TO ${role}`);
  });
  const url = new URL(shared.url);
  url.username = role;
  url.password = password;
  const database: TestDatabase = { ...shared, url: url.toString() };
  const deputy = await startTestDeputy({ CLIENT_SECRET_PEPPER: PEPPER, DATABASE_POOL_TIMEOUT_MS: '1000', ...env }, database);
  const world = await buildWorld(deputy);

  const restore = async () => {
    await admin(null, (client) => client.query(`ALTER DATABASE ${database.name} CONNECTION LIMIT -1`));
  };

  return {
    world,
    role,
    database,
    admin,
    async cutOff({ waitForPoolToEmpty = false } = {}) {
      await admin(null, async (client) => {
        await client.query(`ALTER DATABASE ${database.name} CONNECTION LIMIT 0`);
        await client.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database.name]);
      });
      // Optionally wait until Deputy's pool has dropped every terminated connection, so the next
      // requests meet a database that refuses connections rather than a connection dying under them.
      while (waitForPoolToEmpty && world.deputy.pool.totalCount > 0) await new Promise((resolve) => setTimeout(resolve, 10));
    },
    restore,
    async stop() {
      await restore().catch(() => {});
      await world.stop();
      await database.drop();
      await admin(null, (client) => client.query(`DROP ROLE IF EXISTS ${role}`)).catch(() => {});
    },
  };
}
