// The banner never breaks the page: it works under a strict
// Content-Security-Policy (nonces, no 'unsafe-inline'), the page's CSS
// cannot break its look and its CSS does not leak out, it shifts no content;
// Global Privacy Control pre-sets advertising and sale purposes to refused
// and the panel says so; the demo page at /demo/ switches its sample tags on.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { test, waitFor } from '../http/lib/harness.mjs';
import {
    CONSENT, LEGIT, banner, bannerPage, choiceCookie, isOpen, newPage, servedConfig, startBannerStack, waitOpen, waitRecorded,
} from './lib/browser.mjs';

let stack, cfg;
before(async () => {
    stack = await startBannerStack();
    cfg = servedConfig((await stack.consentd.request('/v1/sites/demo/banner.js')).text);
});
after(async () => {
    await stack?.stop();
});

const NONCE = 'dGVzdC1ub25jZS0xMjM0';
const CSPS = {
    'strict-dynamic': `default-src 'none'; script-src 'nonce-${NONCE}' 'strict-dynamic'; style-src 'nonce-${NONCE}'; connect-src http://127.0.0.1:*; frame-src 'self'; base-uri 'none'`,
    'allow-list': `default-src 'none'; script-src 'self' http://127.0.0.1:* 'nonce-${NONCE}'; style-src 'self'; connect-src http://127.0.0.1:*; frame-src 'self'`,
};

for (const [name, csp] of Object.entries(CSPS)) {
    test(`works_under_a_strict_csp_${name}`, async () => {
        stack.pages.set('/csp/tag.js', 'window.ran = (window.ran || []).concat("external");');
        const held = CONSENT[0];
        const body = `<script type="text/plain" data-consent="${held}" src="/csp/tag.js"></script>
<script type="text/plain" data-consent="${held}" nonce="${NONCE}">window.ran = (window.ran || []).concat('inline');</script>`;
        const url = stack.pages.set(`/csp-${name}.html`, {
            body: bannerPage(stack, { body, scriptAttrs: `nonce="${NONCE}"` }),
            headers: { 'content-security-policy': csp },
        });
        const page = await newPage(stack);
        await page.goto(url);
        await waitOpen(page);
        const bg = await banner.button(page, 'Tout accepter').evaluate((el) => getComputedStyle(el).backgroundColor);
        assert.equal(bg, 'rgb(29, 78, 216)', 'the banner is styled');
        await banner.button(page, 'Tout accepter').click();
        await waitFor(() => page.evaluate(() => (window.ran || []).length === 2), { message: 'held tags' });
        assert.deepEqual(await page.evaluate(() => window.ran), ['external', 'inline']);
        await waitRecorded(page);
        assert.deepEqual(await page.evaluate(() => window.__violations), [], 'no CSP violation');
        assert.deepEqual(page.problems, []);
        await page.context().close();
    });
}

test('page_css_cannot_break_the_banner_and_banner_css_does_not_leak', async () => {
    const hostile = `<style>
* { all: unset !important; }
html, body { display: block !important; font: 40px/1 serif !important; color: red !important; }
consentd-ui, dialog, button { display: none !important; }
div { letter-spacing: 10px !important; text-transform: uppercase !important; }
</style>`;
    const url = stack.pages.set('/hostile.html', bannerPage(stack, { head: hostile, body: '<p><button id="own">page button</button></p>' }));
    const page = await newPage(stack);
    await page.goto(url);
    await waitOpen(page);
    const accept = banner.button(page, 'Tout accepter');
    assert.ok(await accept.isVisible(), 'banner buttons visible');
    const look = await accept.evaluate((el) => {
        const s = getComputedStyle(el);
        return { font: s.fontSize, color: s.color, bg: s.backgroundColor, spacing: s.letterSpacing, tt: s.textTransform };
    });
    assert.deepEqual(look, { font: '15px', color: 'rgb(255, 255, 255)', bg: 'rgb(29, 78, 216)', spacing: 'normal', tt: 'none' });
    await accept.click();
    assert.equal(await isOpen(page), false);
    await page.context().close();

    // And the other way round: nothing of the banner's styles reaches the page.
    const plain = stack.pages.set('/plain.html', bannerPage(stack, { body: '<p><button id="own">page button</button><a id="link" href="#">link</a></p>' }));
    const other = await newPage(stack);
    await other.goto(plain);
    const before = await other.evaluate(() => [getComputedStyle(own).backgroundColor, getComputedStyle(link).color, getComputedStyle(document.body).fontFamily].join());
    await waitOpen(other);
    const after = await other.evaluate(() => [getComputedStyle(own).backgroundColor, getComputedStyle(link).color, getComputedStyle(document.body).fontFamily].join());
    assert.equal(after, before);
    assert.equal(await other.evaluate(() => document.styleSheets.length), 0, 'no stylesheet added to the page');
    await other.context().close();
});

