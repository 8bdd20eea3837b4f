// The dashboard in Chromium against a real consentd fed by ops/demo-data.mjs:
// it signs in with the demo key, and with a key of only the scope stats:read
// (issue 22, item 2), which cannot erase anyone (403) nor read a visitor; draws every chart (a canvas with coloured
// pixels in it), shows in its table exactly the stats API's buckets and
// total (also filtered by variant, also by hour), says in words what the
// API says of the variants, downloads the API's CSV, explains a wrong key,
// another site's key and a bad range, fits a 375 px wide phone, and never
// breaks its Content-Security-Policy; axe-core finds no accessibility
// violation in the sign-in form nor in the signed-in view; the last consent
// scan's card says "No scan yet.", then the verdict and date of one posted. Screenshots at
// 1280 and 375 px are kept under tests/browser/screenshots/ as references.
// Last, a year of history (ops/demo-data.mjs --days 365): by month, the
// segments (device, browser) and the time to decide per variant are the
// API's, at 1280 and 375 px, axe-clean (issue 21, items 4 and 5).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import { after, before } from 'node:test';
import { siteLike, test, waitFor } from '../http/lib/harness.mjs';
import { DEMO_KEY, getStats, last30Days, runDemoData, waitForTotals } from '../http/lib/stats.mjs';
import { AXE_PATH, newPage, screenshot, startBannerStack } from './lib/browser.mjs';

const VISITORS = 200;
const OTHER_KEY = 'other-site-key';

let stack, report, range;
before(async () => {
    stack = await startBannerStack();
    // A second site, whose key must not open the demo site's figures.
    const other = siteLike('other', stack.consentd.sites['demo.json']);
    other.api_key_sha256 = crypto.createHash('sha256').update(OTHER_KEY).digest('hex');
    const from = stack.consentd.stderr.length;
    stack.consentd.writeSite('other.json', other);
    stack.consentd.signal('SIGHUP');
    await stack.consentd.waitForLog(/reloaded/, { from, timeoutMs: 10000 });
    const run = await runDemoData(stack.consentd.url(), ['--visitors', String(VISITORS), '--json', '--quiet']);
    assert.equal(run.code, 0, run.stderr);
    report = run.report;
    range = last30Days();
    await waitForTotals(stack.consentd, range, { shown: report.sent.shown, decisions: report.sent.decisions });
});
after(async () => {
    await stack?.stop();
});

async function signIn(page, { site = 'demo', key = DEMO_KEY } = {}) {
    await page.goto(stack.consentd.url('/dashboard'));
    await page.locator('#site').fill(site);
    await page.locator('#key').fill(key);
    await page.locator('#signin-form button[type=submit]').click();
}

async function loaded(page, previous = null) {
    await page.waitForFunction((p) => document.body.dataset.loaded && document.body.dataset.loaded !== p && !document.body.classList.contains('busy'), previous, { timeout: 10000 });
    return page.evaluate(() => document.body.dataset.loaded);
}

async function apiStats(query) {
    const res = await getStats(stack.consentd, query);
    assert.equal(res.status, 200, res.text);
    return res.json();
}

/* Pixels of a saturated colour (series, not axes or grid) in each chart's canvas. */
function colouredPixels(page) {
    return page.evaluate(() => {
        const out = {};
        for (const id of ['chart-purposes', 'chart-choices', 'chart-variants']) {
            const canvas = document.querySelector(`#${id} canvas`);
            if (!canvas) {
                out[id] = -1;
                continue;
            }
            const { data } = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
            let n = 0;
            for (let i = 0; i < data.length; i += 4) {
                const max = Math.max(data[i], data[i + 1], data[i + 2]),
                    min = Math.min(data[i], data[i + 1], data[i + 2]);
                if (data[i + 3] > 200 && max - min > 80) n++;
            }
            out[id] = n;
        }
        return out;
    });
}

/* Every chart of the 30 days by day drew: the demo data is all of today, so
 * each purpose is one lone point (a ring of about 16 px), and the rings of
 * purposes with close rates overlap; the bars and variants draw hundreds. */
