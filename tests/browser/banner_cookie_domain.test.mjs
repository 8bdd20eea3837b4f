// cookie_domain: one choice covers a site's subdomains. Chromium resolves
// *.test to loopback (--host-resolver-rules), so that a page on
// www.example.test and another on shop.example.test, both served by the
// page server, share the choice cookie the banner writes for example.test:
// the banner does not ask again on the second host, and the cookie is
// SameSite=Lax and expires with the choice. A host outside the domain asks.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { test } from '../http/lib/harness.mjs';
import { CONSENT, banner, bannerPage, isOpen, newPage, site, startBannerStack, waitOpen, waitRecorded } from './lib/browser.mjs';

const DOMAIN = 'example.test';
const LIFETIME_DAYS = site.choice_lifetime_days ?? 182;

let stack;
const at = (host) => `http://${host}:${stack.pages.port}/page.html`;
before(async () => {
    stack = await startBannerStack({
        browserArgs: ['--host-resolver-rules=MAP *.test 127.0.0.1'],
        siteOver: (pages) => ({
            cookie_domain: DOMAIN,
            origins: ['www.example.test', 'shop.example.test', 'www.other.test'].map((h) => `http://${h}:${pages.port}`),
        }),
    });
    stack.pages.set('/page.html', bannerPage(stack));
});
after(async () => {
    await stack?.stop();
});

test('a_choice_made_on_www_covers_shop_with_a_lax_cookie_for_the_choice_lifetime', async () => {
    const page = await newPage(stack);
    await page.goto(at(`www.${DOMAIN}`));
    await waitOpen(page);
    await banner.button(page, 'Tout accepter').click();
    const c = await waitRecorded(page);
    const cookie = c.cookie;
    assert.equal(cookie.domain, `.${DOMAIN}`, 'the cookie is written for the whole domain');
    assert.equal(cookie.sameSite, 'Lax');
    assert.equal(cookie.path, '/');
    assert.equal(cookie.secure, false, 'not Secure on http');
    const days = (cookie.expires * 1000 - Date.now()) / 86400000;
    assert.ok(Math.abs(days - LIFETIME_DAYS) < 1, `cookie lifetime ${days} days, choice lifetime ${LIFETIME_DAYS}`);
    assert.ok(Math.abs(cookie.expires - c.e) <= 2, 'the cookie expires with the proof');

    // Another subdomain, same browser: the choice applies, no banner.
    await page.goto(at(`shop.${DOMAIN}`));
    await banner.manage(page).waitFor({ state: 'visible' });
    assert.equal(await isOpen(page), false, 'the banner does not ask again on shop');
    for (const id of CONSENT) assert.equal(await page.evaluate((p) => consentd.get(p), id), true, `${id} granted on shop`);
    const onShop = await page.context().cookies(at(`shop.${DOMAIN}`));
    assert.deepEqual(onShop.map((k) => k.name), ['consentd'], 'one cookie, the shared one');
    assert.equal(await page.evaluate(() => sessionStorage.getItem('consentd')), null,
        'shop uses the choice cookie: it makes no visitor id of its own');

    // A host outside the cookie domain does not see the choice.
    await page.goto(at('www.other.test'));
    await waitOpen(page);
    await page.context().close();
});
