// Segments and time to decide (issue 21, items 4 and 5): banner events and
// banner consents counted by the request's device class and browser family
// (User-Agent, Sec-CH-UA-Mobile; the banner sends nothing for it), and the
// time to decide a banner reports with a consent ("ttd", ms), counted in a
// histogram per outcome; the stats API's by_device, by_browser,
// time_to_decide and segment= CSV, checked against figures computed here.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { siteLike, startStack, test, waitFor } from './lib/harness.mjs';
import { browser, postConsent, server } from './lib/consent.mjs';
import { postEvent } from './lib/counters.mjs';

const UA = {
    iphone: 'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
    ipad: 'Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
    firefox: 'Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0',
    edge: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51',
    androidTablet: 'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
};
const PURPOSES = ['audience', 'personalisation', 'advertising', 'partners_sharing'];
const ALL = Object.fromEntries(PURPOSES.map((p) => [p, true]));
const NONE = Object.fromEntries(PURPOSES.map((p) => [p, false]));

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
    stack = await startStack({ sites: { 'seg.json': abSite('seg'), 'hist.json': abSite('hist') } });
});
after(async () => {
    await stack?.stop();
});

function stats(query, site) {
    return stack.consentd.request(`/v1/sites/${site}/stats${query}`, { headers: server() });
}

const today = () => new Date().toISOString().slice(0, 10);

test('segments_and_time_to_decide_of_what_was_sent_are_exact', async () => {
    const { consentd } = stack;
    const pv = siteLike('seg').policy_version;
    const ev = async (ua, extra = {}) => {
        const res = await postEvent(consentd, { type: 'shown', lang: 'fr', variant: 'a' }, browser({ 'user-agent': ua, ...extra }), 'seg');
        assert.equal(res.status, 204, res.text);
    };
    await ev(UA.iphone);
    await ev(UA.iphone);
    await ev(UA.ipad);
    await ev(UA.firefox);
    await ev(UA.androidTablet, { 'sec-ch-ua-mobile': '?1' }); // the hint says mobile
    const consent = async (ua, body, headers = browser({ 'user-agent': ua })) => {
        const res = await postConsent(consentd, { policy_version: pv, lang: 'fr', ...body }, headers, 'seg');
        assert.equal(res.status, 201, res.text);
    };
    await consent(UA.iphone, { decisions: ALL, control: 'accept_all', variant: 'a', ttd: 1200 });
    await consent(UA.iphone, { decisions: ALL, control: 'accept_all', variant: 'a', ttd: 1800 });
    await consent(UA.firefox, { decisions: NONE, control: 'reject_all', variant: 'b', ttd: 12000 });
    await consent(UA.edge, { decisions: NONE, control: 'dismiss', variant: 'b', ttd: 300 });
    await consent(UA.ipad, { decisions: { audience: true }, control: 'custom', variant: 'a', ttd: 9000 });
    // A bad time to decide is ignored, never refused: counted, with no time.
    await consent(UA.edge, { decisions: ALL, control: 'accept_all', variant: 'a', ttd: 1.5 });
    await consent(UA.edge, { decisions: ALL, control: 'accept_all', variant: 'a', ttd: 3600001 });
    await consent(UA.edge, { decisions: ALL, control: 'accept_all', variant: 'a', ttd: '900' });
    // A form's consent comes from the site's server: not in the segments.
    await consent(UA.iphone, { decisions: ALL, source: 'form', ttd: 5 }, server(undefined, { 'user-agent': UA.iphone }));

    const d = today();
    const body = await waitFor(
        async () => {
            const res = await stats(`?from=${d}&to=${d}`, 'seg');
            assert.equal(res.status, 200, res.text);
            const b = res.json();
            return b.total.decisions === 9 && b.total.shown === 5 ? b : null;
        },
        { timeoutMs: 5000, message: 'the counts in the stats' },
    );
    const dev = body.total.by_device;
    assert.deepEqual(Object.keys(dev), ['mobile', 'tablet', 'desktop']);
    assert.deepEqual(
        Object.fromEntries(Object.entries(dev).map(([k, v]) => [k, [v.shown, v.decisions, v.accept_all, v.reject_all, v.custom]])),
        { mobile: [3, 2, 2, 0, 0], tablet: [1, 1, 0, 0, 1], desktop: [1, 5, 3, 2, 0] },
    );
    assert.ok(Math.abs(dev.mobile.interaction_rate - 2 / 3) < 1e-6);
    assert.equal(dev.desktop.accept_all_share, 3 / 5);
    const br = body.total.by_browser;
    assert.deepEqual(Object.keys(br), ['chrome', 'edge', 'firefox', 'safari', 'samsung', 'opera', 'other']);
    assert.deepEqual(
        Object.fromEntries(Object.entries(br).map(([k, v]) => [k, [v.shown, v.decisions]])),
        { chrome: [1, 0], edge: [0, 4], firefox: [1, 1], safari: [3, 3], samsung: [0, 0], opera: [0, 0], other: [0, 0] },
    );
    const ttd = body.time_to_decide;
    assert.equal(ttd.unit, 'ms');
    assert.equal(ttd.bins_ms.length, 12);
    assert.deepEqual(
        Object.fromEntries(Object.entries(ttd.all).map(([k, v]) => [k, v.n])),
        { accept_all: 2, reject_all: 1, custom: 1, dismiss: 1 },
    );
    // Both acceptances in [1000, 2000): the median is the bin's geometric middle.
    assert.equal(ttd.all.accept_all.median, Math.round(1000 * Math.SQRT2));
    assert.ok(ttd.all.reject_all.median >= 8000 && ttd.all.reject_all.median < 16000);
    assert.ok(ttd.all.dismiss.median >= 250 && ttd.all.dismiss.median < 500);
    assert.deepEqual(Object.keys(ttd.variants), ['a', 'b']);
    assert.equal(ttd.variants.a.accept_all.n, 2);
    assert.equal(ttd.variants.a.custom.n, 1);
    assert.equal(ttd.variants.a.reject_all.n, 0);
    assert.equal(ttd.variants.a.reject_all.median, null);
    assert.equal(ttd.variants.b.reject_all.n, 1);
    assert.equal(ttd.variants.b.dismiss.n, 1);
    assert.equal(ttd.variants.b.accept_all.n, 0);
    // Under a variant filter the segments are not split: null.
    const a = (await stats(`?from=${d}&to=${d}&variant=a`, 'seg')).json();
    assert.equal(a.total.by_device, null);
    assert.equal(a.total.by_browser, null);
});