async function assertDrawn(page, what) {
    for (const [chart, n] of Object.entries(await colouredPixels(page))) assert.ok(n > (chart == 'chart-purposes' ? 10 : 20), `${chart} ${what}: ${n} coloured pixels drawn`);
}

/* The table as {buckets: [{start, key: value}], total: {key: value}} from data-value. */
function tableValues(page) {
    return page.evaluate(() => {
        const read = (tr) => {
            const row = { start: tr.querySelector('th').dataset.start };
            for (const td of tr.querySelectorAll('td')) row[td.dataset.key] = td.dataset.value;
            return row;
        };
        return {
            headers: [...document.querySelectorAll('#table thead th')].map((th) => th.dataset.key),
            buckets: [...document.querySelectorAll('#table tbody tr')].map(read),
            total: read(document.querySelector('#table tfoot tr')),
        };
    });
}

/* The API's bucket (or total) as the table's data-value strings, per column key. */
function expectedRow(stats, bucket, start) {
    const row = { start };
    const v = (x) => (x == null ? '' : String(x));
    for (const k of ['shown', 'dismissed', 'panel_opened', 'decisions', 'accept_all', 'reject_all', 'custom', 'withdrawn', 'unique_visitors', 'interaction_rate', 'accept_all_share', 'reject_all_share', 'custom_share']) row[k] = v(bucket[k]);
    for (const p of stats.purposes) {
        row[`${p}_granted`] = v(bucket.purposes[p].granted);
        row[`${p}_refused`] = v(bucket.purposes[p].refused);
        row[`${p}_acceptance_rate`] = v(bucket.purposes[p].acceptance_rate);
    }
    return row;
}

async function assertTableIsTheApi(page, stats) {
    const table = await tableValues(page);
    const csvHeader = ['start', 'shown', 'dismissed', 'panel_opened', 'decisions', 'accept_all', 'reject_all', 'custom', 'withdrawn', 'unique_visitors', 'interaction_rate', 'accept_all_share', 'reject_all_share', 'custom_share', ...stats.purposes.flatMap((p) => [`${p}_granted`, `${p}_refused`, `${p}_acceptance_rate`])];
    assert.deepEqual(table.headers, csvHeader, "the table's columns are the CSV's");
    assert.equal(table.buckets.length, stats.buckets.length);
    stats.buckets.forEach((b, i) => assert.deepEqual(table.buckets[i], expectedRow(stats, b, b.start), `bucket ${b.start}`));
    assert.deepEqual(table.total, expectedRow(stats, stats.total, 'total'), 'the total row');
}

