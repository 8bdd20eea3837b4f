// Soak (CONSENTD_TEST_HEAVY=1, which ops/test.sh sets when CI=true): mixed
// traffic at a steady rate for CONSENTD_SOAK_SECONDS (default 600): the
// banner (compressed, and revalidated with its ETag), consents recorded and
// read back, banner events (when the route exists), access requests, the
// JWKS and /healthz. No answer may be an error; consentd's resident memory
// is sampled every few seconds and must be flat after the warm-up. Prints
// the figures (docs/reliability.md).
//
//   CONSENTD_TEST_HEAVY=1 CONSENTD_SOAK_SECONDS=60 node --test tests/fault/soak.test.mjs
import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before } from 'node:test';
import { Consentd, Redis, rssKiB, test } from '../http/lib/harness.mjs';
import { DEMO_KEY, DEMO_ORIGIN } from '../http/lib/consent.mjs';
import { consentBody, logEntries, percentile, round, send } from './lib/load.mjs';

const HEAVY = process.env.CONSENTD_TEST_HEAVY === '1';
const SECONDS = Number(process.env.CONSENTD_SOAK_SECONDS || 600);
const RATE = Number(process.env.CONSENTD_SOAK_RATE || 400); /* requests per second */
const TICK_MS = 20;
const MAX_IN_FLIGHT = 256;
const CONNECTIONS = 32;
const RSS_EVERY_MS = 5000;
/* Warm-up: the first fifth of the run (at most 2 minutes). */
const WARMUP_S = Math.min(120, SECONDS / 5);
/* Flat: after the warm-up, resident memory grows by less than this. */
const RSS_FLAT_KIB = 16 * 1024;

let redis, consentd;
before(async () => {
    if (!HEAVY) return;
    redis = await Redis.start({ args: ['--appendonly', 'yes', '--appendfsync', 'everysec'] });
    consentd = await Consentd.start({
        redis,
        // A small ASan quarantine: resident memory then shows what consentd
        // holds, not the freed blocks the sanitizer keeps to catch misuse.
        env: { ASAN_OPTIONS: `${process.env.ASAN_OPTIONS || ''}:quarantine_size_mb=16` },
        config: { log: { access_log: false } },
    });
});
after(async () => {
    try {
        await consentd?.stop();
    } finally {
        await redis?.stop();
    }
});

