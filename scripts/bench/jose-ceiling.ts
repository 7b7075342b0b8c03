/**
 * The cryptographic ceiling: raw jose ES256 sign and verify per second in this one process,
 * each a tight sequential loop for a fixed time.
 */
import { generateKeyPair, jwtVerify, SignJWT } from 'jose';

export interface JoseCeiling {
  signPerSecond: number;
  verifyPerSecond: number;
  signOps: number;
  verifyOps: number;
  secondsEach: number;
}

export async function measureJose(secondsEach: number): Promise<JoseCeiling> {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const claims = { scope: 'read write', client_id: 'client-0001', act: { sub: 'actor-0001' } };
  const sign = () =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'at+jwt' })
      .setIssuer('http://127.0.0.1:1')
      .setSubject('user-00001')
      .setAudience('https://api-01.bench.local')
      .setIssuedAt()
      .setExpirationTime('5m')
      .setJti(crypto.randomUUID())
      .sign(privateKey);

  for (let i = 0; i < 200; i++) await sign(); // warm-up
  let signOps = 0;
  let token = '';
  let start = performance.now();
  const signUntil = start + secondsEach * 1000;
  while (performance.now() < signUntil) {
    token = await sign();
    signOps++;
  }
  const signSeconds = (performance.now() - start) / 1000;

  const verify = () => jwtVerify(token, publicKey, { issuer: 'http://127.0.0.1:1', algorithms: ['ES256'] });
  for (let i = 0; i < 200; i++) await verify();
  let verifyOps = 0;
  start = performance.now();
  const verifyUntil = start + secondsEach * 1000;
  while (performance.now() < verifyUntil) {
    await verify();
    verifyOps++;
  }
  const verifySeconds = (performance.now() - start) / 1000;
  return {
    signPerSecond: Math.round(signOps / signSeconds),
    verifyPerSecond: Math.round(verifyOps / verifySeconds),
    signOps,
    verifyOps,
    secondsEach,
  };
}
