/**
 * Agent keys: generating a pair (`deputy actors keygen`) and signing actor assertions with the
 * private half (`deputy tokens exchange --actor-key`). The key id is the public key's RFC 7638
 * thumbprint, so the PEM file alone names the registered key it belongs to.
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, randomUUID, type KeyObject } from 'node:crypto';
import { SignJWT, calculateJwkThumbprint, exportJWK, type JWK } from 'jose';
import { UsageError } from './errors.js';

/** Algorithms of src/token-exchange/actor-assertion.ts that keygen offers (test/cli checks the match). */
export const KEY_ALGORITHMS = ['ES256', 'ES384', 'ES512', 'EdDSA', 'RS256'] as const;
export type KeyAlgorithm = (typeof KEY_ALGORITHMS)[number];

/** Deputy accepts assertions expiring at most 5 minutes ahead; one minute is plenty for one request. */
export const ASSERTION_LIFETIME_SECONDS = 60;

const CURVES: Record<string, KeyAlgorithm> = { 'P-256': 'ES256', 'P-384': 'ES384', 'P-521': 'ES512' };

function generate(alg: KeyAlgorithm): KeyObject {
  switch (alg) {
    case 'ES256':
      return generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    case 'ES384':
      return generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
    case 'ES512':
      return generateKeyPairSync('ec', { namedCurve: 'P-521' }).privateKey;
    case 'EdDSA':
      return generateKeyPairSync('ed25519').privateKey;
    case 'RS256':
      return generateKeyPairSync('rsa', { modulusLength: 3072 }).privateKey;
  }
}

export interface SigningKey {
  key: KeyObject;
  alg: KeyAlgorithm;
  kid: string;
}

async function publicJwkOf(key: KeyObject, alg: KeyAlgorithm): Promise<JWK> {
  const jwk = await exportJWK(createPublicKey(key));
  return { ...jwk, kid: await calculateJwkThumbprint(jwk), alg, use: 'sig' };
}

export async function generateActorKey(alg: KeyAlgorithm): Promise<{ privatePem: string; publicJwk: JWK }> {
  const key = generate(alg);
  return { privatePem: key.export({ type: 'pkcs8', format: 'pem' }).toString(), publicJwk: await publicJwkOf(key, alg) };
}

function algorithmOf(key: KeyObject): KeyAlgorithm {
  if (key.asymmetricKeyType === 'ed25519') return 'EdDSA';
  if (key.asymmetricKeyType === 'rsa') return 'RS256';
  if (key.asymmetricKeyType === 'ec') {
    const alg = CURVES[key.export({ format: 'jwk' }).crv ?? ''];
    if (alg) return alg;
  }
  throw new UsageError('the actor key must be an EC (P-256/384/521), Ed25519 or RSA private key');
}

export async function loadSigningKey(pem: string, source: string): Promise<SigningKey> {
  let key: KeyObject;
  try {
    key = createPrivateKey(pem);
  } catch {
    throw new UsageError(`${source} is not a PEM private key`);
  }
  const alg = algorithmOf(key);
  return { key, alg, kid: (await publicJwkOf(key, alg)).kid! };
}

/** An actor assertion: iss = sub = the actor, aud = Deputy's issuer, short-lived, fresh jti. */
export function signActorAssertion(signer: SigningKey, actorId: string, audience: string, now = new Date()): Promise<string> {
  const iat = Math.floor(now.getTime() / 1000);
  return new SignJWT({})
    .setProtectedHeader({ alg: signer.alg, kid: signer.kid, typ: 'JWT' })
    .setIssuer(actorId)
    .setSubject(actorId)
    .setAudience(audience)
    .setIssuedAt(iat)
    .setExpirationTime(iat + ASSERTION_LIFETIME_SECONDS)
    .setJti(randomUUID())
    .sign(signer.key);
}
