/**
 * Fault: the signing key rotates under load. ~200 exchanges at concurrency 16, with
 * `keyRing.rotate()` called midway: zero failed requests; every token minted before, during and
 * after the rotation verifies against /jwks (jose createRemoteJWKSet + jwtVerify) and
 * introspects active; tokens requested after the rotation completed carry the new kid; /jwks
 * lists both keys.
 */
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';
import { RESOURCE, startExchangeWorld, type World } from '../support/exchange-world.js';
import { basic, form, guardedExchange, send } from '../support/hostile.js';

const TOTAL = 200;
const CONCURRENCY = 16;
const ROTATE_AT = 100;

interface Minted {
  index: number;
  status: number;
  token?: string;
  body: string;
  afterRotation: boolean;
}

describe('fault: signing-key rotation under concurrent load', () => {
  let w: World;
  beforeAll(async () => {
    w = await startExchangeWorld({ DATABASE_POOL_SIZE: '20', DATABASE_POOL_TIMEOUT_MS: '10000' });
  });
  afterAll(async () => {
    await w?.stop();
  });

  it('no request fails; old and new tokens verify and introspect active; new tokens use the new kid', async () => {
    const oldKid = w.deputy.keyRing.active.kid;
    let next = 0;
    let rotated = false;
    let rotation: Promise<unknown> | undefined;
    const minted: Minted[] = [];

    async function worker(): Promise<void> {
      for (;;) {
        const index = next++;
        if (index >= TOTAL) return;
        if (index === ROTATE_AT) {
          rotation = w.deputy.keyRing.rotate().then(() => (rotated = true));
        }
        const afterRotation = rotated;
        const result = await guardedExchange(w);
        minted.push({
          index,
          status: result.status,
          body: result.text,
          afterRotation,
          ...(typeof result.json.access_token === 'string' ? { token: result.json.access_token } : {}),
        });
      }
    }
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    await rotation;
    const newKid = w.deputy.keyRing.active.kid;
    expect(newKid).not.toBe(oldKid);

    const failed = minted.filter((m) => m.status !== 200 || !m.token);
    expect(failed.map((m) => `${m.index}: ${m.status} ${m.body}`)).toEqual([]);
    expect(minted).toHaveLength(TOTAL);

    const kids = minted.map((m) => decodeProtectedHeader(m.token!).kid);
    for (const [i, m] of minted.entries()) {
      expect([oldKid, newKid]).toContain(kids[i]);
      if (m.afterRotation) expect(kids[i]).toBe(newKid);
    }
    const oldCount = kids.filter((kid) => kid === oldKid).length;
    const newCount = kids.filter((kid) => kid === newKid).length;
    expect(oldCount).toBeGreaterThan(0);
    expect(newCount).toBeGreaterThan(0);

    const published = (await send(`${w.deputy.url}/jwks`)).json as { keys?: Array<{ kid?: string }> };
    expect((published.keys ?? []).map((key) => key.kid)).toEqual(expect.arrayContaining([oldKid, newKid]));

    const jwks = createRemoteJWKSet(new URL(`${w.deputy.url}/jwks`));
    for (const m of minted) {
      const { payload, protectedHeader } = await jwtVerify(m.token!, jwks, { issuer: w.issuer, audience: RESOURCE, typ: 'at+jwt' });
      expect(payload.sub).toBe('alice');
      expect(protectedHeader.alg).toBe('ES256');
    }

    // Introspect every token, 16 at a time.
    const inactive: string[] = [];
    for (let i = 0; i < minted.length; i += CONCURRENCY) {
      const slice = minted.slice(i, i + CONCURRENCY);
      const results = await Promise.all(
        slice.map((m) =>
          send(`${w.deputy.url}/token/introspection`, {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('app-a') },
            body: form({ token: m.token! }),
          }),
        ),
      );
      results.forEach((result, j) => {
        if (result.status !== 200 || result.json.active !== true) inactive.push(`${slice[j]!.index}: ${result.status} ${result.text}`);
      });
    }
    expect(inactive).toEqual([]);
    console.log(`key-rotation: ${TOTAL} exchanges at concurrency ${CONCURRENCY}, 0 failed; ${oldCount} signed by the old key, ${newCount} by the new`);
  });
});
