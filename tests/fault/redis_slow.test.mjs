// Redis slow: frozen with SIGSTOP (connections open, nothing answered) and
// busy in DEBUG SLEEP. Requests that need it answer 503 with a timeout
// message after redis.command_timeout_ms; the banner keeps being served
// meanwhile (no worker thread waits on Redis); consentd's memory stays
// bounded while thousands of requests time out (redis.max_pending caps the
// commands in flight); writes come back when Redis does. Prints the figures.
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before } from 'node:test';
import { Consentd, Redis, delay, rssKiB, test, waitFor } from '../http/lib/harness.mjs';
import { DEMO_KEY, DEMO_ORIGIN } from '../http/lib/consent.mjs';
import { consentBody, percentile, round, send } from './lib/load.mjs';

const COMMAND_TIMEOUT_MS = 500;
const MAX_PENDING = 500;
/* A timed-out answer comes after the timeout, and not much later. */
const TIMEOUT_SLACK_MS = 1000;
/* The banner while Redis is frozen: served from memory. */
const BANNER_BOUND_MS = 300;
const FLOOD_REQUESTS = 8000;
const FLOOD_CLIENTS = 64;
/* Growth of consentd's resident memory allowed over the whole flood. */
const RSS_GROWTH_BOUND_KIB = 64 * 1024;

let redis, consentd;
before(async () => {
    redis = await Redis.start();
    consentd = await Consentd.start({
        redis,
        config: { redis: { command_timeout_ms: COMMAND_TIMEOUT_MS, max_pending: MAX_PENDING } },
        // A small ASan quarantine, so that resident memory shows what
        // consentd holds rather than what the sanitizer keeps freed.
        env: { ASAN_OPTIONS: `${process.env.ASAN_OPTIONS || ''}:quarantine_size_mb=16` },
    });
});
after(async () => {
    redis?.resume();
    try {
        await consentd?.stop();
    } finally {
        await redis?.stop();
    }
});

const post = (agent, visitor, i = 0) =>
    send(consentd.port, agent, '/v1/sites/demo/consents', {
        method: 'POST',
        headers: { origin: DEMO_ORIGIN, 'content-type': 'application/json' },
        body: consentBody(visitor, i),
    });

/* Banner requests one after another on one connection until stop() holds. */
async function bannerLoop(stop) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const answers = [];
    while (!stop()) answers.push(await send(consentd.port, agent, '/v1/sites/demo/banner.js', { headers: { 'accept-encoding': 'br' } }));
    agent.destroy();
    return answers;
}

async function firstWrite(startedAt) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    await waitFor(async () => (await post(agent, `slow-back-${Date.now()}`)).status === 201, {
        timeoutMs: 15000,
        intervalMs: 10,
        message: 'a 201 after Redis answered again',
    });
    agent.destroy();
    return performance.now() - startedAt;
}

function assertTimedOut(r, what) {
    assert.equal(r.status, 503, `${what}: ${r.status} ${r.text}`);
    const body = JSON.parse(r.text);
    assert.equal(body.error.code, 'storage_timeout');
    assert.match(body.error.message, new RegExp(`timeout: .*within ${COMMAND_TIMEOUT_MS} ms`), what);
    assert.ok(Number(r.headers['retry-after']) >= 1, `${what}: no Retry-After`);
    assert.ok(r.ms >= COMMAND_TIMEOUT_MS * 0.9, `${what}: answered after ${round(r.ms)} ms, before the timeout`);
    assert.ok(r.ms < COMMAND_TIMEOUT_MS + TIMEOUT_SLACK_MS, `${what}: answered after ${round(r.ms)} ms`);
}

test('redis_frozen_requests_time_out_with_a_clear_error_while_the_banner_is_served', async (t) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    assert.equal((await post(agent, 'slow-before-1')).status, 201);
    redis.pause();
    let done = false;
    const banners = bannerLoop(() => done);
    const agents = Array.from({ length: 32 }, () => new http.Agent({ keepAlive: true, maxSockets: 1 }));
    const writes = await Promise.all(agents.map((a, i) => post(a, `slow-frozen-${i}`, i)));
    const read = await send(consentd.port, agent, '/v1/sites/demo/consents/slow-before-1', { headers: { origin: DEMO_ORIGIN } });
    // The server routes that read Redis say the same.
    const key = { authorization: `Bearer ${DEMO_KEY}` };
    const serverReads = await Promise.all(
        ['/v1/sites/demo/visitors/slow-before-1', '/v1/sites/demo/consents?limit=1', '/v1/sites/demo/stats', '/v1/sites/demo/banner-versions'].map(
            (target, i) => send(consentd.port, agents[i], target, { headers: key }).then((r) => [target, r]),
        ),
    );
    const health = await consentd.request('/healthz');
    done = true;
    const bannerAnswers = await banners;
    writes.forEach((r, i) => assertTimedOut(r, `write ${i}`));
    assertTimedOut(read, 'read');
    for (const [target, r] of serverReads) assertTimedOut(r, target);
    assert.equal(health.status, 503);
    assert.equal(health.json().checks.redis.error, 'timeout');
    assert.ok(bannerAnswers.length >= 5, `only ${bannerAnswers.length} banners were served while writes waited`);
    for (const r of bannerAnswers) assert.equal(r.status, 200);
    const bannerMax = Math.max(...bannerAnswers.map((r) => r.ms));
    assert.ok(bannerMax < BANNER_BOUND_MS, `a banner took ${round(bannerMax)} ms while Redis was frozen`);

    const resumedAt = performance.now();
    redis.resume();
    const recoveryMs = await firstWrite(resumedAt);
    assert.ok(recoveryMs < 3000, `writes came back after ${round(recoveryMs)} ms`);
    for (const a of [agent, ...agents]) a.destroy();
    t.diagnostic(
        `FIGURES ${JSON.stringify({
            fault: 'redis frozen (SIGSTOP)',
            writes: writes.length,
            write_answer_ms: [round(Math.min(...writes.map((r) => r.ms))), round(Math.max(...writes.map((r) => r.ms)))],
            banners_meanwhile: bannerAnswers.length,
            banner_p99_ms: round(percentile(bannerAnswers.map((r) => r.ms), 0.99)),
            banner_max_ms: round(bannerMax),
            recovery_after_sigcont_ms: round(recoveryMs),
        })}`,
    );
});

