// GET /v1/sites/{site}/stats: counts, rates and the variant comparison per
// bucket and over the range, as JSON and CSV, checked against figures
// computed by hand here; every bucket present; filters; range caps; keys.
//
// Most tests seed the counter hashes of past days directly, in the layout
// docs/data.md documents (cd:{<site>:stats}:d:<YYYYMMDD> ...), so that the
// figures are chosen, not sampled; the first one goes through the public
// API end to end.
import assert from 'node:assert/strict';
import { gunzipSync } from 'node:zlib';
import { after, before } from 'node:test';
import { Consentd, keySlotOf, shippedSites, siteLike, startStack, test, waitFor } from './lib/harness.mjs';
import { DEMO_ORIGIN, OTHER_KEY, browser, postConsent, server, sha256hex } from './lib/consent.mjs';
import { postEvent } from './lib/counters.mjs';

const PURPOSES = ['audience', 'personalisation', 'advertising', 'partners_sharing'];
const D1 = '20260110';
const D2 = '20260111';

function abSite(id) {
    const s = siteLike(id);
    s.variants = [
        { id: 'a', weight: 50 },
        { id: 'b', weight: 50, layout: 'box' },
    ];
    return s;
}

let stack;
before(async () => {
    const novar = siteLike('novar');
    delete novar.variants;
    const other = siteLike('other');
    other.api_key_sha256 = sha256hex(OTHER_KEY);
    stack = await startStack({
        sites: {
            ...shippedSites(),
            'ab.json': abSite('ab'),
            'roll.json': abSite('roll'),
            'live.json': abSite('live'),
            'novar.json': novar,
            'other.json': other,
        },
    });
    await seed();
});
after(async () => {
    await stack?.stop();
});

/* HSET key {dim: {metric: n}}. */
async function hset(key, byDim) {
    const args = [];
    for (const [dim, metrics] of Object.entries(byDim)) for (const [m, n] of Object.entries(metrics)) args.push(`${dim}|${m}`, String(n));
    await stack.redis.command('HSET', key, ...args);
}

const kinds = (accept_all, reject_all, custom) => ({ decisions: accept_all + reject_all + custom, accept_all, reject_all, custom });
const purposes = (p) => Object.fromEntries(Object.entries(p).flatMap(([id, [g, r]]) => [[`g.${id}`, g], [`r.${id}`, r]]));

/* Two days of site ab, by hand. Variant a has 48 accept-all of 80 decisions
 * and 3 of 10 audience grants; b 56 of 70 and 9 of 10: Newcombe's examples
 * (a) and (b). */
async function seed() {
    const day = (d) => `cd:{ab:stats}:d:${d}`;
    await hset(day(D1), {
        all: { shown: 120, dismissed: 10, panel_opened: 20, ...kinds(60, 25, 15), withdrawn: 1,
            ...purposes({ audience: [70, 30], personalisation: [80, 20], advertising: [62, 38], partners_sharing: [61, 39] }) },
        's.banner': kinds(55, 22, 13),
        's.form': kinds(5, 3, 2),
        'l.fr': { shown: 80, ...kinds(40, 20, 10) },
        'l.en': { shown: 40, ...kinds(20, 5, 5) },
        'v.a': { shown: 60, ...kinds(30, 12, 8), ...purposes({ audience: [2, 4] }) },
        'v.b': { shown: 50, ...kinds(32, 4, 4), ...purposes({ audience: [5, 1] }) },
    });
    await hset(day(D2), {
        all: { shown: 60, dismissed: 5, panel_opened: 8, ...kinds(20, 20, 10),
            ...purposes({ audience: [25, 25], personalisation: [30, 20], advertising: [20, 30], partners_sharing: [21, 29] }) },
        's.banner': kinds(18, 18, 9),
        's.api': kinds(2, 2, 1),
        'l.fr': { shown: 60, ...kinds(20, 20, 10) },
        'v.a': { shown: 40, ...kinds(18, 8, 4), ...purposes({ audience: [1, 3] }) },
        'v.b': { shown: 30, ...kinds(24, 3, 3), ...purposes({ audience: [4, 0] }) },
    });
    await stack.redis.command('PFADD', `cd:{ab:stats}:u:${D1}`, 'v1', 'v2', 'v3', 'v4', 'v5');
    await stack.redis.command('PFADD', `cd:{ab:stats}:u:${D2}`, 'v4', 'v5', 'v6');
    // Two hours of D1 (the hour hashes are what by=hour reads).
    await hset(`cd:{ab:stats}:h:${D1}05`, { all: { shown: 7, ...kinds(3, 0, 0), 'g.audience': 3 }, 's.banner': { decisions: 3 } });
    await hset(`cd:{ab:stats}:h:${D1}17`, { all: { shown: 5, dismissed: 5 } });
}

function stats(query, { site = 'ab', headers = server() } = {}) {
    return stack.consentd.request(`/v1/sites/${site}/stats${query}`, { headers });
}

async function statsJson(query, options) {
    const res = await stats(query, options);
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers['content-type'], /^application\/json/);
    assert.equal(res.headers['cache-control'], 'no-store');
    return res.json();
}

