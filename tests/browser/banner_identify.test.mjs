// Cross-device consent for logged-in visitors (issue 20, item 7), in a real
// browser with two (then more) contexts: a user chooses in context A after
// consentd.identify(token); context B, a fresh browser of the same user,
// calls identify and gets A's choice applied (the banner closes, held
// scripts run per that choice) without answering anything; another user's
// or a tampered token changes nothing; after the erasure of the visitors
// that made the user's choice, a new context finds nothing. Also: the
// identify feature is inlined only for a site that declares "identify", and
// what it costs (web/README.md's size table).
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { test, waitFor } from '../http/lib/harness.mjs';
import {
    CONSENT, DEMO_KEY, bannerPage, banner, choiceCookie, isOpen, newPage, startBannerStack, updateSite, waitOpen, waitRecorded,
} from './lib/browser.mjs';
import { identifyKeygen, identifyMint } from '../../ops/identify-token.mjs';

const keys = identifyKeygen();
let stack, url;
before(async () => {
    stack = await startBannerStack({ siteOver: { identify: { public_key: keys.public_key, max_age_seconds: 600 } } });
    const held = CONSENT[0];
    const body = `<script type="text/plain" data-consent="${held}">window.ran = (window.ran || []).concat('${held}');</script>`;
    url = stack.pages.set('/account.html', bannerPage(stack, { body }));
});
after(async () => {
    await stack?.stop();
});

const token = (sub) => identifyMint({ privateKey: keys.private_key, site: 'demo', sub, ttl: 300 });

/* consentd.identify(t) in the page: {choice} or {error: code}. */
async function identify(page, t) {
    await page.waitForFunction(() => typeof window.consentd?.identify === 'function');
    return page.evaluate(async (tok) => {
        try {
            return { choice: await window.consentd.identify(tok) };
        } catch (e) {
            return { error: e.message };
        }
    }, t);
}

/* The banner's "shown" events the page sends (the banner opened), as they go. */
function watchShown(page) {
    const shown = [];
    page.on('request', (r) => r.url().endsWith('/events') && /"shown"/.test(r.postData() || '') && shown.push(r.url()));
    return shown;
}

const erase = (visitor) =>
    stack.consentd.request(`/v1/sites/demo/visitors/${visitor}`, { method: 'DELETE', headers: { authorization: `Bearer ${DEMO_KEY}` } });

