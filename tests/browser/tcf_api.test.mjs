// IAB TCF in Chromium (issue 24, items 5 and 3): the CMP API of a TCF site's
// banner (web/banner/features/tcf.js) and its stub
// (GET /v1/sites/{site}/tcf-stub.js). The site works with the first 100
// vendors of the fixture GVL (tests/fixtures/gvl/, version 17).
//   - calls made before the banner loads are queued by the stub (ping answers
//     "stub" at once) and answered after load; cmpStatus goes stub -> loading
//     (the banner ran, the DOM is not ready) -> loaded;
//   - addEventListener fires cmpuishown, then useractioncomplete after a
//     choice; a reload fires tcloaded with the same choice; removeEventListener;
//   - a vendor in a cross-origin iframe finds __tcfapiLocator and gets its
//     answers by postMessage (object and string forms), with and without the stub;
//   - the second layer is axe-clean and keyboard-usable (search, switches, save);
//   - the TCF site's banner size is printed against its 25 KB gzip budget.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { after, before } from 'node:test';
import { TCString } from '@iabtechlabtcf/core';
import { SOURCE_DIR, makeTempDir, test, waitFor } from '../http/lib/harness.mjs';
import { AXE_PATH, DEMO_KEY, bannerPage, choiceCookie, newPage, servedConfig, startBannerStack, waitOpen, waitRecorded } from './lib/browser.mjs';

const FIXTURES = path.join(SOURCE_DIR, 'tests', 'fixtures', 'gvl');
const GVL = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'vendor-list-v17.json'), 'utf8'));
const VENDORS = Object.values(GVL.vendors)
    .filter((v) => !v.deletedDate)
    .map((v) => v.id)
    .sort((a, b) => a - b)
    .slice(0, 100);
const TCF = { cmp_id: 300, cmp_version: 2, publisher_cc: 'FR', vendors: VENDORS, stacks: [1, 2] };
const BUDGET = 25 * 1024;
const VENDOR_ORIGIN = 'http://vendor.example';

function gvlStore() {
    const dir = makeTempDir('gvl');
    for (const f of fs.readdirSync(FIXTURES).filter((n) => n.endsWith('.json'))) fs.copyFileSync(path.join(FIXTURES, f), path.join(dir, f));
    return dir;
}

let stack, stubUrl;
before(async () => {
    stack = await startBannerStack({ config: { tcf: { gvl_dir: gvlStore() } }, siteOver: { tcf: TCF } });
    stubUrl = stack.bannerUrl.replace('banner.js', 'tcf-stub.js');
});
after(async () => {
    await stack?.stop();
});

const uniq = (a) => [...new Set(a)].sort((x, y) => x - y);
/* The ids set in one of the IAB library's vectors. */
const ids = (vector) => {
    const out = [];
    vector.forEach((on, id) => on && out.push(id));
    return out.sort((a, b) => a - b);
};
/* The TCData's {id: true|false} map as the ids set. */
const yes = (map) => Object.keys(map).filter((id) => map[id]).map(Number).sort((a, b) => a - b);
const declared = (key) => uniq(VENDORS.flatMap((id) => GVL.vendors[id][key]));

/* A page with the stub first, calls to __tcfapi before the banner, and the
 * banner (its response held back `delayMs` so that the calls are queued). */
async function tcfPage({ delayMs = 600, stub = true, body = '' } = {}) {
    const head = `${stub ? `<script src="${stubUrl}"></script>` : ''}
<script>
window.log = [];
window.vendorLog = [];
window.addEventListener('message', (e) => e.data && e.data.fromVendor && vendorLog.push(e.data.fromVendor));
if (window.__tcfapi) {
  // Each answer notes whether the banner had run (window.consentd).
  __tcfapi('ping', 2, (r, ok) => log.push(['ping', r, ok, !!window.consentd]));
  __tcfapi('getTCData', 2, (r, ok) => log.push(['get', r, ok, !!window.consentd]));
  __tcfapi('addEventListener', 2, (r, ok) => log.push(['event', r, ok, !!window.consentd]));
}
</script>`;
    const url = stack.pages.set(`/tcf-${Math.random().toString(36).slice(2)}.html`, bannerPage(stack, { head, body }));
    const page = await newPage(stack);
    await page.route(stack.bannerUrl, async (route) => {
        await new Promise((r) => setTimeout(r, delayMs));
        await route.continue();
    });
    await page.route(`${VENDOR_ORIGIN}/**`, (route) => route.fulfill({ contentType: 'text/html', body: VENDOR_FRAME }));
    await page.goto(url);
    return page;
}