/* %.6g in the answer: 6 significant digits. */
function near(actual, expected, what) {
    if (expected === null) return assert.equal(actual, null, what);
    assert.equal(typeof actual, 'number', `${what}: ${actual}`);
    assert.ok(Math.abs(actual - expected) <= 1e-6 * Math.max(1, Math.abs(expected)), `${what}: ${actual}, expected ${expected}`);
}

function checkRates(obj, want, what) {
    for (const [k, v] of Object.entries(want)) near(obj[k], v, `${what}.${k}`);
}

test('stats_of_what_was_sent_through_the_api_are_exact', async () => {
    const { consentd } = stack;
    const site = abSite('live');
    for (const [i, variant] of ['a', 'a', 'a', 'b', 'b'].entries()) {
        assert.equal((await postEvent(consentd, { type: 'shown', lang: 'fr', variant, visitor: `live-visitor-${i}0` }, browser(), 'live')).status, 204);
    }
    assert.equal((await postEvent(consentd, { type: 'dismissed', lang: 'fr', variant: 'b' }, browser(), 'live')).status, 204);
    const pv = site.policy_version;
    const all = Object.fromEntries(PURPOSES.map((p) => [p, true]));
    const none = Object.fromEntries(PURPOSES.map((p) => [p, false]));
    const sent = [
        [{ decisions: all, lang: 'fr', variant: 'a', visitor: 'live-visitor-00' }, browser()],
        [{ decisions: all, lang: 'en', variant: 'a' }, browser()],
        [{ decisions: none, lang: 'fr', variant: 'b' }, browser()],
        [{ decisions: { audience: true }, lang: 'fr', source: 'form' }, server()],
    ];
    for (const [body, headers] of sent) {
        const res = await postConsent(consentd, { policy_version: pv, ...body }, headers, 'live');
        assert.equal(res.status, 201, res.text);
    }
    const today = new Date().toISOString().slice(0, 10);
    const body = await waitFor(
        async () => {
            const b = await statsJson(`?from=${today}&to=${today}`, { site: 'live' });
            return b.total.decisions === 4 && b.total.shown === 5 ? b : null;
        },
        { timeoutMs: 5000, message: 'the counts in the stats' },
    );
    const t = body.total;
    assert.deepEqual(
        [t.shown, t.dismissed, t.panel_opened, t.decisions, t.accept_all, t.reject_all, t.custom, t.withdrawn],
        [5, 1, 0, 4, 2, 1, 1, 0],
    );
    assert.equal(t.unique_visitors, 8, '5 event visitors (one also consented) and 3 new ones');
    // Banner decisions 3 of 5 shown; 2 of 4 accept all; the form consent is
    // custom (audience granted, the other purposes that need consent refused).
    checkRates(t, { interaction_rate: 0.6, accept_all_share: 0.5, reject_all_share: 0.25, custom_share: 0.25 }, 'total');
    assert.deepEqual(t.purposes.audience, { granted: 3, refused: 1, acceptance_rate: 0.75 });
    assert.deepEqual(t.purposes.advertising, { granted: 2, refused: 2, acceptance_rate: 0.5 });
    assert.deepEqual(t.by_source.form, { decisions: 1, accept_all: 0, reject_all: 0, custom: 1 });
    assert.deepEqual(t.by_source.banner, { decisions: 3, accept_all: 2, reject_all: 1, custom: 0 });
    assert.deepEqual(t.by_language.en, { shown: 0, decisions: 1, accept_all: 1, reject_all: 0, custom: 0 });
    assert.deepEqual(t.by_language.fr, { shown: 5, decisions: 3, accept_all: 1, reject_all: 1, custom: 1 });
    const va = body.variants_comparison.variants;
    assert.deepEqual([va.a.shown, va.a.decisions, va.a.accept_all, va.b.shown, va.b.decisions, va.b.accept_all], [3, 2, 2, 2, 1, 0]);
    // The same counts, by hour: they sit in this hour's bucket (or the last
    // one, if the hour turned meanwhile); hour buckets have no unique_visitors.
    const byHour = await statsJson(`?from=${today}&to=${today}&by=hour`, { site: 'live' });
    assert.equal(byHour.buckets.length, 24);
    assert.equal(byHour.buckets.reduce((n, b) => n + b.decisions, 0), 4);
    assert.ok(byHour.buckets.every((b) => !('unique_visitors' in b)));
    assert.equal(byHour.total.unique_visitors, 8);
});

