// No request to any third party before consent, none after a refusal
// (issue 20, item 1). A page holds back Google-, Meta-, Microsoft- and
// YouTube-like tags as a site would write them; Playwright routing serves
// them locally under their usual host names (www.googletagmanager.com,
// connect.facebook.net, bat.bing.com, www.clarity.ms, www.youtube-nocookie.com,
// and their collect endpoints): nothing leaves the machine, and a request to
// any other host fails the test. The fake tags do what the real ones do
// that matters here: set their usual first-party cookies on the site's
// registrable domain and call their collect endpoints. The site file
// declares those cookies per purpose, so that after a withdrawal they are
// gone (and the page reloaded, so that the tags stop running).
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { test, waitFor } from '../http/lib/harness.mjs';
import { CONSENT, banner, bannerPage, newPage, purposeName, site, startBannerStack, waitOpen, waitRecorded } from './lib/browser.mjs';

const DOMAIN = 'example.test';
const HOST = `www.${DOMAIN}`;

/* A fake tag: sets cookies (first-party, on the registrable domain, as
 * Google's "auto" cookie domain and Meta's pixel do) and calls its collect
 * endpoint with an image, as the real ones fall back to. */
const tag = (cookies, collect) => `
for (const c of ${JSON.stringify(cookies)}) document.cookie = c + '=' + Date.now() + ';path=/;max-age=7776000;domain=${DOMAIN}';
new Image().src = ${JSON.stringify(collect)} + '?t=' + Date.now();
(window.tagsRun = window.tagsRun || []).push(${JSON.stringify(cookies[0])});
`;
const GIF = Buffer.from('R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7', 'base64');
const JS = 'application/javascript';
// What the third parties serve, by host and path.
const FAKES = {
    'www.googletagmanager.com': { '/gtag/js': [JS, tag(['_ga', '_ga_TEST123', '_gid'], 'https://www.google-analytics.com/g/collect')] },
    'www.google-analytics.com': { '/g/collect': ['image/gif', GIF] },
    'connect.facebook.net': { '/en_US/fbevents.js': [JS, tag(['_fbp'], 'https://www.facebook.com/tr')] },
    'www.facebook.com': { '/tr': ['image/gif', GIF] },
    'bat.bing.com': { '/bat.js': [JS, tag(['_uetsid', '_uetvid'], 'https://bat.bing.com/action/0')], '/action/0': ['image/gif', GIF] },
    'www.clarity.ms': { '/tag/abcdef123': [JS, tag(['_clck', '_clsk'], 'https://c.clarity.ms/c.gif')] },
    'c.clarity.ms': { '/c.gif': ['image/gif', GIF] },
    'www.youtube-nocookie.com': { '/embed/dQw4w9WgXcQ': ['text/html', '<!doctype html><title>video</title><p>video</p>'] },
};
const THIRD_PARTY_HOSTS = Object.keys(FAKES);
// Per purpose: its tags' first-party cookies (the site file's declaration).
const DECLARED = {
    audience: ['_ga', '_ga_*', '_gid', '_clck', '_clsk'],
    advertising: ['_fbp', '_uetsid', '_uetvid'],
};
const TAG_COOKIES = ['_ga', '_ga_TEST123', '_gid', '_clck', '_clsk', '_fbp', '_uetsid', '_uetvid'];

const BODY = `
<script type="text/plain" data-consent="audience" src="https://www.googletagmanager.com/gtag/js?id=G-TEST123"></script>
<script type="text/plain" data-consent="audience">window.dataLayer = window.dataLayer || []; dataLayer.push(['config', 'G-TEST123']);</script>
<script type="text/plain" data-consent="audience" src="https://www.clarity.ms/tag/abcdef123"></script>
<script type="text/plain" data-consent="advertising" src="https://connect.facebook.net/en_US/fbevents.js"></script>
<script type="text/plain" data-consent="advertising" src="https://bat.bing.com/bat.js"></script>
<iframe data-consent="personalisation" data-src="https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ" title="Video" width="320" height="180"></iframe>
`;

let stack;
const pageUrl = () => `http://${HOST}:${stack.pages.port}/page.html`;
before(async () => {
    stack = await startBannerStack({
        browserArgs: ['--host-resolver-rules=MAP *.test 127.0.0.1'],
        siteOver: (pages) => ({
            origins: [`http://${HOST}:${pages.port}`],
            purposes: site.purposes.map((p) => (DECLARED[p.id] ? { ...p, cookies: DECLARED[p.id].map((name) => ({ name })) } : p)),
        }),
    });
    stack.pages.set('/page.html', bannerPage(stack, { body: BODY }));
});
after(async () => {
    await stack?.stop();
});

