/**
 * Keys and tokens for the JWT verification tests: well-formed signed tokens (jose), and
 * hand-built compact strings for the hostile cases jose would refuse to produce.
 */
import { expect } from '@jest/globals';
import { createHmac } from 'node:crypto';
import { CompactSign, exportJWK, exportSPKI, generateKeyPair, type CryptoKey, type JWK } from 'jose';
import { OAuthError } from '../../src/errors.js';

export const NOW = new Date('2030-01-01T00:00:00Z');
export const NOW_S = Math.floor(NOW.getTime() / 1000);

export interface TestKey {
  alg: string;
  kid: string;
  privateKey: CryptoKey;
  publicKey: CryptoKey;
  publicJwk: JWK;
}

let kidCounter = 0;

export async function makeKey(alg = 'ES256', kid = `kid-${alg.toLowerCase()}-${++kidCounter}`): Promise<TestKey> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' };
  return { alg, kid, privateKey, publicKey, publicJwk };
}

export const jwksOf = (...keys: TestKey[]): { keys: JWK[] } => ({ keys: keys.map((k) => k.publicJwk) });

export type Header = Record<string, unknown>;
export type Claims = Record<string, unknown>;

/**
 * Signs `claims` with `key`. The header defaults to `{ alg: key.alg, kid: key.kid, typ: 'JWT' }`;
 * `header` overrides (a value of `undefined` removes the parameter).
 */
export async function signJwt(key: TestKey, claims: Claims, header: Header = {}): Promise<string> {
  const protectedHeader = dropUndefined({ alg: key.alg, kid: key.kid, typ: 'JWT', ...header });
  const crit = Array.isArray(protectedHeader.crit)
    ? Object.fromEntries((protectedHeader.crit as string[]).map((name) => [name, true]))
    : undefined;
  return new CompactSign(new TextEncoder().encode(JSON.stringify(claims)))
    .setProtectedHeader(protectedHeader as { alg: string })
    .sign(key.privateKey, crit ? { crit } : undefined);
}

export const b64url = (value: string | Uint8Array): string => Buffer.from(value).toString('base64url');

/** A compact JWS assembled by hand; the signature is whatever you pass. */
export function rawJwt(header: Header, claims: Claims, signature = b64url('not-a-signature')): string {
  return `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}.${signature}`;
}

/** The classic algorithm-confusion token: HS256 keyed with the issuer's public key bytes. */
export async function hs256WithPublicKey(key: TestKey, claims: Claims): Promise<string> {
  const secret = await exportSPKI(key.publicKey);
  const signingInput = `${b64url(JSON.stringify({ alg: 'HS256', kid: key.kid, typ: 'JWT' }))}.${b64url(JSON.stringify(claims))}`;
  const signature = createHmac('sha256', secret).update(signingInput).digest('base64url');
  return `${signingInput}.${signature}`;
}

/** Flips one bit in the first byte of the signature. */
export function flipSignatureBit(token: string): string {
  const [header, payload, signature] = token.split('.') as [string, string, string];
  const bytes = Buffer.from(signature, 'base64url');
  bytes[0] = (bytes[0] ?? 0) ^ 0x01;
  return `${header}.${payload}.${bytes.toString('base64url')}`;
}

/** Replaces the header segment with arbitrary text (kept base64url). */
export function withRawHeader(token: string, headerText: string): string {
  const [, payload, signature] = token.split('.') as [string, string, string];
  return `${b64url(headerText)}.${payload}.${signature}`;
}

function dropUndefined(record: Header): Header {
  return Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined));
}

/** What `promise` rejected with; fails the test if it resolved. */
export async function rejectionOf(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error('expected a rejection');
    },
    (error: unknown) => error,
  );
}

/** What `promise` rejected with, which must be an OAuthError. */
export async function oauthRejection(promise: Promise<unknown>): Promise<OAuthError> {
  const error = await rejectionOf(promise);
  expect(error).toBeInstanceOf(OAuthError);
  return error as OAuthError;
}