test('every_bucket_of_the_range_is_there_with_counts_and_rates_computed_by_hand', async () => {
    const body = await statsJson('?from=2026-01-09&to=2026-01-12');
    assert.equal(body.site, 'ab');
    assert.equal(body.from, '2026-01-09');
    assert.equal(body.to, '2026-01-12');
    assert.equal(body.by, 'day');
    assert.equal(body.variant, null);
    assert.equal(body.purpose, null);
    assert.deepEqual(body.purposes, PURPOSES, 'necessary is never counted');
    assert.deepEqual(body.variants, ['a', 'b']);
    assert.deepEqual(body.buckets.map((b) => b.start), ['2026-01-09T00:00:00Z', '2026-01-10T00:00:00Z', '2026-01-11T00:00:00Z', '2026-01-12T00:00:00Z']);

    const [empty, d1, d2] = body.buckets;
    assert.deepEqual(
        [empty.shown, empty.decisions, empty.unique_visitors, empty.interaction_rate, empty.accept_all_share, empty.purposes.audience.acceptance_rate],
        [0, 0, 0, null, null, null],
        'a day with nothing counted: zeros and null rates',
    );
    assert.deepEqual(
        [d1.shown, d1.dismissed, d1.panel_opened, d1.decisions, d1.accept_all, d1.reject_all, d1.custom, d1.withdrawn, d1.unique_visitors],
        [120, 10, 20, 100, 60, 25, 15, 1, 5],
    );
    // interaction = banner decisions / shown = 90 / 120; shares of 100 decisions.
    checkRates(d1, { interaction_rate: 0.75, accept_all_share: 0.6, reject_all_share: 0.25, custom_share: 0.15 }, 'day 1');
    assert.deepEqual(d1.purposes.audience, { granted: 70, refused: 30, acceptance_rate: 0.7 });
    assert.deepEqual(d1.purposes.advertising, { granted: 62, refused: 38, acceptance_rate: 0.62 });
    checkRates(d2, { interaction_rate: 45 / 60, accept_all_share: 0.4, reject_all_share: 0.4, custom_share: 0.2 }, 'day 2');
    assert.equal(d2.unique_visitors, 3);

    const t = body.total;
    assert.deepEqual(
        [t.shown, t.dismissed, t.panel_opened, t.decisions, t.accept_all, t.reject_all, t.custom, t.withdrawn],
        [180, 15, 28, 150, 80, 45, 25, 1],
    );
    assert.equal(t.unique_visitors, 6, 'v1..v5 and v4, v5, v6: the union');
    // 135 banner decisions / 180 shown; 80, 45, 25 of 150.
    checkRates(t, { interaction_rate: 0.75, accept_all_share: 0.533333, reject_all_share: 0.3, custom_share: 0.166667 }, 'total');
    assert.deepEqual(Object.keys(t.purposes), PURPOSES);
    assert.equal(t.purposes.audience.granted, 95);
    assert.equal(t.purposes.audience.refused, 55);
    near(t.purposes.audience.acceptance_rate, 0.633333, 'audience');
    near(t.purposes.personalisation.acceptance_rate, 110 / 150, 'personalisation');
    near(t.purposes.partners_sharing.acceptance_rate, 82 / 150, 'partners_sharing');
    assert.deepEqual(t.by_language, {
        fr: { shown: 140, decisions: 120, accept_all: 60, reject_all: 40, custom: 20 },
        en: { shown: 40, decisions: 30, accept_all: 20, reject_all: 5, custom: 5 },
    });
    assert.deepEqual(t.by_source, {
        banner: { decisions: 135, accept_all: 73, reject_all: 40, custom: 22 },
        form: { decisions: 10, accept_all: 5, reject_all: 3, custom: 2 },
        call_center: { decisions: 0, accept_all: 0, reject_all: 0, custom: 0 },
        api: { decisions: 5, accept_all: 2, reject_all: 2, custom: 1 },
    });
});

test('variants_are_compared_with_newcombes_interval_checked_against_his_worked_examples', async () => {
    const cmp = (await statsJson('?from=2026-01-10&to=2026-01-11')).variants_comparison;
    assert.equal(cmp.method, 'Newcombe hybrid score interval (Wilson score intervals), 95%');
    assert.equal(cmp.baseline, 'a');
    assert.deepEqual(Object.keys(cmp.variants), ['a', 'b']);
    const a = cmp.variants.a;
    assert.deepEqual([a.shown, a.decisions, a.accept_all], [100, 80, 48]);
    checkRates(a, { accept_all_rate: 0.6, interaction_rate: 0.8 }, 'a');
    assert.deepEqual(a.purposes.audience, { granted: 3, refused: 7, acceptance_rate: 0.3 });
    assert.deepEqual(a.purposes.advertising, { granted: 0, refused: 0, acceptance_rate: null });
    checkRates(cmp.variants.b, { accept_all_rate: 0.8, interaction_rate: 0.875 }, 'b');

    assert.deepEqual(cmp.comparisons.map((c) => c.metric), ['accept_all_rate', ...PURPOSES.map((p) => `acceptance_rate:${p}`)]);
    assert.ok(cmp.comparisons.every((c) => c.variant === 'b'));
    // 56/70 against 48/80: Newcombe (1998) Table II example (a), method 10:
    // difference 0.2, 95% interval 0.0524 to 0.3339.
    const [acc, aud, , adv] = cmp.comparisons;
    checkRates(acc, { baseline_rate: 0.6, rate: 0.8, difference: 0.2 }, 'accept_all_rate');
    assert.ok(Math.abs(acc.ci_low - 0.0524) < 0.00005 && Math.abs(acc.ci_high - 0.3339) < 0.00005, JSON.stringify(acc));
    assert.equal(acc.excludes_zero, true);
    // 9/10 against 3/10: example (b), 0.1705 to 0.8090.
    checkRates(aud, { baseline_rate: 0.3, rate: 0.9, difference: 0.6 }, 'audience');
    assert.ok(Math.abs(aud.ci_low - 0.1705) < 0.00005 && Math.abs(aud.ci_high - 0.809) < 0.00005, JSON.stringify(aud));
    assert.equal(aud.excludes_zero, true);
    // Nothing counted for advertising per variant: nothing to compare.
    assert.deepEqual(
        [adv.baseline_rate, adv.rate, adv.difference, adv.ci_low, adv.ci_high, adv.excludes_zero],
        [null, null, null, null, null, null],
    );
    // Over day 2 alone: 24/30 against 18/30, an interval that includes zero.
    const day2 = (await statsJson('?from=2026-01-11&to=2026-01-11')).variants_comparison.comparisons[0];
    checkRates(day2, { baseline_rate: 0.6, rate: 0.8, difference: 0.2 }, 'day 2');
    assert.ok(day2.ci_low < 0 && day2.ci_high > 0);
    assert.equal(day2.excludes_zero, false);
    // A site with no variants has no comparison.
    const novar = await statsJson('?from=2026-01-10&to=2026-01-11', { site: 'novar' });
    assert.deepEqual(novar.variants, []);
    assert.ok(!('variants_comparison' in novar));
});

