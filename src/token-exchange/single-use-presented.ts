/**
 * The single-use jtis one exchange presents — its actor assertion's and its DPoP proof's —
 * collected while the request is verified and marked used by the statement that records the
 * exchange's outcome (record.ts, deputy_record_exchanges): one round trip and one commit fewer
 * per exchange than a separate INSERT each, in the same atomic store (SECURITY.md, finding 16).
 * No token leaves before its record is committed, so a replay is still refused before any token
 * is returned, with the refusal the separate store gave and its audit event.
 */
import { errors as providerErrors } from 'oidc-provider';
import type { JtiNamespace } from '../db/single-use-jtis.js';
import { invalidRequest, OAuthError, type OAuthErrorCode } from '../errors.js';
import { replayedJti, type RecordStatus, type SingleUseJti } from './record.js';
import { refusalReason, type ExchangeStage } from './refusal-reason.js';

/** How long oidc-provider keeps a DPoP proof's jti (CHALLENGE_OK_WINDOW, lib/helpers/challenge.js). */
export const DPOP_PROOF_JTI_SECONDS = 300;

interface Replay {
  stage: ExchangeStage;
  /** The refusal the request gets when the jti was used before. */
  error(): Error;
  /** Its audit event's error and reason (computed once). */
  refusal: SingleUseJti['refusal'];
}

function asOAuthError(error: Error): OAuthError {
  if (error instanceof OAuthError) return error;
  const exposed = error as unknown as { error: string; error_description: string; status: number };
  return new OAuthError(exposed.error as OAuthErrorCode, exposed.error_description, undefined, exposed.status);
}

function replay(stage: ExchangeStage, error: () => Error): Replay {
  const refused = asOAuthError(error());
  return { stage, error, refusal: { error: refused.code, reason: refusalReason(stage, refused) } };
}

const REPLAYS: Record<'actor_assertion' | 'dpop_proof', Replay> = {
  actor_assertion: replay('actor_token', () => invalidRequest('actor assertion was already used')),
  // A replayed proof is an invalid proof (RFC 9449 §11.1), as oidc-provider's own check says it.
  dpop_proof: replay('dpop', () => new providerErrors.InvalidDpopProof('DPoP proof JWT Replay detected')),
};

export class PresentedJtis {
  readonly entries: SingleUseJti[] = [];
  private readonly replays: Replay[] = [];

  private add(kind: keyof typeof REPLAYS, namespace: JtiNamespace, issuer: string, jti: string, expiresAt: number): void {
    const replayed = REPLAYS[kind];
    this.entries.push({ namespace, issuer, jti, expiresAt, refusal: replayed.refusal });
    this.replays.push(replayed);
  }

  /** The actor-assertion port (actor-identity.ts): always "first use" here; the record decides. */
  readonly markActorAssertion = (namespace: JtiNamespace, issuer: string, jti: string, expiresAt: number): Promise<boolean> => {
    this.add('actor_assertion', namespace, issuer, jti, expiresAt);
    return Promise.resolve(true);
  };

  /** A DPoP proof's jti, keyed by client id as oidc-provider's ReplayDetection keys it. */
  dpopProof(clientId: string, jti: string, nowSeconds: number): void {
    this.add('dpop_proof', 'oauth_client', clientId, jti, nowSeconds + DPOP_PROOF_JTI_SECONDS);
  }

  /** For a `replayed:<i>` record status: the stage and the refusal to answer with; else null. */
  replayOf(status: RecordStatus): Replay | null {
    const entry = replayedJti(status, this.entries);
    return entry ? this.replays[this.entries.indexOf(entry)]! : null;
  }
}
