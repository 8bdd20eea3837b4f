// Packed rows (src/store.lua, PACKED ROWS; docs/data.md): a stats query
// packs each closed hour, day, week or month once into one string beside its
// hash, and later queries read that string. Shown here: the answer read from
// the packed rows is the answer computed from the hashes (every figure of
// every bucket and of the totals, unique visitors included, against sums
// made here from the seed and PFCOUNT asked of Redis); a late flush into a
// closed day (consentd_count) drops that day's packed row, and the next
// answer counts it; by week and by month, the packed rollups give the same
// figures as the days.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { siteLike, startStack, test } from './lib/harness.mjs';
import { server } from './lib/consent.mjs';

const DAY_MS = 86400000;
const DAYS = 70; /* ending yesterday: at least one whole closed month */
const TODAY = Date.parse(`${new Date().toISOString().slice(0, 10)}T00:00:00Z`);
const FIRST = TODAY - DAYS * DAY_MS;
const isoDay = (ms) => new Date(ms).toISOString().slice(0, 10);
const stamp = (ms) => isoDay(ms).replaceAll('-', '');
const key = (kind, s) => `cd:{pk:stats}:${kind}:${s}`;

function pkSite() {
    const s = siteLike('pk');
    s.variants = [
        { id: 'a', weight: 50 },
        { id: 'b', weight: 50 },
    ];
    return s;
}
const PURPOSES = pkSite()
    .purposes.filter((p) => p.legal_basis !== 'necessary')
    .map((p) => p.id);

/* The fields of day i: every dimension the answers show, figures that
 * differ from day to day. */
function dayFields(i) {
    const f = {
        'all|shown': 100 + i,
        'all|dismissed': i % 4,
        'all|panel_opened': 10 + (i % 9),
        'all|decisions': 60 + i,
        'all|accept_all': 30 + (i % 7),
        'all|reject_all': 20 + (i % 5),
        'all|custom': 10 + i - (i % 7) - (i % 5),
        'all|withdrawn': i % 2,
        'l.fr|shown': 60,
        'l.fr|decisions': 35,
        'l.en|shown': 40 + i,
        'l.en|decisions': 25 + i,
        's.banner|decisions': 55 + i,
        's.api|decisions': 5,
        'v.a|shown': 50,
        'v.a|decisions': 30,
        'v.a|accept_all': 15 + (i % 3),
        'v.b|shown': 50 + i,
        'v.b|decisions': 30 + i,
        'v.b|accept_all': 15 + (i % 4),
    };
    PURPOSES.forEach((p, k) => {
        f[`all|g.${p}`] = 40 + k + (i % 11);
        f[`all|r.${p}`] = 20 + i - k;
        f[`v.a|g.${p}`] = 10 + k;
        f[`v.a|r.${p}`] = 20 - k;
        f[`v.b|g.${p}`] = 12 + (i % 6);
        f[`v.b|r.${p}`] = 18 + k;
    });
    return f;
}

let stack;
before(async () => {
    stack = await startStack({
        sites: { 'pk.json': pkSite() },
        // Every query read from Redis, none from the answers kept in memory.
        config: { stats: { cache_seconds: 0, cache_closed_seconds: 0 } },
    });
    for (let i = 0; i < DAYS; i++) {
        const d = stamp(FIRST + i * DAY_MS);
        const at = String(FIRST + (i + 1 + 400) * DAY_MS); /* as a flush sets it */
        await stack.redis.command('HSET', key('d', d), ...Object.entries(dayFields(i)).flat().map(String));
        await stack.redis.command('PFADD', key('u', d), `r${i % 10}`, `d${i}`, `e${i}`);
        await stack.redis.command('PEXPIREAT', key('d', d), at);
        await stack.redis.command('PEXPIREAT', key('u', d), at);
    }
});
after(async () => {
    await stack?.stop();
});

async function statsJson(query) {
    const res = await stack.consentd.request(`/v1/sites/pk/stats${query}`, { headers: server() });
    assert.equal(res.status, 200, res.text);
    return res.json();
}

