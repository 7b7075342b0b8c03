/**
 * The states of an approval request. A module of its own, with no imports, so the CLI and the
 * console share the server's list without loading the store.
 */
export const APPROVAL_STATUSES = ['pending', 'approved', 'denied', 'expired', 'cancelled'] as const;
export type ApprovalStatus = (typeof APPROVAL_STATUSES)[number];
