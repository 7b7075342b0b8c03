/**
 * The RFC 9068 JWT access token Deputy mints: `typ: at+jwt`, signed with the active key.
 */
import type { SigningKey } from '../keys/key-ring.js';
import type { ActClaim } from './decision-types.js';
import { signJwt } from '../jose/jwt-signer.js';

export interface AccessTokenContent {
  issuer: string;
  subjectId: string;
  audience: string;
  clientId: string;
  scopes: readonly string[];
  issuedAt: number;
  expiresAt: number;
  jti: string;
  act: ActClaim;
  grantId: string;
  dpopJkt: string | null;
}

export function mintAccessToken(key: SigningKey, content: AccessTokenContent): string {
  return signJwt(
    key,
    { typ: 'at+jwt' },
    {
      iss: content.issuer,
      sub: content.subjectId,
      aud: content.audience,
      client_id: content.clientId,
      scope: content.scopes.join(' '),
      iat: content.issuedAt,
      exp: content.expiresAt,
      jti: content.jti,
      act: content.act,
      grant_id: content.grantId,
      ...(content.dpopJkt ? { cnf: { jkt: content.dpopJkt } } : {}),
    },
  );
}
