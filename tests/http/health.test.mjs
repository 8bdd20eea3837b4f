// GET /healthz tells the truth about Redis, fast, and consentd rides out a
// Redis crash and restart by itself.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { startStack, test, waitFor } from './lib/harness.mjs';

const HEALTH_FAST_MS = 1000;
const RECONNECT_DEADLINE_MS = 10000;

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
    assert.equal(typeof body.checks.redis.error, 'string');
    assert.ok(body.checks.redis.error.length > 0, 'the reason is empty');
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
