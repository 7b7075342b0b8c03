import { importJWK, SignJWT } from 'jose';
import type { DemoSecrets } from './seed.js';

/** A user session token from the demo identity provider, as a real IdP would issue it. */
export async function demoUserToken(secrets: DemoSecrets, subject: string, lifetimeSeconds = 900): Promise<string> {
  const key = await importJWK(secrets.issuerPrivateJwk, 'ES256');
  return new SignJWT({ email: `${subject}@example.com` })
    .setProtectedHeader({ alg: 'ES256', kid: secrets.issuerPrivateJwk.kid!, typ: 'JWT' })
    .setIssuer(secrets.issuer)
    .setAudience(secrets.audience)
    .setSubject(subject)
    .setIssuedAt()
    .setExpirationTime(`${lifetimeSeconds}s`)
    .setJti(crypto.randomUUID())
    .sign(key);
}
