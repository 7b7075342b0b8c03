/**
 * The pure comparison behind `POST audit/verify`: each position a checkpoint pinned against what
 * the database holds there now.
 */
import { describe, expect, it } from '@jest/globals';
import { comparePositions } from '../../src/audit/checkpoint.js';

const stored = new Map([
  ['0:3', { id: 30, hash: 'h03' }],
  ['1:7', { id: 71, hash: 'rewritten' }],
]);

describe('comparePositions', () => {
  it('intact, missing (truncated) and rewritten positions; a genesis position has nothing to lose', () => {
    expect(
      comparePositions(
        [
          { chain_id: 0, seq: 3, event_id: 30, hash: 'h03' },
          { chain_id: 1, seq: 7, event_id: 71, hash: 'h17' },
          { chain_id: 2, seq: 4, event_id: 42, hash: 'h24' },
          { chain_id: 3, seq: 0, event_id: null, hash: 'genesis' },
          { chain_id: 4, seq: 0, event_id: null, hash: 'not-genesis' },
        ],
        stored,
      ).map((check) => [check.chain_id, check.status]),
    ).toEqual([
      [0, 'intact'],
      [1, 'hash_mismatch'],
      [2, 'missing_event'],
      [3, 'intact'],
      [4, 'hash_mismatch'],
    ]);
  });
});
