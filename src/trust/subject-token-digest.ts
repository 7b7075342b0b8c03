/**
 * The digest that names an external (trusted-issuer) subject token in Deputy's records: the
 * provenance of every token derived from it (issued_tokens.subject_token_sha256) and its entry
 * in revoked_subject_tokens. The token itself is never stored.
 */
import { createHash } from 'node:crypto';

/** SHA-256 of the token as presented, hex. */
export function subjectTokenDigest(token: string): string {
  return createHash('sha256').update(token).digest('hex');
}
