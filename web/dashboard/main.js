// main.js - the dashboard page: sign in with a site id and a key of the scope
// stats:read (kept in sessionStorage only; the key can erase no one), pick a range, a granularity and a variant,
// then draw the totals, the charts and the table from one stats request;
// the CSV button downloads the API's CSV for the same settings. The last
// consent scan's verdict and date (ops/scan.mjs --post) are shown beside.
import { ApiError, fetchCsv, fetchLatestScan, fetchStats } from './api.js';
import { drawChoices, drawPurposes, drawVariants, unmount, variantMetrics } from './charts.js';
import { addDays, fmtCount, fmtPoints, fmtRate, today } from './format.js';
import { drawSegments, drawTimeToDecide } from './segments.js';
import { drawTable } from './table.js';
import { loadSession, saveSession, showError } from '../shared/session.js';

const STORE = 'consentd.dashboard';
const DEFAULT_DAYS = 30;
const $ = (sel) => document.querySelector(sel);

let session = null; // {site, key}
let loading = 0; // id of the request whose answer is awaited
let shown = null; // the stats drawn last (the segment select redraws from them)

function showSignedIn(on) {
    $('#signin').hidden = on;
    $('#view').hidden = !on;
    $('#who').hidden = !on;
    $('#who-site').textContent = on ? session.site : '';
}

function query() {
    return { from: $('#from').value, to: $('#to').value, by: $('#by').value, variant: $('#variant').value };
}

function signOut(message) {
    session = null;
    saveSession(STORE, null);
    $('#key').value = '';
    for (const id of ['#chart-purposes', '#chart-choices', '#chart-variants']) unmount($(id));
    showSignedIn(false);
    showError(message);
    $('#key').focus();
}

// A refused key sends the person back to the sign-in form with the reason.
function fail(error) {
    if (error instanceof ApiError && (error.status == 401 || error.status == 403 || error.code == 'site_not_found')) {
        signOut(error.message);
        return;
    }
    showError(error instanceof ApiError ? error.message : `Something went wrong: ${error.message}`);
}

function card(label, value, detail) {
    const div = document.createElement('div');
    div.className = 'stat';
    const v = document.createElement('strong');
    v.textContent = value;
    const l = document.createElement('span');
    l.textContent = label;
    div.append(v, l);
    if (detail) {
        const d = document.createElement('small');
        d.textContent = detail;
        div.append(d);
    }
    return div;
}

function drawSummary(stats) {
    const t = stats.total;
    $('#summary').replaceChildren(
        card('banners shown', fmtCount(t.shown)),
        card('choices recorded', fmtCount(t.decisions), `interaction ${fmtRate(t.interaction_rate)}`),
        card('accept all', fmtRate(t.accept_all_share), `${fmtCount(t.accept_all)} choices`),
        card('refuse all', fmtRate(t.reject_all_share), `${fmtCount(t.reject_all)} choices`),
        card('custom', fmtRate(t.custom_share), `${fmtCount(t.custom)} choices`),
        card('unique visitors', fmtCount(t.unique_visitors)),
    );
}

// The comparisons of the API in words: difference, interval, verdict.
function drawComparisons(stats) {
    const cmp = stats.variants_comparison;
    const label = new Map(
        variantMetrics(stats).map(([key, name]) => [key, name == 'accept all' ? 'accept-all rate' : `acceptance of ${name}`]),
    );
    const items = cmp.comparisons.map((c) => {
        const li = document.createElement('li');
        const what = label.get(c.metric) || c.metric;
        if (c.difference == null) {
            li.textContent = `Variant ${c.variant} vs ${cmp.baseline}, ${what}: not enough data to compare (no choice recorded for one of them).`;
            return li;
        }
        const verdict = c.excludes_zero
            ? `the interval excludes zero: variant ${c.variant} is ${c.difference > 0 ? 'higher' : 'lower'}, a real difference at 95%.`
            : 'the interval includes zero: no significant difference.';
        li.className = c.excludes_zero ? 'significant' : '';
        li.textContent =
            `Variant ${c.variant} vs ${cmp.baseline}, ${what}: ${fmtRate(c.rate)} vs ${fmtRate(c.baseline_rate)}, ` +
            `difference ${fmtPoints(c.difference)} points (95% CI ${fmtPoints(c.ci_low)} to ${fmtPoints(c.ci_high)}); ${verdict}`;
        return li;
    });
    $('#variants-text').replaceChildren(...items);
}

function fillVariants(stats) {
    const select = $('#variant');
    const current = select.value;
    const options = [new Option('all variants', '')];
    for (const v of stats.variants || []) options.push(new Option(`variant ${v}`, v));
    select.replaceChildren(...options);
    select.value = (stats.variants || []).includes(current) ? current : '';
    select.disabled = !(stats.variants || []).length;
}

