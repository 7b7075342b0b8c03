/**
 * Importing Deputy's modules changes no process-wide state; the composition root's explicit
 * start-up call does (src/startup.ts). Checked in a fresh Node process, since jest's own module
 * registry would hide what an import does to the process.
 */
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from '@jest/globals';

const ROOT = fileURLToPath(new URL('..', import.meta.url));

const SCRIPT = `
import pg from 'pg';
const int8 = () => typeof pg.types.getTypeParser(pg.types.builtins.INT8)('5');
const result = { beforeImport: int8() };
await import('./src/composition.ts');
const internals = await import('./src/oauth/oidc-provider-internals.ts');
const { createProvider } = await import('./src/oauth/provider.ts');
result.afterImport = int8();
result.stepsAfterImport = internals.providerStepsPrepared();
try {
  createProvider({});
  result.providerWithoutStartup = 'built';
} catch (error) {
  result.providerWithoutStartup = error.message;
}
const { prepareProcess } = await import('./src/startup.ts');
prepareProcess();
prepareProcess();
result.afterStartup = int8();
result.stepsAfterStartup = internals.providerStepsPrepared();
process.stdout.write(JSON.stringify(result));
`;

describe('start-up', () => {
  it('importing the modules leaves pg and oidc-provider alone; prepareProcess() (idempotent) prepares them', () => {
    const output = execFileSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', SCRIPT], {
      cwd: ROOT,
      encoding: 'utf8',
      env: { ...process.env, NODE_OPTIONS: '' },
      timeout: 120_000,
    });
    expect(JSON.parse(output)).toEqual({
      beforeImport: 'string',
      afterImport: 'string',
      stepsAfterImport: false,
      providerWithoutStartup: 'prepareProcess() (src/startup.ts) must run before a provider is created',
      afterStartup: 'number',
      stepsAfterStartup: true,
    });
  }, 150_000);
});
