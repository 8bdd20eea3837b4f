// GET /metrics: Prometheus text whose counters and histograms follow the
// requests actually made; with metrics.listen, only on that operator
// listener (with /healthz in detail), a 404 on the public one.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before } from 'node:test';
import { postConsent, server } from './lib/consent.mjs';
import { AFTER_FLUSH_MS, postEvent } from './lib/counters.mjs';
import { delay, findSamples, freePort, metricSum, parseMetrics, request, shippedSite, startStack, test, waitFor } from './lib/harness.mjs';

const THREADS = 2;

let stack;
before(async () => {
    stack = await startStack({ threads: THREADS });
});
after(async () => {
    await stack?.stop();
});

/* The histogram of route: [{le, value}] in exposition order, _count, _sum. */
function histogram(samples, name, labels) {
    const buckets = findSamples(samples, `${name}_bucket`, labels).map((s) => ({ le: s.labels.le, value: s.value }));
    return {
        buckets,
        count: metricSum(samples, `${name}_count`, labels),
        sum: metricSum(samples, `${name}_sum`, labels),
        countSamples: findSamples(samples, `${name}_count`, labels).length,
    };
}

function assertHistogramWellFormed(h, what) {
    assert.ok(h.buckets.length >= 2, `${what}: fewer than 2 buckets`);
    assert.equal(h.countSamples, 1, `${what}: one _count sample`);
    const bounds = h.buckets.map((b) => (b.le === '+Inf' ? Infinity : Number(b.le)));
    assert.equal(bounds.at(-1), Infinity, `${what}: the last bucket is le="+Inf"`);
    for (let i = 1; i < h.buckets.length; i++) {
        assert.ok(bounds[i] > bounds[i - 1], `${what}: bucket bounds not increasing at ${h.buckets[i].le}`);
        assert.ok(h.buckets[i].value >= h.buckets[i - 1].value, `${what}: cumulative counts decrease at le=${h.buckets[i].le}`);
    }
    assert.equal(h.buckets.at(-1).value, h.count, `${what}: le="+Inf" bucket equals _count`);
    assert.ok(h.sum >= 0, `${what}: negative _sum`);
}

test('metrics_is_prometheus_text_format', async () => {
    const res = await stack.consentd.request('/metrics');
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers['content-type'], /^text\/plain; ?version=0\.0\.4/);
    for (const name of [
        'consentd_http_requests_total',
        'consentd_http_request_duration_seconds',
        'consentd_redis_roundtrip_seconds',
        'consentd_redis_connected',
        'consentd_http_requests_in_flight',
    ]) {
        assert.match(res.text, new RegExp(`^# TYPE ${name} (counter|gauge|histogram)$`, 'm'), `# TYPE of ${name}`);
    }
});