test('signs_in_draws_every_chart_and_shows_the_api_numbers', async () => {
    const page = await newPage(stack, { viewport: { width: 1280, height: 900 } });
    await signIn(page);
    let at = await loaded(page);
    const stats = await apiStats({ ...range, by: 'day' });
    assert.equal(stats.total.shown, report.sent.shown);

    assert.equal(await page.locator('#signin').isVisible(), false);
    assert.equal(await page.locator('#who-site').textContent(), 'demo');
    assert.equal(await page.locator('#from').inputValue(), range.from, 'the last 30 days by default');
    assert.equal(await page.locator('#to').inputValue(), range.to);
    await assertDrawn(page, 'by day');

    await assertTableIsTheApi(page, stats);
    const summary = await page.locator('#summary').textContent();
    assert.ok(summary.includes(stats.total.shown.toLocaleString('en')), `the summary shows ${stats.total.shown} shown`);
    assert.ok(summary.includes(stats.total.decisions.toLocaleString('en')));

    // The variants: one sentence per comparison of the API, with its verdict.
    const cmp = stats.variants_comparison;
    const items = await page.locator('#variants-text li').allTextContents();
    assert.equal(items.length, cmp.comparisons.length);
    cmp.comparisons.forEach((c, i) => {
        assert.match(items[i], new RegExp(`^Variant ${c.variant} vs ${cmp.baseline}`));
        if (c.difference != null) assert.match(items[i], c.excludes_zero ? /excludes zero/ : /includes zero/);
    });
    assert.match(await page.locator('#variants-caption').textContent(), /Newcombe|Wilson/);

    // The key lives in this tab's sessionStorage only.
    const storage = await page.evaluate(() => ({ session: sessionStorage.getItem('consentd.dashboard'), local: localStorage.length, cookie: document.cookie }));
    assert.deepEqual(JSON.parse(storage.session), { site: 'demo', key: DEMO_KEY });
    assert.equal(storage.local, 0);
    assert.equal(storage.cookie, '');

    await screenshot(page, 'dashboard-1280', { fullPage: true });

    // Filtered by variant: the API's figures of that variant.
    await page.locator('#variant').selectOption('b');
    at = await loaded(page, at);
    await assertTableIsTheApi(page, await apiStats({ ...range, by: 'day', variant: 'b' }));
    assert.equal((await tableValues(page)).total.shown, String(report.by_variant.b.shown));

    // By hour over the same 30 days.
    await page.locator('#variant').selectOption('');
    at = await loaded(page, at);
    await page.locator('#by').selectOption('hour');
    at = await loaded(page, at);
    const hourly = await apiStats({ ...range, by: 'hour' });
    assert.equal(hourly.buckets.length, 30 * 24);
    await assertTableIsTheApi(page, hourly);
    for (const [chart, n] of Object.entries(await colouredPixels(page))) assert.ok(n > 5, `${chart} by hour: ${n} coloured pixels`);

    // By month (read from the month rollups): the range widens to whole
    // months, and the table is the API's.
    await page.locator('#by').selectOption('month');
    at = await loaded(page, at);
    const monthly = await apiStats({ ...range, by: 'month' });
    assert.ok(monthly.buckets.length >= 1 && monthly.buckets.length <= 2, `${monthly.buckets.length} months`);
    assert.ok(monthly.from <= range.from && monthly.from.endsWith('-01'), monthly.from);
    await assertTableIsTheApi(page, monthly);
    assert.match(await page.locator('#table thead th').first().textContent(), /^month \(UTC\)/);
    assert.equal(await page.locator('#table tbody th').first().textContent(), monthly.buckets[0].start.slice(0, 7));
    for (const [chart, n] of Object.entries(await colouredPixels(page))) assert.ok(n > 5, `${chart} by month: ${n} coloured pixels`);
    await screenshot(page, 'dashboard-by-month-1280', { fullPage: true });

    assert.deepEqual(await page.evaluate(() => window.__violations), []);
    assert.deepEqual(page.problems, []);
    await page.context().close();
});

test('csv_download_is_the_api_csv', async () => {
    const page = await newPage(stack);
    await signIn(page);
    await loaded(page);
    const [download] = await Promise.all([page.waitForEvent('download'), page.locator('#csv').click()]);
    const api = await getStats(stack.consentd, { ...range, by: 'day', format: 'csv' });
    assert.equal(api.status, 200);
    assert.equal(download.suggestedFilename(), `consentd-demo-${range.from}-${range.to}.csv`);
    const file = fs.readFileSync(await download.path(), 'utf8');
    assert.equal(file, api.text);
    const lines = file.trimEnd().split('\n');
    assert.equal(lines.length, 1 + 30 + 1, 'header, 30 days, total');
    assert.match(lines.at(-1), new RegExp(`^total,${report.sent.shown},`));
    await page.context().close();
});

