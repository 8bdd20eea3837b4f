// Issue 22, item 4: compressed banners built once for the whole fleet. The
// first node that needs the gzip and brotli bytes of a script (banner.js,
// consentd-defaults.js) compresses them and stores them in Redis under the
// SHA-256 of the uncompressed bytes (cd:{<site>:bz}:z:<sha>); a node that
// builds the same bytes reads them instead of compressing, after checking
// that they decompress to its own body. Counted in /metrics:
// consentd_banner_compressions_total{source="local"|"redis"} (one per
// encoding of one script). Also on a 3-master Redis Cluster
// (http_cluster_banner_share).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import zlib from 'node:zlib';
import { after, before } from 'node:test';
import { Consentd, TEST_ON_CLUSTER, metricSum, shippedSite, shippedSites, siteLike, startRedis, test, waitFor } from './lib/harness.mjs';
import { server } from './lib/consent.mjs';

const SITES = { ...shippedSites(), 'alpha.json': siteLike('alpha'), 'beta.json': siteLike('beta'), 'gamma.json': siteLike('gamma') };
const IDS = Object.keys(SITES).map((f) => f.replace(/\.json$/, ''));
/* Two scripts a site (banner.js, consentd-defaults.js), two encodings each. */
const ENCODINGS_PER_SITE = 4;

let redis;
const nodes = [];
before(async () => {
    redis = await startRedis();
});
after(async () => {
    try {
        for (const n of nodes) await n.stop();
    } finally {
        await redis?.stop();
    }
});

async function startNode(options = {}) {
    const node = await Consentd.start({ redis, sites: SITES, ...options });
    nodes.push(node);
    await node.waitForLog(new RegExp(`banners: compressed ${IDS.length} of ${IDS.length} in \\d+ ms`), { timeoutMs: 30000 });
    return node;
}

async function compressions(node) {
    const m = await node.metrics();
    return {
        local: metricSum(m, 'consentd_banner_compressions_total', { source: 'local' }),
        redis: metricSum(m, 'consentd_banner_compressions_total', { source: 'redis' }),
        refused: metricSum(m, 'consentd_banner_blobs_refused_total'),
    };
}

const banner = (node, site, encoding) =>
    node.request(`/v1/sites/${site}/banner.js`, { headers: encoding ? { 'accept-encoding': encoding } : {} });

async function storedBlobs() {
    const [, keys] = await redis.command('SCAN', '0', 'MATCH', 'cd:{*:bz}:z:*', 'COUNT', '10000');
    return keys;
}

/* The key of a site's banner.js blob: the SHA-256 of its identity bytes. */
async function blobKey(node, site) {
    const identity = await banner(node, site);
    assert.equal(identity.headers['content-encoding'], undefined);
    return `cd:{${site}:bz}:z:${crypto.createHash('sha256').update(identity.body).digest('hex')}`;
}

async function sameEncodedBanners(a, b) {
    for (const site of IDS) {
        const identity = (await banner(a, site)).body;
        for (const [encoding, decode] of [
            ['br', zlib.brotliDecompressSync],
            ['gzip', zlib.gunzipSync],
        ]) {
            const ra = await banner(a, site, encoding);
            const rb = await banner(b, site, encoding);
            assert.equal(rb.headers['content-encoding'], encoding, `${site} ${encoding}`);
            assert.deepEqual(rb.body, ra.body, `${site}: the same ${encoding} bytes on both nodes`);
            assert.equal(rb.headers.etag, ra.headers.etag);
            assert.deepEqual(decode(rb.body), identity, `${site}: ${encoding} decodes to the identity body`);
        }
    }
}

let first, second;

test('the_first_node_compresses_and_stores_every_script_once', async () => {
    first = await startNode();
    const c = await compressions(first);
    assert.deepEqual(c, { local: IDS.length * ENCODINGS_PER_SITE, redis: 0, refused: 0 });
    /* Stored after they were built (not waited for): one blob per script. */
    await waitFor(async () => (await storedBlobs()).length === IDS.length * 2, { message: 'every blob stored' });
    /* The leases taken to build them are given back once they are stored. */
    await waitFor(async () => (await redis.command('SCAN', '0', 'MATCH', 'cd:{*:bz}:l:*', 'COUNT', '10000'))[1].length === 0, { message: 'no lease left' });
    for (const key of await storedBlobs()) {
        const ttl = Number(await redis.command('PTTL', key));
        assert.ok(ttl > 29 * 86400000 && ttl <= 30 * 86400000, `${key}: TTL ${ttl} ms`);
    }
});

test('a_second_node_on_the_same_redis_serves_byte_identical_gzip_and_br_without_compressing', async () => {
    second = await startNode();
    assert.deepEqual(await compressions(second), { local: 0, redis: IDS.length * ENCODINGS_PER_SITE, refused: 0 });
    await sameEncodedBanners(first, second);
    /* The metric families pass promtool, as the metrics suite checks. */
    const text = (await second.request('/metrics')).text;
    const check = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.ok(!check.error, `cannot run promtool: ${check.error}`);
    assert.equal(`${check.stdout}${check.stderr}`, '', 'promtool check metrics');
});

