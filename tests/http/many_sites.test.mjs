// Issue 22, item 4: a node starting with many sites answers within seconds.
// The banners are built at start without their compression (identity body,
// version, ETags); one thread per set then compresses them (maximum-level
// gzip and brotli) in the background, and each banner is served compressed
// once its bytes are built. Meanwhile a client that accepts br gets the
// identity body with its own ETag: the same bytes as a fully built banner,
// never a wrong encoding under a right ETag, and the archive records the
// version once whatever the encoding served.
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { after, before } from 'node:test';
import { Consentd, siteLike, startRedis, test, waitFor } from './lib/harness.mjs';

const SITES = 2000;
/* A sanitized debug build on a shared 2-core machine: main's behaviour
 * (every banner compressed before the first answer) takes about 15 ms a site
 * in Release, several times that here: 2000 sites would be minutes. */
const FIRST_ANSWER_MS = 12000;
const id = (i) => `s${String(i).padStart(5, '0')}`;
const last = id(SITES - 1);

let redis, many, one;
const started = {};
before(async () => {
    redis = await startRedis();
    const sites = {};
    for (let i = 0; i < SITES; i++) sites[`${id(i)}.json`] = siteLike(id(i));
    /* The same site alone on another node: built and compressed before it
     * answers (few banners are compressed by the build itself). */
    one = await Consentd.start({ redis, sites: { [`${last}.json`]: sites[`${last}.json`] } });
    many = new Consentd({ redis, sites });
    const t0 = Date.now();
    await many.start();
    started.healthz = Date.now() - t0;
    const res = await many.request(`/v1/sites/${last}/banner.js`, { headers: { 'accept-encoding': 'gzip, deflate, br' } });
    started.banner = Date.now() - t0;
    started.first = res;
});
after(async () => {
    await many?.stop();
    await one?.stop();
    await redis?.stop();
});

const banner = (node, site, encoding) =>
    node.request(`/v1/sites/${site}/banner.js`, { headers: encoding ? { 'accept-encoding': encoding } : {} });

function decoded(res) {
    const enc = res.headers['content-encoding'];
    if (enc === 'br') return zlib.brotliDecompressSync(res.body);
    if (enc === 'gzip') return zlib.gunzipSync(res.body);
    assert.equal(enc, undefined, `unknown content-encoding ${enc}`);
    return res.body;
}

test('a_node_with_2000_sites_answers_healthz_and_the_last_banner_within_seconds', async () => {
    process.stdout.write(`# ${SITES} sites: /healthz after ${started.healthz} ms, banner.js of the last site after ${started.banner} ms\n`);
    assert.ok(started.healthz < FIRST_ANSWER_MS, `/healthz after ${started.healthz} ms`);
    assert.ok(started.banner < FIRST_ANSWER_MS, `banner.js after ${started.banner} ms`);
    assert.equal(started.first.status, 200);
    /* The last site is the last compressed: it is served as built so far. */
    const full = await banner(one, last);
    assert.equal(full.status, 200);
    assert.deepEqual(decoded(started.first), full.body, 'the bytes of a fully built banner');
    const enc = started.first.headers['content-encoding'];
    const tag = full.headers.etag.slice(0, -1);
    assert.equal(started.first.headers.etag, enc === 'br' ? `${tag}-br"` : enc === 'gzip' ? `${tag}-gz"` : full.headers.etag, 'the ETag of the encoding served');
    assert.equal(started.first.headers.vary, 'accept-encoding');
});

test('before_its_compression_a_banner_is_served_identity_with_the_identity_etag', async () => {
    /* Right after start, the last site's brotli cannot be built yet (the
     * thread compresses in site order); when it already is, this machine
     * compressed 2000 banners in the time of one request: nothing to show. */
    const res = await banner(many, last, 'br');
    const full = await banner(one, last);
    if (res.headers['content-encoding'] === 'br') {
        process.stdout.write('# already compressed: the identity fallback was not seen\n');
        return;
    }
    assert.equal(res.headers['content-encoding'], undefined);
    assert.equal(res.headers.etag, full.headers.etag);
    assert.deepEqual(res.body, full.body);
    /* A revalidation with the identity ETag is a 304 until then. */
    const again = await many.request(`/v1/sites/${last}/banner.js`, { headers: { 'accept-encoding': 'br', 'if-none-match': full.headers.etag } });
    assert.ok(again.status === 304 || again.headers['content-encoding'] === 'br', `status ${again.status}`);
});

test('once_compressed_every_encoding_equals_a_fully_built_banner_and_the_archive_has_one_version', async () => {
    const from = 0;
    await many.waitForLog(new RegExp(`banners: compressed ${SITES} of ${SITES} in \\d+ ms`), { from, timeoutMs: 280000 });
    const line = many.stderr.match(/banners: compressed \d+ of \d+ in (\d+) ms/);
    process.stdout.write(`# all ${SITES} banners compressed ${line[1]} ms after their build\n`);
    for (const [encoding, name, suffix] of [
        ['br', 'br', '-br'],
        ['gzip', 'gzip', '-gz'],
    ]) {
        const res = await banner(many, last, encoding);
        const full = await banner(one, last, encoding);
        assert.equal(res.headers['content-encoding'], name);
        assert.deepEqual(res.body, full.body, `${name}: the same bytes as a node that built it whole`);
        assert.ok(res.headers.etag.endsWith(`${suffix}"`), res.headers.etag);
        assert.equal(res.headers.etag, full.headers.etag);
        assert.deepEqual(decoded(res), (await banner(one, last)).body);
    }
    /* Served identity, then br and gzip, by two nodes: one version in the
     * archive, with the exact identity bytes. */
    const index = `cd:{${last}:banners}:index`;
    await waitFor(async () => Number(await redis.command('ZCARD', index)) === 1, { message: 'the version archived' });
    const [hash] = await redis.command('ZRANGE', index, '0', '-1');
    assert.equal(await redis.command('HGET', `cd:{${last}:banners}:v:${hash}`, 'js'), (await banner(one, last)).text);
});
