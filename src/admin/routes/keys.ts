/**
 * Deputy's own signing keys: their public metadata, and rotation. Private material never leaves
 * the key ring (nor, in clear, the process). A rotation is audited (`key.rotated`) in the
 * transaction that makes it; the retired key stays in /jwks until every token it signed expired.
 */
import { z } from 'zod';
import type { AdminApi } from '../api.js';
import type { AdminDeps } from '../router.js';
import { TimestampOut } from '../schemas.js';

const SigningKeyInfo = z
  .object({
    kid: z.string(),
    alg: z.enum(['ES256', 'EdDSA']),
    status: z.enum(['active', 'retired']).meta({ description: '`active` signs new tokens; `retired` only verifies' }),
    created_at: TimestampOut,
    retired_at: TimestampOut.nullable(),
    published_until: TimestampOut.nullable().meta({ description: 'When a retired key leaves /jwks: its last token has expired by then' }),
  })
  .meta({ id: 'SigningKey', description: 'Public metadata of a signing key; never private material' });

const SigningKeyList = z.object({ items: z.array(SigningKeyInfo) }).meta({ id: 'SigningKeyList' });

const Rotation = z
  .object({
    kid: z.string().meta({ description: 'The new active key' }),
    retired: z.array(z.string()).meta({ description: 'Keys retired by this rotation (still published until their tokens expire)' }),
  })
  .meta({ id: 'KeyRotation' });

export function keyRoutes(api: AdminApi, { keyRing }: AdminDeps): void {
  const list = async () =>
    (await keyRing.list()).map((key) => ({
      kid: key.kid,
      alg: key.alg,
      status: key.retired_at ? ('retired' as const) : ('active' as const),
      created_at: key.created_at.toISOString(),
      retired_at: key.retired_at?.toISOString() ?? null,
      published_until: key.published_until?.toISOString() ?? null,
    }));

  api.route({
    method: 'get',
    path: '/keys',
    operationId: 'listSigningKeys',
    tag: 'keys',
    summary: 'List Deputy’s signing keys, newest first',
    status: 200,
    response: SigningKeyList,
    responseDescription: 'Every signing key’s public metadata',
    handler: async () => ({ items: await list() }),
  });

  api.route({
    method: 'post',
    path: '/keys/rotate',
    operationId: 'rotateSigningKey',
    tag: 'keys',
    summary: 'Rotate the signing key',
    description:
      'Creates a new signing key that signs every token from now on, in every process. The previous key is retired: it signs nothing more ' +
      'but stays published in /jwks, and its tokens keep verifying and introspecting, until every token it signed has expired. Audited as `key.rotated`.',
    status: 200,
    response: Rotation,
    responseDescription: 'The new key and the keys it retired',
    handler: ({ admin, requestId }) => keyRing.rotateReporting({ trigger: 'admin', admin, requestId }),
  });
}
