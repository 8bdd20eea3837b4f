// How acceptance counts reach Redis: summed in memory per worker, flushed
// at least once a second, exactly once. Two consentd processes on one Redis
// add up; a graceful stop right after the last request loses nothing; while
// Redis is down events are still answered 204 and their counts wait in
// memory; a batch whose outcome is unknown, or that Redis refused for now,
// is sent again and counted once (the failover case: cluster.test.mjs).
import assert from 'node:assert/strict';
import { after, afterEach } from 'node:test';
import {
    Consentd,
    Redis,
    TEST_REDIS_COMMAND_TIMEOUT_MS,
    delay,
    metricSum,
    startStack,
    test,
    waitFor,
} from './lib/harness.mjs';
import { browser } from './lib/consent.mjs';
import { AFTER_FLUSH_MS, Expected, counterSums, expectCounts, postEvent, uniqueVisitors } from './lib/counters.mjs';
import { shippedSite, siteLike } from './lib/harness.mjs';

const site = shippedSite('demo');
const cleanups = [];
afterEach(async () => {
    while (cleanups.length) await cleanups.pop()();
});
after(async () => {
    while (cleanups.length) await cleanups.pop()();
});

/* n events of mixed types and languages, in parallel batches. */
async function sendEvents(consentd, n, want, { prefix = 'v', offset = 0 } = {}) {
    const types = ['shown', 'shown', 'dismissed', 'panel_opened'];
    const batch = [];
    for (let i = offset; i < offset + n; i++) {
        const ev = { type: types[i % 4], lang: site.languages[i % site.languages.length], visitor: `${prefix}-visitor-${String(i).padStart(5, '0')}` };
        batch.push(
            postEvent(consentd, ev).then((res) => {
                assert.equal(res.status, 204, res.text);
                want.event(ev);
            }),
        );
        if (batch.length === 20) await Promise.all(batch.splice(0));
    }
    await Promise.all(batch);
}

test('two_consentd_processes_sharing_one_redis_add_up_exactly', async () => {
    const stack = await startStack({ threads: 2 });
    const second = await Consentd.start({ redis: stack.redis, threads: 2 });
    cleanups.push(() => stack.stop(), () => second.stop());
    const want = new Expected(site);
    await Promise.all([
        sendEvents(stack.consentd, 120, want, { prefix: 'one' }),
        sendEvents(second, 80, want, { prefix: 'two' }),
    ]);
    for (const consentd of [stack.consentd, second]) {
        const res = await consentd.request('/v1/sites/demo/consents', {
            method: 'POST',
            headers: browser(),
            body: JSON.stringify({ decisions: { audience: true }, policy_version: site.policy_version, lang: 'en' }),
        });
        assert.equal(res.status, 201, res.text);
        want.consent(res.json());
    }
    assert.equal(want.fields['all|shown'], 100);
    await expectCounts(stack.redis, 'demo', want.fields);
    // 200 distinct visitors and 2 more: HyperLogLog's error is about 1%.
    const unique = await uniqueVisitors(stack.redis, 'demo');
    assert.ok(Math.abs(unique - 202) <= 6, `unique visitors ${unique}`);
});

test('sigterm_right_after_the_last_request_loses_no_count', async () => {
    const stack = await startStack({ threads: 2 });
    cleanups.push(() => stack.stop());
    const want = new Expected(site);
    await sendEvents(stack.consentd, 150, want);
    // The last requests, then SIGTERM at once: the final flush sends them.
    await Promise.all([0, 1, 2].map((i) => postEvent(stack.consentd, { type: 'dismissed', lang: 'fr' }).then((r) => {
        assert.equal(r.status, 204);
        want.event({ type: 'dismissed', lang: 'fr' });
    })));
    stack.consentd.signal('SIGTERM');
    const exit = await stack.consentd.waitExit();
    assert.equal(exit.code, 0);
    // consentd is gone: whatever is in Redis now is all there will ever be.
    assert.deepEqual(await counterSums(stack.redis, 'demo', 'd'), sortedLike(want.fields));
    assert.deepEqual(await counterSums(stack.redis, 'demo', 'h'), sortedLike(want.fields));
    assert.match(stack.consentd.stderr, /stopped/);
    assert.doesNotMatch(stack.consentd.stderr, /could not be sent to Redis/);
});

