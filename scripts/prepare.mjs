// npm runs `prepare` after `npm install` / `npm ci` in a clone of the repository (never when the
// published package is installed: that ships dist/). With the dev dependencies present it
// generates the Prisma client (the admin API's data access, compiled into dist/) and the CLI's typed admin client, and
// builds dist/; without them
// (`npm ci --omit=dev`) there is nothing to build with, and it says so instead of failing.
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const installed = (name) => {
  try {
    require.resolve(name);
    return true;
  } catch {
    return false;
  }
};
const run = (script, nodeArgs = []) => {
  const result = spawnSync(process.execPath, [...nodeArgs, fileURLToPath(new URL(script, import.meta.url))], { stdio: 'inherit' });
  if (result.status !== 0) process.exit(result.status ?? 1);
};

if (!installed('prisma/build/index.js') || !installed('typescript/bin/tsc') || !installed('tsx')) {
  process.stderr.write('deputy: dev dependencies not installed; not generating the Prisma client nor building dist/\n');
  process.exit(0);
}
run('./prisma-generate.mjs');
// The CLI's admin client is typed from the admin API's OpenAPI document: generated before the build.
run('./generate-admin-client.ts', ['--import', 'tsx']);
run('./build.mjs');