test('a_wrong_key_another_sites_key_and_a_bad_range_are_explained', async () => {
    const page = await newPage(stack);
    await signIn(page, { key: 'not-the-key' });
    const error = page.locator('#error');
    await error.waitFor({ state: 'visible' });
    assert.match(await error.textContent(), /not the key of this site/);
    assert.equal(await page.locator('#signin').isVisible(), true, 'back to the sign-in form');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('consentd.dashboard')), null, 'the refused key is forgotten');

    await page.locator('#key').fill(OTHER_KEY);
    await page.locator('#signin-form button[type=submit]').click();
    await waitFor(async () => /belongs to another site/.test(await error.textContent()), { message: 'the 403 explanation' });
    assert.equal(await page.locator('#signin').isVisible(), true);

    await signIn(page);
    await loaded(page);
    assert.equal(await error.isVisible(), false);
    await page.locator('#from').fill('2026-02-01');
    await page.locator('#to').fill('2026-01-01');
    await page.locator('#filters button[type=submit]').click();
    await waitFor(async () => (await error.isVisible()) && /refused these settings/.test(await error.textContent()), { message: 'the 400 explanation' });
    assert.equal(await page.locator('#view').isVisible(), true, 'still signed in');
    assert.deepEqual(page.problems, []);
    await page.context().close();
});

test('fits_a_375_px_phone', async () => {
    const page = await newPage(stack, { viewport: { width: 375, height: 812 } });
    await signIn(page);
    await loaded(page);
    const layout = await page.evaluate(() => ({
        page: document.documentElement.scrollWidth,
        canvases: [...document.querySelectorAll('.chart canvas')].map((c) => c.getBoundingClientRect().right),
        wrap: (() => {
            const w = document.querySelector('#table').parentElement;
            return { scroll: w.scrollWidth, client: w.clientWidth };
        })(),
    }));
    assert.ok(layout.page <= 375, `no sideways scrolling of the page (${layout.page} px)`);
    assert.equal(layout.canvases.length, 3);
    for (const right of layout.canvases) assert.ok(right <= 375, `a chart ends at ${right} px`);
    assert.ok(layout.wrap.scroll > layout.wrap.client, 'the table scrolls inside its frame');
    await assertDrawn(page, 'at 375 px');
    await screenshot(page, 'dashboard-375', { fullPage: true });
    assert.deepEqual(await page.evaluate(() => window.__violations), []);
    assert.deepEqual(page.problems, []);
    await page.context().close();
});

/* axe-core's violations in the page, as "rule: target" lines. Loaded through
 * the DevTools protocol, which the page's CSP does not govern (a script
 * element would be refused, rightly). */
async function axeViolations(page) {
    await page.evaluate(fs.readFileSync(AXE_PATH, 'utf8'));
    const violations = await page.evaluate(() => axe.run(document, { resultTypes: ['violations'] }).then((r) => r.violations));
    return violations.flatMap((v) => v.nodes.map((n) => `${v.id} (${v.impact}): ${n.target.join(' ')}`));
}

test('the_last_scan_card_says_no_scan_yet_then_the_posted_verdict_and_date', async () => {
    const page = await newPage(stack);
    await signIn(page);
    let at = await loaded(page);
    assert.equal(await page.locator('#scan-text').textContent(), 'No scan yet.');
    const summary = { scanned_at: '2026-12-05T03:40:00.123Z', verdict: 'fail', scanner: 'consentd-scan 1', pages: 3, violations: 1, undeclared: 2, leftover: 0, stale: 4, notices: 0 };
    const res = await stack.consentd.request('/v1/sites/demo/scans', {
        method: 'POST',
        headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify(summary),
    });
    assert.equal(res.status, 201, res.text);
    await page.locator('#filters button[type=submit]').click();
    at = await loaded(page, at);
    assert.equal(await page.locator('#scan-text').getAttribute('data-verdict'), 'fail');
    assert.equal(
        await page.locator('#scan-text').textContent(),
        'Fail, 2026-12-05 03:40 UTC: 3 pages; 1 violations, 2 undeclared, 0 leftover, 4 stale (consentd-scan 1)',
    );
    await page.context().close();
});

