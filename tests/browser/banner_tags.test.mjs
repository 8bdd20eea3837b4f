// Tag managers and held-back tags: Google Consent Mode v2 calls arrive in
// order (default, all denied, with wait_for_update, before anything else;
// then updates mapped from the site's purposes), a dataLayer event and a DOM
// event carry the decisions, window.consentd answers; scripts and iframes
// marked data-consent run only once their purpose is granted, in document
// order; impressions are beaconed to the events endpoint.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { test, waitFor } from '../http/lib/harness.mjs';
import {
    CONSENT, LEGIT, NECESSARY, banner, bannerPage, isOpen, newPage, purposeName, servedConfig, site,
    startBannerStack, waitOpen, waitRecorded,
} from './lib/browser.mjs';

const TYPES = ['ad_storage', 'analytics_storage', 'ad_user_data', 'ad_personalization',
    'functionality_storage', 'personalization_storage', 'security_storage'];

let stack, cfg;
before(async () => {
    stack = await startBannerStack();
    cfg = servedConfig((await stack.consentd.request('/v1/sites/demo/banner.js')).text);
});
after(async () => {
    await stack?.stop();
});

// A stub gtag that records every call, defined before the banner loads.
const GTAG_STUB = `<script>window.calls = []; window.gtag = function () { calls.push(JSON.parse(JSON.stringify([...arguments]))); };
document.addEventListener('consentd:change', (e) => calls.push(['event', e.detail]));</script>`;

function expectedUpdate(decisions) {
    const granted = {};
    for (const p of cfg.p) for (const type of p.cm || []) granted[type] = granted[type] !== false && decisions[p.id];
    return Object.fromEntries(Object.entries(granted).map(([k, v]) => [k, v ? 'granted' : 'denied']));
}

test('consent_mode_default_comes_first_all_denied_then_updates_follow_the_choice', async () => {
    const url = stack.pages.set('/gtag.html', bannerPage(stack, { head: GTAG_STUB }));
    const page = await newPage(stack);
    await page.goto(url);
    await waitOpen(page);
    const calls = await page.evaluate(() => calls);
    assert.deepEqual(calls[0], ['consent', 'default', { ...Object.fromEntries(TYPES.map((t) => [t, 'denied'])), wait_for_update: 500 }]);
    assert.ok(calls.slice(1).every((c) => !(c[0] === 'consent' && c[1] === 'default')), 'one default');
    await banner.button(page, 'Tout accepter').click();
    const after = await page.evaluate(() => calls);
    const updates = after.filter((c) => c[1] === 'update');
    const all = Object.fromEntries(site.purposes.map((p) => [p.id, true]));
    assert.deepEqual(updates.at(-1), ['consent', 'update', expectedUpdate(all)]);
    assert.ok(cfg.p.some((p) => (p.cm || []).length), 'the site maps purposes onto Consent Mode');
    assert.ok(Object.values(expectedUpdate(all)).includes('granted'));
    assert.deepEqual(after.at(-1), ['event', all], 'a consentd:change DOM event with the decisions');
    const pushed = await page.evaluate(() => (window.dataLayer || []).filter((e) => e.event === 'consentd_change').at(-1));
    assert.deepEqual(pushed.consentd, all, 'a dataLayer event with the decisions');
    // A refusal later: mapped types back to denied.
    await page.evaluate(() => consentd.show());
    await banner.button(page, 'Tout refuser').click();
    const refused = Object.fromEntries(site.purposes.map((p) => [p.id, NECESSARY.includes(p.id)]));
    assert.deepEqual((await page.evaluate(() => calls)).filter((c) => c[1] === 'update').at(-1)[2], expectedUpdate(refused));
    await page.context().close();
});

test('without_a_gtag_the_calls_go_on_the_datalayer_as_gtag_does', async () => {
    const url = stack.pages.set('/nogtag.html', bannerPage(stack));
    const page = await newPage(stack);
    await page.goto(url);
    await waitOpen(page);
    const first = await page.evaluate(() => Array.from(window.dataLayer[0]));
    assert.equal(first[0], 'consent');
    assert.equal(first[1], 'default');
    assert.equal(await page.evaluate(() => Object.prototype.toString.call(window.dataLayer[0])), '[object Arguments]');
    await page.context().close();
});