const RANGE = `?from=${isoDay(FIRST)}&to=${isoDay(TODAY - DAY_MS)}`;

/* Every figure of an answer by day against the seed (extra: per day index,
 * fields added after seeding), unique visitors against PFCOUNT. */
async function checkByDay(answer, extra = {}) {
    const fields = (i) => {
        const f = dayFields(i);
        for (const [k, v] of Object.entries(extra[i] ?? {})) f[k] = (f[k] ?? 0) + v;
        return f;
    };
    assert.equal(answer.buckets.length, DAYS);
    const total = {};
    for (let i = 0; i < DAYS; i++) {
        const b = answer.buckets[i];
        const f = fields(i);
        assert.equal(b.start, `${isoDay(FIRST + i * DAY_MS)}T00:00:00Z`);
        for (const m of ['shown', 'dismissed', 'panel_opened', 'decisions', 'accept_all', 'reject_all', 'custom', 'withdrawn'])
            assert.equal(b[m], f[`all|${m}`], `day ${i} ${m}`);
        const pfcount = Number(await stack.redis.command('PFCOUNT', key('u', stamp(FIRST + i * DAY_MS))));
        assert.equal(b.unique_visitors, pfcount, `day ${i} unique visitors`);
        for (const [k, v] of Object.entries(f)) total[k] = (total[k] ?? 0) + v;
    }
    for (const m of ['shown', 'dismissed', 'panel_opened', 'decisions', 'accept_all', 'reject_all', 'custom', 'withdrawn'])
        assert.equal(answer.total[m], total[`all|${m}`], `total ${m}`);
    assert.equal(answer.total.by_language.fr.shown, total['l.fr|shown']);
    assert.equal(answer.total.by_language.en.decisions, total['l.en|decisions']);
    assert.equal(answer.total.by_source.banner.decisions, total['s.banner|decisions']);
    assert.equal(answer.total.by_source.api.decisions, total['s.api|decisions']);
    const vc = answer.variants_comparison.variants;
    assert.equal(vc.b.shown, total['v.b|shown']);
    assert.equal(vc.b.accept_all, total['v.b|accept_all']);
    const keys = [];
    for (let i = 0; i < DAYS; i++) keys.push(key('u', stamp(FIRST + i * DAY_MS)));
    assert.equal(answer.total.unique_visitors, Number(await stack.redis.command('PFCOUNT', ...keys)), 'the union');
    return total;
}

test('a_query_over_closed_days_read_from_packed_rows_equals_the_hash_based_figures', async () => {
    const packed = async () => (await stack.redis.command('KEYS', 'cd:{pk:stats}:p*')).sort();
    assert.deepEqual(await packed(), [], 'nothing packed before a query');
    const first = await statsJson(RANGE);
    await checkByDay(first);
    // The first query packed every closed day, and the whole months' rollups.
    const keys = await packed();
    assert.equal(keys.filter((k) => k.includes(':pd:')).length, DAYS);
    assert.ok(keys.some((k) => k.includes(':pm:')), `a whole month's rollup packed: ${keys.join(' ')}`);
    const day = key('pd', stamp(FIRST));
    assert.ok(Number(await stack.redis.command('PTTL', day)) > 0, 'a packed row expires with its hash');
    assert.equal(
        Number(await stack.redis.command('PEXPIRETIME', day)),
        Number(await stack.redis.command('PEXPIRETIME', key('d', stamp(FIRST)))),
    );
    // The second, from the packed rows: the same answer to the byte.
    const again = await statsJson(RANGE);
    assert.deepEqual(again, first);
    await checkByDay(again);
});

