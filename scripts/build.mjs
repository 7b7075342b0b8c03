// `npm run build`: compiles src/ to dist/ (tsconfig.build.json, incremental).
// `--if-stale`, which `npm start` and `npm run migrate` run first, compiles only when a source is
// newer than the last build, so a developer who edited src/ never runs a stale dist/, and a
// start with nothing changed costs a directory walk, not a compilation. Without TypeScript (a
// production install) a missing or stale dist/ is an error, never silently run.
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, utimesSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const config = path.join(root, 'tsconfig.build.json');
const stamp = path.join(root, 'dist', '.tsbuildinfo');

/** The newest modification time under `file` (0 when it does not exist). */
function newest(file) {
  if (!existsSync(file)) return 0;
  const stats = statSync(file);
  if (!stats.isDirectory()) return stats.mtimeMs;
  return Math.max(stats.mtimeMs, ...readdirSync(file).map((name) => newest(path.join(file, name))));
}

function typescriptCompiler() {
  try {
    return createRequire(import.meta.url).resolve('typescript/bin/tsc');
  } catch {
    return null;
  }
}

const ifStale = process.argv.includes('--if-stale');
const built = existsSync(path.join(root, 'dist', 'main.js'));
const newestSource = () => Math.max(...['src', 'tsconfig.json', 'tsconfig.build.json'].map((name) => newest(path.join(root, name))));
const upToDate = () =>
  // The published package ships dist/ without sources: nothing to rebuild from.
  !existsSync(path.join(root, 'src')) || (existsSync(stamp) && newestSource() <= statSync(stamp).mtimeMs);
if (ifStale && built && upToDate()) process.exit(0);

const tsc = typescriptCompiler();
if (!tsc) {
  process.stderr.write(
    built
      ? 'deputy: src/ changed after dist/ was built, and TypeScript (a dev dependency) is not installed to rebuild it: run `npm run build` with the dev dependencies installed\n'
      : 'deputy: dist/ is missing and TypeScript (a dev dependency) is not installed: run `npm ci` then `npm run build`\n',
  );
  process.exit(1);
}
if (ifStale) process.stderr.write('deputy: building dist/ (src/ changed since the last build)\n');
const sourcesAt = newestSource();
const result = spawnSync(process.execPath, [tsc, '-p', config], { stdio: 'inherit' });
if (result.status !== 0) process.exit(result.status ?? 1);
// tsc leaves its build info untouched when no output changed; the stamp says "built from these
// sources", so it is never older than the newest of them (a clock or copy can date one ahead).
const builtAt = new Date(Math.max(Date.now(), Math.ceil(sourcesAt)));
utimesSync(stamp, builtAt, builtAt);
