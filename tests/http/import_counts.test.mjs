// ops/import-counts.mjs and ops/demo-data.mjs --days: a history of counts
// loaded by the operator from a CSV in the stats API's own format reads back
// through the stats API as it was exported; a day that already has counts
// is refused unless --replace, which replaces it (never adds twice); the
// rollups of imported days are built again; a bad file is refused with its
// line and column, and nothing is written; demo-data --days fills a month
// by day and a year by month.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import { SOURCE_DIR, makeTempDir, shippedSite, siteLike, startStack, test } from './lib/harness.mjs';
import { server } from './lib/consent.mjs';
import { runDemoData } from './lib/stats.mjs';

const IMPORT = path.join(SOURCE_DIR, 'ops', 'import-counts.mjs');
const DAY_MS = 86400000;
const today = Date.parse(`${new Date().toISOString().slice(0, 10)}T00:00:00Z`);
const isoDay = (ms) => new Date(ms).toISOString().slice(0, 10);
/* 20 days, from 40 days ago: well within the retention. */
const FIRST = today - 40 * DAY_MS;
const DAYS = 20;
const ORIGIN = shippedSite('demo').origins[0];
const RANGE = `from=${isoDay(FIRST)}&to=${isoDay(FIRST + (DAYS - 1) * DAY_MS)}`;

let stack, dir;
before(async () => {
    stack = await startStack({ sites: { 'demo.json': shippedSite('demo'), 'src.json': siteLike('src'), 'dst.json': siteLike('dst') } });
    dir = makeTempDir('import-counts');
    const purposes = siteLike('src').purposes.filter((p) => p.legal_basis !== 'necessary').map((p) => p.id);
    for (let i = 0; i < DAYS; i++) {
        const d = isoDay(FIRST + i * DAY_MS).replaceAll('-', '');
        const fields = {
            'all|shown': 100 + i, 'all|dismissed': i % 3, 'all|panel_opened': 10 + i, 'all|decisions': 80 + i,
            'all|accept_all': 50, 'all|reject_all': 20, 'all|custom': 10 + i, 'all|withdrawn': i % 2,
            's.banner|decisions': 70 + i, 'l.fr|shown': 60,
        };
        purposes.forEach((p, k) => Object.assign(fields, { [`all|g.${p}`]: 40 + k + i, [`all|r.${p}`]: 40 - k }));
        await stack.redis.command('HSET', `cd:{src:stats}:d:${d}`, ...Object.entries(fields).flat().map(String));
        const ids = Array.from({ length: 30 + i }, (_, k) => `v-${d}-${k}`);
        await stack.redis.command('PFADD', `cd:{src:stats}:u:${d}`, ...ids);
    }
});
after(async () => {
    await stack?.stop();
});

function run(args) {
    return new Promise((resolve, reject) => {
        const child = spawn(process.execPath, [IMPORT, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
        let stdout = '',
            stderr = '';
        child.stdout.on('data', (c) => (stdout += c));
        child.stderr.on('data', (c) => (stderr += c));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stdout, stderr }));
    });
}

async function stats(site, query) {
    const res = await stack.consentd.request(`/v1/sites/${site}/stats?${query}`, { headers: server() });
    assert.equal(res.status, 200, res.text);
    return res;
}

async function exportCsv(site = 'src') {
    const csv = (await stats(site, `${RANGE}&format=csv`)).text;
    const file = path.join(dir, `${site}-${Date.now()}.csv`);
    fs.writeFileSync(file, csv);
    return { csv, file };
}

const importInto = (site, file, extra = []) => run(['--site', site, '--redis', stack.redis.url, ...extra, file]);

/* Buckets without the fields an import cannot carry (languages, sources:
 * not in the CSV) and with unique visitors within the HyperLogLog's error. */
function comparable(body) {
    return body.buckets.map((b) => {
        const { unique_visitors: u, ...rest } = b;
        return { ...rest, unique_visitors: Math.round(u / 5) };
    });
}

test('an_exported_csv_imported_into_another_site_reads_back_the_same', async () => {
    const { file } = await exportCsv();
    const res = await importInto('dst', file);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stdout, new RegExp(`${DAYS} days written for site dst`));
    const src = (await stats('src', RANGE)).json();
    const dst = (await stats('dst', RANGE)).json();
    assert.deepEqual(comparable(dst), comparable(src), 'every day: counts, rates (interaction from the banner decisions), purposes');
    const keys = ['shown', 'dismissed', 'panel_opened', 'decisions', 'accept_all', 'reject_all', 'custom', 'withdrawn', 'interaction_rate'];
    for (const k of keys) assert.equal(dst.total[k], src.total[k], `total ${k}`);
    assert.equal(dst.total.by_language.fr.shown, 0, 'languages are not in the CSV');
    // Day keys expire with the day + the retention (400 days).
    const d = isoDay(FIRST).replaceAll('-', '');
    const pttl = Number(await stack.redis.command('PTTL', `cd:{dst:stats}:d:${d}`));
    assert.ok(Math.abs(Date.now() + pttl - (FIRST + DAY_MS + 400 * DAY_MS)) < 60000, `PTTL ${pttl}`);
});