test('a_users_choice_follows_it_to_a_fresh_browser_that_identifies_and_erasure_ends_it', async () => {
    // Context A: the user logs in (identify: nothing yet), then accepts all.
    const a = await newPage(stack);
    await a.goto(url);
    await waitOpen(a);
    assert.deepEqual(await identify(a, token('user-cross-1')), { choice: null });
    await banner.button(a, 'Tout accepter').click();
    const fromA = await waitRecorded(a);
    assert.equal(fromA.d[CONSENT[0]], true);

    // Context B: no cookie; the banner asks until identify answers with A's choice.
    const b = await newPage(stack);
    await b.goto(url);
    await waitOpen(b);
    assert.equal(await b.evaluate(() => window.ran), undefined, 'held before any choice');
    const { choice } = await identify(b, token('user-cross-1'));
    assert.equal(choice.visitor, fromA.v, "A's choice");
    assert.equal(choice.decisions[CONSENT[0]], true);
    assert.equal(await isOpen(b), false, 'the banner closed without a click');
    await waitFor(() => b.evaluate(() => (window.ran || []).length === 1), { message: 'the held script released' });
    const fromB = await waitRecorded(b);
    assert.notEqual(fromB.v, fromA.v, "B keeps its own visitor id, with its own proof");
    assert.deepEqual(fromB.d, fromA.d);
    const got = await stack.consentd.request(`/v1/sites/demo/consents/${fromB.v}`, { headers: { authorization: `Bearer ${DEMO_KEY}` } });
    assert.equal(got.status, 200, got.text);
    const rec = got.json();
    assert.equal(rec.control, 'identify', 'recorded as carried over, not as a click');
    // A reload of B: the cookie is the choice, no banner.
    await b.reload();
    await waitFor(() => b.evaluate(() => (window.ran || []).length === 1), { message: 'released from the cookie' });
    assert.equal(await isOpen(b), false);

    // Context C: another user's token, then a tampered one: nothing carried, still asked.
    const c = await newPage(stack);
    const shownC = watchShown(c);
    await c.goto(url);
    await waitOpen(c);
    await waitFor(() => shownC.length === 1, { message: "the banner's shown event" });
    assert.deepEqual(await identify(c, token('user-cross-2')), { choice: null });
    const [h, claims, s] = token('user-cross-2').split('.');
    const forged = JSON.parse(Buffer.from(claims, 'base64url'));
    forged.sub = 'user-cross-1';
    assert.deepEqual(await identify(c, `${h}.${Buffer.from(JSON.stringify(forged)).toString('base64url')}.${s}`), { error: 'invalid_token_signature' });
    assert.equal(await isOpen(c), true, 'still asked');
    assert.equal(await c.evaluate(() => window.ran), undefined, 'still held');
    assert.equal(await choiceCookie(c), null);

    // Context E: the site's server asks before it renders the page (no
    // visitor yet) and sets the choice cookie in its answer, as
    // docs/identify.md shows: the banner never opens, the held script runs.
    const ask = await stack.consentd.request('/v1/sites/demo/identify', {
        method: 'POST',
        headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ token: token('user-cross-1') }),
    });
    assert.equal(ask.status, 200, ask.text);
    const carried = ask.json().choice;
    const e = await newPage(stack);
    const shown = watchShown(e);
    const cookie = { v: carried.visitor, pv: carried.policy_version, d: carried.decisions, e: Date.parse(carried.expires_at) / 1000, p: carried.proof };
    await e.context().addCookies([{ name: 'consentd', value: encodeURIComponent(JSON.stringify(cookie)), url: stack.pages.origin }]);
    await e.goto(url);
    await waitFor(() => e.evaluate(() => (window.ran || []).length === 1), { message: 'released from the cookie the server set' });
    await e.evaluate(() => window.consentd.ready);
    assert.equal(await isOpen(e), false);
    assert.deepEqual(shown, [], 'the banner never showed');
    await e.context().close();

    // The DPO erases the user's visitors (rights API): a new browser finds nothing.
    for (const v of [fromA.v, fromB.v]) assert.equal((await erase(v)).status, 200);
    const d = await newPage(stack);
    await d.goto(url);
    await waitOpen(d);
    assert.deepEqual(await identify(d, token('user-cross-1')), { choice: null });
    assert.equal(await isOpen(d), true);
    for (const p of [a, b, c, d]) {
        assert.deepEqual(p.problems, []);
        await p.context().close();
    }
});

test('the_identify_feature_is_inlined_only_for_a_site_that_declares_it_and_its_cost_is_printed', async () => {
    const served = async () => {
        const [plain, gz] = await Promise.all([
            stack.consentd.request('/v1/sites/demo/banner.js'),
            stack.consentd.request('/v1/sites/demo/banner.js', { headers: { 'accept-encoding': 'gzip' } }),
        ]);
        assert.equal(gz.headers['content-encoding'], 'gzip');
        return { text: plain.text, gzip: gz.body.length };
    };
    const withIt = await served();
    assert.match(withIt.text, /"identify"/, 'the feature posts to identify');
    // The same site without "identify": no byte of the feature.
    const site = structuredClone(stack.consentd.sites['demo.json']);
    delete site.identify;
    site.policy_version = `${site.policy_version}-plain`;
    stack.consentd.sites['demo.json'] = site;
    await updateSite(stack, {});
    const without = await served();
    assert.doesNotMatch(without.text, /"identify"|\.identify=/);
    const text = withIt.text.length - without.text.length;
    const gzip = withIt.gzip - without.gzip;
    assert.ok(text > 0 && gzip > 0 && gzip < 512, `identify feature: +${text} B, gzip +${gzip} B`);
    process.stdout.write(`# identify feature: +${text} B, gzip +${gzip} B (served)\n`);
});
