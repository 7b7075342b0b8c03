/**
 * Who the token is for: an external user token from a trusted issuer, or a token Deputy minted
 * (which makes the new token the next link of a chain). Returns the facts the decision needs;
 * an external token's `act` never becomes a chain.
 */
import type { KeyRing } from '../keys/key-ring.js';
import type { SubjectTokenFacts } from './decision-types.js';
import { verifyDeputySubjectToken } from './deputy-token.js';
import type { SubjectTokenKind } from './request.js';
import { verifyTrustedIssuerToken, type TrustedIssuerDeps } from './trusted-issuer-token.js';

export interface SubjectIdentity {
  facts: SubjectTokenFacts;
  /** The parent token's jti when the subject token is a Deputy token. */
  parentJti: string | null;
}

export interface SubjectIdentityDeps extends TrustedIssuerDeps {
  keyRing: KeyRing;
  issuer: string;
}

/** Chain details of a Deputy subject token come from its issued-token record, filled in later. */
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
    };
  }
  const claims = await verifyDeputySubjectToken(token, deps.keyRing, deps.issuer, Math.floor(now.getTime() / 1000));
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
  };
}