/* A vendor's iframe on another origin: finds the locator frame up its
 * parents, calls getTCData and ping through postMessage (one as an object,
 * one as a JSON string), and hands the answers to the top page. */
const VENDOR_FRAME = `<!doctype html><html lang="en"><title>vendor</title><script>
let cmp = null;
function find() {
  for (let f = window; ; f = f.parent) {
    try { if (f.frames.__tcfapiLocator) return f; } catch (e) {}
    if (f === window.top) return null;
  }
}
window.addEventListener('message', (e) => {
  let d = e.data, str = typeof d === 'string';
  if (str) d = JSON.parse(d);
  if (d && d.__tcfapiReturn) top.postMessage({ fromVendor: { ...d.__tcfapiReturn, str } }, '*');
});
function call() {
  cmp = cmp || find();
  cmp.postMessage({ __tcfapiCall: { command: 'getTCData', version: 2, callId: 'obj-1' } }, '*');
  cmp.postMessage(JSON.stringify({ __tcfapiCall: { command: 'ping', version: 2, callId: 'str-2' } }), '*');
}
// The stub adds the locator once the page has a body (every 5 ms until
// then, as the IAB's reference stub does); a vendor frame that runs first
// looks again for a while, as vendors' own code does before giving up.
(function look(tries) {
  cmp = cmp || find();
  if (cmp) call();
  else if (tries > 0) setTimeout(() => look(tries - 1), 20);
  else top.postMessage({ fromVendor: { error: 'no locator' } }, '*');
})(100);
window.again = call;
</script></html>`;

const events = (page) => page.evaluate(() => log.filter((l) => l[0] === 'event').map((l) => l[1].eventStatus));
const api = (page, command, param) =>
    page.evaluate(([c, p]) => new Promise((done) => __tcfapi(c, 2, (r, ok) => done({ r, ok }), p)), [command, param]);

test('stub_is_served_for_the_tcf_site_as_a_cacheable_script', async () => {
    const r = await stack.consentd.request('/v1/sites/demo/tcf-stub.js');
    assert.equal(r.status, 200);
    assert.match(r.headers['content-type'], /^application\/javascript/);
    assert.ok(r.headers.etag, 'an ETag');
    assert.match(r.text, /__tcfapiLocator/);
    assert.match(r.text, /cmpStatus:"stub"/);
    assert.match(r.text, /cmpId:300,cmpVersion:2,gvlVersion:17/);
    assert.equal((await stack.consentd.request('/v1/sites/nosuch/tcf-stub.js')).status, 404);
});

