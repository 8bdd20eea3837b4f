// Banner variants (A/B tests) in a real browser: the banner makes the
// visitor id itself before any choice and keeps it in sessionStorage only
// (no cookie, no localStorage until the visitor answers); the variant it
// shows is the one consentd's rule assigns to that id (FNV-1a, computed here
// again), it stays across reloads, its layout ("box": a centred box, "bar":
// the bottom bar) and its text overrides are what the visitor sees; the
// consent records that variant and the hash of that variant's texts; the
// consent and every event carry the visitor id and the variant.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { test, waitFor } from '../http/lib/harness.mjs';
import { postConsent, server, verifyProof } from '../http/lib/consent.mjs';
import {
    banner, bannerPage, isOpen, newPage, site, startBannerStack, variantOf, waitOpen, waitRecorded,
} from './lib/browser.mjs';

const DEFAULT_TITLE = 'Vos choix sur les cookies';
const VISITOR_ID = /^[A-Za-z0-9_-]{22}$/; // 128 bits, base64url
const variants = site.variants || [];
const titleOf = (id) => variants.find((v) => v.id === id)?.texts?.fr?.title ?? DEFAULT_TITLE;
const layoutOf = (id) => variants.find((v) => v.id === id)?.layout ?? 'bar';

let stack, url;
const textsHash = {}; // variant -> the hash consentd records for it in French
before(async () => {
    assert.ok(variants.length >= 2 && new Set(variants.map((v) => v.layout ?? 'bar')).size === 2,
        'the demo site declares a bar and a box variant');
    stack = await startBannerStack();
    url = stack.pages.set('/page.html', bannerPage(stack));
    for (const v of variants) {
        const res = await postConsent(stack.consentd, { decisions: {}, policy_version: site.policy_version, lang: 'fr', variant: v.id },
            { origin: stack.pages.origin, 'content-type': 'application/json' });
        assert.equal(res.status, 201, res.text);
        textsHash[v.id] = res.json().texts_hash;
    }
});
after(async () => {
    await stack?.stop();
});

/* What the page shows: the visitor id it made, its title, layout and box. */
const shown = (page) => page.evaluate(() => {
    const d = document.querySelector('consentd-ui').shadowRoot.querySelector('dialog');
    const r = d.getBoundingClientRect();
    return {
        visitor: sessionStorage.getItem('consentd'),
        title: d.querySelector('h2').textContent,
        layout: d.className,
        box: { top: r.top, bottom: r.bottom, left: r.left, right: r.right, width: r.width },
        vw: innerWidth,
        vh: innerHeight,
        localStorage: localStorage.length,
    };
});

/* The current record of a visitor, read with the site's key, its proof verified. */
async function record(visitor) {
    const res = await stack.consentd.request(`/v1/sites/demo/consents/${visitor}`, { headers: server() });
    assert.equal(res.status, 200, res.text);
    const body = res.json();
    const { payload } = await verifyProof(stack.consentd, body.proof);
    assert.equal(payload.var, body.variant);
    assert.equal(payload.th, body.texts_hash);
    return body;
}

test('the_banner_makes_the_visitor_id_and_shows_the_variant_the_server_rule_assigns_it', async () => {
    const seen = new Set();
    for (let i = 0; i < 4; i++) {
        const page = await newPage(stack);
        await page.goto(url);
        await waitOpen(page);
        const first = await shown(page);
        assert.match(first.visitor, VISITOR_ID, 'a visitor id made in the browser');
        assert.deepEqual(await page.context().cookies(), [], 'no cookie before a choice');
        assert.equal(first.localStorage, 0, 'nothing in localStorage');
        const expected = variantOf(first.visitor);
        seen.add(expected);
        assert.equal(first.title, titleOf(expected), `visitor ${first.visitor}: variant ${expected}'s title`);
        assert.equal(first.layout, layoutOf(expected));
        // The same visitor and variant after a reload in the same session.
        await page.reload();
        await waitOpen(page);
        const again = await shown(page);
        assert.equal(again.visitor, first.visitor, 'the id is kept across reloads');
        assert.equal(again.title, first.title);
        await banner.button(page, 'Tout refuser').click();
        const c = await waitRecorded(page);
        assert.equal(c.v, first.visitor, 'the cookie keeps the id the banner made');
        const body = await record(c.v);
        assert.equal(body.variant, expected, 'consentd recorded the variant its rule assigns');
        assert.equal(body.texts_hash, textsHash[expected], "the hash of that variant's texts");
        // After the choice, the cookie's id: still the same variant.
        await page.reload();
        await banner.manage(page).waitFor({ state: 'visible' });
        await page.evaluate(() => consentd.show());
        assert.equal((await shown(page)).title, titleOf(expected));
        await page.context().close();
    }
    process.stdout.write(`# variants seen over 4 random visitors: ${[...seen].join(', ')}\n`);
});