test(`soak: ${SECONDS} s of mixed traffic at ${RATE} requests/s, no error, memory flat`, { skip: !HEAVY && 'CONSENTD_TEST_HEAVY=1 runs it (CI=true ops/test.sh)' }, async (t) => {
    const agent = new http.Agent({ keepAlive: true, maxSockets: CONNECTIONS });
    const port = consentd.port;
    const banner = await send(port, agent, '/v1/sites/demo/banner.js', { headers: { 'accept-encoding': 'br' } });
    const etag = banner.headers.etag;
    const probe = await send(port, agent, '/v1/sites/demo/events', {
        method: 'POST',
        headers: { origin: DEMO_ORIGIN, 'content-type': 'application/json' },
        body: JSON.stringify({ type: 'shown', lang: 'fr' }),
    });
    const withEvents = probe.status === 204;
    const acked = [];
    let n = 0;
    const browser = { origin: DEMO_ORIGIN, 'content-type': 'application/json' };
    // [name, weight, () => [target, options], expected status]
    const kinds = [
        ['banner', 25, () => ['/v1/sites/demo/banner.js', { headers: { 'accept-encoding': 'br, gzip' } }], 200],
        ['banner_304', 10, () => ['/v1/sites/demo/banner.js', { headers: { 'accept-encoding': 'br, gzip', 'if-none-match': etag } }], 304],
        ['consent_post', 25, () => ['/v1/sites/demo/consents', { method: 'POST', headers: browser, body: consentBody(`soak-${String(n).padStart(8, '0')}`, n) }], 201],
        ['consent_get', 15, () => [`/v1/sites/demo/consents/${acked[n % acked.length] || 'soak-nobody'}`, { headers: { origin: DEMO_ORIGIN } }], 200],
        ['event', withEvents ? 10 : 0, () => ['/v1/sites/demo/events', { method: 'POST', headers: browser, body: JSON.stringify({ type: ['shown', 'dismissed', 'panel_opened'][n % 3], lang: 'fr', visitor: `soak-${String(n % 5000).padStart(8, '0')}` }) }], 204],
        ['visitor_get', 5, () => [`/v1/sites/demo/visitors/${acked[n % acked.length] || 'soak-nobody'}`, { headers: { authorization: `Bearer ${DEMO_KEY}` } }], 200],
        ['jwks', 5, () => ['/.well-known/jwks.json', {}], 200],
        ['healthz', 5, () => ['/healthz', {}], 200],
    ].filter((k) => k[1] > 0);
    const wheel = kinds.flatMap((k) => Array(k[1]).fill(k));
    const stats = Object.fromEntries(kinds.map(([name]) => [name, { count: 0, ms: [] }]));
    const errors = [];
    let inFlight = 0;
    let skipped = 0;
    const pending = new Set();

    const rss = [{ s: 0, kib: rssKiB(consentd.pid) }];
    const t0 = performance.now();
    const sampler = setInterval(() => rss.push({ s: Math.round((performance.now() - t0) / 1000), kib: rssKiB(consentd.pid) }), RSS_EVERY_MS);
    const perTick = (RATE * TICK_MS) / 1000;
    let owed = 0;
    let tick = 0;
    while (performance.now() - t0 < SECONDS * 1000) {
        owed += perTick;
        for (; owed >= 1; owed--) {
            if (inFlight >= MAX_IN_FLIGHT) {
                skipped++;
                continue;
            }
            let [name, , make, want] = wheel[n % wheel.length];
            if ((name === 'consent_get' || name === 'visitor_get') && acked.length === 0) [name, , make, want] = wheel.find((k) => k[0] === 'banner');
            const [target, opts] = make();
            const i = n++;
            inFlight++;
            const p = send(port, agent, target, opts).then((r) => {
                inFlight--;
                pending.delete(p);
                const s = stats[name];
                s.count++;
                if (s.ms.length < 200000) s.ms.push(r.ms);
                if (r.status !== want) {
                    if (errors.length < 20) errors.push({ name, i, status: r.status, error: r.error, text: (r.text || '').slice(0, 200) });
                    else errors.push(null);
                } else if (name === 'consent_post') acked.push(JSON.parse(r.text).visitor);
            });
            pending.add(p);
        }
        tick++;
        const wait = t0 + tick * TICK_MS - performance.now();
        if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    }
    await Promise.all(pending);
    const elapsed = (performance.now() - t0) / 1000;
    clearInterval(sampler);
    rss.push({ s: Math.round(elapsed), kib: rssKiB(consentd.pid) });
    agent.destroy();

    const total = Object.values(stats).reduce((a, s) => a + s.count, 0);
    const afterWarmup = rss.filter((x) => x.s >= WARMUP_S);
    const warm = afterWarmup[0].kib;
    const tail = rss.slice(-Math.max(3, Math.floor(rss.length / 10)));
    const end = percentile(tail.map((x) => x.kib), 0.5);
    const growth = Math.max(...afterWarmup.map((x) => x.kib)) - warm;
    const entries = await logEntries(redis);
    const figures = {
        fault: 'soak: mixed traffic',
        seconds: round(elapsed),
        target_rate: RATE,
        achieved_rate: round(total / elapsed),
        requests: total,
        skipped_over_max_in_flight: skipped,
        errors: errors.length,
        events_route: withEvents,
        per_route: Object.fromEntries(
            Object.entries(stats).map(([k, s]) => [k, { count: s.count, p50_ms: round(percentile(s.ms, 0.5)), p99_ms: round(percentile(s.ms, 0.99)) }]),
        ),
        consents_acknowledged: acked.length,
        consent_log_entries: entries,
        rss_kib: { start: rss[0].kib, after_warmup: warm, end, max_growth_after_warmup: growth },
        rss_samples_kib: rss.map((x) => `${x.s}s:${x.kib}`).join(' '),
    };
    t.diagnostic(`FIGURES ${JSON.stringify(figures)}`);
    assert.equal(errors.length, 0, `errors: ${JSON.stringify(errors.filter(Boolean))}`);
    assert.ok(entries >= acked.length, `the log holds ${entries} entries for ${acked.length} acknowledged consents`);
    assert.ok(total / elapsed > RATE * 0.9, `achieved ${round(total / elapsed)} requests/s of ${RATE}`);
    assert.ok(growth < RSS_FLAT_KIB, `resident memory grew by ${growth} KiB after the warm-up (bound ${RSS_FLAT_KIB})`);
});