/* A page whose every request is routed: the page server and consentd go
 * through, the third parties are served from FAKES and noted in
 * page.thirdParty (host + path), anything else is refused and noted in
 * page.unexpected. */
async function routedPage() {
    const page = await newPage(stack);
    page.thirdParty = [];
    page.unexpected = [];
    await page.context().route('**/*', (route) => {
        const url = new URL(route.request().url());
        if (url.hostname === '127.0.0.1' || url.hostname.endsWith('.test')) return route.continue();
        const fake = FAKES[url.hostname]?.[url.pathname];
        if (fake) {
            page.thirdParty.push(url.hostname + url.pathname);
            return route.fulfill({ status: 200, contentType: fake[0], body: fake[1] });
        }
        page.unexpected.push(url.href);
        return route.abort('blockedbyclient');
    });
    return page;
}

const tagCookies = async (page) =>
    (await page.context().cookies()).filter((c) => c.name !== 'consentd').map((c) => c.name).sort();
const settle = () => new Promise((r) => setTimeout(r, 750));

test('no_request_to_any_third_party_before_a_choice_nor_after_refuse_all', async () => {
    const page = await routedPage();
    await page.goto(pageUrl());
    await waitOpen(page);
    await page.waitForLoadState('networkidle');
    await settle();
    assert.deepEqual(page.thirdParty, [], 'nothing before a choice');

    await banner.button(page, 'Tout refuser').click();
    await waitRecorded(page);
    await settle();
    assert.deepEqual(page.thirdParty, [], 'nothing after refusing');
    // And on the next pages of the visit.
    await page.reload();
    await banner.manage(page).waitFor({ state: 'visible' });
    await page.waitForLoadState('networkidle');
    await settle();
    assert.deepEqual(page.thirdParty, [], 'nothing on the next page');
    assert.deepEqual(await tagCookies(page), [], 'no tag cookie');
    assert.equal(await page.evaluate(() => document.querySelector('iframe').getAttribute('src')), null, 'the video is not loaded');
    assert.deepEqual(page.unexpected, []);
    assert.deepEqual(page.problems, []);
    await page.context().close();
});

test('after_accept_all_the_tags_load_and_after_withdrawal_their_cookies_are_gone_and_the_page_reloaded', async () => {
    const page = await routedPage();
    await page.goto(pageUrl());
    await waitOpen(page);
    await banner.button(page, 'Tout accepter').click();
    await waitRecorded(page);
    await waitFor(async () => (await page.evaluate(() => (window.tagsRun || []).length)) === 4, { message: 'the four tags run' });
    await waitFor(() => THIRD_PARTY_HOSTS.every((h) => page.thirdParty.some((r) => r.startsWith(h + '/'))), {
        message: 'every third party called (scripts, collect endpoints, the video)',
    });
    assert.deepEqual(await tagCookies(page), [...TAG_COOKIES].sort(), 'the tags set their cookies');
    for (const c of await page.context().cookies()) if (c.name !== 'consentd') assert.equal(c.domain, `.${DOMAIN}`, `${c.name} on the registrable domain`);

    // Withdraw everything that needs consent, from the banner's panel.
    const loads = stack.pages.requested('/page.html').length;
    await page.evaluate(() => consentd.show());
    await waitOpen(page);
    for (const id of CONSENT) await banner.switchOf(page, purposeName(id)).uncheck();
    const before = page.thirdParty.length;
    const reloaded = page.waitForEvent('load', { timeout: 10000 }); // the next document's
    await banner.button(page, 'Enregistrer mes choix').click();
    await reloaded;
    assert.equal(stack.pages.requested('/page.html').length, loads + 1, 'the page reloaded');
    await banner.manage(page).waitFor({ state: 'visible' });
    await page.waitForLoadState('networkidle');
    await settle();
    assert.deepEqual(await tagCookies(page), [], 'the declared cookies are gone');
    assert.equal(await page.evaluate(() => window.tagsRun), undefined, 'the reloaded page runs no tag');
    assert.deepEqual(page.thirdParty.slice(before), [], 'no third-party request after the withdrawal');
    assert.equal(await page.evaluate(() => consentd.getAll().audience), false);
    assert.deepEqual(page.unexpected, []);
    assert.deepEqual(page.problems, []);
    await page.context().close();
});
