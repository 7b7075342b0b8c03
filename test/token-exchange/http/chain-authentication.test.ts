/**
 * A Deputy token presented as the subject of the next hop is authenticated by the digest
 * recorded when it was issued (issue 17), as introspection does, and by its signature only when
 * it has no record or was recorded without a digest (before migration 0006). Every refusal is
 * invalid_request, audited as `subject_token.not_a_valid_deputy_access_token`.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import fc from 'fast-check';
import { RESOURCE, TT, claimsOf, startExchangeWorld, type HttpResult, type World } from '../../support/exchange-world.js';
import { flipSignatureBit } from '../../support/jwt-fixtures.js';

function tokenOf(result: HttpResult): string {
  if (result.status !== 200) throw new Error(`expected a token, got ${result.status} ${result.text}`);
  return result.json.access_token as string;
}

describe('chain subject tokens authenticated by their recorded digest', () => {
  let w: World;
  beforeAll(async () => {
    w = await startExchangeWorld();
  });
  afterAll(async () => {
    await w?.stop();
  });

  const hop = (parent: string) => w.exchange({ subject_token: parent, subject_token_type: TT.accessToken, resource: RESOURCE }, { clientId: 'app-b' });
  const setDigest = (jti: string, digest: Buffer | null) => w.sql('UPDATE issued_tokens SET token_sha256 = $2 WHERE jti = $1', [jti, digest]);

  async function refusedAsInauthentic(parent: string): Promise<void> {
    await w.expectRefused(() => hop(parent), 'invalid_request');
    const event = await w.lastEvent('token.exchange_denied');
    expect(event?.details).toEqual({ reason: 'subject_token.not_a_valid_deputy_access_token' });
  }

  it('a genuine parent whose record carries another digest is refused, though its signature is valid', async () => {
    const parent = tokenOf(await w.exchangeAs('alice', { scope: 'read' }));
    await setDigest(claimsOf(parent).jti as string, createHash('sha256').update(`${parent}x`).digest());
    await refusedAsInauthentic(parent);
  });

  it('the genuine parent hops when the digest matches; a tampered copy of it (same jti) does not', async () => {
    const parent = tokenOf(await w.exchangeAs('alice', { scope: 'read' }));
    await refusedAsInauthentic(flipSignatureBit(parent));
    expect((await hop(parent)).status).toBe(200);
  });

  it('any one-character change of a recorded parent is refused', async () => {
    const parent = tokenOf(await w.exchangeAs('alice', { scope: 'read' }));
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: parent.length - 1 }), fc.constantFrom(...alphabet), async (position, replacement) => {
        fc.pre(parent[position] !== '.' && parent[position] !== replacement);
        const changed = `${parent.slice(0, position)}${replacement}${parent.slice(position + 1)}`;
        const result = await hop(changed);
        expect(result.status).toBe(400);
        expect(result.json.error).toBe('invalid_request');
      }),
      { numRuns: 15 },
    );
    expect(await w.sql('SELECT 1 FROM issued_tokens WHERE parent_jti = $1', [claimsOf(parent).jti])).toEqual([]);
  });

  it('a parent recorded without a digest (before migration 0006) is authenticated by its signature', async () => {
    const parent = tokenOf(await w.exchangeAs('alice', { scope: 'read' }));
    await setDigest(claimsOf(parent).jti as string, null);
    await refusedAsInauthentic(flipSignatureBit(parent));
    expect((await hop(parent)).status).toBe(200);
  });

  it('a Deputy-looking token with no record is refused as inauthentic when its signature is bad', async () => {
    const parent = tokenOf(await w.exchangeAs('alice', { scope: 'read' }));
    await w.sql('UPDATE issued_tokens SET jti = jti || \'-moved\' WHERE jti = $1', [claimsOf(parent).jti]);
    await refusedAsInauthentic(flipSignatureBit(parent));
  });
});
