// Jest loads global setup outside its module system; tsx lets it import the TypeScript sources.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { tsImport } from 'tsx/esm/api';

export default async function globalSetup() {
  // Tests that run the built service or the `deputy` binary (dist/) must not run a stale build.
  const build = spawnSync(process.execPath, [fileURLToPath(new URL('../../scripts/build.mjs', import.meta.url)), '--if-stale'], { stdio: 'inherit' });
  if (build.status !== 0) throw new Error('building dist/ failed');
  const { default: setup } = await tsImport('./global-setup.impl.ts', import.meta.url);
  await setup();
}
