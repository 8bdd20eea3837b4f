// proof_verify.mjs - verify a consentd proof with an Ed25519 implementation
// we did not write (node's crypto, i.e. OpenSSL), from nothing but the JWKS.
//
//   node proof_verify.mjs JWKS_FILE PROOF_FILE
//
// Checks the compact JWS shape, the protected header (exactly alg EdDSA,
// kid, typ JWT), finds the one JWK with that kid (OKP / Ed25519, public
// only), verifies the signature, and prints the claims as JSON on stdout.
// Any failure: a message on stderr and exit status 1. Built-ins only.
import { readFileSync } from 'node:fs';
import { createPublicKey, verify } from 'node:crypto';

function fail(message) {
  process.stderr.write(`proof_verify: ${message}\n`);
  process.exit(1);
}

// Strict base64url (RFC 7515 section 2): no padding, no stray characters,
// canonical trailing bits. Buffer.from(..., 'base64url') alone is lenient.
function b64urlDecode(part, what) {
  if (!/^[A-Za-z0-9_-]+$/.test(part) || part.length % 4 === 1) fail(`${what}: not base64url`);
  const bytes = Buffer.from(part, 'base64url');
  if (bytes.toString('base64url') !== part) fail(`${what}: not canonical base64url`);
  return bytes;
}

function jsonObject(bytes, what) {
  let text;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    fail(`${what}: not UTF-8`);
  }
  let value;
  try {
    value = JSON.parse(text);
  } catch (e) {
    fail(`${what}: not JSON (${e.message})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) {
    fail(`${what}: not a JSON object`);
  }
  return value;
}

const [jwksPath, proofPath] = process.argv.slice(2);
if (!jwksPath || !proofPath) fail('usage: node proof_verify.mjs JWKS_FILE PROOF_FILE');

const jwks = jsonObject(readFileSync(jwksPath), 'JWKS');
const proof = readFileSync(proofPath, 'utf8').trim();
const parts = proof.split('.');
if (parts.length !== 3) fail(`expected 3 dot-separated parts, got ${parts.length}`);

const header = jsonObject(b64urlDecode(parts[0], 'header'), 'header');
const names = Object.keys(header).sort().join(',');
if (names !== 'alg,kid,typ') fail(`header members are ${names}, expected alg,kid,typ`);
if (header.alg !== 'EdDSA') fail(`header alg is ${JSON.stringify(header.alg)}`);
if (header.typ !== 'JWT') fail(`header typ is ${JSON.stringify(header.typ)}`);
if (typeof header.kid !== 'string' || header.kid === '') fail('header kid is not a string');

if (!Array.isArray(jwks.keys)) fail('JWKS has no "keys" array');
const matches = jwks.keys.filter((k) => k && k.kid === header.kid);
if (matches.length !== 1) fail(`${matches.length} JWKs have kid ${header.kid}`);
const jwk = matches[0];
if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519') fail(`JWK ${jwk.kid} is not OKP/Ed25519`);
if ('d' in jwk) fail(`JWK ${jwk.kid} holds a private key`);
if (jwk.alg !== undefined && jwk.alg !== 'EdDSA') fail(`JWK ${jwk.kid} alg is ${jwk.alg}`);
if (jwk.use !== undefined && jwk.use !== 'sig') fail(`JWK ${jwk.kid} use is ${jwk.use}`);

let key;
try {
  key = createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x }, format: 'jwk' });
} catch (e) {
  fail(`JWK ${jwk.kid}: ${e.message}`);
}
const signature = b64urlDecode(parts[2], 'signature');
if (signature.length !== 64) fail(`signature is ${signature.length} bytes, expected 64`);
const signingInput = Buffer.from(`${parts[0]}.${parts[1]}`, 'ascii');
if (!verify(null, signingInput, key, signature)) fail('bad signature');

const claims = jsonObject(b64urlDecode(parts[1], 'payload'), 'payload');
process.stdout.write(`${JSON.stringify(claims)}\n`);
