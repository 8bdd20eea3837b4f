// Google Consent Mode defaults before any Google tag reads them (issue 20,
// item 5), on a real page: consentd-defaults.js first (synchronous, an
// external file: allowed by a strict CSP that names the consentd host), then
// the Google tag as its snippet is written, then banner.js async. The Google
// tag (gtag.js) is a fake served in place of the real URL that notes what the
// dataLayer holds when it loads and everything pushed after.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { test, waitFor } from '../http/lib/harness.mjs';
import { banner, newPage, startBannerStack, waitOpen, waitRecorded } from './lib/browser.mjs';

const TYPES = ['ad_storage', 'analytics_storage', 'ad_user_data', 'ad_personalization',
    'functionality_storage', 'personalization_storage', 'security_storage'];
const all = (state) => Object.fromEntries(TYPES.map((t) => [t, state]));
const GCM = {
    wait_for_update: 800,
    ads_data_redaction: true,
    url_passthrough: true,
    regions: [{ region: ['US-CA', 'US'], default: { ad_storage: 'granted', analytics_storage: 'granted' } }],
};
const DEFAULTS = [
    ['consent', 'default', { ...all('denied'), wait_for_update: 800 }],
    ['consent', 'default', { ...all('denied'), ad_storage: 'granted', analytics_storage: 'granted', region: ['US-CA', 'US'], wait_for_update: 800 }],
    ['set', 'ads_data_redaction', true],
    ['set', 'url_passthrough', true],
];

let stack, consentdOrigin;
before(async () => {
    stack = await startBannerStack({ siteOver: { google_consent_mode: GCM } });
    consentdOrigin = new URL(stack.bannerUrl).origin;
});
after(async () => {
    await stack?.stop();
});

const GTAG_URL = 'https://www.googletagmanager.com/gtag/js?id=G-TEST';
// What the fake gtag.js does: note the dataLayer as it finds it, then every push.
const FAKE_GTAG = `window.seen = { atLoad: Array.from(dataLayer, (e) => JSON.parse(JSON.stringify(Array.from(e)))), after: [] };
const push = dataLayer.push.bind(dataLayer);
dataLayer.push = function (e) { seen.after.push(JSON.parse(JSON.stringify(e && e.length !== undefined ? Array.from(e) : e))); return push(e); };`;
const NONCE = 'n0nce-for-the-test';
// The Google tag as its snippet is written: gtag.js async, then the stub and two calls.
const GOOGLE_TAG = `<script async src="${GTAG_URL}"></script>
<script nonce="${NONCE}">window.dataLayer = window.dataLayer || []; function gtag() { dataLayer.push(arguments); } gtag('js', new Date()); gtag('config', 'G-TEST');</script>`;

async function open(name, head) {
    const csp = `script-src 'nonce-${NONCE}' ${consentdOrigin} https://www.googletagmanager.com; object-src 'none'; base-uri 'none'`;
    const url = stack.pages.set(`/${name}.html`, {
        body: `<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>GCM</title>${head}</head><body><main><h1>GCM</h1></main></body></html>`,
        headers: { 'content-security-policy': csp },
    });
    const page = await newPage(stack);
    await page.route(GTAG_URL, (route) => route.fulfill({ status: 200, contentType: 'application/javascript', body: FAKE_GTAG }));
    await page.goto(url);
    await waitFor(() => page.evaluate(() => !!window.seen), { message: 'gtag.js loaded' });
    return page;
}

const consentCalls = (entries) => entries.filter((e) => Array.isArray(e) && (e[0] === 'consent' || e[0] === 'set'));

test('defaults_script_first_then_google_tag_then_async_banner_the_tag_reads_the_sites_defaults', async () => {
    const defaults = `${consentdOrigin}/v1/sites/demo/consentd-defaults.js`;
    const page = await open('order', `<script src="${defaults}"></script>${GOOGLE_TAG}<script src="${stack.bannerUrl}" async></script>`);
    const { atLoad } = await page.evaluate(() => window.seen);
    assert.deepEqual(atLoad.slice(0, 4), DEFAULTS, 'the defaults per region and the settings come first');
    assert.equal(atLoad[4][0], 'js');
    await waitOpen(page);
    const pushed = await page.evaluate(() => [...window.seen.atLoad, ...window.seen.after]);
    assert.equal(pushed.filter((e) => e[0] === 'consent' && e[1] === 'default').length, 2, 'the banner adds no default of its own');
    await banner.button(page, 'Tout accepter').click();
    await waitRecorded(page);
    const last = consentCalls(await page.evaluate(() => window.seen.after)).at(-1);
    assert.deepEqual(last.slice(0, 2), ['consent', 'update']);
    assert.equal(last[2].ad_storage, 'granted');
    assert.deepEqual(await page.evaluate(() => window.__violations), [], 'nothing blocked by the CSP');
    assert.deepEqual(page.problems, []);
    await page.context().close();
});

test('without_the_defaults_script_the_banner_sets_the_same_defaults', async () => {
    // The banner first, synchronously, then the Google tag.
    const page = await open('banner-first', `<script src="${stack.bannerUrl}"></script>${GOOGLE_TAG}`);
    const { atLoad } = await page.evaluate(() => window.seen);
    assert.deepEqual(consentCalls(atLoad).slice(0, 4), DEFAULTS, "the site's defaults, from the banner");
    assert.deepEqual(consentCalls(atLoad)[4].slice(0, 2), ['consent', 'update'], 'then the update (the defaults before a choice)');
    assert.deepEqual(await page.evaluate(() => window.__violations), []);
    await page.context().close();
});
