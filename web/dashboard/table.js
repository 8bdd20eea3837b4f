// table.js - the numbers behind the charts: one row per bucket and a total
// row, the columns of the API's CSV in the same order. Each cell carries the
// API's raw value in data-value (empty for null), so it can be checked.
import { bucketLabel, bucketName, fmtCount, fmtRate } from './format.js';

const COUNTS = ['shown', 'dismissed', 'panel_opened', 'decisions', 'accept_all', 'reject_all', 'custom', 'withdrawn', 'unique_visitors'];
const RATES = ['interaction_rate', 'accept_all_share', 'reject_all_share', 'custom_share'];
const TITLES = {
    shown: 'shown',
    dismissed: 'dismissed',
    panel_opened: 'panel opened',
    decisions: 'decisions',
    accept_all: 'accept all',
    reject_all: 'refuse all',
    custom: 'custom',
    withdrawn: 'withdrawn',
    unique_visitors: 'unique visitors',
    interaction_rate: 'interaction',
    accept_all_share: 'accept all share',
    reject_all_share: 'refuse all share',
    custom_share: 'custom share',
};

// [key (as in the CSV header), title, reader, kind] for every column.
export function columns(stats) {
    const cols = [];
    for (const k of COUNTS) cols.push([k, TITLES[k], (b) => b[k], 'count']);
    for (const k of RATES) cols.push([k, TITLES[k], (b) => b[k], 'rate']);
    for (const p of stats.purposes) {
        cols.push([`${p}_granted`, `${p} granted`, (b) => b.purposes?.[p]?.granted, 'count']);
        cols.push([`${p}_refused`, `${p} refused`, (b) => b.purposes?.[p]?.refused, 'count']);
        cols.push([`${p}_acceptance_rate`, `${p} acceptance`, (b) => b.purposes?.[p]?.acceptance_rate, 'rate']);
    }
    return cols;
}

function cell(tag, text, attrs = {}) {
    const el = document.createElement(tag);
    el.textContent = text;
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    return el;
}

function row(tag, label, bucket, cols, labelAttrs) {
    const tr = document.createElement('tr');
    tr.append(cell('th', label, { scope: 'row', ...labelAttrs }));
    for (const [key, , read, kind] of cols) {
        const v = read(bucket);
        tr.append(cell(tag, kind == 'rate' ? fmtRate(v) : fmtCount(v), { 'data-key': key, 'data-value': v == null ? '' : String(v) }));
    }
    return tr;
}

export function drawTable(table, stats) {
    const cols = columns(stats);
    const head = document.createElement('thead');
    const htr = document.createElement('tr');
    htr.append(cell('th', bucketName(stats.by), { scope: 'col', 'data-key': 'start' }));
    for (const [key, title] of cols) htr.append(cell('th', title, { scope: 'col', 'data-key': key }));
    head.append(htr);
    const body = document.createElement('tbody');
    for (const b of stats.buckets) body.append(row('td', bucketLabel(b.start, stats.by), b, cols, { 'data-start': b.start }));
    const foot = document.createElement('tfoot');
    foot.append(row('td', 'total', stats.total, cols, { 'data-start': 'total' }));
    table.replaceChildren(head, body, foot);
}
