// segments.js - two views of the stats API's total: the segments (banner
// figures by device class or browser family, total.by_device and
// total.by_browser) as a table with the accept-all share drawn as a meter,
// and the time to decide (time_to_decide): per variant, the median and
// quartiles of accepting and of refusing side by side, and how many times
// longer a refusal takes. Each cell carries the API's raw value in
// data-value, so that the page can be checked against the API.
import { fmtCount, fmtRate } from './format.js';

const el = (tag, props = {}, ...kids) => {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(props)) {
        if (k == 'data') for (const [d, dv] of Object.entries(v)) e.dataset[d] = dv == null ? '' : String(dv);
        else e[k] = v;
    }
    e.append(...kids);
    return e;
};

const SEGMENT_TITLES = { device: 'device', browser: 'browser', page: 'page group' };

// The table of one segment ('device' or 'browser'); a message when the
// API has none (under a variant filter).
export function drawSegments(table, note, stats, segment) {
    const rows = stats.total[`by_${segment}`];
    if (!rows) {
        table.replaceChildren();
        note.textContent = stats.variant
            ? 'Segments are not split by variant: choose "all variants" to see them.'
            : 'This site declares no page groups (page_groups in its site file).';
        return;
    }
    note.textContent = '';
    const head = el(
        'tr',
        {},
        el('th', { scope: 'col' }, SEGMENT_TITLES[segment]),
        ...['banners shown', 'choices', 'interaction', 'accept all', 'refuse all', 'accept all share'].map((t) =>
            el('th', { scope: 'col' }, t),
        ),
    );
    const body = Object.entries(rows).map(([name, r]) =>
        el(
            'tr',
            { data: { segment: name } },
            el('th', { scope: 'row' }, name),
            el('td', { data: { key: 'shown', value: r.shown } }, fmtCount(r.shown)),
            el('td', { data: { key: 'decisions', value: r.decisions } }, fmtCount(r.decisions)),
            el('td', { data: { key: 'interaction_rate', value: r.interaction_rate } }, fmtRate(r.interaction_rate)),
            el('td', { data: { key: 'accept_all_share', value: r.accept_all_share } }, fmtRate(r.accept_all_share)),
            el('td', { data: { key: 'reject_all_share', value: r.reject_all_share } }, fmtRate(r.reject_all_share)),
            el(
                'td',
                { className: 'bar' },
                el('meter', {
                    min: 0,
                    max: 1,
                    value: r.accept_all_share ?? 0,
                    title: `${name}: accept all ${fmtRate(r.accept_all_share)}`,
                }),
            ),
        ),
    );
    table.replaceChildren(el('thead', {}, head), el('tbody', {}, ...body));
    for (const m of table.querySelectorAll('meter')) m.setAttribute('aria-label', m.title);
}

const seconds = (ms) => (ms == null ? '–' : ms < 10000 ? `${(ms / 1000).toFixed(1)} s` : `${Math.round(ms / 1000)} s`);

// "2.4 s (1.6–3.8)": median and interquartile range, or "–".
const quartiles = (q) => (q.n ? `${seconds(q.median)} (${seconds(q.p25)}–${seconds(q.p75)})` : '–');

// The time-to-decide table: a row for all visitors and one per variant.
export function drawTimeToDecide(table, stats) {
    const t = stats.time_to_decide;
    const head = el(
        'tr',
        {},
        el('th', { scope: 'col' }, 'visitors'),
        el('th', { scope: 'col' }, 'accept all: median (IQR)'),
        el('th', { scope: 'col' }, 'refuse all: median (IQR)'),
        el('th', { scope: 'col' }, 'refusal / acceptance'),
        el('th', { scope: 'col' }, 'custom'),
        el('th', { scope: 'col' }, 'closed (dismiss)'),
    );
    const row = (label, key, o) => {
        const ratio = o.accept_all.median && o.reject_all.median ? o.reject_all.median / o.accept_all.median : null;
        return el(
            'tr',
            { data: { variant: key }, className: ratio != null && ratio >= 2 ? 'asymmetric' : '' },
            el('th', { scope: 'row' }, label),
            el(
                'td',
                { data: { key: 'accept_all', value: o.accept_all.median } },
                quartiles(o.accept_all),
                el('small', {}, ` n=${fmtCount(o.accept_all.n)}`),
            ),
            el(
                'td',
                { data: { key: 'reject_all', value: o.reject_all.median } },
                quartiles(o.reject_all),
                el('small', {}, ` n=${fmtCount(o.reject_all.n)}`),
            ),
            el(
                'td',
                { data: { key: 'ratio', value: ratio == null ? null : ratio.toFixed(2) } },
                ratio == null ? '–' : `× ${ratio.toFixed(1)}`,
            ),
            el('td', { data: { key: 'custom', value: o.custom.median } }, quartiles(o.custom)),
            el('td', { data: { key: 'dismiss', value: o.dismiss.median } }, quartiles(o.dismiss)),
        );
    };
    const rows = [row('all', '', t.all), ...Object.entries(t.variants).map(([v, o]) => row(`variant ${v}`, v, o))];
    table.replaceChildren(el('thead', {}, head), el('tbody', {}, ...rows));
}