test('queued_calls_are_answered_after_load_and_events_follow_the_choice', async () => {
    const page = await tcfPage();
    // The stub answered ping at once, before the banner.
    const first = await page.evaluate(() => log.filter((l) => !l[3]));
    assert.deepEqual(first.map((l) => l[0]), ['ping'], 'only ping answered before the banner ran');
    assert.deepEqual(first[0][1], {
        gdprApplies: true, cmpLoaded: false, cmpStatus: 'stub', displayStatus: 'hidden',
        apiVersion: '2.2', cmpId: 300, cmpVersion: 2, gvlVersion: 17, tcfPolicyVersion: GVL.tcfPolicyVersion,
    });
    await waitOpen(page);
    await waitFor(() => page.evaluate(() => log.length >= 3), { message: 'queued calls answered' });
    const get = await page.evaluate(() => log.find((l) => l[0] === 'get'));
    assert.equal(get[3], true, 'answered once the banner ran');
    assert.equal(get[2], true, 'success');
    assert.equal(get[1].cmpStatus, 'loaded');
    assert.equal(get[1].gdprApplies, true);
    assert.equal(get[1].cmpId, 300);
    assert.equal(get[1].publisherCC, 'FR');
    assert.equal(get[1].isServiceSpecific, true);
    assert.equal(get[1].tcString, undefined, 'no TC string before a choice');
    assert.deepEqual(await events(page), ['cmpuishown']);
    const ping = (await api(page, 'ping')).r;
    assert.equal(ping.cmpStatus, 'loaded');
    assert.equal(ping.cmpLoaded, true);
    assert.equal(ping.displayStatus, 'visible');
    assert.equal(ping.gvlVersion, 17);

    await page.locator('consentd-ui dialog').getByRole('button', { name: 'Tout accepter', exact: true }).click();
    await waitFor(async () => (await events(page)).includes('useractioncomplete'), { timeoutMs: 15000, message: 'useractioncomplete' });
    await waitRecorded(page);
    const done = await page.evaluate(() => log.filter((l) => l[0] === 'event').pop()[1]);
    assert.equal(done.eventStatus, 'useractioncomplete');
    assert.equal(typeof done.listenerId, 'number');
    for (const p of declared('purposes')) assert.equal(done.purpose.consents[p], true, `purpose ${p} consented`);
    for (const p of declared('legIntPurposes').filter((p) => p > 6 || p === 2)) assert.equal(done.purpose.legitimateInterests[p], true, `purpose ${p} LI`);
    for (const f of declared('specialFeatures')) assert.equal(done.specialFeatureOptins[f], true, `special feature ${f}`);
    for (const id of VENDORS) {
        const v = GVL.vendors[id];
        assert.equal(done.vendor.consents[id], v.purposes.length > 0, `vendor ${id} consent`);
    }
    // The TC string consentd encoded from the tcf member the banner sent,
    // read by the IAB's library: the same choice as the TCData.
    assert.match(done.tcString, /^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)+$/, 'the TC string consentd signed');
    const m = TCString.decode(done.tcString);
    assert.equal(m.cmpId, 300);
    assert.equal(m.cmpVersion, 2);
    assert.equal(m.vendorListVersion, 17);
    assert.equal(m.publisherCountryCode, 'FR');
    assert.deepEqual(ids(m.purposeConsents), yes(done.purpose.consents));
    assert.deepEqual(ids(m.purposeLegitimateInterests), yes(done.purpose.legitimateInterests));
    assert.deepEqual(ids(m.specialFeatureOptins), yes(done.specialFeatureOptins));
    assert.deepEqual(ids(m.vendorConsents), yes(done.vendor.consents));
    assert.deepEqual(ids(m.vendorsDisclosed), VENDORS, 'every vendor of the site disclosed');
    assert.equal((await api(page, 'ping')).r.displayStatus, 'hidden');
    // Google Consent Mode keeps working beside TCF: the core's update, from
    // the site's own purposes, which "Accept all" granted.
    const update = await page.evaluate(() =>
        (window.dataLayer || []).map((a) => Array.from(a)).filter((a) => a[0] === 'consent' && a[1] === 'update').pop());
    assert.ok(update && Object.values(update[2]).includes('granted'), `a Consent Mode update granting: ${JSON.stringify(update)}`);

    // Refuse through the second layer's buttons after reopening: every consent off.
    const id = (await page.evaluate(() => log.find((l) => l[0] === 'event')[1].listenerId));
    assert.deepEqual(await api(page, 'removeEventListener', id), { r: true, ok: true });
    assert.deepEqual(await api(page, 'removeEventListener', id), { r: false, ok: true }, 'a second time: no such listener');

    // A reload: the choice is there, tcloaded at once, the same TCData.
    await page.reload();
    await waitFor(() => page.evaluate(() => log.some((l) => l[0] === 'event')), { message: 'event after reload' });
    const again = await page.evaluate(() => log.find((l) => l[0] === 'event')[1]);
    assert.equal(again.eventStatus, 'tcloaded');
    assert.deepEqual(again.vendor.consents, done.vendor.consents);
    assert.equal(again.tcString, done.tcString, 'the TC string kept client-side');

    // A second choice on that page: "Refuse all" from the cookie settings
    // control; a new TC string refusing every consent and legitimate interest.
    await page.locator('consentd-ui button.m').click();
    await page.locator('consentd-ui dialog').getByRole('button', { name: 'Tout refuser', exact: true }).click();
    await waitFor(async () => (await events(page)).includes('useractioncomplete'), { timeoutMs: 15000, message: 'useractioncomplete again' });
    const refused = await page.evaluate(() => log.filter((l) => l[0] === 'event').pop()[1]);
    assert.notEqual(refused.tcString, done.tcString, 'a new TC string');
    const r = TCString.decode(refused.tcString);
    assert.deepEqual([ids(r.purposeConsents), ids(r.purposeLegitimateInterests), ids(r.vendorConsents)], [[], [], []]);
    // Legitimate interests all objected to, but for vendors declaring only
    // special purposes (no objection possible): the TCData says the same.
    const spOnly = VENDORS.filter((id) => !GVL.vendors[id].purposes.length && !GVL.vendors[id].legIntPurposes.length && GVL.vendors[id].specialPurposes.length);
    assert.deepEqual(ids(r.vendorLegitimateInterests), spOnly);
    assert.deepEqual(yes(refused.vendor.legitimateInterests), spOnly);
    assert.deepEqual(yes(refused.vendor.consents), []);
    assert.deepEqual(page.problems, []);
    await page.context().close();
});