// "Pass, 2026-12-05 03:40 UTC: 3 pages, 0 violations, ..." or "No scan yet."
function drawScan(scan) {
    const p = $('#scan-text');
    if (!scan) {
        p.textContent = 'No scan yet.';
        delete p.dataset.verdict;
        return;
    }
    const verdict = document.createElement('strong');
    verdict.className = scan.verdict == 'pass' ? 'pass' : 'fail';
    verdict.textContent = scan.verdict == 'pass' ? 'Pass' : 'Fail';
    const when = scan.scanned_at.slice(0, 16).replace('T', ' ') + ' UTC';
    p.replaceChildren(
        verdict,
        `, ${when}: ${scan.pages} pages; ${scan.violations} violations, ${scan.undeclared} undeclared, ` +
            `${scan.leftover} leftover, ${scan.stale} stale (${scan.scanner})`,
    );
    p.dataset.verdict = scan.verdict;
}

function draw(stats) {
    const unit = stats.by;
    for (const el of document.querySelectorAll('.unit')) el.textContent = unit;
    drawSummary(stats);
    drawPurposes($('#chart-purposes'), stats);
    drawChoices($('#chart-choices'), stats);
    const box = $('#variants-card');
    if (stats.variants_comparison) {
        box.hidden = false;
        const cmp = stats.variants_comparison;
        $('#variants-caption').textContent =
            `rate per variant over the whole range with its 95% interval (Wilson score); differences against variant ${cmp.baseline}: ${cmp.method}` +
            (stats.variant ? '. Compared over every variant, whatever the filter.' : '');
        drawVariants($('#chart-variants'), stats);
        drawComparisons(stats);
    } else {
        unmount($('#chart-variants'));
        box.hidden = true;
    }
    drawSegments($('#segments'), $('#segments-note'), stats, $('#segment').value);
    drawTimeToDecide($('#ttd'), stats);
    drawTable($('#table'), stats);
    shown = stats;
}

async function load() {
    const q = query();
    const id = ++loading;
    showError('');
    $('#status').textContent = 'Loading…';
    document.body.classList.add('busy');
    try {
        const scan = fetchLatestScan(session).catch((e) => e);
        const stats = await fetchStats(session, q);
        const latest = await scan;
        if (id != loading) return;
        if (latest instanceof Error) {
            $('#scan-text').textContent = `The last scan could not be read: ${latest.message}`;
        } else {
            drawScan(latest);
        }
        fillVariants(stats);
        draw(stats);
        const variant = stats.variant ? `variant ${stats.variant}` : 'all variants';
        $('#status').textContent =
            `${stats.from} to ${stats.to} (UTC), by ${stats.by}, ${variant}: ${stats.buckets.length} ${stats.by}s, ` +
            `loaded ${new Date().toISOString().slice(11, 19)} UTC`;
        document.body.dataset.loaded = String(id);
    } catch (error) {
        if (id != loading) return;
        $('#status').textContent = '';
        fail(error);
    } finally {
        if (id == loading) document.body.classList.remove('busy');
    }
}

async function downloadCsv() {
    const button = $('#csv');
    button.disabled = true;
    showError('');
    try {
        const { blob, name } = await fetchCsv(session, query());
        const url = URL.createObjectURL(blob);
        const a = document.createElement('a');
        a.href = url;
        a.download = name;
        document.body.append(a);
        a.click();
        a.remove();
        setTimeout(() => URL.revokeObjectURL(url), 60e3);
    } catch (error) {
        fail(error);
    } finally {
        button.disabled = false;
    }
}

function start() {
    const to = today();
    $('#to').value = to;
    $('#from').value = addDays(to, -(DEFAULT_DAYS - 1));
    const fromUrl = new URLSearchParams(location.search).get('site');
    session = loadSession(STORE, (s) => s.site && s.key);
    $('#site').value = session?.site || fromUrl || '';

    $('#signin-form').addEventListener('submit', (e) => {
        e.preventDefault();
        session = { site: $('#site').value.trim(), key: $('#key').value.trim() };
        saveSession(STORE, session);
        $('#key').value = '';
        showSignedIn(true);
        load();
    });
    $('#signout').addEventListener('click', () => signOut(''));
    $('#filters').addEventListener('submit', (e) => {
        e.preventDefault();
        load();
    });
    for (const id of ['#by', '#variant']) $(id).addEventListener('change', () => load());
    $('#csv').addEventListener('click', downloadCsv);
    $('#segment').addEventListener('change', () => shown && drawSegments($('#segments'), $('#segments-note'), shown, $('#segment').value));

    if (session) {
        showSignedIn(true);
        load();
    } else {
        showSignedIn(false);
        ($('#site').value ? $('#key') : $('#site')).focus();
    }
}

start();
