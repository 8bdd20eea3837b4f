// Clean-up on refusal and withdrawal (issue 20, item 1; the "cleanup"
// feature, web/banner/features/cleanup.js). Chromium resolves *.test to
// loopback, as in banner_cookie_domain.test.mjs: a tracker script run on
// www.example.test and on shop.example.test sets real cookies on the parent
// domain example.test and on its own host, and storage keys. The site file
// declares, for "audience", the cookies _ga and _ga_* and the storage keys
// _ga_store*; the tracker also sets cookies and keys nobody declared.
// Refusing deletes the declared ones on the host and on every parent domain
// and leaves the others; withdrawing deletes them too and reloads the page
// when a script of the purpose ran in it (released after the choice or at
// load), once: not with reload_on_withdrawal false, nor when none ran.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { test, waitFor } from '../http/lib/harness.mjs';
import { banner, bannerPage, choiceCookie, newPage, purposeName, site, startBannerStack, updateSite, waitOpen, waitRecorded } from './lib/browser.mjs';

const DOMAIN = 'example.test';
const PURPOSE = 'audience';
// What the tracker leaves: [name, on the parent domain?]. Declared: _ga, _ga_*.
const DECLARED = ['_ga', '_ga_XYZ'];
const UNDECLARED = ['keep_me', 'ga']; // "ga" does not match "_ga" nor "_ga_*"

let stack;
const at = (host, file = 'page.html') => `http://${host}:${stack.pages.port}/${file}`;
const TRACKER = `
window.trackerRuns = (window.trackerRuns || 0) + 1;
for (const name of ${JSON.stringify([...DECLARED, ...UNDECLARED])}) {
    document.cookie = name + '=parent;path=/;max-age=3600;domain=${DOMAIN}';
    document.cookie = name + '=host;path=/;max-age=3600';
}
localStorage.setItem('_ga_store1', 'x');
sessionStorage.setItem('_ga_store2', 'x');
localStorage.setItem('keep_store', 'x');
`;

before(async () => {
    stack = await startBannerStack({
        browserArgs: ['--host-resolver-rules=MAP *.test 127.0.0.1'],
        siteOver: (pages) => ({
            origins: ['www.example.test', 'shop.example.test'].map((h) => `http://${h}:${pages.port}`),
            purposes: site.purposes.map((p) => (p.id === PURPOSE ? { ...p, cookies: [{ name: '_ga' }, { name: '_ga_*' }], storage: ['_ga_store*'] } : p)),
        }),
    });
    stack.pages.set('/tracker.js', TRACKER);
    stack.pages.set('/page.html', bannerPage(stack, { body: `<script type="text/plain" data-consent="${PURPOSE}" src="/tracker.js"></script>` }));
    // The tracker alone, no banner: what another page of the site left.
    stack.pages.set('/plain.html', '<!doctype html><title>plain</title><script src="/tracker.js"></script>');
});
after(async () => {
    await stack?.stop();
});

/* The cookies the browser holds, as "name@domain" (".example.test" for the
 * parent domain, the host for a host-only cookie), without the choice. */
async function cookieSet(page) {
    return (await page.context().cookies()).filter((c) => c.name !== 'consentd').map((c) => `${c.name}@${c.domain}`).sort();
}
const everywhere = (names, hosts) => names.flatMap((n) => [`${n}@.${DOMAIN}`, ...hosts.map((h) => `${n}@${h}`)]).sort();

const storageKeys = (page) => page.evaluate(() => ({ local: Object.keys(localStorage).sort(), session: Object.keys(sessionStorage).filter((k) => k !== 'consentd').sort() }));

