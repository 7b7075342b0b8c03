/**
 * The last audit-chain verification this process ran for the console, so the overview can show
 * the chain's status without walking every event on each visit (verification is linear in the
 * log's size). Per process and in memory: after a restart the overview says it has not been
 * verified yet, and offers to verify now.
 */

export interface Verification {
  at: Date;
  by: string;
  ok: boolean;
  eventsChecked: number;
  problem: string | null;
}

export function createVerificationMemo() {
  let last: Verification | null = null;
  return {
    get: (): Verification | null => last,
    set(verification: Verification): void {
      last = verification;
    },
  };
}

export type VerificationMemo = ReturnType<typeof createVerificationMemo>;
