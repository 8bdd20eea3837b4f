#!/usr/bin/env node
// ops/identify-token.mjs - the keys and tokens of consentd's identify
// feature (cross-device consent for logged-in visitors, docs/identify.md),
// with nothing but Node's own crypto: what a site's server does, in a few
// lines, for the docs and the tests.
//
//   node ops/identify-token.mjs keygen
//       a new Ed25519 key pair: {"private_key": "<base64url seed>",
//       "public_key": "<base64url>"}. The public key goes in the site file
//       ("identify": {"public_key": ...}); the private key stays on the
//       site's server, never in consentd's files.
//   node ops/identify-token.mjs mint --key <private_key> --site <site id> --sub <user id> [--ttl 3600]
//       a token (compact JWS, EdDSA) for that user, valid ttl seconds
//       (at most the site's identify.max_age_seconds).
//
// As a module: import { identifyKeygen, identifyMint } from './identify-token.mjs'.
import crypto from 'node:crypto';
import { pathToFileURL } from 'node:url';

// PKCS#8 DER of an Ed25519 private key: this prefix, then the 32-byte seed.
const PKCS8_ED25519 = Buffer.from('302e020100300506032b657004220420', 'hex');

const b64url = (buf) => Buffer.from(buf).toString('base64url');

export function identifyKeygen() {
    const { privateKey, publicKey } = crypto.generateKeyPairSync('ed25519');
    return { private_key: privateKey.export({ format: 'jwk' }).d, public_key: publicKey.export({ format: 'jwk' }).x };
}

// privateKey: the base64url seed keygen printed. now: Unix seconds.
export function identifyMint({
    privateKey,
    site,
    sub,
    ttl = 3600,
    now = Math.floor(Date.now() / 1000),
    header = { alg: 'EdDSA', typ: 'JWT' },
}) {
    const key = crypto.createPrivateKey({
        key: Buffer.concat([PKCS8_ED25519, Buffer.from(privateKey, 'base64url')]),
        format: 'der',
        type: 'pkcs8',
    });
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify({ sub, site, iat: now, exp: now + ttl }))}`;
    return `${input}.${b64url(crypto.sign(null, Buffer.from(input), key))}`;
}

function usage(code) {
    (code ? console.error : console.log)(
        'usage: node ops/identify-token.mjs keygen\n' +
            '       node ops/identify-token.mjs mint --key <private_key> --site <site id> --sub <user id> [--ttl seconds]',
    );
    process.exit(code);
}

if (import.meta.url === pathToFileURL(process.argv[1] || '').href) {
    const [command, ...rest] = process.argv.slice(2);
    if (command === 'keygen') {
        console.log(JSON.stringify(identifyKeygen()));
    } else if (command === 'mint') {
        const opts = {};
        for (let i = 0; i < rest.length; i += 2) {
            if (!/^--(key|site|sub|ttl)$/.test(rest[i]) || rest[i + 1] === undefined) usage(2);
            opts[rest[i].slice(2)] = rest[i + 1];
        }
        if (!opts.key || !opts.site || !opts.sub) usage(2);
        const ttl = opts.ttl === undefined ? 3600 : Number(opts.ttl);
        if (!Number.isInteger(ttl) || ttl < 1) {
            console.error('identify-token: --ttl must be a whole number of seconds');
            process.exit(2);
        }
        console.log(identifyMint({ privateKey: opts.key, site: opts.site, sub: opts.sub, ttl }));
    } else {
        usage(command === '--help' || command === '-h' ? 0 : 2);
    }
}