test('refusing_deletes_the_declared_cookies_on_the_host_and_the_parent_domain_and_keeps_the_others', async () => {
    const page = await newPage(stack);
    // Cookies left by the tracker on shop (parent domain and shop's own) and on www.
    await page.goto(at(`shop.${DOMAIN}`, 'plain.html'));
    await page.goto(at(`www.${DOMAIN}`, 'plain.html'));
    const hosts = [`shop.${DOMAIN}`, `www.${DOMAIN}`];
    assert.deepEqual(await cookieSet(page), everywhere([...DECLARED, ...UNDECLARED], hosts));

    await page.goto(at(`www.${DOMAIN}`));
    await waitOpen(page);
    await banner.button(page, 'Tout refuser').click();
    await waitRecorded(page);
    // www cannot reach shop's host-only cookies; everything else it can.
    assert.deepEqual(
        await cookieSet(page),
        [...everywhere(UNDECLARED, hosts), ...DECLARED.map((n) => `${n}@shop.${DOMAIN}`)].sort(),
        'the declared cookies are gone from example.test and www.example.test, the others are kept',
    );
    assert.deepEqual(await storageKeys(page), { local: ['keep_store'], session: [] }, 'the declared storage keys are gone');
    assert.equal(await page.evaluate(() => window.trackerRuns), undefined, 'the held tracker never ran');
    assert.equal(stack.pages.requested('/tracker.js').length, 2, 'the tracker was only fetched by the plain pages');
    assert.deepEqual(page.problems, []);
    await page.context().close();
});

test('a_refused_purpose_is_cleaned_again_at_every_page_load', async () => {
    const page = await newPage(stack);
    await page.goto(at(`www.${DOMAIN}`));
    await waitOpen(page);
    await banner.button(page, 'Tout refuser').click();
    await waitRecorded(page);
    // Another page of the site (no banner) sets them again; the next page with the banner deletes them.
    await page.goto(at(`www.${DOMAIN}`, 'plain.html'));
    assert.ok((await cookieSet(page)).includes(`_ga@.${DOMAIN}`));
    await page.goto(at(`www.${DOMAIN}`));
    await banner.manage(page).waitFor({ state: 'visible' });
    await waitFor(async () => !(await cookieSet(page)).some((c) => c.startsWith('_ga@') || c.startsWith('_ga_')), { message: 'the declared cookies deleted at load' });
    assert.deepEqual(await cookieSet(page), everywhere(UNDECLARED, [`www.${DOMAIN}`]));
    await page.context().close();
});

/* Accept, let the tracker run, then withdraw audience in the panel. */
async function acceptThenWithdraw(page) {
    await page.goto(at(`www.${DOMAIN}`));
    await waitOpen(page);
    await banner.button(page, 'Tout accepter').click();
    await page.waitForFunction(() => window.trackerRuns === 1);
    const before = await waitRecorded(page);
    assert.deepEqual(await cookieSet(page), everywhere([...DECLARED, ...UNDECLARED], [`www.${DOMAIN}`]), 'the released tracker set its cookies');
    await page.evaluate(() => (window.sameDocument = true));
    const loads = stack.pages.requested('/page.html').length;
    await page.evaluate(() => consentd.show());
    await waitOpen(page);
    await banner.switchOf(page, purposeName(PURPOSE)).uncheck();
    return { before, loads, save: () => banner.button(page, 'Enregistrer mes choix').click() };
}

test('withdrawing_deletes_the_declared_cookies_and_reloads_the_page_once_recorded', async () => {
    const page = await newPage(stack);
    const { before, loads, save } = await acceptThenWithdraw(page);
    const reloaded = page.waitForEvent('load', { timeout: 10000 }); // the next document's
    await save();
    await reloaded;
    assert.equal(stack.pages.requested('/page.html').length, loads + 1, 'the page was fetched again');
    await banner.manage(page).waitFor({ state: 'visible' });
    assert.equal(await page.evaluate(() => window.sameDocument), undefined, 'a new document');
    const c = await choiceCookie(page);
    assert.ok(c.p && c.p !== before.p && !c.q, 'the withdrawal was recorded before the reload');
    assert.equal(c.d[PURPOSE], false);
    assert.equal(await page.evaluate(() => window.trackerRuns), undefined, 'the reloaded page does not run the tracker');
    assert.deepEqual(await cookieSet(page), everywhere(UNDECLARED, [`www.${DOMAIN}`]), 'declared cookies gone, the others kept');
    assert.deepEqual(await storageKeys(page), { local: ['keep_store'], session: [] });
    // Nothing reloads again.
    await new Promise((r) => setTimeout(r, 500));
    assert.equal(stack.pages.requested('/page.html').length, loads + 1, 'one reload only');
    await page.context().close();
});

