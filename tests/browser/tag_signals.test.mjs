// Every major tag's consent signals (issue 20, item 5), as a real page makes
// them: the site declares "tags" (Microsoft UET, Microsoft Clarity, Meta
// pixel), the page has each vendor's loader as its snippet writes it (the
// uetq array, Clarity's queue function, the fbq queue stub), and the vendor
// scripts themselves are fakes served in place of the real URLs (Playwright
// routing) that record what the tag reads when it loads and every call after.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { test, waitFor } from '../http/lib/harness.mjs';
import { banner, newPage, purposeName, startBannerStack, waitOpen, waitRecorded } from './lib/browser.mjs';

const TAGS = { microsoft_uet: ['advertising'], microsoft_clarity: ['audience'], meta_pixel: ['advertising'] };

let stack;
before(async () => {
    stack = await startBannerStack({ siteOver: { tags: TAGS } });
});
after(async () => {
    await stack?.stop();
});

// The loaders, written as each vendor's snippet works: UET's makes
// window.uetq an array and loads bat.js; Clarity's makes a function that
// queues its arguments on clarity.q and loads its tag; Meta's returns at once
// when fbq exists, else makes the fbq stub (callMethod or queue), then
// queue = [], loads fbevents.js, and the page calls init and PageView.
const UET = `<script>window.uetq = window.uetq || [];
(function () { var s = document.createElement('script'); s.async = true; s.src = 'https://bat.bing.com/bat.js'; document.head.append(s); })();</script>`;
const CLARITY = `<script>window.clarity = window.clarity || function () { (window.clarity.q = window.clarity.q || []).push(arguments); };
(function () { var s = document.createElement('script'); s.async = true; s.src = 'https://www.clarity.ms/tag/abcdef'; document.head.append(s); })();</script>`;
const META_CODE = `(function () { if (window.fbq) return;
var n = window.fbq = function () { n.callMethod ? n.callMethod.apply(n, arguments) : n.queue.push(arguments); };
if (!window._fbq) window._fbq = n; n.push = n; n.loaded = true; n.version = '2.0'; n.queue = [];
var s = document.createElement('script'); s.async = true; s.src = 'https://connect.facebook.net/en_US/fbevents.js'; document.head.append(s); })();
fbq('init', '123456'); fbq('track', 'PageView');`;
const META = `<script>${META_CODE}</script>`;

// The fake vendor scripts: each notes what it finds queued when it loads
// (what the real tag reads first), then records every later call.
const copy = 'function c(a) { return JSON.parse(JSON.stringify(Array.from(a))); }';
const FAKES = {
    'https://bat.bing.com/bat.js': `${copy} window.seen = window.seen || [];
seen.push(['uet loads', c(window.uetq)]);
window.uetq = { push: function () { seen.push(['uet'].concat(c(arguments))); } };`,
    'https://www.clarity.ms/tag/abcdef': `${copy} window.seen = window.seen || [];
seen.push(['clarity loads', (window.clarity.q || []).map(c)]);
window.clarity = function () { seen.push(['clarity'].concat(c(arguments))); };`,
    'https://connect.facebook.net/en_US/fbevents.js': `${copy} window.seen = window.seen || [];
seen.push(['fbq loads', fbq.queue.map(c)]);
fbq.callMethod = function () { seen.push(['fbq'].concat(c(arguments))); };`,
};

/* A page with the banner first (a plain script tag: it runs before the
 * vendors' loaders below it), then the loaders; or `held` before the banner. */
function page({ head = `${UET}${CLARITY}${META}`, body = '' } = {}) {
    return `<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Tags</title>
<script src="${stack.bannerUrl}"></script>
${head}</head><body><main><h1>Tags</h1>${body}</main></body></html>`;
}

async function open(name, html, context) {
    const p = context ? await context.newPage() : await newPage(stack);
    p.problems = p.problems || [];
    for (const [url, body] of Object.entries(FAKES)) {
        await p.route(url, (route) => route.fulfill({ status: 200, contentType: 'application/javascript', body }));
    }
    await p.goto(stack.pages.set(`/${name}.html`, html));
    return p;
}

const seen = (p) => p.evaluate(() => window.seen || []);
const loadedAll = (p) =>
    waitFor(async () => (await seen(p)).filter((s) => / loads$/.test(s[0])).length === 3, { message: 'the three vendor scripts' });
const D = (ad, analytics) => ({ ad_Storage: ad, analytics_Storage: analytics });

test('before_a_choice_every_tag_reads_denied_first_then_the_choice_updates_each', async () => {
    const p = await open('fresh', page());
    await waitOpen(p);
    await loadedAll(p);
    const first = Object.fromEntries((await seen(p)).map(([what, q]) => [what, q]));
    assert.deepEqual(first['uet loads'], ['consent', 'default', { ad_storage: 'denied' }], 'UET reads the denied default, and nothing else');
    assert.deepEqual(first['clarity loads'], [['consentv2', D('denied', 'denied')]], 'Clarity reads its consent, denied');
    assert.deepEqual(first['fbq loads'], [['consent', 'revoke'], ['init', '123456'], ['track', 'PageView']], "Meta's queue: revoke before init");
    const before = (await seen(p)).length;
    await banner.button(p, 'Tout accepter').click();
    await waitFor(async () => (await seen(p)).length >= before + 3, { message: 'the updates' });
    assert.deepEqual((await seen(p)).slice(before), [
        ['uet', 'consent', 'update', { ad_storage: 'granted' }],
        ['clarity', 'consentv2', D('granted', 'granted')],
        ['fbq', 'consent', 'grant'],
    ]);
    // Withdrawing: each tag is told at once.
    const granted = (await seen(p)).length;
    await p.evaluate(() => consentd.show());
    await banner.button(p, 'Tout refuser').click();
    await waitFor(async () => (await seen(p)).length >= granted + 3, { message: 'the withdrawal' });
    assert.deepEqual((await seen(p)).slice(granted), [
        ['uet', 'consent', 'update', { ad_storage: 'denied' }],
        ['clarity', 'consentv2', D('denied', 'denied')],
        ['fbq', 'consent', 'revoke'],
    ]);
    assert.deepEqual(p.problems, []);
    await p.context().close();
});