test('by_hour_reads_the_hour_hashes_and_has_no_unique_visitors_per_bucket', async () => {
    const body = await statsJson('?from=2026-01-10&to=2026-01-10&by=hour');
    assert.equal(body.by, 'hour');
    assert.equal(body.buckets.length, 24);
    assert.equal(body.buckets[0].start, '2026-01-10T00:00:00Z');
    assert.equal(body.buckets[23].start, '2026-01-10T23:00:00Z');
    const h5 = body.buckets[5], h17 = body.buckets[17];
    assert.deepEqual([h5.start, h5.shown, h5.decisions, h5.accept_all, h5.purposes.audience.granted], ['2026-01-10T05:00:00Z', 7, 3, 3, 3]);
    checkRates(h5, { interaction_rate: 3 / 7, accept_all_share: 1, reject_all_share: 0 }, 'hour 5');
    assert.deepEqual([h17.shown, h17.dismissed, h17.decisions, h17.accept_all_share], [5, 5, 0, null]);
    assert.ok(body.buckets.every((b) => !('unique_visitors' in b)));
    assert.equal(body.buckets.filter((b) => b.shown > 0).length, 2);
    assert.deepEqual([body.total.shown, body.total.dismissed, body.total.decisions], [12, 5, 3]);
    assert.equal(body.total.unique_visitors, 5, "the day's visitors");
});

test('a_variant_filter_gives_that_variants_buckets_and_totals', async () => {
    const body = await statsJson('?from=2026-01-10&to=2026-01-11&variant=b');
    assert.equal(body.variant, 'b');
    const [d1, d2] = body.buckets;
    assert.deepEqual([d1.shown, d1.decisions, d1.accept_all, d1.reject_all, d1.custom], [50, 40, 32, 4, 4]);
    checkRates(d1, { interaction_rate: 0.8, accept_all_share: 0.8 }, 'b day 1');
    checkRates(d2, { interaction_rate: 1, accept_all_share: 0.8 }, 'b day 2');
    assert.deepEqual(body.total.purposes.audience, { granted: 9, refused: 1, acceptance_rate: 0.9 });
    // Visitors, languages and sources are not counted per variant.
    assert.equal(d1.unique_visitors, null);
    assert.equal(body.total.unique_visitors, null);
    assert.equal(body.total.by_language, null);
    assert.equal(body.total.by_source, null);
    // The comparison is over every variant, whatever the filter.
    assert.equal(body.variants_comparison.comparisons[0].difference, 0.2);
});

test('a_purpose_filter_keeps_that_purpose_only', async () => {
    const body = await statsJson('?from=2026-01-10&to=2026-01-11&purpose=audience');
    assert.equal(body.purpose, 'audience');
    assert.deepEqual(body.purposes, ['audience']);
    assert.deepEqual(Object.keys(body.buckets[0].purposes), ['audience']);
    assert.deepEqual(Object.keys(body.total.purposes), ['audience']);
    assert.deepEqual(Object.keys(body.variants_comparison.variants.a.purposes), ['audience']);
    assert.deepEqual(body.variants_comparison.comparisons.map((c) => c.metric), ['accept_all_rate', 'acceptance_rate:audience']);
    assert.equal(body.total.decisions, 150, 'the counts are not filtered');
});