test('with_reload_on_withdrawal_false_withdrawing_deletes_without_reloading', async () => {
    await updateSite(stack, { reload_on_withdrawal: false, policy_version: 'no-reload' });
    try {
        const served = (await stack.consentd.request('/v1/sites/demo/banner.js')).text;
        assert.ok(served.includes('"rl":false'), 'the setting is inlined');
        const page = await newPage(stack);
        const { before, loads, save } = await acceptThenWithdraw(page);
        await save();
        await waitFor(async () => {
            const c = await choiceCookie(page);
            return c.p && c.p !== before.p;
        }, { message: 'the withdrawal recorded' });
        await waitFor(async () => !(await cookieSet(page)).some((c) => c.startsWith('_ga')), { message: 'the declared cookies deleted' });
        await new Promise((r) => setTimeout(r, 1000));
        assert.equal(stack.pages.requested('/page.html').length, loads, 'no reload');
        assert.equal(await page.evaluate(() => window.sameDocument), true, 'the same document');
        assert.deepEqual(await cookieSet(page), everywhere(UNDECLARED, [`www.${DOMAIN}`]));
        await page.context().close();
    } finally {
        await updateSite(stack, { reload_on_withdrawal: true, policy_version: site.policy_version });
    }
});

test('a_returning_visitor_who_withdraws_what_ran_at_load_gets_the_page_reloaded', async () => {
    const page = await newPage(stack);
    await page.goto(at(`www.${DOMAIN}`));
    await waitOpen(page);
    await banner.button(page, 'Tout accepter').click();
    await waitRecorded(page);
    // The next page: the choice comes from the cookie and the tracker runs at load.
    await page.goto(at(`www.${DOMAIN}`));
    await page.waitForFunction(() => window.trackerRuns === 1);
    const loads = stack.pages.requested('/page.html').length;
    await page.evaluate(() => consentd.show());
    await waitOpen(page);
    await banner.switchOf(page, purposeName(PURPOSE)).uncheck();
    const reloaded = page.waitForEvent('load', { timeout: 10000 });
    await banner.button(page, 'Enregistrer mes choix').click();
    await reloaded;
    assert.equal(stack.pages.requested('/page.html').length, loads + 1, 'reloaded once');
    await banner.manage(page).waitFor({ state: 'visible' });
    assert.equal(await page.evaluate(() => window.trackerRuns), undefined);
    assert.deepEqual(await cookieSet(page), everywhere(UNDECLARED, [`www.${DOMAIN}`]));
    await page.context().close();
});

test('withdrawing_a_purpose_whose_scripts_did_not_run_does_not_reload', async () => {
    // Advertising is granted and withdrawn, but the page holds no script of it.
    const page = await newPage(stack);
    await page.goto(at(`www.${DOMAIN}`));
    await waitOpen(page);
    await banner.button(page, 'Tout accepter').click();
    const before = await waitRecorded(page);
    await page.evaluate(() => (window.sameDocument = true));
    const loads = stack.pages.requested('/page.html').length;
    await page.evaluate(() => consentd.show());
    await waitOpen(page);
    await banner.switchOf(page, purposeName('advertising')).uncheck();
    await banner.button(page, 'Enregistrer mes choix').click();
    await waitFor(async () => {
        const c = await choiceCookie(page);
        return c.p && c.p !== before.p;
    }, { message: 'the withdrawal recorded' });
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(stack.pages.requested('/page.html').length, loads, 'no reload');
    assert.equal(await page.evaluate(() => window.sameDocument), true);
    await page.context().close();
});
