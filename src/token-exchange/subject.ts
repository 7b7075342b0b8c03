/**
 * Who the token is for: an external user token from a trusted issuer, or a token Deputy minted
 * (which makes the new token the next link of a chain). Returns the facts the decision needs;
 * an external token's `act` never becomes a chain.
 */
import type { KeyRing } from '../keys/key-ring.js';
import type { SubjectTokenFacts } from './decision-types.js';
import { authenticateDeputySubjectToken, readDeputySubjectToken, type DeputyTokenReading } from '../oauth/deputy-token.js';
import type { SubjectTokenKind } from './request.js';
import { subjectTokenDigest } from '../trust/subject-token-digest.js';
import { verifyTrustedIssuerToken, type TrustedIssuerDeps } from '../trust/trusted-issuer-token.js';

export interface SubjectIdentity {
  facts: SubjectTokenFacts;
  /** The parent token's jti when the subject token is a Deputy token. */
  parentJti: string | null;
  /** SHA-256 (hex) of an external subject token: the provenance of what is derived from it; null for a Deputy token. */
  externalDigest: string | null;
  /**
   * A Deputy subject token is read here, and authenticated once its issued-token record is
   * loaded (with the other live facts): {@link authenticateParentToken}.
   */
  unauthenticated: { token: string; reading: Extract<DeputyTokenReading, { valid: true }> } | null;
}

export interface SubjectIdentityDeps extends TrustedIssuerDeps {
  keyRing: KeyRing;
  issuer: string;
}

/**
 * Chain details of a Deputy subject token come from its issued-token record, filled in later;
 * so does its authentication (authenticateParentToken), which must run before it is used.
 */
export async function verifySubjectToken(token: string, kind: SubjectTokenKind, deps: SubjectIdentityDeps, now: Date): Promise<SubjectIdentity> {
  if (kind === 'external') {
    const verified = await verifyTrustedIssuerToken(token, deps, now, 'user');
    return {
      facts: {
        subjectId: verified.subjectId,
        exp: verified.exp,
        scopes: null,
        chain: [],
        chainGrantIds: [],
        audience: null,
        mayActSub: verified.mayActSub,
        issuedAt: null,
        // The subject's kill switch is final for it too (decide.ts).
        externalIssuedAt: verified.iat,
        boundJkt: null,
      },
      parentJti: null,
      externalDigest: subjectTokenDigest(token),
      unauthenticated: null,
    };
  }
  const reading = readDeputySubjectToken(token, deps.issuer, Math.floor(now.getTime() / 1000));
  const { claims } = reading;
  return {
    facts: {
      subjectId: claims.sub,
      exp: claims.exp,
      scopes: claims.scope.split(' ').filter(Boolean),
      chain: [],
      chainGrantIds: [],
      audience: claims.aud,
      mayActSub: null,
      // Its record's issue time and DPoP binding replace these (grant.ts, chainFacts).
      issuedAt: claims.iat,
      externalIssuedAt: null,
      boundJkt: null,
    },
    parentJti: claims.jti,
    externalDigest: null,
    unauthenticated: { token, reading },
  };
}

/**
 * Authenticates a Deputy subject token by its record's digest (the record holds the chain, so it
 * is read anyway; a SHA-256 costs far less than an ES256 verification), or by its signature when
 * it has no record or one without a digest. Throws invalid_request when it is not authentic.
 */
export async function authenticateParentToken(
  subject: SubjectIdentity,
  parent: { digest: string | null } | null,
  keyRing: KeyRing,
  now: Date,
): Promise<void> {
  if (!subject.unauthenticated) return;
  const { token, reading } = subject.unauthenticated;
  await authenticateDeputySubjectToken(token, reading, keyRing, Math.floor(now.getTime() / 1000), parent?.digest ?? null);
}
