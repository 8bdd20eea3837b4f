// ops/demo-data.mjs against a real consentd: what the stats API counts once
// the counters are flushed is exactly what the script says it sent, in
// total and per variant; it stops with a non-zero exit code and a clear
// message on an unexpected answer; it refuses a server that is not on this
// machine unless told otherwise.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { Consentd, Redis, delay, freePort, shippedSite, test } from './lib/harness.mjs';
import { getStats, last30Days, runDemoData, waitForTotals } from './lib/stats.mjs';

const VISITORS = 150;
const COUNTS = ['shown', 'dismissed', 'panel_opened', 'decisions', 'accept_all', 'reject_all', 'custom', 'withdrawn'];

let redis, consentd, origin;
before(async () => {
    redis = await Redis.start();
    const port = await freePort();
    origin = `http://127.0.0.1:${port}`;
    const demo = shippedSite('demo');
    demo.origins = [...demo.origins, origin];
    consentd = new Consentd({ redis, sites: { 'demo.json': demo } });
    consentd.port = port;
    await consentd.start();
});
after(async () => {
    try {
        await consentd?.stop();
    } finally {
        await redis?.stop();
    }
});

const pick = (obj, keys) => Object.fromEntries(keys.map((k) => [k, obj[k]]));

test('stats_totals_equal_what_demo_data_reports_it_sent', async () => {
    const run = await runDemoData(consentd.url(), ['--visitors', String(VISITORS), '--json', '--quiet']);
    assert.equal(run.code, 0, run.stderr);
    const sent = run.report.sent;
    assert.equal(sent.visitors, VISITORS);
    assert.equal(sent.shown, VISITORS, 'every visitor was shown the banner');
    assert.ok(sent.decisions > VISITORS / 2, `most visitors chose (${sent.decisions})`);
    for (const k of ['accept_all', 'reject_all', 'custom']) assert.ok(sent[k] > 0, `some ${k}`);
    assert.equal(sent.accept_all + sent.reject_all + sent.custom, sent.decisions);
    assert.deepEqual(run.report.variants, shippedSite('demo').variants.map((v) => v.id));

    const range = last30Days();
    const stats = await waitForTotals(consentd, range, { shown: sent.shown, decisions: sent.decisions });
    assert.deepEqual(pick(stats.total, COUNTS), pick(sent, COUNTS));
    for (const [p, want] of Object.entries(sent.purposes)) {
        assert.deepEqual(pick(stats.total.purposes[p], ['granted', 'refused']), want, `purpose ${p}`);
    }
    assert.ok(Math.abs(stats.total.unique_visitors - VISITORS) <= 2, `unique visitors ${stats.total.unique_visitors} ~ ${VISITORS}`);

    // Per variant: the variant filter of the API and the comparison's counts.
    for (const [variant, want] of Object.entries(run.report.by_variant)) {
        const res = await getStats(consentd, { ...range, variant });
        assert.equal(res.status, 200, res.text);
        const v = res.json();
        assert.equal(v.variant, variant);
        assert.deepEqual(pick(v.total, ['shown', 'decisions', 'accept_all', 'reject_all', 'custom']), pick(want, ['shown', 'decisions', 'accept_all', 'reject_all', 'custom']), `variant ${variant}`);
        assert.deepEqual(pick(stats.variants_comparison.variants[variant], ['shown', 'decisions', 'accept_all']), pick(want, ['shown', 'decisions', 'accept_all']));
    }
    const a = run.report.by_variant.a.shown,
        b = run.report.by_variant.b.shown;
    assert.equal(a + b, VISITORS);
    assert.ok(a > VISITORS / 5 && b > VISITORS / 5, `both variants drawn (${a}, ${b})`);
});

test('an_unexpected_answer_stops_it_with_a_clear_message_and_exit_1', async () => {
    const run = await runDemoData(consentd.url(), ['--visitors', '3', '--origin', 'https://not-the-site.example', '--quiet']);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /answered 403, expected 204/);
    assert.match(run.stderr, /--origin/);
    const missing = await runDemoData(consentd.url(), ['--visitors', '3', '--site', 'nosuchsite', '--quiet']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /answered 404/);
});

test('it_refuses_other_machines_and_bad_arguments_sending_nothing', async () => {
    const before = (await getStats(consentd, last30Days())).json().total;
    const remote = await runDemoData('http://192.0.2.1:8080', ['--visitors', '3']);
    assert.equal(remote.code, 2);
    assert.match(remote.stderr, /not this machine/);
    for (const args of [['--visitors', '0'], ['--visitors', '100001'], ['--over', 'soon'], ['--nope']]) {
        const bad = await runDemoData(consentd.url(), args);
        assert.equal(bad.code, 2, args.join(' '));
    }
    await delay(1500); // past a flush
    const now = (await getStats(consentd, last30Days())).json().total;
    assert.deepEqual(pick(now, COUNTS), pick(before, COUNTS), 'nothing was counted');
});
