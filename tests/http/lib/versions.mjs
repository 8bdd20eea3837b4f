// Helpers for the banner-version tests: the version of a banner.js body by
// its documented definition (computed here again, not taken from consentd),
// and reading the archive.
import crypto from 'node:crypto';

const FIELD = /"bv":"([0-9a-f]{64})"/;

/* The "bv" a body carries, or undefined. */
export function carriedVersion(body) {
    return FIELD.exec(Buffer.from(body).toString('utf8'))?.[1];
}

/* SHA-256 of the bytes with the 64 hex digits of "bv" read as '0'. */
export function versionOf(body) {
    const text = Buffer.from(body).toString('latin1'); // byte for byte
    const at = text.search(/"bv":"[0-9a-f]{64}"/);
    if (at < 0) throw new Error('no "bv" field in this body');
    const start = at + '"bv":"'.length;
    const zeroed = Buffer.from(body);
    zeroed.fill('0', start, start + 64);
    return crypto.createHash('sha256').update(zeroed).digest('hex');
}

/* The identity body of a site's banner.js. */
export async function bannerBody(consentd, site = 'demo') {
    const res = await consentd.request(`/v1/sites/${site}/banner.js`, { headers: { 'accept-encoding': 'identity' } });
    if (res.status !== 200) throw new Error(`banner.js of ${site}: ${res.status} ${res.text}`);
    return res.body;
}

/* Every key of a site's banner archive, with its content. */
export async function archiveState(redis, site = 'demo') {
    const keys = [];
    let cursor = '0';
    do {
        const [next, batch] = await redis.command('SCAN', cursor, 'MATCH', `cd:{${site}:banners}:*`, 'COUNT', '1000');
        cursor = next;
        keys.push(...batch);
    } while (cursor !== '0');
    const state = {};
    for (const key of keys.sort()) {
        const type = await redis.command('TYPE', key);
        state[key] = type === 'hash' ? await redis.command('HGETALL', key) : await redis.command('ZRANGE', key, '0', '-1', 'WITHSCORES');
    }
    return state;
}
