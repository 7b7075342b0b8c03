/**
 * Sign and record one delegated token from a granted decision: the RFC 9068 JWT (the `sign`
 * port) and its issued_tokens row with its audit event (the `record` port), signed again once
 * when another process rotated the signing key meanwhile. The one issuing path of the token
 * exchange (grant.ts) and of the CIBA grant (src/approval/ciba-grant.ts): a token never leaves
 * without its record and event.
 */
import type { AuditEventInput } from '../audit/audit-log.js';
import { temporarilyUnavailable } from '../errors.js';
import type { GrantedDecision } from './decision-types.js';
import { deputyTokenDigest } from '../oauth/deputy-token.js';
import type { TokenExchangePorts } from './ports.js';
import type { RecordStatus, SingleUseJti } from './record.js';

export type IssuingPorts = Pick<TokenExchangePorts, 'sign' | 'record' | 'reloadSigningKeys'>;

export interface IssueRequest {
  issuer: string;
  jti: string;
  subjectId: string;
  clientId: string;
  resource: string;
  decision: GrantedDecision;
  /** The request's time; `issuedAt` is its epoch seconds. */
  now: Date;
  issuedAt: number;
  parentJti: string | null;
  ancestorJtis: readonly string[];
  dpopJkt: string | null;
  /** SHA-256 (hex) of the IdP subject token the chain started from (provenance); none for CIBA. */
  subjectTokenDigest?: string | null;
  /** The token.exchanged (or equivalent) event recorded with the token. */
  event: AuditEventInput;
  /** Marked used by the statement that records the token (an actor assertion's, a DPoP proof's jti). */
  singleUse?: readonly SingleUseJti[];
}

export type IssueOutcome = { status: 'recorded'; token: string } | { status: Exclude<RecordStatus, 'recorded' | 'stale_key'> };

async function signAndRecord(ports: IssuingPorts, request: IssueRequest): Promise<{ status: RecordStatus; token: string }> {
  const { decision } = request;
  const signed = ports.sign({
    issuer: request.issuer,
    subjectId: request.subjectId,
    audience: request.resource,
    clientId: request.clientId,
    scopes: decision.scopes,
    issuedAt: request.issuedAt,
    expiresAt: decision.exp,
    jti: request.jti,
    act: decision.act,
    grantId: decision.grantId,
    dpopJkt: request.dpopJkt,
  });
  const status = await ports.record({
    token: {
      jti: request.jti,
      kid: signed.kid,
      subjectId: request.subjectId,
      actorIds: decision.actorIds,
      clientId: request.clientId,
      resource: request.resource,
      scope: decision.scopes.join(' '),
      grantId: decision.grantId,
      grantIds: decision.grantIds,
      parentJti: request.parentJti,
      ancestorJtis: [...request.ancestorJtis],
      dpopJkt: request.dpopJkt,
      issuedAt: request.now,
      expiresAt: new Date(decision.exp * 1000),
      digest: deputyTokenDigest(signed.token),
      subjectTokenDigest: request.subjectTokenDigest ?? null,
    },
    event: request.event,
    ...(request.singleUse ? { singleUse: request.singleUse } : {}),
  });
  return { status, token: signed.token };
}

export async function issueDelegatedToken(ports: IssuingPorts, request: IssueRequest): Promise<IssueOutcome> {
  let issued = await signAndRecord(ports, request);
  if (issued.status === 'stale_key') {
    // Another process rotated the signing key: learn the new one and sign again.
    await ports.reloadSigningKeys();
    issued = await signAndRecord(ports, request);
  }
  if (issued.status === 'stale_key') throw temporarilyUnavailable('signing key rotated twice during one request');
  return issued.status === 'recorded' ? { status: 'recorded', token: issued.token } : { status: issued.status };
}
