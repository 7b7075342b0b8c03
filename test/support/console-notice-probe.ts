/**
 * Loaded with `--import` into a Deputy process by test/main.test.ts. On SIGUSR2, oidc-provider
 * writes a notice exactly as it does when it meets a default it wants changed
 * (lib/helpers/attention.js), and a library writes with console.log; then it says so on stderr.
 */
// @ts-expect-error untyped internal module
import * as attention from 'oidc-provider/lib/helpers/attention.js';

process.on('SIGUSR2', () => {
  attention.info('probe notice');
  attention.warn('probe warning');
  console.log('probe console.log', { n: 1 });
  process.stderr.write('probe: done\n');
});
