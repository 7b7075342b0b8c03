/** Shared by the decide() example and property tests. */
import type { DecisionInput, GrantedDecision, SubjectTokenFacts } from '../../src/token-exchange/decide.js';

/** What the I/O layer would read back from a token minted on `decision`. */
export function mintedFacts(input: DecisionInput, decision: GrantedDecision): SubjectTokenFacts {
  return {
    subjectId: input.subjectToken.subjectId,
    exp: decision.exp,
    scopes: decision.scopes,
    chain: decision.actorIds,
    chainGrantIds: decision.grantIds,
    audience: input.requestedResource,
    mayActSub: null,
    issuedAt: input.now,
    externalIssuedAt: null,
    // The token is bound to the request's proof key, if any (grant.ts).
    boundJkt: input.dpopJkt,
  };
}
