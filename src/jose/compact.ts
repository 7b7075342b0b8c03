/**
 * The one reader of compact JWTs (RFC 7515 §7.1): every place that looks inside a JWT, signed
 * by Deputy or by anyone else, splits and decodes it here. Nothing here verifies anything.
 *
 * Strict on purpose, so that one token has one spelling: segments in the unpadded base64url
 * alphabet only (Node's decoder would also take '+', '/', '=' and skip other characters), UTF-8
 * that decodes without replacement characters, and a JSON object in the header and the payload.
 */

/** One non-empty JWS segment in the base64url alphabet, unpadded (RFC 7515 §2). */
export const BASE64URL = /^[A-Za-z0-9_-]+$/;

export interface CompactJws {
  header: Record<string, unknown>;
  /** The payload's claims; unverified until a signature check says otherwise. */
  claims: Record<string, unknown>;
  /** `<header>.<payload>`, the bytes the signature covers. */
  signingInput: string;
  /** Empty for an unsecured JWT (`alg: none`); callers decide whether to refuse it. */
  signature: Buffer;
  segments: readonly [header: string, payload: string, signature: string];
}

/** Why a string is not a compact JWS. */
export type CompactJwsFailure =
  | 'encrypted' // five segments: a compact JWE
  | 'segment_count'
  | 'not_base64url'
  | 'header_not_json'
  | 'header_not_object'
  | 'payload_not_json'
  | 'payload_not_object';

export type CompactJwsReading = { ok: true; jws: CompactJws } | { ok: false; failure: CompactJwsFailure };

const utf8 = new TextDecoder('utf-8', { fatal: true });

type SegmentReading = { ok: true; value: Record<string, unknown> } | { ok: false; failure: 'not_json' | 'not_object' };

/** One base64url segment as a JSON object. */
function readJsonSegment(segment: string): SegmentReading {
  let value: unknown;
  try {
    value = JSON.parse(utf8.decode(Buffer.from(segment, 'base64url')));
  } catch {
    return { ok: false, failure: 'not_json' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, failure: 'not_object' };
  return { ok: true, value: value as Record<string, unknown> };
}

/** The shape of a compact serialization: 'jws' (three segments), 'jwe' (five), or null. */
export function compactShape(token: unknown): 'jws' | 'jwe' | null {
  if (typeof token !== 'string') return null;
  const segments = token.split('.').length;
  return segments === 3 ? 'jws' : segments === 5 ? 'jwe' : null;
}

/** Splits and decodes a compact JWS, saying why when it is not one. */
export function readCompactJws(token: string): CompactJwsReading {
  const segments = token.split('.');
  if (segments.length !== 3) return { ok: false, failure: segments.length === 5 ? 'encrypted' : 'segment_count' };
  const [headerPart, payloadPart, signaturePart] = segments as [string, string, string];
  // An empty signature is let through so that an unsecured JWT can be named as such.
  if (!BASE64URL.test(headerPart) || !BASE64URL.test(payloadPart) || !(signaturePart === '' || BASE64URL.test(signaturePart))) {
    return { ok: false, failure: 'not_base64url' };
  }
  const header = readJsonSegment(headerPart);
  if (!header.ok) return { ok: false, failure: header.failure === 'not_json' ? 'header_not_json' : 'header_not_object' };
  const payload = readJsonSegment(payloadPart);
  if (!payload.ok) return { ok: false, failure: payload.failure === 'not_json' ? 'payload_not_json' : 'payload_not_object' };
  return {
    ok: true,
    jws: {
      header: header.value,
      claims: payload.value,
      signingInput: `${headerPart}.${payloadPart}`,
      signature: Buffer.from(signaturePart, 'base64url'),
      segments: [headerPart, payloadPart, signaturePart],
    },
  };
}

/** A compact JWS that carries a signature; null for anything else (including an unsecured JWT). */
export function decodeSignedJwt(token: string): CompactJws | null {
  const reading = readCompactJws(token);
  return reading.ok && reading.jws.signature.length > 0 ? reading.jws : null;
}

/**
 * The claims of a JWT read for routing only (e.g. which issuer to ask, a DPoP proof's nonce),
 * before any structural or signature check: only the payload segment is read. Null when it is
 * not a base64url JSON object.
 */
export function peekClaims(token: string): Record<string, unknown> | null {
  const payload = token.split('.')[1];
  if (payload === undefined || !BASE64URL.test(payload)) return null;
  const reading = readJsonSegment(payload);
  return reading.ok ? reading.value : null;
}
