// Embeds with click-to-load placeholders (issue 20, item 2; the feature is
// web/banner/features/embed.js, on for a site that declares "embeds"): a
// YouTube-like and a map-like iframe, held by data-consent/data-src and
// served locally (Playwright routing), are not requested before a click;
// in their place, a placeholder of their size names the purpose and the
// provider in the visitor's language. "Load this content" loads that iframe
// only and records nothing; "Always allow" records a consent (source banner,
// control custom) and loads every iframe of the purpose. axe-clean, usable
// by keyboard alone, untouched by hostile page CSS, and leaking none;
// styled and working under a strict Content-Security-Policy (nonces).
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { test, waitFor } from '../http/lib/harness.mjs';
import { AXE_PATH, DEMO_KEY, banner, bannerPage, choiceCookie, newPage, screenshot, site, startBannerStack, waitOpen, waitRecorded } from './lib/browser.mjs';

const EMBEDS = [
    { host: 'www.youtube-nocookie.com', provider: 'YouTube' },
    { host: 'google.com', provider: 'Google Maps' }, // a parent domain covers www.google.com
];
const purpose = (id, fr, en) => ({
    id, legal_basis: 'consent', retention_days: 180, recipients: ['Google'],
    texts: { fr: { name: fr, description: `${fr} : contenus de tiers.` }, en: { name: en, description: `${en}: third-party content.` } },
});
const PURPOSES = [...site.purposes, purpose('videos', 'Vidéos intégrées', 'Embedded videos'), purpose('maps', 'Cartes interactives', 'Interactive maps')];
const NAMES = { fr: { videos: 'Vidéos intégrées', maps: 'Cartes interactives' }, en: { videos: 'Embedded videos', maps: 'Interactive maps' } };
const T = {
    fr: { load: 'Charger ce contenu', always: (p) => `Toujours autoriser «\u00a0${p}\u00a0»`, refuse: 'Tout refuser', accept: 'Tout accepter' },
    en: { load: 'Load this content', always: (p) => `Always allow “${p}”`, refuse: 'Refuse all', accept: 'Accept all' },
};

const VIDEO = 'https://www.youtube-nocookie.com/embed/dQw4w9WgXcQ';
const MAP = 'https://www.google.com/maps/embed?pb=!1m18!1m12';
const OTHER = 'https://player.example.net/video/42'; // a host the site does not list
const BODY = `
<iframe id="video" title="Présentation en vidéo" width="560" height="315" data-consent="videos" data-src="${VIDEO}"></iframe>
<p>Between.</p>
<iframe id="map" class="map" title="Plan d'accès" data-consent="maps" data-src="${MAP}"></iframe>
<iframe id="other" title="Autre vidéo" width="320" height="180" data-consent="videos" data-src="${OTHER}"></iframe>`;
const HEAD = '<style>.map { width: 400px; height: 300px; border: 0; }</style>';

let stack;
before(async () => {
    stack = await startBannerStack({ siteOver: { embeds: EMBEDS, purposes: PURPOSES } });
});
after(async () => {
    await stack?.stop();
});

/* A page with the three iframes; the third-party hosts answered locally,
 * every request to them noted in page.thirdParty, every consent posted in
 * page.consents. */
async function open(lang = 'fr', { head = HEAD, body = BODY } = {}) {
    const url = stack.pages.set(`/embeds-${lang}-${Math.random().toString(36).slice(2)}.html`, bannerPage(stack, { lang, head: HEAD + head, body }));
    const page = await newPage(stack, { locale: lang });
    page.thirdParty = [];
    page.consents = [];
    for (const host of ['www.youtube-nocookie.com', 'www.google.com', 'player.example.net']) {
        await page.context().route(`https://${host}/**`, (route) => {
            page.thirdParty.push(route.request().url());
            route.fulfill({ status: 200, contentType: 'text/html', body: `<!doctype html><title>${host}</title><p>${host}</p>` });
        });
    }
    page.on('request', (req) => {
        if (req.method() === 'POST' && req.url().endsWith('/v1/sites/demo/consents')) page.consents.push(JSON.parse(req.postData()));
    });
    await page.goto(url);
    await waitOpen(page);
    return page;
}

/* The placeholder standing for iframe #id. */
const placeholder = (page, id) => page.locator(`consentd-embed:has(+ #${id}) div`);
const requested = (page, prefix) => page.thirdParty.filter((u) => u.startsWith(prefix));

/* Answer the banner first (it is modal): refuse all, recorded. */
async function refuseAll(page, lang = 'fr') {
    await banner.button(page, T[lang].refuse).click();
    await waitRecorded(page);
    await waitFor(() => page.consents.length === 1, { message: 'the refusal posted' });
}

