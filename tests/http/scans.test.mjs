// Scan summaries (issue 23, item 4): POST /v1/sites/{site}/scans stores a
// summary of an ops/scan.mjs run with the site's API key, GET
// /v1/sites/{site}/scans/latest answers the newest; Redis keeps the newest
// 20 per site in cd:{<site>:scans}:list. Every refusal: bad key 401, unknown
// site 404, malformed or out-of-bounds body 400, oversized 413, Redis down 503.
// Also run on a Redis Cluster (http_cluster_scans; the Redis-down case on one
// redis-server only).
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import path from 'node:path';
import { Consentd, SOURCE_DIR, TEST_ON_CLUSTER, startRedis, test, waitFor } from './lib/harness.mjs';
import { DEMO_KEY, OTHER_KEY, browser, server } from './lib/consent.mjs';

let redis, consentd;
before(async () => {
    redis = await startRedis();
    consentd = await Consentd.start({ redis });
});
after(async () => {
    try {
        await consentd?.stop();
    } finally {
        await redis?.stop();
    }
});

const summary = (over = {}) => ({
    scanned_at: '2026-12-05T03:40:00.123Z',
    verdict: 'fail',
    scanner: 'consentd-scan 1',
    pages: 3,
    violations: 1,
    undeclared: 2,
    leftover: 0,
    stale: 4,
    notices: 0,
    findings: ['violation: Before any choice: cookie _ga: set before any choice'],
    ...over,
});
const post = (body, headers = server()) =>
    consentd.request('/v1/sites/demo/scans', { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
const latest = (headers = server()) => consentd.request('/v1/sites/demo/scans/latest', { headers });

test('no_scan_yet_is_404', async () => {
    const res = await latest();
    assert.equal(res.status, 404, res.text);
    assert.equal(res.json().error.code, 'no_scan');
});

test('a_posted_summary_is_201_stored_and_is_the_latest', async () => {
    const before = Date.now();
    const res = await post(summary());
    assert.equal(res.status, 201, res.text);
    const stored = res.json();
    assert.deepEqual(Object.keys(stored), ['scanned_at', 'received_at', 'verdict', 'scanner', 'pages', 'violations', 'undeclared', 'leftover', 'stale', 'notices', 'findings']);
    assert.equal(stored.verdict, 'fail');
    assert.equal(stored.stale, 4);
    assert.ok(Date.parse(stored.received_at) >= before - 1000);
    const got = await latest();
    assert.equal(got.status, 200, got.text);
    assert.deepEqual(got.json(), stored);
    // Stored under the site's own tag, newest first.
    const list = await redis.command('LRANGE', 'cd:{demo:scans}:list', '0', '-1');
    assert.equal(list.length, 1);
    assert.deepEqual(JSON.parse(list[0]), stored);
});

test('findings_are_optional_and_the_newest_wins', async () => {
    const res = await post(summary({ verdict: 'pass', violations: 0, findings: undefined, scanned_at: '2026-12-05T04:00:00Z' }));
    assert.equal(res.status, 201, res.text);
    assert.deepEqual(res.json().findings, []);
    const got = (await latest()).json();
    assert.equal(got.verdict, 'pass');
    assert.equal(got.scanned_at, '2026-12-05T04:00:00Z');
});

test('only_the_newest_20_are_kept', async () => {
    for (let i = 0; i < 25; i++) assert.equal((await post(summary({ pages: 100 + i }))).status, 201);
    const list = await redis.command('LRANGE', 'cd:{demo:scans}:list', '0', '-1');
    assert.equal(list.length, 20);
    assert.equal(JSON.parse(list[0]).pages, 124);
    assert.equal(JSON.parse(list[19]).pages, 105);
    assert.equal((await latest()).json().pages, 124);
});

test('callers_without_the_site_key_are_refused', async () => {
    for (const headers of [{ 'content-type': 'application/json' }, server('not-a-key-of-any-site-000'), server(OTHER_KEY), browser()]) {
        const res = await post(summary(), headers);
        assert.equal(res.status, 401, `${JSON.stringify(headers)}: ${res.text}`);
        assert.equal((await latest(headers)).status, 401);
    }
    const unknown = await consentd.request('/v1/sites/nosuchsite/scans', { method: 'POST', headers: server(DEMO_KEY), body: JSON.stringify(summary()) });
    assert.equal(unknown.status, 404, unknown.text);
    assert.equal((await consentd.request('/v1/sites/nosuchsite/scans/latest', { headers: server() })).status, 404);
});

test('malformed_or_out_of_bounds_bodies_are_400_and_store_nothing', async () => {
    const n = await redis.command('LLEN', 'cd:{demo:scans}:list');
    const bad = [
        ['{', /./],
        ['[]', /object/],
        [summary({ extra: 1 }), /unknown field: extra/],
        [summary({ scanned_at: '2026-12-05 03:40:00' }), /scanned_at/],
        [summary({ scanned_at: '2026-02-30T03:40:00Z' }), /scanned_at/],
        [summary({ scanned_at: undefined }), /scanned_at/],
        [summary({ verdict: 'maybe' }), /verdict/],
        [summary({ scanner: '' }), /scanner/],
        [summary({ scanner: 'x'.repeat(65) }), /scanner/],
        [summary({ pages: -1 }), /pages/],
        [summary({ violations: 1.5 }), /violations/],
        [summary({ stale: '2' }), /stale/],
        [summary({ notices: 1000001 }), /notices/],
        [summary({ leftover: undefined }), /leftover/],
        [summary({ findings: 'a' }), /findings/],
        [summary({ findings: Array(21).fill('a') }), /findings/],
        [summary({ findings: ['a\nb'] }), /findings/],
        [summary({ findings: ['x'.repeat(301)] }), /findings/],
        ['{"verdict":"pass","verdict":"fail"}', /./],
    ];
    for (const [body, why] of bad) {
        const res = await post(body);
        assert.equal(res.status, 400, `${JSON.stringify(body).slice(0, 80)}: ${res.text}`);
        assert.match(res.json().error.message, why);
    }
    assert.equal((await post(summary(), server(DEMO_KEY, { 'content-type': 'text/plain' }))).status, 415);
    const big = await post(summary({ findings: Array(20).fill('y'.repeat(1000)) }));
    assert.equal(big.status, 413, big.text);
    assert.equal(await redis.command('LLEN', 'cd:{demo:scans}:list'), n);
});

test('redis_down_is_503', { skip: TEST_ON_CLUSTER && 'one redis-server only' }, async () => {
    await redis.stop();
    try {
        await waitFor(async () => (await consentd.request('/healthz')).status === 503, { message: 'Redis seen down' });
        const res = await post(summary());
        assert.equal(res.status, 503, res.text);
        assert.equal(res.json().error.code, 'storage_unavailable');
        assert.equal((await latest()).status, 503);
    } finally {
        await redis.start();
    }
});

// ops/scan.mjs --post: its summary of a report is what consentd takes.
const SCAN = path.join(SOURCE_DIR, 'ops', 'scan.mjs');
const { parseArgs, scanSummary, postSummary } = await import(SCAN);

test('the_scanner_posts_its_summary_and_consentd_stores_it', async () => {
    const url = `http://127.0.0.1:${consentd.port}/v1/sites/demo/scans`;
    const finding = (i, level = 'violation') => ({ level, state: 'before', kind: 'cookie', name: `c${i}`, url: 'https://shop.example/', reason: `set before any choice\n${'é'.repeat(400)}` });
    const report = {
        scanner: 'consentd-scan 1',
        scannedAt: new Date().toISOString(),
        verdict: 'fail',
        pages: ['https://shop.example/', 'https://shop.example/a'],
        summary: { violation: 30, undeclared: 0, leftover: 0, stale: 2, notice: 1 },
        findings: [finding(0, 'notice'), ...Array.from({ length: 30 }, (_, i) => finding(i))],
    };
    const summary = scanSummary(report);
    assert.equal(summary.findings.length, 20);
    assert.match(summary.findings[0], /^violation: Before any choice: cookie c0 \(https:\/\/shop\.example\/\): set before any choice é/);
    assert.ok(summary.findings.every((l) => Buffer.byteLength(l) <= 300 && !/\n/.test(l)));
    const stored = await postSummary(url, DEMO_KEY, summary);
    assert.equal(stored.pages, 2);
    assert.equal(stored.violations, 30);
    assert.equal(stored.notices, 1);
    assert.deepEqual((await latest()).json(), stored);
    await assert.rejects(postSummary(url, 'not-a-key-of-any-site-000', summary), /401/);

    const o = parseArgs(['--post', url, 'https://shop.example/'], { CONSENTD_API_KEY: 'k1' });
    assert.equal(o.key, 'k1');
    assert.equal(parseArgs(['--post', url, '--key', 'k2', 'https://shop.example/'], { CONSENTD_API_KEY: 'k1' }).key, 'k2');
    assert.throws(() => parseArgs(['--post', url, 'https://shop.example/'], {}), /--key/);
    assert.throws(() => parseArgs(['--post', 'http://h/v1/sites/demo/stats', '--key', 'k', 'https://shop.example/'], {}), /scans/);
    assert.throws(() => parseArgs(['--key', 'k', 'https://shop.example/'], {}), /only with --post/);
});
