// Helpers for the consent tests: the demo site's callers, proof checks with
// jose (a JOSE implementation we did not write), and Redis snapshots.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import * as jose from 'jose';

export const DEMO_ORIGIN = 'http://localhost:8080';
export const DEMO_KEY = 'demo-key-change-me';
export const OTHER_KEY = 'other-site-key-0123456789';

export function sha256hex(text) {
    return crypto.createHash('sha256').update(text).digest('hex');
}

/* Headers of a banner in the browser of a visitor of the demo site. */
export function browser(extra = {}) {
    return { origin: DEMO_ORIGIN, 'content-type': 'application/json', ...extra };
}

/* Headers of the demo site's server. */
export function server(key = DEMO_KEY, extra = {}) {
    return { authorization: `Bearer ${key}`, 'content-type': 'application/json', ...extra };
}

export async function postConsent(consentd, body, headers = browser(), site = 'demo') {
    return consentd.request(`/v1/sites/${site}/consents`, {
        method: 'POST',
        headers,
        body: typeof body === 'string' ? body : JSON.stringify(body),
    });
}

/* Verify a proof against the server's JWKS with jose; returns {payload, protectedHeader}. */
export async function verifyProof(consentd, proof, { site = 'demo' } = {}) {
    const res = await consentd.request('/.well-known/jwks.json');
    assert.equal(res.status, 200, res.text);
    const jwks = jose.createLocalJWKSet(res.json());
    return jose.jwtVerify(proof, jwks, { audience: site, algorithms: ['EdDSA'] });
}

/* Redis Cluster's key slot: the harness' keySlotOf, under the name these tests use. */
export { keySlotOf as keySlot } from './harness.mjs';

export async function allKeys(redis) {
    const keys = [];
    let cursor = '0';
    do {
        const [next, batch] = await redis.command('SCAN', cursor, 'COUNT', '1000');
        cursor = next;
        keys.push(...batch);
    } while (cursor !== '0');
    return keys.sort();
}

/* A digest of everything Redis holds: equal digests, byte-identical data. */
export async function dataDigest(redis) {
    return redis.command('DEBUG', 'DIGEST');
}

/* Every byte Redis holds about anything, as text to search: key names,
 * string values, list items, stream entries, hash fields. */
export async function everything(redis) {
    let out = '';
    for (const key of await allKeys(redis)) {
        out += `${key}\n`;
        const type = await redis.command('TYPE', key);
        if (type === 'string') out += `${await redis.command('GET', key)}\n`;
        else if (type === 'list') out += `${(await redis.command('LRANGE', key, '0', '-1')).join('\n')}\n`;
        else if (type === 'stream') out += `${JSON.stringify(await redis.command('XRANGE', key, '-', '+'))}\n`;
        else if (type === 'hash') out += `${(await redis.command('HGETALL', key)).join('\n')}\n`;
        else if (type === 'set') out += `${(await redis.command('SMEMBERS', key)).join('\n')}\n`;
        else if (type === 'zset') out += `${(await redis.command('ZRANGE', key, '0', '-1')).join('\n')}\n`;
    }
    return out;
}