test('redis_frozen_memory_stays_bounded_while_thousands_of_requests_time_out', async (t) => {
    const pid = consentd.pid;
    const before = rssKiB(pid);
    redis.pause();
    const samples = [before];
    let sent = 0;
    const statuses = {};
    const messages = {};
    const codes = {};
    let slowest = 0;
    const sampler = setInterval(() => samples.push(rssKiB(pid)), 500);
    await Promise.all(
        Array.from({ length: FLOOD_CLIENTS }, async (_, c) => {
            const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
            while (sent < FLOOD_REQUESTS) {
                const i = sent++;
                const r = await post(agent, `slow-flood-${c}-${i}`, i);
                statuses[r.status] = (statuses[r.status] || 0) + 1;
                if (r.status === 503) {
                    const { code, message } = JSON.parse(r.text).error;
                    const m = message.replace(/\d+ ms/, 'N ms');
                    messages[m] = (messages[m] || 0) + 1;
                    codes[code] = (codes[code] || 0) + 1;
                }
                slowest = Math.max(slowest, r.ms);
            }
            agent.destroy();
        }),
    );
    clearInterval(sampler);
    samples.push(rssKiB(pid));
    const peak = Math.max(...samples);
    const resumedAt = performance.now();
    redis.resume();
    const recoveryMs = await firstWrite(resumedAt);
    await delay(500);
    const afterRss = rssKiB(pid);

    assert.deepEqual(Object.keys(statuses), ['503'], `answers other than 503 while frozen: ${JSON.stringify(statuses)}`);
    assert.ok(slowest < COMMAND_TIMEOUT_MS + TIMEOUT_SLACK_MS, `an answer took ${round(slowest)} ms`);
    // Past max_pending per connection, writes are refused at once.
    assert.ok(messages['too many Redis commands in flight, retry later'] > FLOOD_REQUESTS / 2, JSON.stringify(messages));
    assert.deepEqual(Object.keys(codes).sort(), ['storage_busy', 'storage_timeout'], JSON.stringify(codes));
    assert.ok(peak - before < RSS_GROWTH_BOUND_KIB, `RSS grew by ${peak - before} KiB (from ${before})`);
    t.diagnostic(
        `FIGURES ${JSON.stringify({
            fault: 'redis frozen (SIGSTOP), flood of writes',
            requests: FLOOD_REQUESTS,
            clients: FLOOD_CLIENTS,
            max_pending: MAX_PENDING,
            answers: messages,
            slowest_answer_ms: round(slowest),
            rss_before_kib: before,
            rss_peak_kib: peak,
            rss_after_recovery_kib: afterRss,
            recovery_after_sigcont_ms: round(recoveryMs),
        })}`,
    );
});

test('redis_busy_in_debug_sleep_requests_time_out_and_come_back', async (t) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const sleeping = redis.command('DEBUG', 'SLEEP', '2');
    await delay(50);
    const during = await post(agent, 'slow-sleep-1');
    const banner = await send(consentd.port, agent, '/v1/sites/demo/banner.js');
    assertTimedOut(during, 'write during DEBUG SLEEP');
    assert.equal(banner.status, 200);
    assert.ok(banner.ms < BANNER_BOUND_MS, `the banner took ${round(banner.ms)} ms during DEBUG SLEEP`);
    await sleeping;
    const awakeAt = performance.now();
    const recoveryMs = await firstWrite(awakeAt);
    agent.destroy();
    t.diagnostic(
        `FIGURES ${JSON.stringify({ fault: 'redis DEBUG SLEEP 2', write_answer_ms: round(during.ms), banner_ms: round(banner.ms), recovery_after_sleep_ms: round(recoveryMs) })}`,
    );
});