test('cmp_status_is_loading_until_the_dom_is_ready_then_loaded', async () => {
    // The banner as a synchronous script in the head: it has run, the DOM is
    // not ready. ping says "loading"; getTCData waits for "loaded".
    const head = `<script src="${stubUrl}"></script>
<script src="${stack.bannerUrl}"></script>
<script>
window.log = [];
__tcfapi('ping', 2, (r) => log.push(['ping', r.cmpStatus, r.cmpLoaded, document.readyState]));
__tcfapi('getTCData', 2, (r) => log.push(['get', r.cmpStatus, document.readyState]));
</script>`;
    const url = stack.pages.set('/tcf-sync.html', `<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>sync</title>${head}</head><body><main><h1>Sync</h1></main></body></html>`);
    const page = await newPage(stack);
    await page.goto(url);
    await waitOpen(page);
    const log = await page.evaluate(() => log);
    assert.deepEqual(log[0], ['ping', 'loading', false, 'loading'], 'ping while loading');
    assert.equal(log[1][0], 'get');
    assert.equal(log[1][1], 'loaded', 'getTCData answered once loaded');
    assert.notEqual(log[1][2], 'loading', 'after the DOM was ready');
    assert.equal((await api(page, 'ping')).r.cmpStatus, 'loaded');
    assert.deepEqual(page.problems, []);
    await page.context().close();
});

test('a_choice_pending_when_consentd_was_unreachable_is_sent_with_its_tcf_choice_from_the_next_page', async () => {
    const page = await tcfPage({ delayMs: 0 });
    await waitOpen(page);
    await page.route('**/v1/sites/demo/consents', (route) => route.abort());
    await page.locator('consentd-ui dialog').getByRole('button', { name: 'Tout accepter', exact: true }).click();
    await waitFor(async () => (await choiceCookie(page))?.q === 1, { message: 'the pending choice' });
    await page.unroute('**/v1/sites/demo/consents');
    // Before the core's first retry (4 s), the next page.
    await page.reload();
    await waitRecorded(page);
    await waitFor(async () => (await api(page, 'getTCData')).r.tcString, { timeoutMs: 10000, message: 'the TC string' });
    const tc = (await api(page, 'getTCData')).r;
    assert.equal(tc.eventStatus, 'tcloaded');
    const m = TCString.decode(tc.tcString);
    assert.deepEqual(ids(m.vendorConsents), yes(tc.vendor.consents), 'the TC string has the accepted consents');
    assert.ok(ids(m.vendorConsents).length > 90, 'consents given');
    assert.deepEqual(ids(m.purposeConsents), declared('purposes'));
    await page.context().close();
});