function sortedLike(fields) {
    return Object.fromEntries(Object.entries(fields).sort(([a], [b]) => (a < b ? -1 : 1)));
}

test('events_are_answered_204_while_redis_is_down_and_counted_once_it_is_back', async () => {
    const stack = await startStack({ threads: 2 });
    cleanups.push(() => stack.stop());
    const { consentd, redis } = stack;
    await redis.kill();
    await waitFor(async () => (await consentd.request('/healthz')).status === 503, { message: 'consentd to see Redis down' });
    const want = new Expected(site);
    await sendEvents(consentd, 60, want, { prefix: 'down' });
    // Kept in memory across flushes while Redis is away.
    await delay(AFTER_FLUSH_MS);
    const pending = metricSum(await consentd.metrics(), 'consentd_stats_pending');
    assert.ok(pending >= 60 * 3, `counts waiting in memory: ${pending}`);
    await redis.start(); // same port, empty (no persistence): only the kept counts arrive
    await expectCounts(redis, 'demo', want.fields, { timeoutMs: 8000 });
    assert.equal(await uniqueVisitors(redis, 'demo'), 60);
    const samples = await consentd.metrics();
    assert.equal(metricSum(samples, 'consentd_stats_pending'), 0);
    assert.equal(metricSum(samples, 'consentd_stats_flush_failures_total'), 0);
    assert.equal(metricSum(samples, 'consentd_stats_dropped_total'), 0);
});

test('a_batch_that_timed_out_is_sent_again_and_counted_once', async () => {
    const redis = await Redis.start();
    const consentd = await Consentd.start({ redis, threads: 1 });
    cleanups.push(() => redis.stop(), () => consentd.stop());
    // Redis sleeps longer than the command timeout: the next flush times out,
    // yet Redis runs it when it wakes up. consentd keeps the batch and sends
    // it again; Redis knows its number and skips it: counted once, none lost.
    const sleepMs = TEST_REDIS_COMMAND_TIMEOUT_MS + 2 * 1000 + 500;
    const sleeping = redis.command('DEBUG', 'SLEEP', String(sleepMs / 1000)).catch(() => {});
    await delay(50);
    const want = new Expected(site);
    await sendEvents(consentd, 20, want, { prefix: 'slow' });
    await sleeping;
    await waitFor(async () => metricSum(await consentd.metrics(), 'consentd_stats_flush_duplicates_total') >= 1, {
        message: 'the batch sent again to be recognised as applied',
    });
    await expectCounts(redis, 'demo', want.fields);
    assert.equal(await uniqueVisitors(redis, 'demo'), 20);
    await delay(AFTER_FLUSH_MS);
    await expectCounts(redis, 'demo', want.fields); // still once, after more flushes
    const samples = await consentd.metrics();
    assert.ok(metricSum(samples, 'consentd_stats_flush_retries_total') >= 1);
    assert.equal(metricSum(samples, 'consentd_stats_flush_failures_total'), 0);
    assert.equal(metricSum(samples, 'consentd_stats_dropped_total'), 0);
    assert.equal(metricSum(samples, 'consentd_stats_batches_waiting'), 0);
    assert.match(consentd.stderr, /kept to be sent again: timeout/);
});

