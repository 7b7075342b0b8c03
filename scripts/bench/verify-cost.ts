/**
 * What Deputy's node:crypto signature checks save over jose's, per ES256 verification, in CPU
 * time (process.cpuUsage, so other load on the machine inflates both sides alike):
 *
 *   node --import tsx scripts/bench/verify-cost.ts        (N=2000 per round, 5 rounds)
 *
 * - another party's token: src/jose/jwt-verify.ts `verifyJwt` against jose's `jwtVerify`
 *   (same key set, same claim checks);
 * - Deputy's own token: src/jose/compact.ts + src/jose/jwt-signer.ts `signatureValid`
 *   against jose's `compactVerify`.
 */
import { generateKeyPairSync } from 'node:crypto';
import { compactVerify, createLocalJWKSet, exportJWK, jwtVerify, SignJWT } from 'jose';
import { decodeSignedJwt } from '../../src/jose/compact.js';
import { signatureValid } from '../../src/jose/jwt-signer.js';
import { verifyJwt } from '../../src/jose/jwt-verify.js';

const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
const keys = createLocalJWKSet({ keys: [jwk] });
const now = Math.floor(Date.now() / 1000);
const token = await new SignJWT({ sub: 'alice', scope: 'read write', act: { sub: 'a' } })
  .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'at+jwt' }).setIssuer('https://idp.test').setAudience('deputy')
  .setIssuedAt(now).setExpirationTime(now + 300).sign(privateKey);
const options = { issuer: 'https://idp.test', audience: 'deputy', algorithms: ['ES256'], requiredClaims: ['exp', 'iat'] };
const key = { alg: 'ES256' as const, kid: 'k1', privateKey, publicKey } as unknown as Parameters<typeof signatureValid>[0];

const cases: Record<string, () => Promise<unknown>> = {
  'foreign token: verifyJwt (node:crypto signature)': () => verifyJwt(token, keys, options),
  'foreign token: jose jwtVerify': () => jwtVerify(token, keys, options),
  'Deputy token: decode + signatureValid (node:crypto)': async () => { if (!signatureValid(key, decodeSignedJwt(token)!)) throw new Error('x'); },
  'Deputy token: jose compactVerify (KeyObject)': () => compactVerify(token, publicKey, { algorithms: ['ES256'] }),
};
const N = Number(process.env.N ?? 2000);
const totals = new Map<string, number[]>();
for (const run of Object.values(cases)) for (let i = 0; i < 200; i++) await run(); // warm-up
for (let round = 0; round < 5; round++) {
  for (const [name, run] of Object.entries(cases)) {
    const start = process.cpuUsage();
    for (let i = 0; i < N; i++) await run();
    const used = process.cpuUsage(start);
    (totals.get(name) ?? totals.set(name, []).get(name)!).push(((used.user + used.system) / N));
  }
}
for (const [name, samples] of totals) {
  samples.sort((a, b) => a - b);
  console.log(`${name}: median ${samples[2]!.toFixed(1)} µs CPU/op (min ${samples[0]!.toFixed(1)}, max ${samples[4]!.toFixed(1)}; 5 rounds × ${N})`);
}