test('days_with_counts_are_refused_unless_replace_which_never_adds_twice', async () => {
    const before = (await stats('dst', RANGE)).json().total.shown;
    const { csv, file } = await exportCsv();
    const again = await importInto('dst', file);
    assert.equal(again.code, 2, again.stdout);
    assert.match(again.stderr, /already have counts \(nothing was written; --replace replaces them\): \d{4}-\d{2}-\d{2}/);
    assert.equal((await stats('dst', RANGE)).json().total.shown, before, 'nothing written');

    // A month by month built first, then one day replaced with 5 more shown:
    // the rollups of that day are built again from the days.
    const month = `from=${isoDay(FIRST)}&to=${isoDay(FIRST)}&by=month`;
    const monthBefore = (await stats('dst', month)).json().buckets[0].shown;
    const lines = csv.trim().split('\n');
    const cells = lines[1].split(',');
    cells[1] = String(Number(cells[1]) + 5);
    lines[1] = cells.join(',');
    const changed = path.join(dir, 'changed.csv');
    fs.writeFileSync(changed, `${lines.join('\n')}\n`);
    const replaced = await importInto('dst', changed, ['--replace']);
    assert.equal(replaced.code, 0, replaced.stderr);
    assert.match(replaced.stdout, /replaced/);
    assert.equal((await stats('dst', RANGE)).json().total.shown, before + 5, 'replaced, not added');
    assert.equal((await stats('dst', month)).json().buckets[0].shown, monthBefore + 5, 'the month rollup built again');
});

test('a_bad_file_is_refused_with_its_line_and_column_and_nothing_is_written', async () => {
    const { csv } = await exportCsv();
    const cases = [
        [csv.replace('start,shown', 'start,seen'), /:1: column 2 is "seen", the stats CSV has "shown"/],
        [csv.replace(/\n(\d{4}-\d{2}-\d{2}T00:00:00Z),(\d+)/, '\n$1,-3'), /:2: column 2 \(shown\): "-3" is not a count/],
        [csv.replace(/\n\d{4}-\d{2}-\d{2}T00:00:00Z/, '\n2026-02-30T00:00:00Z'), /:2: start "2026-02-30T00:00:00Z" is not a UTC day/],
        [(await stats('src', `${RANGE}&by=week&format=csv`)).text, /by week or by month/],
    ];
    for (const [text, want] of cases) {
        const file = path.join(dir, 'bad.csv');
        fs.writeFileSync(file, text);
        const res = await importInto('fresh', file);
        assert.equal(res.code, 2, `${want}: ${res.stdout}`);
        assert.match(res.stderr, want);
    }
    assert.deepEqual(await stack.redis.command('KEYS', 'cd:{fresh:stats}:*'), []);
    const usage = await run(['--site', 'dst']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /usage: node ops\/import-counts\.mjs/);
});

test('demo_data_days_fills_a_month_by_day_and_a_year_by_month', async () => {
    const demo = await runDemoData(stack.consentd.url(), ['--days', '365', '--visitors', '20', '--origin', ORIGIN, '--redis', stack.redis.url, '--json', '--quiet']);
    assert.equal(demo.code, 0, demo.stderr);
    assert.equal(demo.report.history_days.length, 364);
    const last30 = `from=${isoDay(today - 29 * DAY_MS)}&to=${isoDay(today)}`;
    const byDay = (await stats('demo', last30)).json();
    assert.equal(byDay.buckets.length, 30);
    for (const b of byDay.buckets.slice(0, 29)) assert.ok(b.shown > 300 && b.decisions > 0 && b.unique_visitors > 0, `${b.start}: ${b.shown} shown`);
    const year = (await stats('demo', `from=${isoDay(today - 364 * DAY_MS)}&to=${isoDay(today)}&by=month`)).json();
    assert.ok(year.buckets.length >= 12 && year.buckets.length <= 13);
    for (const b of year.buckets.slice(1, -1)) assert.ok(b.shown > 5000, `${b.start}: ${b.shown} shown`);
    assert.ok(year.total.accept_all_share > 0.5 && year.total.accept_all_share < 0.7, `${year.total.accept_all_share}`);
    // Run again: the history is there already and is left as it is.
    const again = await runDemoData(stack.consentd.url(), ['--days', '365', '--visitors', '5', '--origin', ORIGIN, '--redis', stack.redis.url, '--json', '--quiet']);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.report.history_days.length, 0);
});