test('javascript_api_get_getall_onchange_show', async () => {
    const url = stack.pages.set('/api.html', bannerPage(stack));
    const page = await newPage(stack);
    await page.goto(url);
    await waitOpen(page);
    assert.equal(await page.evaluate((id) => consentd.get(id), CONSENT[0]), false, 'nothing needing consent before a choice');
    if (NECESSARY[0]) assert.equal(await page.evaluate((id) => consentd.get(id), NECESSARY[0]), true);
    await page.evaluate(() => consentd.onChange((d) => (window.changed = d)));
    await banner.button(page, 'Personnaliser').click();
    await banner.switchOf(page, purposeName(CONSENT[0])).check();
    await banner.button(page, 'Enregistrer mes choix').click();
    const changed = await page.evaluate(() => window.changed);
    assert.equal(changed[CONSENT[0]], true);
    assert.deepEqual(await page.evaluate(() => consentd.getAll()), changed);
    await page.evaluate(() => consentd.show());
    await waitOpen(page);
    assert.equal(await banner.switchOf(page, purposeName(CONSENT[0])).isChecked(), true, 'show() opens the panel with the current choice');
    await page.context().close();
});

test('held_scripts_and_iframes_run_only_once_granted_and_in_document_order', async () => {
    const [a, b] = CONSENT;
    const tag = (name) => `window.ran = (window.ran || []).concat(${JSON.stringify(name)});`;
    stack.pages.set('/tags/slow1.js', { body: tag('slow1'), delayMs: 400 });
    stack.pages.set('/tags/fast3.js', tag('fast3'));
    stack.pages.set('/tags/other.js', tag('other'));
    stack.pages.set('/tags/frame.html', '<!doctype html><title>frame</title><p>frame</p>');
    const body = `
<script type="text/plain" data-consent="${a}" src="/tags/slow1.js"></script>
<script type="text/plain" data-consent="${a}">${tag('inline2')}</script>
<script type="text/plain" data-consent="${b}" src="/tags/other.js"></script>
<script type="text/plain" data-consent="${a} ${b}">${tag('both')}</script>
<script type="text/plain" data-consent="${a}" src="/tags/fast3.js"></script>
<iframe title="held" data-consent="${a}" data-src="/tags/frame.html"></iframe>`;
    const url = stack.pages.set('/held.html', bannerPage(stack, { body }));
    const page = await newPage(stack);
    await page.goto(url);
    await waitOpen(page);
    await page.waitForTimeout(300);
    assert.equal(await page.evaluate(() => window.ran), undefined, 'nothing ran before a choice');
    for (const p of ['/tags/slow1.js', '/tags/fast3.js', '/tags/other.js', '/tags/frame.html']) {
        assert.equal(stack.pages.requested(p).length, 0, `${p} not even fetched`);
    }
    await banner.button(page, 'Personnaliser').click();
    await banner.switchOf(page, purposeName(a)).check();
    await banner.button(page, 'Enregistrer mes choix').click();
    await waitFor(() => page.evaluate(() => (window.ran || []).length >= 3), { message: 'the granted tags' });
    await page.waitForTimeout(200);
    assert.deepEqual(await page.evaluate(() => window.ran), ['slow1', 'inline2', 'fast3'], 'granted ones, in document order');
    assert.equal(stack.pages.requested('/tags/other.js').length, 0, 'the other purpose stays held');
    assert.equal(stack.pages.requested('/tags/frame.html').length, 1, 'the iframe loads');
    // Granting the second purpose later releases what needed it, once.
    await page.evaluate(() => consentd.show());
    await banner.button(page, 'Tout accepter').click();
    await waitFor(() => page.evaluate(() => window.ran.length >= 5), { message: 'the rest' });
    await page.waitForTimeout(200);
    assert.deepEqual(await page.evaluate(() => window.ran), ['slow1', 'inline2', 'fast3', 'other', 'both']);
    assert.deepEqual(page.problems, []);
    await page.context().close();
});

test('impressions_are_beaconed_shown_panel_opened_dismissed', async () => {
    const url = stack.pages.set('/events.html', bannerPage(stack));
    const page = await newPage(stack);
    const events = [];
    page.on('request', (req) => {
        if (req.url().endsWith('/v1/sites/demo/events') && req.method() === 'POST') events.push(JSON.parse(req.postData()));
    });
    await page.goto(url);
    await waitOpen(page);
    await banner.button(page, 'Personnaliser').click();
    await banner.button(page, 'Continuer sans accepter →').click();
    await waitFor(() => events.length >= 3, { message: 'three events' });
    assert.deepEqual(events.map((e) => e.type), ['shown', 'panel_opened', 'dismissed']);
    for (const e of events) {
        assert.equal(e.lang, 'fr');
        assert.equal(e.policy_version, site.policy_version);
        assert.ok(JSON.stringify(e).length <= 1024);
    }
    assert.equal(await isOpen(page), false);
    await waitRecorded(page);
    await page.context().close();
});
