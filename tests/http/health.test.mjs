// GET /healthz tells the truth about Redis, fast, and consentd rides out a
// Redis crash and restart by itself; it costs Redis at most one PING per
// worker per second whatever the request rate, and its public answer names
// no address and carries no Redis error text.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { Consentd, delay, freePort, redisCommandCalls, startStack, test, waitFor } from './lib/harness.mjs';

const HEALTH_FAST_MS = 1000;
const RECONNECT_DEADLINE_MS = 10000;
const THREADS = 2; /* the harness' default */
/* What a public 503 may say about Redis (docs/operations.md, /healthz). */
const PUBLIC_REASONS = ['not_connected', 'timeout', 'disconnected', 'busy', 'error'];
const BURST_ROUNDS = 10;
const BURST_CONCURRENCY = 20;
/* How long a check's result is reused (health.h HEALTH_REUSE_MS). */
const HEALTH_REUSE_MS = 1000;

/* The body must not say where Redis is. */
function assertNoAddress(text, port) {
    for (const needle of ['127.0.0.1', 'localhost', String(port), 'redis://', 'refused']) {
        assert.ok(!text.includes(needle), `the public answer contains ${JSON.stringify(needle)}: ${text}`);
    }
}

let stack;
before(async () => {
    stack = await startStack();
});
after(async () => {
    await stack?.stop();
});

test('healthz_is_200_ok_when_redis_answers', async () => {
    const res = await stack.consentd.request('/healthz');
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers['content-type'], /^application\/json/);
    assert.deepEqual(res.json(), { status: 'ok', checks: { redis: { ok: true } } });
});

test('a_burst_of_healthz_costs_at_most_one_ping_per_worker_per_second', async (t) => {
    await delay(HEALTH_REUSE_MS + 100); // the earlier checks' results have expired
    await stack.redis.command('CONFIG', 'RESETSTAT');
    const t0 = performance.now();
    for (let round = 0; round < BURST_ROUNDS; round++) {
        const answers = await Promise.all(Array.from({ length: BURST_CONCURRENCY }, () => stack.consentd.request('/healthz')));
        for (const r of answers) assert.equal(r.status, 200, r.text);
    }
    const seconds = (performance.now() - t0) / 1000;
    const pings = await redisCommandCalls(stack.redis, 'ping');
    // One check per worker per started second, plus the one each may have begun.
    const bound = THREADS * (Math.ceil(seconds) + 1);
    t.diagnostic(`${BURST_ROUNDS * BURST_CONCURRENCY} requests in ${seconds.toFixed(2)} s: ${pings} PINGs`);
    assert.ok(pings <= bound, `${BURST_ROUNDS * BURST_CONCURRENCY} requests in ${seconds.toFixed(2)} s sent ${pings} PINGs (bound ${bound})`);
    assert.ok(pings >= 1, 'no PING at all: the check does not ask Redis');
});

test('healthz_is_503_with_a_reason_soon_after_redis_is_killed', async () => {
    await stack.redis.kill();
    // The first request may still race the disconnect; each one must be fast.
    const res = await waitFor(
        async () => {
            const r = await stack.consentd.request('/healthz', { timeoutMs: 5000 });
            assert.ok(r.ms < HEALTH_FAST_MS, `/healthz took ${r.ms.toFixed(0)} ms with Redis down`);
            return r.status === 503 ? r : null;
        },
        { timeoutMs: 3000, message: '/healthz to answer 503 with Redis killed' },
    );
    assert.match(res.headers['content-type'], /^application\/json/);
    const body = res.json();
    assert.equal(body.status, 'unavailable');
    assert.equal(body.checks.redis.ok, false);
    assert.ok(PUBLIC_REASONS.includes(body.checks.redis.error), `reason ${JSON.stringify(body.checks.redis.error)}`);
    assertNoAddress(res.text, stack.redis.port);
});

test('healthz_with_redis_unreachable_by_name_is_503_without_address_or_host_name', async () => {
    // Nothing listens there; a cluster client's errors name the node.
    const port = await freePort();
    const alone = await Consentd.start({ redisUrl: `redis+cluster://localhost:${port}` });
    try {
        const res = await alone.request('/healthz');
        assert.equal(res.status, 503, res.text);
        assert.equal(res.headers['retry-after'], '1');
        const body = res.json();
        assert.deepEqual(Object.keys(body.checks.redis).sort(), ['error', 'ok']);
        assert.ok(PUBLIC_REASONS.includes(body.checks.redis.error), `reason ${JSON.stringify(body.checks.redis.error)}`);
        assertNoAddress(res.text, port);
    } finally {
        await alone.stop();
    }
});

test('healthz_stays_fast_while_redis_is_down', async () => {
    const answers = await Promise.all(
        Array.from({ length: 20 }, () => stack.consentd.request('/healthz', { timeoutMs: 5000 })),
    );
    for (const r of answers) {
        assert.equal(r.status, 503, r.text);
        assert.ok(r.ms < HEALTH_FAST_MS, `/healthz took ${r.ms.toFixed(0)} ms with Redis down`);
    }
});

test('banner_js_is_still_served_while_redis_is_down', async () => {
    const res = await stack.consentd.request('/v1/sites/demo/banner.js');
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers['content-type'], /^application\/javascript/);
    assert.ok(res.body.length > 0, 'empty banner');
});

test('healthz_is_200_again_after_redis_restarts_on_the_same_port', async () => {
    await stack.redis.start();
    const res = await waitFor(
        async () => {
            const r = await stack.consentd.request('/healthz');
            return r.status === 200 ? r : null;
        },
        { timeoutMs: RECONNECT_DEADLINE_MS, message: '/healthz to be 200 after Redis came back' },
    );
    assert.deepEqual(res.json(), { status: 'ok', checks: { redis: { ok: true } } });
    assert.ok(stack.consentd.running, 'consentd is not running any more');
});