test('a_batch_refused_with_noreplicas_runs_nothing_is_kept_and_arrives_once', async () => {
    const redis = await Redis.start();
    const consentd = await Consentd.start({ redis, threads: 1 });
    cleanups.push(() => redis.stop(), () => consentd.stop());
    // min-replicas-to-write with no replica: Redis refuses every write
    // (-NOREPLICAS) before running it.
    await redis.command('CONFIG', 'SET', 'min-replicas-to-write', '1');
    const want = new Expected(site);
    await sendEvents(consentd, 30, want, { prefix: 'norepl' });
    await waitFor(async () => metricSum(await consentd.metrics(), 'consentd_stats_flush_retries_total') >= 2, {
        message: 'the refused batch to be sent again',
    });
    // Kept between tries: while a try is in flight the batch is not waiting,
    // so the gauge is read until it shows it back (a loaded host widens that).
    await waitFor(async () => metricSum(await consentd.metrics(), 'consentd_stats_batches_waiting') >= 1, {
        message: 'the refused batch to be waiting to be sent again',
    });
    assert.deepEqual(await counterSums(redis, 'demo'), {}, 'nothing ran');
    await redis.command('CONFIG', 'SET', 'min-replicas-to-write', '0');
    await expectCounts(redis, 'demo', want.fields, { timeoutMs: 8000 });
    assert.equal(await uniqueVisitors(redis, 'demo'), 30);
    const samples = await consentd.metrics();
    assert.equal(metricSum(samples, 'consentd_stats_flush_duplicates_total'), 0, 'nothing had run');
    assert.equal(metricSum(samples, 'consentd_stats_flush_failures_total'), 0);
    assert.equal(metricSum(samples, 'consentd_stats_dropped_total'), 0);
    assert.match(consentd.stderr, /kept to be sent again: NOREPLICAS/);
});

test('a_group_full_of_visitor_ids_is_flushed_early_and_loses_none', async () => {
    const stack = await startStack({ threads: 1 });
    cleanups.push(() => stack.stop());
    const want = new Expected(site);
    await sendEvents(stack.consentd, 1100, want, { prefix: 'many' }); // over two groups' worth (512)
    await expectCounts(stack.redis, 'demo', want.fields, { timeoutMs: 8000 });
    const unique = await uniqueVisitors(stack.redis, 'demo');
    assert.ok(Math.abs(unique - 1100) <= 33, `unique visitors ${unique}`);
    const samples = await stack.consentd.metrics();
    assert.ok(metricSum(samples, 'consentd_stats_flushes_total') >= 3, 'early flushes');
    assert.equal(metricSum(samples, 'consentd_stats_dropped_total'), 0);
});

test('counts_made_before_and_after_a_reload_that_reshapes_the_site_all_arrive', async () => {
    const stack = await startStack({ threads: 2 });
    cleanups.push(() => stack.stop());
    const { consentd, redis } = stack;
    const want = new Expected(site);
    const post = async (ev) => {
        const res = await postEvent(consentd, ev);
        assert.equal(res.status, 204, res.text);
        want.event(ev);
    };
    for (let i = 0; i < 10; i++) await post({ type: 'shown', lang: 'en', variant: 'b' });
    // A third variant and a third language first: every dimension after
    // them moves in the site's layout, while counts of the old layout wait
    // for their flush.
    const reshaped = siteLike('demo');
    reshaped.variants = [{ id: 'c', weight: 10 }, ...reshaped.variants];
    reshaped.languages = ['de', ...reshaped.languages];
    for (const p of reshaped.purposes) p.texts.de = p.texts.en;
    const from = consentd.stderr.length;
    consentd.writeSite('demo.json', reshaped);
    consentd.signal('SIGHUP');
    await consentd.waitForLog(/reloaded/, { from });
    for (let i = 0; i < 10; i++) await post({ type: 'dismissed', lang: 'de', variant: 'c' });
    for (let i = 0; i < 5; i++) await post({ type: 'shown', lang: 'en', variant: 'b' });
    assert.equal(want.fields['v.b|shown'], 15);
    assert.equal(want.fields['l.de|dismissed'], 10);
    await expectCounts(redis, 'demo', want.fields);
});