test('a_corrupted_stored_blob_is_refused_and_rebuilt', async () => {
    const key = await blobKey(first, 'alpha');
    const length = Number(await redis.command('STRLEN', key));
    assert.ok(length > 1000, `${key}: ${length} bytes`);
    /* Bytes in the middle of the gzip stream: still a blob of the right
     * shape and length, but not the bytes of alpha's banner. */
    await redis.command('SETRANGE', key, '400', 'corrupted by the test');
    const third = await startNode();
    await third.waitForLog(/banners: the compressed bytes of alpha \([0-9a-f]{16}\.\.\.\) stored in Redis do not match its body: refused/);
    assert.deepEqual(await compressions(third), { local: 2, redis: IDS.length * ENCODINGS_PER_SITE - 2, refused: 1 });
    await sameEncodedBanners(first, third);
    /* Replaced by the good bytes (SET over it, not NX). */
    await waitFor(async () => (await redis.command('GETRANGE', key, '400', '420')) !== 'corrupted by the test', { message: 'the blob replaced' });
    assert.equal(Number(await redis.command('STRLEN', key)), length);
});

test('one_publish_on_three_nodes_compresses_each_encoding_once_fleet_wide', async () => {
    const before = await Promise.all(nodes.map(compressions));
    const title = 'Audience, published once for the fleet';
    const site = shippedSite('demo');
    site.purposes[1].texts.en.name = title;
    const from = nodes.map((n) => n.stderr.length);
    const put = await first.request('/v1/sites/demo/draft', { method: 'PUT', headers: server(), body: JSON.stringify({ revision: 0, site }) });
    assert.equal(put.status, 200, put.text);
    const ver = await first.request('/v1/sites/demo/versions', { method: 'POST', headers: server(), body: '{}' });
    assert.equal(ver.status, 201, ver.text);
    const pub = await first.request(`/v1/sites/demo/versions/${ver.json().version}/publish`, { method: 'POST', headers: server(), body: '{"bump_policy":false}' });
    assert.equal(pub.status, 200, pub.text);
    for (const [i, n] of nodes.entries()) {
        await n.waitForLog(/sites: serving 1 published site\(s\) from Redis \(banners rebuilt: 1 of \d+, sites parsed: 1\)/, { from: from[i] });
        const res = await banner(n, 'demo', 'br');
        assert.equal(res.headers['content-encoding'], 'br');
        assert.ok(zlib.brotliDecompressSync(res.body).toString().includes(title));
    }
    const after = await Promise.all(nodes.map(compressions));
    const local = after.reduce((s, c, i) => s + c.local - before[i].local, 0);
    const shared = after.reduce((s, c, i) => s + c.redis - before[i].redis, 0);
    /* banner.js changed: gzip and brotli built once on one node; its
     * consentd-defaults.js did not: read from Redis by all three. */
    assert.equal(local, 2, `encodings compressed fleet-wide: ${local}`);
    assert.equal(shared, (nodes.length - 1) * 2 + nodes.length * 2, `encodings read from Redis: ${shared}`);
    await sameEncodedBanners(first, second);
});

test('redis_down_at_start_still_serves_compressed_banners', async () => {
    const alone = await Consentd.start({ redisUrl: 'redis://127.0.0.1:1', sites: SITES });
    nodes.push(alone);
    await alone.waitForLog(new RegExp(`banners: compressed ${IDS.length} of ${IDS.length} in \\d+ ms`), { timeoutMs: 30000 });
    assert.deepEqual(await compressions(alone), { local: IDS.length * ENCODINGS_PER_SITE, redis: 0, refused: 0 });
    for (const site of IDS) {
        const res = await banner(alone, site, 'br');
        assert.equal(res.headers['content-encoding'], 'br', site);
        assert.deepEqual(zlib.brotliDecompressSync(res.body), (await banner(alone, site)).body);
    }
});

test('a_frozen_redis_costs_one_command_timeout_then_every_banner_is_compressed_here', { skip: TEST_ON_CLUSTER && 'one Redis to freeze' }, async () => {
    /* More banners than a build compresses itself: the set's thread asks
     * Redis, which answers nothing (SIGSTOP); its first batch times out, and
     * the rest of the set is compressed without asking again. */
    const sites = {};
    for (let i = 0; i < 80; i++) sites[`f${String(i).padStart(3, '0')}.json`] = siteLike(`f${String(i).padStart(3, '0')}`);
    redis.pause();
    try {
        const t0 = Date.now();
        const frozen = await Consentd.start({ redis, sites });
        nodes.push(frozen);
        await frozen.waitForLog(/banners: compressed 80 of 80 in \d+ ms/, { timeoutMs: 60000 });
        await frozen.waitForLog(/banners: Redis did not answer for compressed banners: compressing the rest of this set here/);
        assert.equal((frozen.stderr.match(/Redis did not answer for compressed banners/g) || []).length, 1, 'asked once');
        assert.deepEqual(await compressions(frozen), { local: 80 * ENCODINGS_PER_SITE, redis: 0, refused: 0 });
        const res = await banner(frozen, 'f079', 'br');
        assert.equal(res.headers['content-encoding'], 'br');
        process.stdout.write(`# 80 sites, Redis frozen: all compressed ${Date.now() - t0} ms after the start\n`);
    } finally {
        redis.resume();
    }
});