test('a_late_flush_into_a_closed_day_drops_its_packed_row_and_counts', async () => {
    await statsJson(RANGE);
    const i = 3;
    const d = stamp(FIRST + i * DAY_MS);
    assert.equal(Number(await stack.redis.command('EXISTS', key('pd', d))), 1);
    // As a flush of that day sent late (or by an older node): the day's
    // hour, day and HyperLogLog, 2 fields, a new visitor.
    const at = String(FIRST + (i + 1 + 400) * DAY_MS);
    const reply = await stack.redis.command(
        'FCALL', 'consentd_count', '3', key('h', `${d}23`), key('d', d), key('u', d),
        at, at, '2', 'all|shown', '5', 'l.fr|shown', '2', 'late-visitor',
    );
    assert.equal(Number(reply), 2);
    assert.equal(Number(await stack.redis.command('EXISTS', key('pd', d))), 0, 'the packed row is gone');
    const answer = await statsJson(RANGE);
    await checkByDay(answer, { [i]: { 'all|shown': 5, 'l.fr|shown': 2 } });
    assert.equal(answer.buckets[i].unique_visitors, 4, 'the late visitor counted in its day');
    assert.equal(Number(await stack.redis.command('EXISTS', key('pd', d))), 1, 'packed again');
    // Its month's rollup (packed too, if it was built) took the flush as well.
    const month = await statsJson(`?from=${isoDay(FIRST)}&to=${isoDay(TODAY - DAY_MS)}&by=month`);
    const m = month.buckets.find((b) => b.start.slice(0, 7) === isoDay(FIRST + i * DAY_MS).slice(0, 7));
    assert.ok(m);
    const [y, mo] = m.start.slice(0, 7).split('-').map(Number);
    let shown = 0;
    for (let k = 0; k < DAYS; k++) {
        const t = new Date(FIRST + k * DAY_MS);
        if (t.getUTCFullYear() === y && t.getUTCMonth() + 1 === mo) shown += dayFields(k)['all|shown'];
    }
    assert.equal(m.shown, shown + 5);
    // Undo, for the other tests: the same flush with negative counts is not
    // possible (counts are >= 0), so the day is written back by hand and its
    // packed row dropped, as any writer other than consentd_count must.
    await stack.redis.command('HINCRBY', key('d', d), 'all|shown', '-5');
    await stack.redis.command('HINCRBY', key('d', d), 'l.fr|shown', '-2');
    await stack.redis.command('DEL', key('pd', d), key('ph', `${d}23`));
});

test('by_week_and_by_month_packed_rollups_match_the_days', async () => {
    // Whole closed months inside the seed: each month's row, read twice
    // (built and packed, then packed), is the sum of its days.
    const monthFirst = (ms) => Date.UTC(new Date(ms).getUTCFullYear(), new Date(ms).getUTCMonth(), 1);
    const next = (ms) => Date.UTC(new Date(ms).getUTCFullYear(), new Date(ms).getUTCMonth() + 1, 1);
    const from = next(FIRST);
    const to = monthFirst(TODAY) - DAY_MS;
    const q = `?from=${isoDay(from)}&to=${isoDay(to)}&by=month`;
    const a = await statsJson(q);
    const b = await statsJson(q);
    assert.deepEqual(b, a);
    assert.ok(b.buckets.length >= 1);
    for (const row of b.buckets) {
        const start = Date.parse(row.start);
        let shown = 0;
        const keys = [];
        for (let t = start; t < next(start); t += DAY_MS) {
            shown += dayFields(Math.round((t - FIRST) / DAY_MS))['all|shown'];
            keys.push(key('u', stamp(t)));
        }
        assert.equal(row.shown, shown, row.start);
        assert.equal(row.unique_visitors, Number(await stack.redis.command('PFCOUNT', ...keys)), `${row.start} visitors`);
        assert.equal(Number(await stack.redis.command('EXISTS', key('pm', stamp(start).slice(0, 6)))), 1);
    }
    // By week: the first whole week of the seed.
    let monday = FIRST;
    while (new Date(monday).getUTCDay() !== 1) monday += DAY_MS;
    const w = `?from=${isoDay(monday)}&to=${isoDay(monday + 6 * DAY_MS)}&by=week`;
    const wa = await statsJson(w);
    assert.deepEqual(await statsJson(w), wa);
    let shown = 0;
    for (let k = 0; k < 7; k++) shown += dayFields(Math.round((monday - FIRST) / DAY_MS) + k)['all|shown'];
    assert.equal(wa.buckets[0].shown, shown);
    assert.equal(Number(await stack.redis.command('EXISTS', key('pw', stamp(monday)))), 1);
});
