// Redis unreachable, from the start and in the middle of a run: the banner
// and the JWKS are still served, every write answers 503 with Retry-After at
// once (no hang), /healthz says why, and writes come back by themselves
// when Redis does. Prints the figures (docs/reliability.md).
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, describe } from 'node:test';
import { Consentd, Redis, freePort, test, waitFor } from '../http/lib/harness.mjs';
import { DEMO_KEY, DEMO_ORIGIN } from '../http/lib/consent.mjs';
import { consentBody, percentile, round, send } from './lib/load.mjs';

const REQUESTS = 200;
/* A refused write must not wait on anything: it is answered from memory. */
const FAST_MS = 250;
const RECONNECT_MAX_MS = 500;
const RECOVERY_BOUND_MS = RECONNECT_MAX_MS + 2500;

let redis, consentd;
after(async () => {
    try {
        await consentd?.stop();
    } finally {
        await redis?.stop();
    }
});

/* n of each: banner, JWKS, consent POST, consent GET, access request, from
 * `clients` connections; returns {route: [answers]}. */
async function mixedRound(n, clients = 8) {
    const agents = Array.from({ length: clients }, () => new http.Agent({ keepAlive: true, maxSockets: 1 }));
    const kinds = {
        banner: () => ['/v1/sites/demo/banner.js', { headers: { 'accept-encoding': 'br' } }],
        jwks: () => ['/.well-known/jwks.json', {}],
        consent_post: (i) => [
            '/v1/sites/demo/consents',
            {
                method: 'POST',
                headers: { origin: DEMO_ORIGIN, 'content-type': 'application/json' },
                body: consentBody(`down-${i}-${Date.now()}`, i),
            },
        ],
        consent_get: () => ['/v1/sites/demo/consents/visitor-000001', { headers: { origin: DEMO_ORIGIN } }],
        visitor_get: () => ['/v1/sites/demo/visitors/visitor-000001', { headers: { authorization: `Bearer ${DEMO_KEY}` } }],
    };
    const out = Object.fromEntries(Object.keys(kinds).map((k) => [k, []]));
    let next = 0;
    const jobs = [];
    for (const [kind, make] of Object.entries(kinds)) for (let i = 0; i < n; i++) jobs.push([kind, make(i)]);
    await Promise.all(
        agents.map(async (agent) => {
            while (next < jobs.length) {
                const [kind, [target, opts]] = jobs[next++];
                out[kind].push(await send(consentd.port, agent, target, opts));
            }
        }),
    );
    for (const a of agents) a.destroy();
    return out;
}

function assertDegraded(answers, what) {
    for (const kind of ['banner', 'jwks']) {
        for (const r of answers[kind]) assert.equal(r.status, 200, `${what}: ${kind} answered ${r.status} ${r.text}`);
    }
    for (const kind of ['consent_post', 'consent_get', 'visitor_get']) {
        for (const r of answers[kind]) {
            assert.equal(r.status, 503, `${what}: ${kind} answered ${r.status} ${r.text}`);
            assert.equal(JSON.parse(r.text).error.code, 'storage_unavailable');
            assert.ok(Number(r.headers['retry-after']) >= 1, `${what}: ${kind}: no Retry-After`);
            assert.ok(r.ms < FAST_MS, `${what}: ${kind} took ${round(r.ms)} ms with Redis unreachable`);
        }
    }
    const all = Object.values(answers).flat();
    return { requests: all.length, p99_ms: round(percentile(all.map((r) => r.ms), 0.99)), max_ms: round(Math.max(...all.map((r) => r.ms))) };
}

async function firstWriteAfter(startedAt) {
    await waitFor(
        async () => {
            const r = await consentd.request('/v1/sites/demo/consents', {
                method: 'POST',
                headers: { origin: DEMO_ORIGIN, 'content-type': 'application/json' },
                body: consentBody(`back-${Date.now()}`, 1),
            });
            return r.status === 201;
        },
        { timeoutMs: 15000, intervalMs: 10, message: 'a 201 after Redis came up' },
    );
    return performance.now() - startedAt;
}

describe('redis unreachable', () => {
    test('from_the_start_banner_and_jwks_are_served_writes_are_503_fast_and_healthz_says_why', async (t) => {
        const port = await freePort(); /* nothing listens there */
        consentd = await Consentd.start({
            redisUrl: `redis://127.0.0.1:${port}`,
            config: { redis: { reconnect_max_ms: RECONNECT_MAX_MS } },
        });
        const answers = await mixedRound(REQUESTS / 5);
        const figures = assertDegraded(answers, 'Redis never up');

        const health = await consentd.request('/healthz');
        assert.equal(health.status, 503, health.text);
        assert.equal(health.json().status, 'unavailable');
        // The public answer says what, never where (health.h).
        assert.equal(health.json().checks.redis.error, 'not_connected');
        assert.ok(!health.text.includes(String(port)), health.text);

        // Redis comes up on that port: writes work without touching consentd.
        redis = await Redis.start({ port });
        const upAt = performance.now();
        const recoveryMs = await firstWriteAfter(upAt);
        assert.ok(recoveryMs < RECOVERY_BOUND_MS, `writes came back after ${round(recoveryMs)} ms`);
        t.diagnostic(
            `FIGURES ${JSON.stringify({ fault: 'redis unreachable from the start', ...figures, healthz: health.json().checks.redis.error, recovery_after_redis_up_ms: round(recoveryMs) })}`,
        );
    });

    test('mid_run_the_same_and_healthz_names_the_failure', async (t) => {
        const ok = await mixedRound(4);
        for (const r of ok.consent_post) assert.equal(r.status, 201, r.text);
        const killedAt = performance.now();
        await redis.kill();
        const answers = await mixedRound(REQUESTS / 5);
        const figures = assertDegraded(answers, 'Redis killed mid-run');
        // Once the reconnection attempts fail, /healthz says so.
        const health = await waitFor(
            async () => {
                const r = await consentd.request('/healthz');
                return r.status === 503 && r.json().checks.redis.error === 'not_connected' ? r : null;
            },
            { timeoutMs: 5000, message: '/healthz to say not_connected' },
        );
        assert.ok(health.ms < FAST_MS, `/healthz took ${round(health.ms)} ms`);
        await redis.start();
        const recoveryMs = await firstWriteAfter(performance.now());
        assert.ok(recoveryMs < RECOVERY_BOUND_MS, `writes came back after ${round(recoveryMs)} ms`);
        t.diagnostic(
            `FIGURES ${JSON.stringify({ fault: 'redis unreachable mid-run (killed, not restarted)', ...figures, healthz: health.json().checks.redis.error, outage_ms: round(performance.now() - killedAt), recovery_after_redis_up_ms: round(recoveryMs) })}`,
        );
    });
});