test('quartiles_are_interpolated_in_their_bin_and_segments_export_as_csv', async () => {
    const day = '20260110';
    const key = `cd:{hist:stats}:d:${day}`;
    // accept_all: 4 in [1000, 2000) (bin 3); reject_all: 2 in [8000, 16000)
    // (bin 6) and 2 in [16000, 32000) (bin 7), for variant b too.
    await stack.redis.command(
        'HSET', key,
        'all|t.accept_all.3', '4', 'all|t.reject_all.6', '2', 'all|t.reject_all.7', '2',
        'v.b|t.reject_all.6', '2', 'v.b|t.reject_all.7', '2',
        'all|decisions', '8', 'all|accept_all', '4', 'all|reject_all', '4',
        'd.mobile|shown', '10', 'd.mobile|decisions', '6', 'd.mobile|accept_all', '3', 'd.mobile|reject_all', '3',
        'd.desktop|shown', '4', 'd.desktop|decisions', '2', 'd.desktop|accept_all', '1', 'd.desktop|custom', '1',
        'b.firefox|shown', '2', 'b.firefox|decisions', '1', 'b.firefox|reject_all', '1',
    );
    const res = await stats('?from=2026-01-10&to=2026-01-10', 'hist');
    assert.equal(res.status, 200, res.text);
    const t = res.json().time_to_decide;
    // rank q*n in the bin, geometric inside it: lo * 2^f.
    assert.deepEqual(t.all.accept_all, { n: 4, p25: Math.round(1000 * 2 ** 0.25), median: Math.round(1000 * 2 ** 0.5), p75: Math.round(1000 * 2 ** 0.75) });
    assert.deepEqual(t.all.reject_all, { n: 4, p25: Math.round(8000 * 2 ** 0.5), median: 16000, p75: Math.round(16000 * 2 ** 0.5) });
    assert.deepEqual(t.variants.b.reject_all, t.all.reject_all);
    assert.equal(t.variants.a.reject_all.n, 0);

    const csv = await stats('?from=2026-01-10&to=2026-01-10&format=csv&segment=device', 'hist');
    assert.equal(csv.status, 200, csv.text);
    assert.match(csv.headers['content-type'], /^text\/csv/);
    assert.match(csv.headers['content-disposition'], /consentd-hist-2026-01-10-2026-01-10-device\.csv/);
    assert.equal(
        csv.text,
        'device,shown,decisions,accept_all,reject_all,custom,interaction_rate,accept_all_share,reject_all_share,custom_share\n' +
            'mobile,10,6,3,3,0,0.6,0.5,0.5,0\n' +
            'tablet,0,0,0,0,0,,,,\n' +
            'desktop,4,2,1,0,1,0.5,0.5,0,0.5\n',
    );
    const bcsv = await stats('?from=2026-01-10&to=2026-01-10&format=csv&segment=browser', 'hist');
    assert.match(bcsv.text, /^browser,shown,/);
    assert.match(bcsv.text, /\nfirefox,2,1,0,1,0,0\.5,0,1,0\n/);
    assert.equal(bcsv.text.trim().split('\n').length, 8);

    const bad = await stats('?segment=os', 'hist');
    assert.equal(bad.status, 400);
    assert.equal(bad.json().error.code, 'invalid_parameter');
    const withVariant = await stats('?segment=device&variant=a', 'hist');
    assert.equal(withVariant.status, 400);
});