// Issue 24 defect 1: the core's retry on the same page (consentd unreachable
// at the click) sends the same body, its tcf member included: the stored
// record's TC string grants what the visitor accepted, not a refusal.
test('a_choice_retried_on_the_same_page_records_the_tc_string_of_the_choice', async () => {
    const page = await tcfPage({ delayMs: 0 });
    await waitOpen(page);
    const bodies = [];
    await page.route('**/v1/sites/demo/consents', async (route) => {
        bodies.push(JSON.parse(route.request().postData()));
        if (bodies.length === 1) await route.abort();
        else await route.continue();
    });
    await page.locator('consentd-ui dialog').getByRole('button', { name: 'Tout accepter', exact: true }).click();
    // The core retries after 4 s on this page; no reload.
    const c = await waitRecorded(page, { timeoutMs: 15000 });
    assert.equal(bodies.length, 2, 'one failed send, one retry');
    assert.ok(bodies[1].tcf, 'the retry carries the tcf member');
    assert.deepEqual(bodies[1], bodies[0], 'the retry sends the same body');
    const stored = await stack.consentd.request(`/v1/sites/demo/consents/${c.v}`, { headers: { authorization: `Bearer ${DEMO_KEY}` } });
    assert.equal(stored.status, 200);
    const m = TCString.decode(stored.json().tc_string);
    const consentVendors = VENDORS.filter((id) => GVL.vendors[id].purposes.length > 0);
    assert.deepEqual(ids(m.vendorConsents), consentVendors, 'the stored TC string has every consent accepted');
    assert.deepEqual(ids(m.purposeConsents), declared('purposes'));
    assert.deepEqual(ids(m.specialFeatureOptins), declared('specialFeatures'));
    await waitFor(async () => (await events(page)).includes('useractioncomplete'), { timeoutMs: 15000, message: 'useractioncomplete' });
    const done = await page.evaluate(() => log.filter((l) => l[0] === 'event').pop()[1]);
    assert.equal(done.tcString, stored.json().tc_string, 'the TCData has the stored string');
    assert.deepEqual(page.problems, []);
    await page.context().close();
});

// "Continue without accepting" goes through the core's dismiss, which also
// sends a "dismissed" event: the tcf member goes with the consent POST only
// (the events endpoint refuses unknown members).
test('continue_without_accepting_sends_the_tcf_choice_and_a_clean_dismissed_event', async () => {
    const page = await tcfPage({ delayMs: 0 });
    await waitOpen(page);
    const sent = [];
    page.on('request', (r) => {
        if (r.method() === 'POST' && /\/v1\/sites\/demo\/(consents|events)$/.test(r.url())) sent.push(r);
    });
    await page.locator('consentd-ui dialog button.x').click();
    const c = await waitRecorded(page);
    await waitFor(() => sent.some((r) => r.url().endsWith('/events') && JSON.parse(r.postData()).type === 'dismissed'), { message: 'the dismissed event' });
    const consent = sent.find((r) => r.url().endsWith('/consents'));
    assert.ok(JSON.parse(consent.postData()).tcf, 'the consent POST carries tcf');
    const dismissed = sent.find((r) => r.url().endsWith('/events') && JSON.parse(r.postData()).type === 'dismissed');
    assert.equal(JSON.parse(dismissed.postData()).tcf, undefined, 'the event does not');
    assert.equal((await dismissed.response()).status(), 204, 'the event is accepted');
    const stored = await stack.consentd.request(`/v1/sites/demo/consents/${c.v}`, { headers: { authorization: `Bearer ${DEMO_KEY}` } });
    const m = TCString.decode(stored.json().tc_string);
    assert.deepEqual(ids(m.vendorConsents), [], 'no consent');
    assert.ok(ids(m.vendorLegitimateInterests).length > 0, 'legitimate interests kept');
    await page.context().close();
});

