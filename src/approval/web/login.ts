/**
 * The person's sign-in: Deputy as an OpenID Connect relying party (authorization code with PKCE,
 * state and nonce) of one interactive IdP (APPROVAL_LOGIN_*), which must be a trusted issuer of
 * people: the ID token names the Deputy subject in that issuer's subject claim, and only subjects
 * the issuer may speak for sign in (the same rules as its tokens in an exchange). openid-client
 * does the protocol (discovery, checks of the ID token and its nonce).
 */
import * as client from 'openid-client';
import type { Config } from '../../config.js';
import { isLocalhostName, isLoopback, literalAddress } from '../../trust/network-target.js';
import { ISSUER_SUBJECT_NOT_ALLOWED, issuerMaySpeakFor, type TrustedIssuerRecord } from '../../trust/trusted-issuer-token.js';
import type { LoginState } from './web-store.js';

export interface LoginSettings {
  issuer: string;
  clientId: string;
  clientSecret: string;
  /** Plain http only to a loopback IdP, and only with APPROVAL_ALLOW_PRIVATE_NETWORK. */
  allowInsecure: boolean;
}

/** The sign-in settings, or null when sign-in is not configured (all three must be set). */
export function loginSettingsOf(config: Config): LoginSettings | null {
  const { APPROVAL_LOGIN_ISSUER: issuer, APPROVAL_LOGIN_CLIENT_ID: clientId, APPROVAL_LOGIN_CLIENT_SECRET: clientSecret } = config;
  if (!issuer || !clientId || !clientSecret) return null;
  const url = new URL(issuer);
  const literal = literalAddress(url);
  const loopback = isLocalhostName(url.hostname) || (literal !== null && isLoopback(literal));
  return { issuer, clientId, clientSecret, allowInsecure: url.protocol === 'http:' && loopback && config.APPROVAL_ALLOW_PRIVATE_NETWORK };
}

export type SignInRefusal = 'issuer_not_trusted' | 'no_subject' | typeof ISSUER_SUBJECT_NOT_ALLOWED;

/**
 * Whom a verified ID token signs in, given its issuer's trusted-issuer record (kind `user`;
 * null when the issuer is not trusted for people): the subject in the issuer's subject claim,
 * if the issuer may speak for it.
 */
export function signedInSubjectOf(issuer: TrustedIssuerRecord | null, claims: Record<string, unknown>): { subjectId: string } | { refused: SignInRefusal } {
  if (!issuer) return { refused: 'issuer_not_trusted' };
  const subjectId = claims[issuer.subjectClaim || 'sub'];
  if (typeof subjectId !== 'string' || subjectId === '') return { refused: 'no_subject' };
  if (!issuerMaySpeakFor(issuer.subjects, subjectId)) return { refused: ISSUER_SUBJECT_NOT_ALLOWED };
  return { subjectId };
}

export function createLogin(settings: LoginSettings, redirectUri: string) {
  let discovered: Promise<client.Configuration> | null = null;
  const configuration = () => {
    discovered ??= client
      .discovery(new URL(settings.issuer), settings.clientId, settings.clientSecret, undefined, settings.allowInsecure ? { execute: [client.allowInsecureRequests] } : undefined)
      .catch((error: unknown) => {
        discovered = null; // try again on the next sign-in
        throw error;
      });
    return discovered;
  };

  return {
    /** A fresh state, nonce and PKCE verifier, and the IdP's address to send the browser to. */
    async start(returnTo: string): Promise<{ login: LoginState; url: URL }> {
      const config = await configuration();
      const login: LoginState = { state: client.randomState(), nonce: client.randomNonce(), codeVerifier: client.randomPKCECodeVerifier(), returnTo };
      const url = client.buildAuthorizationUrl(config, {
        redirect_uri: redirectUri,
        scope: 'openid',
        response_type: 'code',
        code_challenge: await client.calculatePKCECodeChallenge(login.codeVerifier),
        code_challenge_method: 'S256',
        state: login.state,
        nonce: login.nonce,
      });
      return { login, url };
    },
    /** The verified ID token's claims from the callback, or null when it has none. */
    async finish(callbackUrl: URL, login: LoginState): Promise<Record<string, unknown> | null> {
      const config = await configuration();
      const tokens = await client.authorizationCodeGrant(config, callbackUrl, {
        pkceCodeVerifier: login.codeVerifier,
        expectedState: login.state,
        expectedNonce: login.nonce,
        idTokenExpected: true,
      });
      return (tokens.claims() as Record<string, unknown> | undefined) ?? null;
    },
  };
}
export type Login = ReturnType<typeof createLogin>;