test('axe_finds_no_violation_in_the_sign_in_form_nor_the_signed_in_view', async () => {
    const page = await newPage(stack);
    await page.goto(stack.consentd.url('/dashboard'));
    await page.locator('#signin-form').waitFor({ state: 'visible' });
    assert.deepEqual(await axeViolations(page), [], 'sign-in form');
    await signIn(page);
    await loaded(page);
    assert.deepEqual(await axeViolations(page), [], 'signed in, charts and table drawn');
    await page.context().close();
});

test('signs_in_with_a_stats_read_key_which_cannot_erase_anyone', async () => {
    // A visitor with a recorded choice, and a key made for the dashboard.
    const site = stack.consentd.sites['demo.json'];
    const consent = await stack.consentd.request('/v1/sites/demo/consents', {
        method: 'POST',
        headers: { origin: site.origins[0], 'content-type': 'application/json' },
        body: JSON.stringify({ decisions: { audience: true }, policy_version: site.policy_version, lang: 'fr', control: 'custom' }),
    });
    assert.equal(consent.status, 201, consent.text);
    const visitor = consent.json().visitor;
    const made = await stack.consentd.request('/v1/sites/demo/keys', {
        method: 'POST',
        headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'dashboard-browser', scopes: ['stats:read'] }),
    });
    assert.equal(made.status, 201, made.text);
    const key = made.json().key;

    const page = await newPage(stack);
    await signIn(page, { key });
    await loaded(page);
    assert.equal(await page.locator('#view').isVisible(), true, 'signed in with the stats:read key');
    assert.equal(await page.locator('#error').isVisible(), false);
    const totals = await apiStats({ ...range, by: 'day' });
    assert.equal((await tableValues(page)).total.shown, String(totals.total.shown), 'the stats:read key reads the figures');
    // The key the page holds cannot erase anyone, nor read a visitor's data.
    const tried = await page.evaluate(async (v) => {
        const held = JSON.parse(sessionStorage.getItem('consentd.dashboard')).key;
        const headers = { authorization: `Bearer ${held}` };
        const erase = await fetch(`/v1/sites/demo/visitors/${v}`, { method: 'DELETE', headers });
        const access = await fetch(`/v1/sites/demo/visitors/${v}`, { headers });
        return { erase: { status: erase.status, body: await erase.json() }, access: access.status };
    }, visitor);
    assert.equal(tried.erase.status, 403, JSON.stringify(tried.erase));
    assert.equal(tried.erase.body.error.code, 'insufficient_scope');
    assert.match(tried.erase.body.error.message, /rights/);
    assert.equal(tried.access, 403);
    const still = await stack.consentd.request(`/v1/sites/demo/visitors/${visitor}`, { headers: { authorization: `Bearer ${DEMO_KEY}` } });
    assert.equal(still.status, 200, 'the visitor was not erased');
    assert.equal(still.json().history.length, 1);
    await page.context().close();

    // A key without stats:read is explained, and the form comes back.
    const rights = await stack.consentd.request('/v1/sites/demo/keys', {
        method: 'POST',
        headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ name: 'dpo-browser', scopes: ['rights'] }),
    });
    assert.equal(rights.status, 201, rights.text);
    const other = await newPage(stack);
    await signIn(other, { key: rights.json().key });
    const error = other.locator('#error');
    await error.waitFor({ state: 'visible' });
    assert.match(await error.textContent(), /lacks the scope stats:read/);
    assert.equal(await other.locator('#signin').isVisible(), true);
    await other.context().close();
});

/* The rows of a figures table (#segments, #ttd) as {row key: {column key: data-value}}. */
function figures(page, id, rowKey) {
    return page.evaluate(
        ([id, rowKey]) =>
            Object.fromEntries(
                [...document.querySelectorAll(`#${id} tbody tr`)].map((tr) => [
                    tr.dataset[rowKey],
                    Object.fromEntries([...tr.querySelectorAll('td[data-key]')].map((td) => [td.dataset.key, td.dataset.value])),
                ]),
            ),
        [id, rowKey],
    );
}

const v = (x) => (x == null ? '' : String(x));