for (const stub of [true, false]) {
    test(`a_cross_origin_iframe_gets_answers_by_postmessage_${stub ? 'with' : 'without'}_the_stub`, async () => {
        const page = await tcfPage({ stub, delayMs: stub ? 600 : 0, body: `<iframe id="vendor" title="vendor" src="${VENDOR_ORIGIN}/frame.html"></iframe>` });
        await waitOpen(page);
        if (!stub) {
            // Without the stub the locator comes with the banner: ask again.
            await waitFor(() => page.evaluate(() => !!window.frames.__tcfapiLocator), { message: 'the locator frame' });
            await page.frameLocator('#vendor').locator('html').evaluate(() => window.again());
        }
        // Two answers, or the vendor frame's complaint (asserted below).
        await waitFor(() => page.evaluate(() => vendorLog.filter((m) => m.callId).length >= 2 || vendorLog.some((m) => m.error)), { message: 'answers in the vendor frame' });
        assert.deepEqual(await page.evaluate(() => vendorLog.filter((m) => m.error)), [], 'the vendor frame found the locator');
        const log = await page.evaluate(() => vendorLog.filter((m) => m.callId));
        const get = log.find((m) => m.callId === 'obj-1');
        const ping = log.find((m) => m.callId === 'str-2');
        assert.equal(get.success, true);
        assert.equal(get.str, false, 'an object call is answered with an object');
        assert.equal(get.returnValue.cmpStatus, 'loaded', 'answered by the banner, after load');
        assert.equal(get.returnValue.cmpId, 300);
        assert.ok(Object.keys(get.returnValue.vendor.consents).length === 100, 'every vendor in vendor.consents');
        assert.equal(ping.str, true, 'a string call is answered with a string');
        assert.equal(ping.returnValue.gdprApplies, true);
        assert.deepEqual(await page.evaluate(() => document.querySelectorAll('iframe[name="__tcfapiLocator"]').length), 1, 'one locator');
        await page.context().close();
    });
}