for (const lang of ['fr', 'en']) {
    test(`placeholders_of_the_iframes_size_name_purpose_and_provider_and_nothing_is_requested_${lang}`, async () => {
        const page = await open(lang);
        await page.waitForTimeout(300);
        assert.equal(await page.locator('consentd-embed').count(), 3);
        assert.deepEqual(page.thirdParty, [], 'no request to the embeds before a click');
        for (const id of ['video', 'map', 'other']) assert.equal(await page.locator(`#${id}`).isHidden(), true, `#${id} hidden meanwhile`);
        // Same size: the width/height attributes, or the box the page's CSS gives.
        const box = async (id) => {
            const b = await placeholder(page, id).boundingBox();
            return [Math.round(b.width), Math.round(b.height)];
        };
        assert.deepEqual(await box('video'), [560, 315]);
        assert.deepEqual(await box('map'), [400, 300]);
        assert.deepEqual(await box('other'), [320, 180]);
        const text = (id) => placeholder(page, id).locator('p').textContent();
        assert.match(await text('video'), new RegExp(`YouTube.*${NAMES[lang].videos}`));
        assert.match(await text('map'), new RegExp(`Google Maps.*${NAMES[lang].maps}`));
        assert.match(await text('other'), new RegExp(`player\\.example\\.net.*${NAMES[lang].videos}`), 'an unlisted host is named');
        const group = placeholder(page, 'video');
        assert.equal(await group.getAttribute('role'), 'group');
        assert.equal(await group.getAttribute('aria-label'), 'Présentation en vidéo', 'labelled by the iframe title');
        assert.equal(await group.getAttribute('lang'), lang);
        assert.equal(await group.getByRole('button', { name: T[lang].load, exact: true }).count(), 1);
        assert.equal(await group.getByRole('button', { name: T[lang].always(NAMES[lang].videos), exact: true }).count(), 1);
        assert.deepEqual(page.problems, []);
        await refuseAll(page, lang);
        await screenshot(page, `embeds-${lang}`, { fullPage: true });
        await page.context().close();
    });
}

test('load_this_content_loads_that_iframe_only_and_records_nothing', async () => {
    const page = await open();
    await refuseAll(page);
    await placeholder(page, 'video').getByRole('button', { name: T.fr.load }).click();
    await waitFor(() => requested(page, VIDEO).length === 1, { message: 'the video requested' });
    await page.waitForTimeout(400);
    assert.equal(requested(page, MAP).length, 0, 'the map stays held');
    assert.equal(requested(page, OTHER).length, 0, 'the other video of the same purpose stays held');
    assert.equal(await page.locator('#video').isVisible(), true);
    assert.equal(await page.locator('#video').getAttribute('src'), VIDEO);
    assert.equal(await page.locator('consentd-embed').count(), 2);
    assert.equal(page.consents.length, 1, 'no consent posted by "Load this content"');
    assert.equal(await page.evaluate(() => consentd.get('videos')), false);
    assert.equal((await choiceCookie(page)).d.videos, false);
    await page.context().close();
});

test('always_allow_records_a_consent_source_banner_control_custom_and_loads_every_iframe_of_the_purpose', async () => {
    const page = await open();
    await refuseAll(page);
    const visitor = (await choiceCookie(page)).v;
    await placeholder(page, 'other').getByRole('button', { name: T.fr.always(NAMES.fr.videos) }).click();
    await waitFor(() => requested(page, VIDEO).length === 1 && requested(page, OTHER).length === 1, { message: 'both videos requested' });
    const posted = page.consents[1];
    assert.equal(posted.control, 'custom');
    assert.equal(posted.decisions.videos, true);
    assert.equal(posted.decisions.maps, false, 'only that purpose');
    assert.equal(posted.decisions.advertising, false, 'the others as they were');
    await waitFor(async () => (await choiceCookie(page))?.d.videos === true && !(await choiceCookie(page)).q, { message: 'recorded' });
    const res = await stack.consentd.request(`/v1/sites/demo/consents/${visitor}`, { headers: { authorization: `Bearer ${DEMO_KEY}` } });
    assert.equal(res.status, 200, res.text);
    const current = res.json();
    assert.equal(current.source, 'banner');
    assert.equal(current.control, 'custom');
    assert.equal(current.decisions.videos, true);
    assert.equal(current.decisions.maps, false);
    assert.equal(await page.locator('consentd-embed').count(), 1, 'the map keeps its placeholder');
    assert.equal(requested(page, MAP).length, 0);
    assert.equal(await page.locator('#video').isVisible(), true);
    // Granting through the banner removes the last one.
    await page.evaluate(() => consentd.show());
    await banner.button(page, T.fr.accept).click();
    await waitFor(() => requested(page, MAP).length === 1, { message: 'the map requested' });
    assert.equal(await page.locator('consentd-embed').count(), 0);
    assert.equal(await page.locator('#map').isVisible(), true);
    await page.context().close();
});