async function assertSegmentsAndTimeToDecide(page, stats) {
    for (const segment of ['device', 'browser']) {
        await page.locator('#segment').selectOption(segment);
        const got = await figures(page, 'segments', 'segment');
        const want = Object.fromEntries(
            Object.entries(stats.total[`by_${segment}`]).map(([name, r]) => [
                name,
                { shown: v(r.shown), decisions: v(r.decisions), interaction_rate: v(r.interaction_rate), accept_all_share: v(r.accept_all_share), reject_all_share: v(r.reject_all_share) },
            ]),
        );
        assert.deepEqual(got, want, `the ${segment} table is the API's`);
    }
    await page.locator('#segment').selectOption('device');
    const ttd = await figures(page, 'ttd', 'variant');
    const t = stats.time_to_decide;
    assert.deepEqual(Object.keys(ttd), ['', ...Object.keys(t.variants)]);
    for (const [key, o] of [['', t.all], ...Object.entries(t.variants)]) {
        for (const outcome of ['accept_all', 'reject_all', 'custom', 'dismiss']) assert.equal(ttd[key][outcome], v(o[outcome].median), `${key || 'all'} ${outcome}`);
    }
}

test('a_year_by_month_with_segments_and_time_to_decide_at_1280_and_375_px_axe_clean', async () => {
    const run = await runDemoData(stack.consentd.url(), ['--days', '365', '--visitors', '60', '--redis', stack.redis.url, '--json', '--quiet']);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.report.history_days.length, 364, 'a year of history before today');
    const to = range.to;
    const from = new Date(Date.parse(`${to}T00:00:00Z`) - 364 * 86400e3).toISOString().slice(0, 10);
    const year = { from, to, by: 'month' };
    // Every count flushed: the same answer twice, a flush interval apart.
    let previous = null;
    const stats = await waitFor(
        async () => {
            const s = await apiStats(year);
            const same = previous && JSON.stringify(s) === JSON.stringify(previous);
            previous = s;
            if (!same) await new Promise((r) => setTimeout(r, 1500));
            return same && s.time_to_decide.variants.b?.reject_all.n > 0 ? s : null;
        },
        { timeoutMs: 20000, message: "today's visitors in the stats" },
    );
    assert.ok(stats.buckets.length >= 12 && stats.buckets.length <= 13, `${stats.buckets.length} months`);
    // The history's segments and times are in: every device has banners.
    for (const [name, r] of Object.entries(stats.total.by_device)) assert.ok(r.shown > 0, `${name} has banners shown`);
    assert.ok(stats.time_to_decide.all.reject_all.median > stats.time_to_decide.all.accept_all.median, 'refusing takes longer here');

    for (const width of [1280, 375]) {
        const page = await newPage(stack, { viewport: { width, height: width > 400 ? 900 : 812 } });
        await signIn(page);
        let at = await loaded(page);
        await page.locator('#from').fill(from);
        await page.locator('#to').fill(to);
        await page.locator('#by').selectOption('month');
        at = await loaded(page, at);
        assert.equal(await page.locator('#table tbody tr').count(), stats.buckets.length);
        await assertTableIsTheApi(page, stats);
        assert.equal(await page.locator('#table tbody th').first().textContent(), stats.buckets[0].start.slice(0, 7));
        for (const [chart, n] of Object.entries(await colouredPixels(page))) assert.ok(n > 5, `${chart} by month: ${n} coloured pixels`);
        await assertSegmentsAndTimeToDecide(page, stats);
        if (width < 400) assert.ok((await page.evaluate(() => document.documentElement.scrollWidth)) <= 375, 'no sideways scrolling of the page');
        await page.locator('#segments-card').scrollIntoViewIfNeeded();
        await screenshot(page, `dashboard-year-by-month-${width}`, { fullPage: true });
        assert.deepEqual(await axeViolations(page), [], `a year by month, segments and time to decide at ${width} px`);
        assert.deepEqual(await page.evaluate(() => window.__violations), []);
        assert.deepEqual(page.problems, []);
        await page.context().close();
    }
});
