// SIGTERM and SIGINT: stop accepting, finish what is in flight, exit 0
// within limits.shutdown_timeout_ms.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, afterEach } from 'node:test';
import {
    Consentd,
    Redis,
    TEST_SHUTDOWN_TIMEOUT_MS,
    delay,
    metricSum,
    probePort,
    request,
    test,
    waitFor,
} from './lib/harness.mjs';

const BURST = 200;
const CONNECTIONS = 50;
const EXIT_SLACK_MS = 1500; /* process exit, sanitizer bookkeeping */
/* Redis sleeps this long (DEBUG SLEEP) to keep /healthz requests in flight;
 * the command timeout is longer, so they are answered when Redis wakes up,
 * well before the shutdown deadline. */
const REDIS_SLEEP_S = 1;
const REDIS_COMMAND_TIMEOUT_MS = 2000;

let redis;
let consentd;
afterEach(async () => {
    await consentd?.stop();
    consentd = undefined;
});
after(async () => {
    await redis?.stop();
});

async function startConsentd() {
    redis ??= await Redis.start();
    consentd = await Consentd.start({
        redis,
        threads: 2,
        config: { redis: { command_timeout_ms: REDIS_COMMAND_TIMEOUT_MS } },
    });
    return consentd;
}

test('sigterm_during_a_burst_answers_every_started_request_completely_and_exits_0', async () => {
    const c = await startConsentd();
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
    try {
        // Open the keep-alive connections first.
        const warm = await Promise.all(
            Array.from({ length: CONNECTIONS }, () => c.request('/v1/sites/demo/banner.js', { agent })),
        );
        for (const r of warm) assert.equal(r.status, 200);

        // Redis sleeps, so the /healthz requests below stay in flight in consentd.
        const sleeping = redis.command('DEBUG', 'SLEEP', String(REDIS_SLEEP_S)).catch(() => {});
        await delay(50);
        const t0 = performance.now();
        const burst = Array.from({ length: BURST }, (_, i) =>
            c
                .request(i % 4 === 3 ? '/v1/sites/demo/banner.js' : '/healthz', { agent, timeoutMs: 10000 })
                .then((res) => ({ res, at: performance.now() }))
                .catch((error) => ({ error, at: performance.now() })),
        );
        const inflight = await waitFor(
            async () => {
                const n = metricSum(await c.metrics(), 'consentd_http_requests_in_flight') - 1; /* the scrape */
                return n >= 10 ? n : null;
            },
            { timeoutMs: 2000, intervalMs: 5, message: 'requests in flight in consentd' },
        );
        const sigtermAt = performance.now();
        console.log("DEBUG inflight", inflight);
        c.signal('SIGTERM');
        const exit = await c.waitExit(TEST_SHUTDOWN_TIMEOUT_MS + 5000);
        const exitMs = performance.now() - sigtermAt;
        const results = await Promise.all(burst);
        await sleeping;

        assert.deepEqual({ code: exit.code, signal: exit.signal }, { code: 0, signal: null }, 'exit status');
        assert.ok(exitMs <= TEST_SHUTDOWN_TIMEOUT_MS + EXIT_SLACK_MS, `exit took ${exitMs.toFixed(0)} ms`);

        const answered = results.filter((r) => r.res);
        const cut = results.filter((r) => r.error?.afterHeaders);
        assert.deepEqual(
            cut.map((r) => r.error.message),
            [],
            'requests that got response headers but not their whole body',
        );
        for (const { res } of answered) {
            assert.equal(Number(res.headers['content-length'] ?? res.body.length), res.body.length);
            if (res.headers['content-type']?.startsWith('application/json')) res.json(); // whole JSON
        }
        const answeredAfterSigterm = answered.filter((r) => r.at >= sigtermAt).length;
        assert.ok(
            answeredAfterSigterm >= inflight - 1 /* one may have been a banner, answered at once */,
            `${inflight} requests were in flight at SIGTERM but only ${answeredAfterSigterm} were answered after it`,
        );
        // Requests the server never took must have failed at once, not hung.
        for (const r of results.filter((x) => x.error)) {
            assert.ok(r.at - t0 < TEST_SHUTDOWN_TIMEOUT_MS + 5000, `a request hung: ${r.error.message}`);
        }
        assert.equal(await probePort(c.port), 'refused', 'a new connection after exit');
    } finally {
        agent.destroy();
    }
});

test('sigterm_with_idle_keepalive_connections_exits_0_within_the_deadline', async () => {
    const c = await startConsentd();
    const agent = new http.Agent({ keepAlive: true, maxSockets: 10 });
    try {
        await Promise.all(Array.from({ length: 10 }, () => c.request('/healthz', { agent })));
        const t0 = performance.now();
        c.signal('SIGTERM');
        const exit = await c.waitExit(TEST_SHUTDOWN_TIMEOUT_MS + 5000);
        const ms = performance.now() - t0;
        assert.equal(exit.code, 0, `exit ${JSON.stringify(exit)}`);
        assert.ok(ms <= TEST_SHUTDOWN_TIMEOUT_MS + EXIT_SLACK_MS, `exit took ${ms.toFixed(0)} ms`);
        assert.match(c.stderr, /SIGTERM/, 'the stop is logged');
    } finally {
        agent.destroy();
    }
});

test('sigint_stops_gracefully_like_sigterm', async () => {
    const c = await startConsentd();
    assert.equal((await c.request('/healthz')).status, 200);
    c.signal('SIGINT');
    const exit = await c.waitExit(TEST_SHUTDOWN_TIMEOUT_MS + 5000);
    assert.equal(exit.code, 0, `exit ${JSON.stringify(exit)}`);
    assert.equal(await probePort(c.port), 'refused');
});

test('a_request_waiting_on_a_sleeping_redis_is_answered_and_the_exit_stays_within_the_deadline', async () => {
    const c = await startConsentd();
    // /healthz reuses a check for 1 s (health.h): let the one of the start-up
    // wait age out, so that this /healthz sends a PING to the sleeping Redis.
    await delay(1100);
    // Redis sleeps longer than the shutdown deadline: the /healthz answer
    // comes from the Redis command timeout (503, before the deadline), and
    // the exit does not wait for Redis to wake up.
    const sleeping = redis.command('DEBUG', 'SLEEP', String((TEST_SHUTDOWN_TIMEOUT_MS + 1000) / 1000)).catch(() => {});
    await delay(50);
    const pending = request(c.port, '/healthz', { timeoutMs: 10000 }).catch((error) => ({ error }));
    await delay(50);
    const t0 = performance.now();
    c.signal('SIGTERM');
    const exit = await c.waitExit(TEST_SHUTDOWN_TIMEOUT_MS + 5000);
    const ms = performance.now() - t0;
    assert.equal(exit.code, 0, `exit ${JSON.stringify(exit)}`);
    assert.ok(ms <= TEST_SHUTDOWN_TIMEOUT_MS + EXIT_SLACK_MS, `exit took ${ms.toFixed(0)} ms`);
    const res = await pending;
    assert.ok(!res.error?.afterHeaders, 'the answer was cut short');
    if (res.status !== undefined) assert.equal(res.status, 503, res.text);
    await sleeping;
});