test('csv_has_the_documented_columns_and_the_same_figures', async () => {
    const res = await stats('?from=2026-01-09&to=2026-01-11&format=csv');
    assert.equal(res.status, 200, res.text);
    assert.equal(res.headers['content-type'], 'text/csv; charset=utf-8');
    assert.equal(res.headers['content-disposition'], 'attachment; filename="consentd-ab-2026-01-09-2026-01-11.csv"');
    assert.equal(res.headers['cache-control'], 'no-store');
    const lines = res.text.split('\n');
    assert.equal(lines.at(-1), '', 'ends with a newline');
    const header = [
        'start', 'shown', 'dismissed', 'panel_opened', 'decisions', 'accept_all', 'reject_all', 'custom', 'withdrawn',
        'unique_visitors', 'interaction_rate', 'accept_all_share', 'reject_all_share', 'custom_share',
        ...PURPOSES.flatMap((p) => [`${p}_granted`, `${p}_refused`, `${p}_acceptance_rate`]),
    ];
    assert.equal(lines[0], header.join(','));
    assert.equal(lines.length, 1 + 3 + 1 + 1, 'header, 3 days, total, final newline');
    assert.equal(lines[1], '2026-01-09T00:00:00Z,0,0,0,0,0,0,0,0,0,,,,,0,0,,0,0,,0,0,,0,0,');
    assert.equal(lines[2], '2026-01-10T00:00:00Z,120,10,20,100,60,25,15,1,5,0.75,0.6,0.25,0.15,70,30,0.7,80,20,0.8,62,38,0.62,61,39,0.61');
    assert.equal(lines[4], 'total,180,15,28,150,80,45,25,1,6,0.75,0.533333,0.3,0.166667,95,55,0.633333,110,40,0.733333,82,68,0.546667,82,68,0.546667');
    // Accept: text/csv asks the same; by hour, unique_visitors stays empty
    // but for the total; a purpose filter keeps its columns only.
    const viaAccept = await stats('?from=2026-01-10&to=2026-01-10&by=hour&purpose=advertising', {
        headers: server(undefined, { accept: 'text/csv' }),
    });
    assert.equal(viaAccept.status, 200);
    const rows = viaAccept.text.trimEnd().split('\n');
    assert.equal(rows[0], `${header.slice(0, 14).join(',')},advertising_granted,advertising_refused,advertising_acceptance_rate`);
    assert.equal(rows.length, 1 + 24 + 1);
    assert.equal(rows[6], '2026-01-10T05:00:00Z,7,0,0,3,3,0,0,0,,0.428571,1,0,0,0,0,');
    assert.equal(rows[25], 'total,12,5,0,3,3,0,0,0,5,0.25,1,0,0,0,0,');
    // format=json wins over Accept.
    const json = await stats('?from=2026-01-10&to=2026-01-10&format=json', { headers: server(undefined, { accept: 'text/csv' }) });
    assert.match(json.headers['content-type'], /^application\/json/);
});

test('bad_ranges_filters_and_callers_get_their_json_error', async () => {
    const cases = [
        ['?from=2026-02-30', 400, 'invalid_range', /from/],
        ['?to=2026-13-01', 400, 'invalid_range', /to/],
        ['?from=yesterday', 400, 'invalid_range', /from/],
        ['?from=2026-01-11&to=2026-01-10', 400, 'invalid_range', /after/],
        ['?from=2025-01-01&to=2026-02-05', 400, 'invalid_range', /400 days/],
        ['?from=2026-01-01&to=2026-02-01&by=hour', 400, 'invalid_range', /31 days/],
        ['?by=year', 400, 'invalid_parameter', /by/],
        ['?format=xml', 400, 'invalid_parameter', /format/],
        ['?variant=c', 400, 'unknown_variant', /variant/],
        ['?purpose=necessary', 400, 'unknown_purpose', /necessary/],
        ['?purpose=cookies', 400, 'unknown_purpose', /purpose/],
    ];
    for (const [query, status, code, message] of cases) {
        const res = await stats(query);
        assert.equal(res.status, status, `${query}: ${res.text}`);
        assert.equal(res.json().error.code, code, query);
        assert.match(res.json().error.message, message, query);
    }
    // The caps themselves are fine: 400 days by day, 31 days by hour.
    const long = await statsJson('?from=2025-01-07&to=2026-02-10');
    assert.equal(long.buckets.length, 400);
    assert.equal(long.total.shown, 180);
    assert.equal((await statsJson('?from=2026-01-01&to=2026-01-31&by=hour')).buckets.length, 31 * 24);
    // Default: the last 30 days, today included.
    const dflt = await statsJson('');
    const today = new Date().toISOString().slice(0, 10);
    assert.equal(dflt.to, today);
    assert.equal(dflt.buckets.length, 30);
    assert.equal(dflt.from, new Date(Date.now() - 29 * 86400000).toISOString().slice(0, 10));

    const callers = [
        [{}, 401, 'unauthorized'],
        [server('not-the-key'), 401, 'unauthorized'],
        [{ origin: DEMO_ORIGIN }, 401, 'unauthorized'],
        [server(OTHER_KEY), 403, 'forbidden'],
    ];
    for (const [headers, status, code] of callers) {
        const res = await stats('?from=2026-01-10&to=2026-01-10', { headers });
        assert.equal(res.status, status, res.text);
        assert.equal(res.json().error.code, code);
    }
    const unknown = await stats('', { site: 'nosuchsite' });
    assert.equal(unknown.status, 404);
    assert.equal(unknown.json().error.code, 'site_not_found');
});