test('a_stored_choice_is_what_each_tag_reads_when_it_loads', async () => {
    const p = await open('choose', page());
    await waitOpen(p);
    // Audience only: Clarity's analytics, not the advertising tags.
    await banner.button(p, 'Personnaliser').click();
    await banner.switchOf(p, purposeName('audience')).check();
    await banner.button(p, 'Enregistrer mes choix').click();
    await waitRecorded(p);
    const next = await open('next', page(), p.context());
    await loadedAll(next);
    const first = Object.fromEntries((await seen(next)).map(([what, q]) => [what, q]));
    assert.deepEqual(first['uet loads'], ['consent', 'default', { ad_storage: 'denied' }], 'no grant for UET');
    assert.deepEqual(first['clarity loads'], [['consentv2', D('denied', 'granted')]]);
    assert.deepEqual(first['fbq loads'][0], ['consent', 'revoke']);
    // Everything: the UET update follows its default before the tag loads.
    await next.evaluate(() => consentd.show());
    await banner.button(next, 'Tout accepter').click();
    await waitRecorded(next);
    const third = await open('third', page(), p.context());
    await loadedAll(third);
    const t = Object.fromEntries((await seen(third)).map(([what, q]) => [what, q]));
    assert.deepEqual(t['uet loads'], ['consent', 'default', { ad_storage: 'denied' }, 'consent', 'update', { ad_storage: 'granted' }]);
    assert.deepEqual(t['clarity loads'], [['consentv2', D('granted', 'granted')]]);
    assert.deepEqual(t['fbq loads'], [['consent', 'grant'], ['init', '123456'], ['track', 'PageView']]);
    await p.context().close();
});

test('a_meta_pixel_held_until_consent_gets_grant_before_its_init', async () => {
    const held = `<script type="text/plain" data-consent="advertising">${META_CODE}</script>`;
    const p = await open('held', page({ head: '', body: held }));
    await waitOpen(p);
    await p.waitForTimeout(300);
    assert.equal(await p.evaluate(() => typeof window.fbq), 'undefined', 'no Meta pixel before consent');
    await banner.button(p, 'Tout accepter').click();
    await waitFor(async () => (await seen(p)).some((s) => s[0] === 'fbq loads'), { message: 'the pixel, once granted' });
    assert.deepEqual((await seen(p)).find((s) => s[0] === 'fbq loads')[1], [['consent', 'grant'], ['init', '123456'], ['track', 'PageView']]);
    await p.context().close();
});

test('with_consentd_defaults_js_first_uet_and_clarity_read_their_defaults_before_a_late_async_banner', async () => {
    // The banner async and slow (held back 800 ms here): the tags load first.
    const defaults = stack.bannerUrl.replace('banner.js', 'consentd-defaults.js');
    const html = `<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>Tags</title>
<script src="${defaults}"></script>${UET}${CLARITY}<script src="${stack.bannerUrl}" async></script></head><body><main><h1>Tags</h1></main></body></html>`;
    const p = await newPage(stack);
    p.problems = p.problems || [];
    for (const [url, body] of Object.entries(FAKES)) {
        await p.route(url, (route) => route.fulfill({ status: 200, contentType: 'application/javascript', body }));
    }
    await p.route(stack.bannerUrl, async (route) => {
        await new Promise((r) => setTimeout(r, 800));
        await route.continue();
    });
    await p.goto(stack.pages.set('/defaults-first.html', html));
    await waitFor(async () => (await seen(p)).filter((s) => / loads$/.test(s[0])).length === 2, { message: 'UET and Clarity' });
    const first = Object.fromEntries((await seen(p)).map(([what, q]) => [what, q]));
    // Exactly one default each: the defaults script's (the banner, once run, sends its own again).
    assert.deepEqual(first['uet loads'], ['consent', 'default', { ad_storage: 'denied' }], 'UET read the default before the banner ran');
    assert.deepEqual(first['clarity loads'], [['consentv2', D('denied', 'denied')]], 'so did Clarity');
    await waitOpen(p);
    await banner.button(p, 'Tout accepter').click();
    await waitFor(async () => (await seen(p)).some((s) => s[0] === 'uet' && s[3]?.ad_storage === 'granted'), { message: 'the UET update' });
    assert.ok((await seen(p)).some((s) => s[0] === 'clarity' && s[2]?.analytics_Storage === 'granted'), 'the Clarity update');
    assert.deepEqual(p.problems, []);
    await p.context().close();
});
