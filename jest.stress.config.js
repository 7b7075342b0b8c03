// `npm run test:stress`: the long, bounded, loopback-only scenarios under test/stress/ (never
// part of `npm test`). One file at a time, so the scenarios do not compete for the CPU.
import base from './jest.config.js';

/** @type {import('jest').Config} */
export default {
  ...base,
  testMatch: ['**/*.stress.ts'],
  testTimeout: 15 * 60 * 1000,
  maxWorkers: 1,
};