test('stats_answer_503_while_redis_is_down', async () => {
    await stack.redis.kill();
    await waitFor(async () => (await stack.consentd.request('/healthz')).status === 503, { message: 'Redis seen down' });
    const res = await stats('?from=2026-01-10&to=2026-01-10');
    assert.equal(res.status, 503, res.text);
    assert.equal(res.json().error.code, 'storage_unavailable');
    assert.ok(res.headers['retry-after']);
    await stack.redis.start();
    // Back (empty) before the next test: a cluster takes a while to serve.
    await waitFor(async () => (await stack.consentd.request('/healthz')).status === 200, {
        timeoutMs: 20000,
        message: 'Redis seen up again',
    });
});

/* Days of site roll from 2025-12-29 (a Monday) to 2026-03-01 (a Sunday):
 * day i has shown i + 1 and accept_all 1, and its visitors are r<i % 10>
 * and d<i>. */
const ROLL_FIRST = Date.UTC(2025, 11, 29);
const ROLL_DAYS = 63;
const rollDay = (i) => new Date(ROLL_FIRST + i * 86400000).toISOString().slice(0, 10);
async function seedRoll() {
    for (let i = 0; i < ROLL_DAYS; i++) {
        const stamp = rollDay(i).replaceAll('-', '');
        await hset(`cd:{roll:stats}:d:${stamp}`, {
            all: { shown: i + 1, decisions: 1, accept_all: 1 },
        });
        await stack.redis.command('PFADD', `cd:{roll:stats}:u:${stamp}`, `r${i % 10}`, `d${i}`);
    }
}
/* What the days i in [a, b) add up to. */
function rollSums(a, b) {
    let shown = 0;
    const visitors = new Set();
    for (let i = a; i < b; i++) {
        shown += i + 1;
        visitors.add(`r${i % 10}`).add(`d${i}`);
    }
    return { shown, decisions: b - a, unique: visitors.size };
}
const rollIndex = (date) => Math.round((Date.parse(date) - ROLL_FIRST) / 86400000);
/* HyperLogLogs are exact to a visitor or so at these sizes. */
const nearly = (actual, expected, what) => assert.ok(Math.abs(actual - expected) <= 1, `${what}: ${actual}, expected ${expected}`);

test('by_month_and_by_week_widen_to_whole_periods_and_match_the_days', async () => {
    await seedRoll();
    const month = await statsJson('?from=2026-01-15&to=2026-02-10&by=month', {
        site: 'roll',
    });
    assert.equal(month.by, 'month');
    assert.equal(month.from, '2026-01-01');
    assert.equal(month.to, '2026-02-28');
    assert.deepEqual(
        month.buckets.map((b) => b.start),
        ['2026-01-01T00:00:00Z', '2026-02-01T00:00:00Z'],
    );
    const jan = rollSums(rollIndex('2026-01-01'), rollIndex('2026-02-01'));
    const feb = rollSums(rollIndex('2026-02-01'), rollIndex('2026-03-01'));
    const both = rollSums(rollIndex('2026-01-01'), rollIndex('2026-03-01'));
    for (const [b, want] of [
        [month.buckets[0], jan],
        [month.buckets[1], feb],
        [month.total, both],
    ]) {
        assert.equal(b.shown, want.shown, `${b.start || 'total'} shown`);
        assert.equal(b.decisions, want.decisions);
        assert.equal(b.accept_all_share, 1);
        nearly(b.unique_visitors, want.unique, `${b.start || 'total'} unique visitors (the union, not a sum)`);
    }
    // The rollups a query built: a hash marked '_' and a HyperLogLog per
    // month, expiring with their last day.
    assert.equal(await stack.redis.command('HGET', 'cd:{roll:stats}:m:202601', '_'), '1');
    assert.equal(await stack.redis.command('TYPE', 'cd:{roll:stats}:um:202601'), 'string');
    const expireAt = Date.UTC(2026, 1, 1) + 400 * 86400000; // site stats_retention_days: 400
    const pttl = Number(await stack.redis.command('PTTL', 'cd:{roll:stats}:m:202601'));
    assert.ok(Math.abs(Date.now() + pttl - expireAt) < 60000, `m:202601 expires at ${new Date(Date.now() + pttl).toISOString()}`);

    const week = await statsJson('?from=2026-01-07&to=2026-01-20&by=week', {
        site: 'roll',
    });
    assert.equal(week.from, '2026-01-05');
    assert.equal(week.to, '2026-01-25');
    assert.deepEqual(
        week.buckets.map((b) => b.start),
        ['2026-01-05T00:00:00Z', '2026-01-12T00:00:00Z', '2026-01-19T00:00:00Z'],
    );
    for (const [k, b] of week.buckets.entries()) {
        const w = rollSums(rollIndex('2026-01-05') + 7 * k, rollIndex('2026-01-12') + 7 * k);
        assert.equal(b.shown, w.shown);
        nearly(b.unique_visitors, w.unique, `week ${b.start}`);
    }
    assert.equal(week.total.shown, rollSums(rollIndex('2026-01-05'), rollIndex('2026-01-26')).shown);

    // By day over the whole seed: every day a row; the totals and the
    // visitors of the range add up the same.
    const days = await statsJson(`?from=${rollDay(0)}&to=${rollDay(ROLL_DAYS - 1)}`, { site: 'roll' });
    assert.equal(days.buckets.length, ROLL_DAYS);
    const all = rollSums(0, ROLL_DAYS);
    assert.equal(days.total.shown, all.shown);
    nearly(days.total.unique_visitors, all.unique, 'unique visitors of the 63 days');
    assert.equal(days.buckets[rollIndex('2026-02-14')].shown, rollIndex('2026-02-14') + 1);

    // CSV by month: a row per month, then the total.
    const csv = await stats('?from=2026-01-15&to=2026-02-10&by=month&format=csv', { site: 'roll' });
    assert.equal(csv.status, 200);
    const lines = csv.text.trim().split('\n');
    assert.deepEqual(
        lines.slice(1).map((l) => l.split(',')[0]),
        ['2026-01-01T00:00:00Z', '2026-02-01T00:00:00Z', 'total'],
    );
    assert.equal(Number(lines[1].split(',')[1]), jan.shown);
});

