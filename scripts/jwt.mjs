// A stand-in identity provider and agent for trying Deputy (docs/guide-bring-your-own.md):
// makes ES256 key pairs and signs JWTs with them, with node:crypto only.
//
//   node scripts/jwt.mjs keygen <name>          writes <name>.key.json (private JWK, 0600) and
//                                               <name>.jwks.json (the public JWKS to register)
//   node scripts/jwt.mjs sign <name> '<claims>'  prints a JWT signed with <name>.key.json;
//                                               iat, exp (+5 min) and jti are added unless given
//
// Files are read from and written to the current directory. A real IdP or agent platform
// signs with its own keys; this is for trying Deputy out and for its tests, nothing more.
import { createPrivateKey, generateKeyPairSync, randomUUID, sign } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';

const [command, name, claimsJson] = process.argv.slice(2);
const b64url = (value) => Buffer.from(typeof value === 'string' ? value : JSON.stringify(value)).toString('base64url');

if (command === 'keygen' && name) {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const kid = `${name}-${randomUUID().slice(0, 8)}`;
  const publicJwk = { ...publicKey.export({ format: 'jwk' }), kid, alg: 'ES256', use: 'sig' };
  writeFileSync(`${name}.key.json`, JSON.stringify({ ...privateKey.export({ format: 'jwk' }), kid, alg: 'ES256' }), { mode: 0o600 });
  writeFileSync(`${name}.jwks.json`, `${JSON.stringify({ keys: [publicJwk] })}\n`);
} else if (command === 'sign' && name && claimsJson) {
  const jwk = JSON.parse(readFileSync(`${name}.key.json`, 'utf8'));
  const now = Math.floor(Date.now() / 1000);
  const claims = { iat: now, exp: now + 300, jti: randomUUID(), ...JSON.parse(claimsJson) };
  const input = `${b64url({ alg: 'ES256', typ: 'JWT', kid: jwk.kid })}.${b64url(claims)}`;
  const signature = sign('sha256', Buffer.from(input), { key: createPrivateKey({ key: jwk, format: 'jwk' }), dsaEncoding: 'ieee-p1363' });
  process.stdout.write(`${input}.${signature.toString('base64url')}\n`);
} else {
  process.stderr.write("usage: node scripts/jwt.mjs keygen <name> | sign <name> '<claims json>'\n");
  process.exit(2);
}