test('no_layout_shift_of_the_page_content', async () => {
    const url = stack.pages.set('/shift.html', bannerPage(stack, {
        head: `<script>window.shifts = 0; new PerformanceObserver((l) => { for (const e of l.getEntries()) shifts += e.value; }).observe({ type: 'layout-shift', buffered: true });</script>`,
        body: '<p>'.concat('Content. '.repeat(300), '</p>'),
    }));
    const page = await newPage(stack);
    await page.goto(url);
    const at = await page.evaluate(() => content.getBoundingClientRect().top);
    await waitOpen(page);
    await banner.button(page, 'Tout refuser').click();
    await banner.manage(page).waitFor({ state: 'visible' });
    await page.waitForTimeout(200);
    assert.equal(await page.evaluate(() => content.getBoundingClientRect().top), at);
    assert.equal(await page.evaluate(() => window.shifts), 0, 'cumulative layout shift');
    await page.context().close();
});

test('global_privacy_control_presets_advertising_and_sale_to_refused_and_says_so', async () => {
    const gpcPurposes = cfg.p.filter((p) => p.gpc).map((p) => p.id);
    assert.ok(gpcPurposes.length > 0, 'the site names the purposes GPC objects to');
    const url = stack.pages.set('/gpc.html', bannerPage(stack));
    const page = await newPage(stack, { init: () => Object.defineProperty(Navigator.prototype, 'globalPrivacyControl', { get: () => true }) });
    await page.goto(url);
    await waitOpen(page);
    await banner.button(page, 'Personnaliser').click();
    assert.ok(await page.locator('consentd-ui dialog').getByText('Global Privacy Control').isVisible(), 'the panel says so');
    for (const p of cfg.p.filter((x) => x.gpc)) {
        assert.equal(await banner.switchOf(page, p.t.fr[0]).isChecked(), false, `${p.id} pre-set to refused`);
    }
    for (const p of cfg.p.filter((x) => !x.gpc && x.b === 'legitimate_interest')) {
        assert.equal(await banner.switchOf(page, p.t.fr[0]).isChecked(), true, `${p.id} unaffected`);
    }
    await banner.button(page, 'Tout accepter').click();
    const c = await waitRecorded(page);
    for (const id of gpcPurposes) assert.equal(c.d[id], false, `${id}: accept all leaves what GPC objects to`);
    for (const id of CONSENT.filter((id) => !gpcPurposes.includes(id))) assert.equal(c.d[id], true, `${id} accepted`);
    // The visitor can still switch one on explicitly.
    await page.evaluate(() => consentd.show());
    await banner.switchOf(page, cfg.p.find((x) => x.gpc).t.fr[0]).check();
    await banner.button(page, 'Enregistrer mes choix').click();
    await waitFor(async () => (await choiceCookie(page)).d[gpcPurposes[0]] === true, { message: 'explicit opt-in' });
    await page.context().close();
});

test('language_follows_script_lang_then_page_lang_then_browser', async () => {
    const cases = [
        { page: 'fr', script: 'en', locale: 'fr-FR', want: 'Accept all' },
        { page: 'en', script: '', locale: 'fr-FR', want: 'Accept all' },
        { page: 'de', script: '', locale: 'en-GB', want: 'Accept all' },
        { page: 'de', script: '', locale: 'de-DE', want: cfg.langs[0] === 'fr' ? 'Tout accepter' : 'Accept all' },
    ];
    for (const [i, c] of cases.entries()) {
        const url = stack.pages.set(`/lang-${i}.html`, bannerPage(stack, { lang: c.page, scriptAttrs: c.script ? `lang="${c.script}"` : '' }));
        const page = await newPage(stack, { locale: c.locale });
        await page.goto(url);
        await waitOpen(page);
        assert.equal(await banner.button(page, c.want).count(), 1, JSON.stringify(c));
        await page.context().close();
    }
});

test('demo_page_at_demo_switches_its_sample_tags_on_after_consent', async () => {
    const res = await stack.consentd.request('/demo/');
    assert.equal(res.status, 200, 'GET /demo/ (router.c needs the demo route)');
    assert.match(res.headers['content-security-policy'], /script-src 'nonce-[^']+' 'strict-dynamic'/);
    assert.doesNotMatch(res.headers['content-security-policy'], /unsafe-inline/);
    const page = await newPage(stack);
    await page.goto(stack.consentd.url('/demo/'));
    await waitOpen(page);
    assert.equal(await page.locator('#analytics').getAttribute('class'), 'tag', 'analytics held');
    await banner.button(page, 'Tout accepter').click();
    await waitFor(async () => (await page.locator('.tag.on').count()) === 3, { message: 'the three sample tags on' });
    assert.deepEqual(await page.evaluate(() => window.demoTags.sort()), ['ads', 'analytics']);
    await waitRecorded(page);
    assert.deepEqual(await page.evaluate(() => window.__violations), []);
    await page.context().close();
});