test('a_range_by_day_totals_its_whole_months_from_their_rollups', async () => {
    // Shown: by day, the range's totals (languages, sources, variants) of
    // January and February come from their rollups (built by the previous
    // test), not from 59 day hashes: a count put in the rollup alone shows
    // in the total and in no row.
    await statsJson('?from=2026-01-01&to=2026-02-28&by=month', { site: 'roll' });
    // A writer other than consentd_count deletes the packed row of the hash
    // it changes (docs/data.md, as ops/import-counts.mjs does).
    await stack.redis.command('HINCRBY', 'cd:{roll:stats}:m:202601', 'l.fr|shown', '1000');
    await stack.redis.command('DEL', 'cd:{roll:stats}:pm:202601');
    try {
        const days = await statsJson(`?from=${rollDay(0)}&to=${rollDay(ROLL_DAYS - 1)}`, { site: 'roll' });
        assert.equal(days.total.by_language.fr.shown, 1000);
        assert.equal(days.total.shown, rollSums(0, ROLL_DAYS).shown, 'the rows are the days');
        // A range that holds no whole month reads its days.
        const part = await statsJson('?from=2026-01-02&to=2026-01-31', {
            site: 'roll',
        });
        assert.equal(part.total.by_language.fr.shown, 0);
    } finally {
        await stack.redis.command('HINCRBY', 'cd:{roll:stats}:m:202601', 'l.fr|shown', '-1000');
        await stack.redis.command('DEL', 'cd:{roll:stats}:pm:202601');
    }
});

test('a_long_range_is_read_in_calls_of_at_most_31_rows_so_that_writes_run_between', async () => {
    // The Redis (on a cluster, the master) that serves the site's counters.
    const node = stack.redis.masterOf ? await stack.redis.masterOf(keySlotOf('{roll:stats}')) : stack.redis;
    const fcalls = async () => {
        const info = await node.command('INFO', 'commandstats');
        const m = /cmdstat_fcall:calls=(\d+)/.exec(info);
        return m ? Number(m[1]) : 0;
    };
    const before = await fcalls();
    const days = await statsJson(`?from=${rollDay(0)}&to=${rollDay(ROLL_DAYS - 1)}`, { site: 'roll' });
    const calls = (await fcalls()) - before;
    // 63 rows: 31, 31 and 1, then the totals and the union (a flush of the
    // counters may slip in: at most one more).
    assert.ok(calls >= 4 && calls <= 5, `${calls} FCALLs for 63 days`);
    assert.equal(days.total.shown, rollSums(0, ROLL_DAYS).shown);
    assert.deepEqual(
        days.buckets.map((b) => b.shown),
        Array.from({ length: ROLL_DAYS }, (_, i) => i + 1),
        'every row in its place across the calls',
    );
    nearly(days.total.unique_visitors, rollSums(0, ROLL_DAYS).unique, 'unique visitors');
    // 30 days: one call.
    const one = await fcalls();
    await statsJson(`?from=${rollDay(0)}&to=${rollDay(29)}`, { site: 'roll' });
    assert.ok((await fcalls()) - one <= 2, 'one call for 30 days');
});

test('an_answer_rendered_in_slices_has_every_bucket_in_order_as_json_and_csv', async () => {
    // Over 48 buckets the answer is rendered 48 buckets per turn of the
    // worker's loop (writes are served between): 63 days is two slices.
    const q = `?from=${rollDay(0)}&to=${rollDay(ROLL_DAYS - 1)}`;
    const days = await statsJson(q, { site: 'roll' });
    assert.equal(days.buckets.length, ROLL_DAYS);
    days.buckets.forEach((b, i) => assert.equal(b.start, `${rollDay(i)}T00:00:00Z`, `bucket ${i}`));
    const csv = await stats(`${q}&format=csv`, { site: 'roll' });
    assert.equal(csv.status, 200, csv.text);
    const lines = csv.text.trim().split('\n');
    assert.equal(lines.length, 1 + ROLL_DAYS + 1, 'the header, every day, the total');
    lines.slice(1, -1).forEach((line, i) => {
        const [start, shown] = line.split(',');
        assert.equal(start, days.buckets[i].start);
        assert.equal(Number(shown), days.buckets[i].shown);
    });
    assert.equal(Number(lines.at(-1).split(',')[1]), days.total.shown);
    // 31 days by hour: 744 buckets, 16 slices, hour after hour.
    const hours = await statsJson(`?from=${rollDay(0)}&to=${rollDay(30)}&by=hour`, { site: 'roll' });
    assert.equal(hours.buckets.length, 744);
    hours.buckets.forEach((b, i) => assert.equal(Date.parse(b.start), Date.parse(`${rollDay(0)}T00:00:00Z`) + i * 3600000));
});

