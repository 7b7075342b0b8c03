/**
 * The zod building blocks shared by the admin API's request and response schemas. The same
 * schemas validate requests at run time and generate the OpenAPI document (src/admin/openapi.ts).
 */
import { createPublicKey } from 'node:crypto';
import { z } from 'zod';

/** Caller-chosen ids (subjects, actors, clients): printable ASCII, no spaces, like an OIDC `sub`. */
export const Identifier = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[\x21-\x7e]+$/, 'must be 1-255 printable ASCII characters without spaces');

/** One scope name (RFC 6749 §3.3 scope-token). */
export const ScopeToken = z
  .string()
  .min(1)
  .max(128)
  .regex(/^[\x21\x23-\x5b\x5d-\x7e]+$/, 'must be an RFC 6749 scope token (no spaces, quotes or backslashes)');

export const ScopeList = z
  .array(ScopeToken)
  .max(200)
  .refine((scopes) => new Set(scopes).size === scopes.length, 'must not repeat a scope');

/** A resource identifier (RFC 8707 §2): an absolute URI without a fragment. */
export const ResourceUri = z
  .url()
  .max(2048)
  .refine((uri) => !uri.includes('#'), 'must not contain a fragment')
  .meta({ description: 'Resource identifier: an absolute URI without a fragment (RFC 8707)', example: 'https://api.example.com' });

/** RFC 3339 with an explicit offset or Z, as accepted in request bodies and queries. */
export const Timestamp = z.iso.datetime({ offset: true }).meta({ example: '2030-01-01T00:00:00Z' });

/** A time that has not passed yet (an expiry). */
export const FutureTimestamp = z.iso
  .datetime({ offset: true })
  .refine((value) => Date.parse(value) > Date.now(), 'must be in the future')
  .meta({ example: '2030-01-01T00:00:00Z' });

/** RFC 3339 UTC, as Deputy writes it in responses. */
export const TimestampOut = z.iso.datetime();

const PRIVATE_JWK_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k'] as const;

/** A public JSON Web Key: private (or symmetric) key material is refused. */
export const PublicJwk = z
  .looseObject({
    kty: z.enum(['EC', 'RSA', 'OKP']),
    kid: z.string().min(1).max(255).optional(),
    alg: z.string().min(1).max(32).optional(),
    use: z.string().optional(),
  })
  .superRefine((jwk, ctx) => {
    const privateMember = PRIVATE_JWK_MEMBERS.find((member) => member in jwk);
    if (privateMember) {
      ctx.addIssue({ code: 'custom', path: [privateMember], message: 'private key material is not accepted; register public keys only' });
      return;
    }
    try {
      createPublicKey({ key: jwk as never, format: 'jwk' });
    } catch {
      ctx.addIssue({ code: 'custom', message: 'is not a usable public key' });
    }
  })
  .meta({ id: 'PublicJwk', description: 'A public JWK (EC, RSA or OKP). Keys carrying private members are refused.' });

export const Jwks = z
  .strictObject({ keys: z.array(PublicJwk).min(1).max(20) })
  .meta({ id: 'Jwks', description: 'A JWK Set of public keys' });

export type JwksValue = z.infer<typeof Jwks>;

/** Key ids (or "#<index>" for keys without one): what audit details record about a key set. */
export function keyIds(jwks: JwksValue | { keys: Array<{ kid?: unknown }> } | null | undefined): string[] | null {
  if (!jwks) return null;
  return jwks.keys.map((key, index) => (typeof key.kid === 'string' ? key.kid : `#${index}`));
}

export const ErrorBody = z
  .object({
    error: z.string().meta({ example: 'invalid_request' }),
    error_description: z.string().optional(),
    issues: z
      .array(
        z.object({
          in: z.enum(['body', 'query', 'path']),
          path: z.array(z.union([z.string(), z.number()])),
          code: z.string(),
          message: z.string(),
        }),
      )
      .optional(),
  })
  .meta({ id: 'Error', description: 'An error. `issues` lists each validation problem (400 only).' });

/** `limit` and `cursor`, common to every list. */
export const pageQuery = {
  limit: z.coerce.number().int().min(1).max(500).default(50).meta({ description: 'Page size (1-500, default 50)' }),
  cursor: z.string().min(1).max(512).optional().meta({ description: 'The `next_cursor` of the previous page' }),
};

export function pageOf<T extends z.ZodType>(item: T, name: string) {
  return z
    .object({
      items: z.array(item),
      next_cursor: z.string().nullable().meta({ description: 'Pass as `cursor` to get the next page; null on the last page' }),
    })
    .meta({ id: name });
}

export const IdParam = z.object({ id: z.string().meta({ description: 'The object id' }) });

/** `true`/`false` in a query string. */
export const QueryBoolean = z.enum(['true', 'false']).transform((value) => value === 'true');

/** A PATCH body must change something. */
export function nonEmptyPatch<T extends z.ZodObject>(schema: T) {
  return schema.refine((value) => Object.keys(value).length > 0, 'name at least one field to change');
}