/* Names of the families the exposition declares (# TYPE lines). */
function families(text) {
    return [...text.matchAll(/^# TYPE (\S+) \S+$/gm)].map((m) => m[1]);
}

test('metrics_pass_promtool_check_metrics_with_every_family_sampled', async () => {
    const { consentd } = stack;
    // A few requests of each kind, so that every family and route has samples.
    assert.equal((await consentd.request('/healthz')).status, 200);
    assert.equal((await consentd.request('/v1/sites/demo/banner.js')).status, 200);
    assert.equal((await consentd.request('/v1/sites/nope/banner.js')).status, 404);
    assert.equal((await consentd.request('/no/such/route')).status, 404);
    assert.equal((await consentd.request('/healthz', { method: 'POST' })).status, 405);
    const site = shippedSite('demo');
    const consent = { decisions: {}, policy_version: site.policy_version, lang: 'en', visitor: 'promtool-visitor-0001' };
    const posted = await postConsent(consentd, consent);
    assert.equal(posted.status, 201, posted.text);
    const read = await consentd.request(`/v1/sites/demo/consents/${posted.json().visitor}`, { headers: server() });
    assert.equal(read.status, 200, read.text);
    const event = await postEvent(consentd, { type: 'shown', lang: 'en', visitor: 'promtool-visitor-0001' });
    assert.equal(event.status, 204, event.text);
    await delay(AFTER_FLUSH_MS); // the acceptance counters flush once

    const res = await consentd.request('/metrics');
    assert.equal(res.status, 200, res.text);
    const sampled = new Set(parseNames(res.text));
    for (const family of families(res.text))
        assert.ok(
            [family, `${family}_bucket`, `${family}_count`, `${family}_sum`].some((n) => sampled.has(n)),
            `family ${family} has no sample`,
        );
    const check = spawnSync('promtool', ['check', 'metrics'], { input: res.text, encoding: 'utf8' });
    assert.ok(!check.error, `cannot run promtool (Debian package prometheus; ops/test.sh installs it): ${check.error}`);
    assert.equal(`${check.stdout}${check.stderr}`, '', `promtool check metrics complains:\n${check.stdout}${check.stderr}`);
    assert.equal(check.status, 0, 'promtool check metrics exit status');
});

/* Names of the sample lines of an exposition. */
function parseNames(text) {
    return text
        .split('\n')
        .filter((l) => l && !l.startsWith('#'))
        .map((l) => /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(l)[0]);
}

test('request_counters_by_route_and_status_increase_by_the_requests_made', async () => {
    const before = await stack.consentd.metrics();
    for (let i = 0; i < 3; i++) assert.equal((await stack.consentd.request('/healthz')).status, 200);
    for (let i = 0; i < 2; i++) assert.equal((await stack.consentd.request('/v1/sites/demo/banner.js')).status, 200);
    assert.equal((await stack.consentd.request('/v1/sites/nope/banner.js')).status, 404);
    const after = await stack.consentd.metrics();
    const delta = (labels) =>
        metricSum(after, 'consentd_http_requests_total', labels) - metricSum(before, 'consentd_http_requests_total', labels);
    assert.equal(delta({ route: 'healthz', status: '200' }), 3, 'healthz 200');
    assert.equal(delta({ route: 'banner_js', status: '200' }), 2, 'banner_js 200');
    assert.equal(delta({ route: 'banner_js', status: '404' }), 1, 'banner_js 404 (unknown site)');
    assert.equal(delta({ route: 'healthz', status: '503' }), 0, 'healthz 503');
});

test('latency_histograms_are_cumulative_and_count_every_request', async () => {
    const before = await stack.consentd.metrics();
    const n = 7;
    for (let i = 0; i < n; i++) await stack.consentd.request('/healthz');
    const samples = await stack.consentd.metrics();
    const name = 'consentd_http_request_duration_seconds';
    const routes = new Set(findSamples(samples, `${name}_count`).map((s) => s.labels.route));
    assert.ok(routes.has('healthz'), 'no histogram for route healthz');
    for (const route of routes) {
        const h = histogram(samples, name, { route });
        assertHistogramWellFormed(h, `route ${route}`);
        // Nothing else runs: every counted request is in the histogram, and back.
        const total = metricSum(samples, 'consentd_http_requests_total', { route });
        assert.equal(h.count, total, `route ${route}: _count vs requests_total`);
    }
    const grew = histogram(samples, name, { route: 'healthz' }).count - histogram(before, name, { route: 'healthz' }).count;
    assert.equal(grew, n, 'healthz _count grew by the number of requests');
    const redis = histogram(samples, 'consentd_redis_roundtrip_seconds', {});
    assertHistogramWellFormed(redis, 'redis round trip');
    // /healthz sends at most one PING per worker and second (health.h).
    assert.ok(redis.count >= 1, `no Redis round trip counted (${redis.count})`);
});

test('redis_connected_equals_the_worker_threads_when_redis_is_up', async () => {
    const value = await waitFor(
        async () => {
            const v = metricSum(await stack.consentd.metrics(), 'consentd_redis_connected');
            return v === THREADS ? v : null;
        },
        { timeoutMs: 5000, message: `consentd_redis_connected to be ${THREADS}` },
    );
    assert.equal(value, THREADS);
});

test('redis_connected_drops_to_zero_when_redis_is_killed', async () => {
    await stack.redis.kill();
    try {
        // The workers learn it from their next command or the socket closing.
        await waitFor(
            async () => {
                await stack.consentd.request('/healthz');
                return metricSum(await stack.consentd.metrics(), 'consentd_redis_connected') === 0;
            },
            { timeoutMs: 5000, message: 'consentd_redis_connected to be 0' },
        );
    } finally {
        await stack.redis.start();
    }
    await waitFor(async () => metricSum(await stack.consentd.metrics(), 'consentd_redis_connected') === THREADS, {
        timeoutMs: 10000,
        message: `consentd_redis_connected back to ${THREADS}`,
    });
});

test('requests_in_flight_is_zero_when_idle_apart_from_the_scrape', async () => {
    const v = metricSum(await stack.consentd.metrics(), 'consentd_http_requests_in_flight');
    assert.ok(v >= 0 && v <= 1, `in flight while idle: ${v}`);
});

test('with_metrics_listen_metrics_is_on_the_operator_listener_only', async () => {
    const operatorPort = await freePort();
    const own = await startStack({ config: { metrics: { listen: { address: '127.0.0.1', port: operatorPort } } } });
    let failure;
    try {
        const banner = await own.consentd.request('/v1/sites/demo/banner.js');
        assert.equal(banner.status, 200, 'the public listener serves the API');
        // The public listener: no /metrics, as if the route did not exist.
        const pub = await own.consentd.request('/metrics');
        assert.equal(pub.status, 404, pub.text);
        assert.equal(pub.json().error.code, 'not_found');
        assert.ok(!pub.text.includes('consentd_'), pub.text);
        assert.equal((await own.consentd.request('/metrics', { method: 'POST' })).status, 404);
        // The operator listener: /metrics, counting the public requests too.
        const ops = await request(operatorPort, '/metrics');
        assert.equal(ops.status, 200, ops.text);
        assert.match(ops.headers['content-type'], /^text\/plain/);
        const samples = parseMetrics(ops.text);
        assert.ok(metricSum(samples, 'consentd_http_requests_total', { route: 'banner_js', status: '200' }) >= 1, ops.text);
        assert.ok(metricSum(samples, 'consentd_http_requests_total', { route: 'unmatched', status: '404' }) >= 2, 'the refused scrapes are counted');
        // ... and nothing but the operator routes.
        for (const target of ['/v1/sites/demo/banner.js', '/dashboard', '/.well-known/jwks.json', '/v1/sites/demo/banner-versions.json']) {
            const r = await request(operatorPort, target);
            assert.equal(r.status, 404, `${target} on the operator listener: ${r.status}`);
        }
        // /healthz: both; the operator one tells the reason in words.
        assert.deepEqual((await request(operatorPort, '/healthz')).json(), { status: 'ok', checks: { redis: { ok: true } } });
        await own.redis.kill();
        const down = await waitFor(
            async () => {
                const r = await request(operatorPort, '/healthz');
                return r.status === 503 && r.json().checks.redis.detail ? r : null;
            },
            { timeoutMs: 5000, message: 'the operator /healthz to say why' },
        );
        assert.equal(down.json().checks.redis.error, 'not_connected');
        assert.match(down.json().checks.redis.detail, /not connected/);
        const pubHealth = await own.consentd.request('/healthz');
        assert.equal(pubHealth.status, 503);
        assert.equal(pubHealth.json().checks.redis.detail, undefined, 'the public /healthz gives no detail');
    } catch (error) {
        failure = error;
    }
    try {
        await own.stop();
    } catch (error) {
        failure ??= error;
    }
    if (failure) throw failure;
});