test('a_rollup_once_built_is_kept_exact_by_every_flush', async () => {
    const { consentd } = stack;
    const today = new Date().toISOString().slice(0, 10);
    const byMonth = () => statsJson(`?from=${today}&to=${today}&by=month`, { site: 'novar' });
    const byDay = async () => {
        const from = today.slice(0, 8) + '01';
        return statsJson(`?from=${from}&to=${today}`, { site: 'novar' });
    };
    const shownByDay = async () => (await byDay()).buckets.reduce((n, b) => n + b.shown, 0);
    const before = (await byMonth()).buckets[0].shown; // builds this month's rollup
    const month = new Date().toISOString().slice(0, 7).replace('-', '');
    assert.equal(await stack.redis.command('HGET', `cd:{novar:stats}:m:${month}`, '_'), '1');
    for (let i = 0; i < 3; i++) {
        assert.equal((await postEvent(consentd, { type: 'shown', lang: 'fr', visitor: `roll-live-${i}` }, browser(), 'novar')).status, 204);
    }
    const after = await waitFor(
        async () => {
            const n = (await byMonth()).buckets[0].shown;
            return n === before + 3 ? n : null;
        },
        { timeoutMs: 5000, message: 'the flush to reach the month rollup' },
    );
    assert.equal(await shownByDay(), after, 'the month rollup and its days agree');
});

test('an_identical_query_is_answered_from_memory_for_a_while_and_a_reload_forgets_it', async () => {
    // A consentd of its own with the shipped cache settings (5 s for a
    // range that ends today or yesterday, 300 s for one that ended before),
    // one thread, so that every request meets the same cache.
    const consentd = await Consentd.start({
        redis: stack.redis,
        threads: 1,
        sites: { ...shippedSites(), 'roll.json': abSite('roll') },
        config: { stats: { cache_seconds: 5, cache_closed_seconds: 300 } },
    });
    try {
        const get = async (query) => {
            const res = await consentd.request(`/v1/sites/roll/stats${query}`, { headers: server() });
            assert.equal(res.status, 200, res.text);
            return res;
        };
        const closed = '?from=2026-01-05&to=2026-01-11';
        const first = (await get(closed)).json().total.shown;
        await stack.redis.command('HINCRBY', 'cd:{roll:stats}:d:20260107', 'all|shown', '7');
        try {
            // A closed range: the same answer, from memory; the same range as
            // CSV or by week is another query, read again.
            assert.equal((await get(closed)).json().total.shown, first, 'answered from memory');
            const csv = await get(`${closed}&format=csv`);
            assert.match(csv.headers['content-type'], /^text\/csv/);
            assert.match(csv.headers['content-disposition'], /consentd-roll-2026-01-05-2026-01-11\.csv/);
            assert.equal(Number(csv.text.trim().split('\n').at(-1).split(',')[1]), first + 7);
            const csvAgain = await get(`${closed}&format=csv`);
            assert.equal(csvAgain.text, csv.text, 'the CSV from memory, byte for byte');
            assert.equal(csvAgain.headers['content-disposition'], csv.headers['content-disposition']);
            // Kept answers are gzipped once for the clients that accept it
            // (a dashboard's browser): the same bytes once decompressed.
            const gzRes = await consentd.request(`/v1/sites/roll/stats${closed}&format=csv`, {
                headers: { ...server(), 'accept-encoding': 'gzip' },
            });
            assert.equal(gzRes.status, 200);
            assert.equal(gzRes.headers['content-encoding'], 'gzip');
            assert.match(gzRes.headers.vary, /accept-encoding/i);
            assert.equal(gunzipSync(gzRes.body).toString(), csv.text, 'the kept CSV, gzipped');
            // A reload: new sites, nothing answered from before.
            const from = consentd.stderr.length;
            consentd.signal('SIGHUP');
            await consentd.waitForLog(/reloaded/, { from });
            assert.equal((await get(closed)).json().total.shown, first + 7, 'read again after a reload');
        } finally {
            await stack.redis.command('HINCRBY', 'cd:{roll:stats}:d:20260107', 'all|shown', '-7');
        }
        // A range that ends today: kept 5 s only.
        const today = new Date().toISOString().slice(0, 10);
        const open = `?from=${today}&to=${today}`;
        const before = (await get(open)).json().total.shown;
        const stamp = today.replaceAll('-', '');
        await stack.redis.command('HINCRBY', `cd:{roll:stats}:d:${stamp}`, 'all|shown', '3');
        assert.equal((await get(open)).json().total.shown, before, 'answered from memory');
        await waitFor(async () => (await get(open)).json().total.shown === before + 3, {
            timeoutMs: 8000,
            intervalMs: 500,
            message: 'the answer of a range ending today to be read again within 5 s',
        });
    } finally {
        await consentd.stop();
    }
});