test('an_iframe_added_later_gets_a_placeholder_even_with_a_bad_url_and_a_granted_one_none', async () => {
    const page = await open();
    await refuseAll(page);
    await page.evaluate((src) => {
        const f = document.createElement('iframe');
        Object.assign(f, { id: 'late', title: 'Later' });
        f.dataset.consent = 'maps';
        f.dataset.src = src;
        document.querySelector('main').append(f);
    }, MAP + '&late');
    await waitFor(() => page.locator('consentd-embed').count().then((n) => n === 4), { message: 'a fourth placeholder' });
    assert.match(await placeholder(page, 'late').locator('p').textContent(), /Google Maps/);
    // One whose data-src is no URL: a placeholder naming it, and no error.
    await page.evaluate(() => document.querySelector('main').insertAdjacentHTML('beforeend', '<iframe id="broken" title="Broken" data-consent="maps" data-src="http://["></iframe>'));
    await waitFor(() => page.locator('consentd-embed').count().then((n) => n === 5), { message: 'a fifth placeholder' });
    assert.match(await placeholder(page, 'broken').locator('p').textContent(), /http:\/\/\[/);
    // A granted purpose's iframe added later loads at once, without a placeholder.
    await page.evaluate(() => consentd.show());
    await banner.button(page, T.fr.accept).click();
    await waitFor(() => page.locator('consentd-embed').count().then((n) => n === 0), { message: 'placeholders gone once granted' });
    await page.evaluate((src) => document.querySelector('main').insertAdjacentHTML('beforeend', `<iframe id="granted" title="Granted" data-consent="maps" data-src="${src}"></iframe>`), MAP + '&granted');
    await waitFor(() => requested(page, MAP + '&granted').length === 1, { message: 'the granted one loads' });
    assert.equal(await page.locator('consentd-embed').count(), 0);
    assert.deepEqual(page.problems, []);
    await page.context().close();
});

async function audit(page) {
    await page.addScriptTag({ path: AXE_PATH });
    const result = await page.evaluate(() => axe.run(document, { resultTypes: ['violations'] }));
    return result.violations.map((v) => `${v.id} (${v.impact}): ${v.help}\n    ${v.nodes.map((n) => n.target.join(' > ')).join('\n    ')}`);
}

for (const lang of ['fr', 'en']) {
    test(`axe_finds_no_violation_in_the_placeholders_${lang}`, async () => {
        const page = await open(lang);
        await refuseAll(page, lang);
        assert.equal(await page.locator('consentd-embed').count(), 3);
        assert.deepEqual(await audit(page), []);
        await page.context().close();
    });
}

/* The element with focus, through the shadow roots. */
const focused = (page) =>
    page.evaluate(() => {
        let el = document.activeElement;
        while (el?.shadowRoot?.activeElement) el = el.shadowRoot.activeElement;
        const host = el?.getRootNode()?.host;
        return { tag: el?.tagName, text: el?.textContent, host: host?.tagName, next: host?.nextElementSibling?.id, outline: el && getComputedStyle(el).outlineStyle };
    });

test('keyboard_only_tab_to_the_buttons_and_press_enter', async () => {
    const page = await open();
    await page.keyboard.press('Tab'); // inside the modal banner
    await banner.button(page, T.fr.refuse).press('Enter');
    await waitRecorded(page);
    await page.locator('#content').click(); // focus back to the page, as a visitor reading it
    let f;
    for (let i = 0; i < 10; i++) {
        await page.keyboard.press('Tab');
        f = await focused(page);
        if (f.host === 'CONSENTD-EMBED') break;
    }
    assert.deepEqual([f.tag, f.text, f.next], ['BUTTON', T.fr.load, 'video'], 'Tab reaches the first placeholder\'s first button');
    assert.notEqual(f.outline, 'none', 'focus is visible');
    await page.keyboard.press('Enter');
    await waitFor(() => requested(page, VIDEO).length === 1, { message: 'the video loads from the keyboard' });
    assert.equal((await focused(page)).tag, 'IFRAME', 'focus moves to the loaded content');
    for (let i = 0; i < 10; i++) {
        await page.keyboard.press('Tab');
        f = await focused(page);
        if (f.text === T.fr.always(NAMES.fr.maps)) break;
    }
    assert.equal(f.next, 'map');
    await page.keyboard.press('Enter');
    await waitFor(() => requested(page, MAP).length === 1, { message: 'the map loads from the keyboard' });
    assert.equal(page.consents.at(-1).decisions.maps, true);
    await page.context().close();
});

test('hostile_page_css_does_not_reach_the_placeholder_and_ours_does_not_leak', async () => {
    const hostile = `<style>
* { all: unset !important; }
html, body, main { display: block !important; }
button, consentd-embed { display: none !important; }
* { color: red !important; font-size: 40px !important; }
div { background: lime !important; padding: 50px !important; }
</style>`;
    const page = await open('fr', { head: hostile, body: BODY + '<div id="page-div"><p id="page-p">Page text.</p><button id="page-button">Page button</button></div>' });
    await refuseAll(page);
    const load = placeholder(page, 'video').getByRole('button', { name: T.fr.load });
    assert.equal(await load.isVisible(), true, 'its buttons stay visible');
    const look = await load.evaluate((el) => {
        const s = getComputedStyle(el);
        const box = getComputedStyle(el.parentNode);
        return { color: s.color, size: s.fontSize, bg: box.backgroundColor, pad: box.paddingTop };
    });
    assert.deepEqual(look, { color: 'rgb(255, 255, 255)', size: '14px', bg: 'rgb(243, 243, 243)', pad: '12px' });
    const b = await placeholder(page, 'video').boundingBox();
    assert.deepEqual([Math.round(b.width), Math.round(b.height)], [560, 315], 'and its size');
    await page.context().close();

    // Without hostile rules, the page's own elements keep the browser's styles.
    const calm = await open('fr', { body: BODY + '<div id="page-div"><p id="page-p">Page text.</p><button id="page-button">Page button</button></div>' });
    await refuseAll(calm);
    const pageLook = await calm.evaluate(() => {
        const p = getComputedStyle(document.getElementById('page-p'));
        const d = getComputedStyle(document.getElementById('page-div'));
        const b = getComputedStyle(document.getElementById('page-button'));
        return { pMargin: p.marginTop, pColor: p.color, dBg: d.backgroundColor, dPad: d.paddingTop, bBg: b.backgroundColor, bColor: b.color };
    });
    assert.equal(pageLook.pMargin, '16px', 'p keeps its margin');
    assert.equal(pageLook.pColor, 'rgb(0, 0, 0)');
    assert.equal(pageLook.dBg, 'rgba(0, 0, 0, 0)', 'div keeps no background');
    assert.equal(pageLook.dPad, '0px');
    assert.notEqual(pageLook.bBg, 'rgb(29, 78, 216)', 'the page\'s button is not ours');
    assert.notEqual(pageLook.bColor, 'rgb(255, 255, 255)');
    await calm.context().close();
});

const NONCE = 'ZW1iZWQtbm9uY2UtNDI=';
test('works_under_a_strict_csp_with_nonces', async () => {
    const csp = `default-src 'none'; script-src 'nonce-${NONCE}' 'strict-dynamic'; style-src 'nonce-${NONCE}'; connect-src http://127.0.0.1:*; frame-src https://www.youtube-nocookie.com https://www.google.com https://player.example.net; base-uri 'none'`;
    const url = stack.pages.set('/embeds-csp.html', {
        body: bannerPage(stack, { body: BODY.replace('class="map"', 'width="400" height="300"'), scriptAttrs: `nonce="${NONCE}"` }),
        headers: { 'content-security-policy': csp },
    });
    const page = await newPage(stack);
    page.thirdParty = [];
    page.consents = [];
    await page.context().route('https://www.youtube-nocookie.com/**', (route) => {
        page.thirdParty.push(route.request().url());
        route.fulfill({ status: 200, contentType: 'text/html', body: '<!doctype html><title>video</title>' });
    });
    page.on('request', (req) => {
        if (req.method() === 'POST' && req.url().endsWith('/v1/sites/demo/consents')) page.consents.push(JSON.parse(req.postData()));
    });
    await page.goto(url);
    await waitOpen(page);
    await refuseAll(page);
    const look = await placeholder(page, 'video').evaluate((el) => {
        const s = getComputedStyle(el);
        return { bg: s.backgroundColor, w: Math.round(el.getBoundingClientRect().width), h: Math.round(el.getBoundingClientRect().height) };
    });
    assert.deepEqual(look, { bg: 'rgb(243, 243, 243)', w: 560, h: 315 }, 'styled and sized');
    await placeholder(page, 'video').getByRole('button', { name: T.fr.load }).click();
    await waitFor(() => requested(page, VIDEO).length === 1, { message: 'the video requested' });
    assert.deepEqual(await page.evaluate(() => window.__violations), [], 'no CSP violation');
    assert.deepEqual(page.problems, []);
    await page.context().close();
});