test('box_is_a_centred_box_with_its_own_title_and_bar_the_bottom_bar_and_each_records_its_texts', async () => {
    assert.notEqual(textsHash.a, textsHash.b, 'the two variants show different texts');
    for (const v of variants) {
        const page = await newPage(stack, { variant: v.id });
        await page.goto(url);
        await waitOpen(page);
        const s = await shown(page);
        assert.equal(s.visitor, page.context().visitor);
        assert.equal(s.title, titleOf(v.id));
        assert.equal(await page.locator('consentd-ui').getByRole('dialog', { name: titleOf(v.id) }).count(), 1);
        const centreX = (s.box.left + s.box.right) / 2;
        assert.ok(Math.abs(centreX - s.vw / 2) <= 1, `${v.id}: centred horizontally`);
        if (layoutOf(v.id) === 'box') {
            assert.ok(Math.abs((s.box.top + s.box.bottom) / 2 - s.vh / 2) <= 1, `${v.id}: centred vertically (${s.box.top}..${s.box.bottom})`);
            assert.ok(s.box.width <= 38 * 16, `${v.id}: a box, ${s.box.width}px wide`);
        } else {
            assert.ok(Math.abs(s.vh - s.box.bottom - 8) <= 1, `${v.id}: at the bottom (${s.box.bottom} of ${s.vh})`);
            assert.ok(s.box.width > 38 * 16, `${v.id}: a bar, ${s.box.width}px wide`);
        }
        await banner.button(page, 'Tout accepter').click();
        const c = await waitRecorded(page);
        const body = await record(c.v);
        assert.equal(body.variant, v.id);
        assert.equal(body.texts_hash, textsHash[v.id]);
        await page.context().close();
    }
});

test('the_consent_and_every_event_carry_the_visitor_and_the_variant', async () => {
    const page = await newPage(stack, { variant: 'b' });
    const sent = [];
    page.on('request', (r) => {
        const path = new URL(r.url()).pathname;
        if (r.method() === 'POST' && /\/v1\/sites\/demo\/(events|consents)$/.test(path)) sent.push({ path, body: r.postDataJSON() });
    });
    const events = (type) => sent.filter((s) => s.path.endsWith('/events') && (!type || s.body.type === type));
    const visitor = page.context().visitor;
    const about = { lang: 'fr', variant: 'b', visitor, policy_version: site.policy_version };

    await page.goto(url);
    await waitOpen(page);
    await waitFor(() => events('shown').length === 1, { message: 'a "shown" event' });
    assert.deepEqual(events('shown')[0].body, { type: 'shown', ...about });
    await banner.button(page, 'Personnaliser').click();
    await waitFor(() => events('panel_opened').length === 1, { message: 'a "panel_opened" event' });
    assert.deepEqual(events('panel_opened')[0].body, { type: 'panel_opened', ...about });
    await page.keyboard.press('Escape');
    assert.equal(await isOpen(page), false);
    await waitFor(() => events('dismissed').length === 1, { message: 'a "dismissed" event' });
    assert.deepEqual(events('dismissed')[0].body, { type: 'dismissed', ...about });
    const c = await waitRecorded(page);
    const consents = sent.filter((s) => s.path.endsWith('/consents'));
    assert.equal(consents.length, 1);
    assert.equal(consents[0].body.visitor, visitor);
    assert.equal(consents[0].body.variant, 'b');
    assert.equal(c.v, visitor);

    // With a valid choice: no "shown" on the next page; the settings control
    // opening the panel is a "panel_opened".
    await page.reload();
    await banner.manage(page).waitFor({ state: 'visible' });
    await banner.manage(page).click();
    await waitFor(() => events('panel_opened').length === 2, { message: 'a second "panel_opened" event' });
    assert.deepEqual(events('panel_opened')[1].body, { type: 'panel_opened', ...about });
    assert.equal(events('shown').length, 1, 'no "shown" for a visitor who has chosen');
    assert.deepEqual(events().map((e) => e.body.type), ['shown', 'panel_opened', 'dismissed', 'panel_opened']);
    // Whatever the events endpoint answers (404 before it exists), the page is unharmed.
    assert.deepEqual(page.problems, []);
    await page.context().close();
});