test('second_layer_is_axe_clean_and_keyboard_usable', async () => {
    const page = await tcfPage({ delayMs: 0 });
    await waitOpen(page);
    const dialog = page.locator('consentd-ui dialog');
    // First layer: the number of vendors, the stacks, legitimate interest.
    const intro = await dialog.locator('#cd').innerText();
    assert.match(intro, /100 partenaires/);
    assert.match(intro, /intérêt légitime/);
    await dialog.getByRole('button', { name: 'Personnaliser', exact: true }).click();
    await dialog.getByRole('searchbox').waitFor();
    await page.addScriptTag({ path: AXE_PATH });
    const result = await page.evaluate(() => axe.run(document, { resultTypes: ['violations'] }));
    assert.deepEqual(result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' > ')).join(', ')}`), [], 'axe: no violation');

    // Keyboard: search, open a vendor, object to its legitimate interest, save.
    await dialog.getByRole('searchbox').focus();
    await page.keyboard.type('quantcast');
    const visible = await dialog.locator('ul.v > li:not([hidden])').count();
    assert.equal(visible, 1, 'the search leaves Quantcast');
    await page.keyboard.press('Tab'); // its summary
    await page.keyboard.press('Enter');
    assert.equal(await dialog.locator('ul.v > li:not([hidden]) details').getAttribute('open'), '', 'opened with Enter');
    const li = dialog.getByRole('switch', { name: /Intérêt légitime.*Quantcast/ });
    assert.equal(await li.isChecked(), true, 'legitimate interest on by default');
    await li.focus();
    await page.keyboard.press('Space');
    assert.equal(await li.isChecked(), false, 'objected with the keyboard');
    // Tab from the last control comes back to the first: focus stays in the dialog.
    await dialog.getByRole('button', { name: 'Enregistrer mes choix', exact: true }).focus();
    await page.keyboard.press('Tab');
    assert.equal(await page.evaluate(() => document.querySelector('consentd-ui').shadowRoot.activeElement?.className), 'x', 'Tab wraps to the first control');
    await page.keyboard.press('Shift+Tab');
    assert.equal(await page.evaluate(() => document.querySelector('consentd-ui').shadowRoot.activeElement?.textContent), 'Enregistrer mes choix', 'Shift+Tab wraps back');
    await page.keyboard.press('Enter');
    await waitRecorded(page);
    const tc = (await api(page, 'getTCData')).r;
    assert.equal(tc.vendor.legitimateInterests[11], false, 'Quantcast: objection recorded');
    assert.equal(tc.vendor.legitimateInterests[8], true, 'another LI vendor untouched');
    await waitFor(async () => (await api(page, 'getTCData')).r.tcString, { timeoutMs: 10000, message: 'the TC string' });
    const m = TCString.decode((await api(page, 'getTCData')).r.tcString);
    assert.equal(m.vendorLegitimateInterests.has(11), false, 'the TC string says Quantcast was objected to');
    assert.equal(m.vendorLegitimateInterests.has(8), true);
    assert.deepEqual(ids(m.vendorConsents), [], 'a custom choice with no consent switched on');
    const only = (await api(page, 'getTCData', [11, 8])).r;
    assert.deepEqual(Object.keys(only.vendor.consents).map(Number), [8, 11], 'getTCData with vendor ids: those only');
    assert.deepEqual(page.problems, []);
    await page.context().close();
});

test('second_layer_is_axe_clean_in_english_with_a_vendor_open', async () => {
    const url = stack.pages.set('/tcf-en.html', bannerPage(stack, { lang: 'en', head: `<script src="${stubUrl}"></script>` }));
    const page = await newPage(stack, { locale: 'en-GB' });
    await page.goto(url);
    await waitOpen(page);
    const dialog = page.locator('consentd-ui dialog');
    assert.match(await dialog.locator('#cd').innerText(), /100 partners/);
    await dialog.getByRole('button', { name: 'Customise', exact: true }).click();
    await dialog.locator('ul.v > li details summary').first().click();
    await page.addScriptTag({ path: AXE_PATH });
    const result = await page.evaluate(() => axe.run(document, { resultTypes: ['violations'] }));
    assert.deepEqual(result.violations.map((v) => `${v.id}: ${v.nodes.map((n) => n.target.join(' > ')).join(', ')}`), [], 'axe: no violation');
    assert.deepEqual(page.problems, []);
    await page.context().close();
});

test('tcf_banner_size_against_its_budget', async () => {
    const gz = (b) => zlib.gzipSync(b, { level: 9 }).length;
    const r = await stack.consentd.request('/v1/sites/demo/banner.js', { headers: { 'accept-encoding': 'gzip' } });
    assert.equal(r.status, 200);
    assert.equal(r.headers['content-encoding'], 'gzip');
    const served = r.body.length;
    const identity = (await stack.consentd.request('/v1/sites/demo/banner.js')).text;
    const cfg = servedConfig(identity);
    assert.equal(cfg.tcf.v.length, 100, '100 vendors inlined');
    console.log(`# TCF site banner.js (100 vendors, fr+en): ${Buffer.byteLength(identity)} B, gzip ${served} B as served (zlib -9: ${gz(identity)} B), budget ${BUDGET} B`);
    assert.ok(served <= BUDGET, `gzip ${served} B > budget ${BUDGET} B`);

    // The same site without its tcf block: the feature's whole cost, and
    // no stub, no tcf settings, no tcf.* strings.
    const { tcf, ...plain } = stack.consentd.sites['demo.json'];
    assert.ok(tcf);
    stack.consentd.writeSite('plain.json', { ...plain, id: 'plain' });
    stack.consentd.signal('SIGHUP');
    await waitFor(async () => (await stack.consentd.request('/v1/sites/plain/banner.js')).status === 200, { timeoutMs: 10000, message: 'the plain site' });
    const p = await stack.consentd.request('/v1/sites/plain/banner.js', { headers: { 'accept-encoding': 'gzip' } });
    const pText = (await stack.consentd.request('/v1/sites/plain/banner.js')).text;
    assert.equal(servedConfig(pText).tcf, undefined);
    assert.ok(!pText.includes('__tcfapi') && !pText.includes('tcf.intro'), 'nothing of the feature');
    assert.equal((await stack.consentd.request('/v1/sites/plain/tcf-stub.js')).status, 404);
    console.log(`# the same site without tcf: ${Buffer.byteLength(pText)} B, gzip ${p.body.length} B; tcf adds ${Buffer.byteLength(identity) - Buffer.byteLength(pText)} B, gzip ${served - p.body.length} B`);
});
