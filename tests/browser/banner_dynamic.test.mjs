// Dynamic pages (issue 20, item 3): held scripts and iframes that a
// single-page app or a tag manager adds after the banner has loaded are held
// and released like those of the HTML (the banner's MutationObserver), in
// document order; the page's own code follows the choice with
// consentd.onChange / consentd.off, waits for it with consentd.ready,
// re-applies after a client-side route change with consentd.apply(), and
// reopens the panel with consentd.show().
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { test, waitFor } from '../http/lib/harness.mjs';
import {
    CONSENT, NECESSARY, banner, bannerPage, newPage, purposeName, site, startBannerStack, waitOpen, waitRecorded,
} from './lib/browser.mjs';

let stack;
before(async () => {
    stack = await startBannerStack();
    const tag = (name) => `window.ran = (window.ran || []).concat(${JSON.stringify(name)});`;
    stack.pages.set('/dyn/slow.js', { body: tag('slow'), delayMs: 400 });
    stack.pages.set('/dyn/late.js', tag('late'));
    stack.pages.set('/dyn/other.js', tag('other'));
    stack.pages.set('/dyn/frame.html', '<!doctype html><title>frame</title><p>frame</p>');
    stack.pages.set('/dyn/frame2.html', '<!doctype html><title>frame</title><p>frame 2</p>');
});
after(async () => {
    await stack?.stop();
});

const [A, B] = CONSENT;
const all = () => Object.fromEntries(site.purposes.map((p) => [p.id, true]));

/* A page whose add(html) appends, in one DOM insertion, a <div> built from
 * html (what a framework's render of a new route does), as the page's own
 * code would: nonce-less, after load. */
const ADD = `<script>window.add = (html) => { const d = document.createElement('div'); d.innerHTML = html; document.body.append(d); };
window.addScript = (purposes, text) => { const s = document.createElement('script'); s.type = 'text/plain'; s.dataset.consent = purposes; s.text = text; document.body.append(s); };</script>`;

async function openPage(name) {
    const url = stack.pages.set(`/${name}.html`, bannerPage(stack, { head: ADD }));
    const page = await newPage(stack);
    await page.goto(url);
    await waitOpen(page);
    return page;
}

async function grantOnly(page, purpose) {
    await banner.button(page, 'Personnaliser').click();
    await banner.switchOf(page, purposeName(purpose)).check();
    await banner.button(page, 'Enregistrer mes choix').click();
}

test('held_script_and_iframe_added_after_load_run_only_after_consent', async () => {
    const page = await openPage('later');
    await page.evaluate(([a, b]) => {
        addScript(a, `window.ran = (window.ran || []).concat('inline')`);
        add(`<iframe title="later" data-consent="${a}" data-src="/dyn/frame.html"></iframe>`);
        addScript(b, `window.ran = (window.ran || []).concat('other purpose')`);
    }, [A, B]);
    await page.waitForTimeout(400);
    assert.equal(await page.evaluate(() => window.ran), undefined, 'a held script added before consent does not run');
    assert.equal(stack.pages.requested('/dyn/frame.html').length, 0, 'a held iframe added before consent is not loaded');
    assert.equal(await page.evaluate(() => document.querySelector('iframe[title=later]').getAttribute('src')), null);
    await grantOnly(page, A);
    await waitFor(() => page.evaluate(() => (window.ran || []).length >= 1), { message: 'the script, once granted' });
    await waitFor(() => stack.pages.requested('/dyn/frame.html').length === 1, { message: 'the iframe, once granted' });
    await page.waitForTimeout(200);
    assert.deepEqual(await page.evaluate(() => window.ran), ['inline'], 'only what the choice grants');
    assert.deepEqual(page.problems, []);
    await page.context().close();
});

test('held_script_and_iframe_added_after_consent_run_at_once', async () => {
    const page = await openPage('after');
    await grantOnly(page, A);
    await waitRecorded(page);
    const t0 = Date.now();
    await page.evaluate((a) => {
        addScript(a, `window.ran = (window.ran || []).concat('now')`);
        add(`<iframe title="now" data-consent="${a}" data-src="/dyn/frame2.html"></iframe>`);
    }, A);
    await waitFor(() => page.evaluate(() => (window.ran || []).includes('now')), { timeoutMs: 2000, message: 'the script at once' });
    await waitFor(() => stack.pages.requested('/dyn/frame2.html').length === 1, { timeoutMs: 2000, message: 'the iframe at once' });
    assert.ok(Date.now() - t0 < 2000);
    // Still held: what the choice refused, added after it.
    await page.evaluate((b) => addScript(b, `window.ran = (window.ran || []).concat('refused')`), B);
    await page.waitForTimeout(300);
    assert.deepEqual(await page.evaluate(() => window.ran), ['now']);
    assert.equal(await page.evaluate((b) => document.querySelectorAll(`script[type="text/plain"][data-consent="${b}"]`).length, B), 1);
    await page.context().close();
});

test('a_route_rendered_at_once_runs_its_held_tags_in_document_order', async () => {
    // After consent: a subtree with an external script that answers slowly,
    // then an inline one, then a fast external one: each waits for the one before.
    const page = await openPage('route');
    await banner.button(page, 'Tout accepter').click();
    await waitRecorded(page);
    const route = (n) => `<section><h2>Route ${n}</h2>
<script type="text/plain" data-consent="${A}" src="/dyn/slow.js"></script>
<div><script type="text/plain" data-consent="${A} ${B}">window.ran = (window.ran || []).concat('inline');</script></div>
<script type="text/plain" data-consent="${B}" src="/dyn/late.js"></script></section>`;
    await page.evaluate((html) => add(html), route(1));
    await waitFor(() => page.evaluate(() => (window.ran || []).length >= 3), { message: 'the route tags' });
    assert.deepEqual(await page.evaluate(() => window.ran), ['slow', 'inline', 'late'], 'document order, an external script loaded before the next');
    // Before consent: the same route, held, then released in order.
    const fresh = await openPage('route-before');
    await fresh.evaluate((html) => add(html), route(2));
    await fresh.waitForTimeout(300);
    assert.equal(await fresh.evaluate(() => window.ran), undefined);
    await banner.button(fresh, 'Tout accepter').click();
    await waitFor(() => fresh.evaluate(() => (window.ran || []).length >= 3), { message: 'the route tags after consent' });
    assert.deepEqual(await fresh.evaluate(() => window.ran), ['slow', 'inline', 'late']);
    await page.context().close();
    await fresh.context().close();
});

test('apply_resolves_once_what_was_added_is_released', async () => {
    const page = await openPage('apply');
    await banner.button(page, 'Tout accepter').click();
    await waitRecorded(page);
    // What a router hook does after rendering a route: await consentd.apply().
    const ran = await page.evaluate(async (a) => {
        add(`<script type="text/plain" data-consent="${a}" src="/dyn/slow.js"></script>`);
        addScript(a, `window.ran = (window.ran || []).concat('after slow')`);
        await consentd.apply();
        return window.ran;
    }, A);
    assert.deepEqual(ran, ['slow', 'after slow'], 'apply() resolves after the slow script has run, and the next');
    await page.context().close();
});

test('off_stops_a_listener_and_onchange_keeps_the_others', async () => {
    const page = await openPage('off');
    await page.evaluate(() => {
        window.seenA = [];
        window.seenB = [];
        window.fa = (d) => seenA.push(d);
        consentd.onChange(fa);
        consentd.onChange((d) => seenB.push(d));
        consentd.off(() => {}); // not a listener: removes nothing
    });
    await grantOnly(page, A);
    await waitFor(() => page.evaluate(() => seenA.length === 1 && seenB.length === 1), { message: 'both listeners called' });
    await page.evaluate(() => consentd.off(fa));
    await page.evaluate(() => consentd.show());
    await banner.button(page, 'Tout accepter').click();
    await waitFor(() => page.evaluate(() => seenB.length === 2), { message: 'the listener that stays' });
    await page.waitForTimeout(200);
    const { seenA, seenB } = await page.evaluate(() => ({ seenA, seenB }));
    assert.equal(seenA.length, 1, 'off(fn): not called any more');
    assert.equal(seenA[0][A], true);
    assert.equal(seenA[0][B], false);
    assert.deepEqual(seenB[1], all());
    await page.context().close();
});

test('ready_resolves_only_after_the_choice_then_at_once_with_a_stored_one', async () => {
    const page = await openPage('ready');
    await page.evaluate(() => {
        consentd.ready.then((d) => (window.readyWith = d));
    });
    await page.waitForTimeout(300);
    assert.equal(await page.evaluate(() => window.readyWith), undefined, 'pending while the visitor has not chosen');
    await grantOnly(page, A);
    await waitFor(() => page.evaluate(() => window.readyWith), { message: 'ready after the choice' });
    const decided = await page.evaluate(() => window.readyWith);
    assert.equal(decided[A], true);
    assert.equal(decided[B], false);
    for (const id of NECESSARY) assert.equal(decided[id], true);
    await waitRecorded(page);
    // The next page of the same visitor: resolved as soon as the banner ran.
    await page.goto(stack.pages.set('/ready2.html', bannerPage(stack)));
    await page.waitForFunction(() => window.consentd);
    const stored = await page.evaluate(() => Promise.race([consentd.ready, new Promise((r) => setTimeout(() => r('pending'), 20))]));
    assert.deepEqual(stored, decided, 'the stored choice');
    await page.context().close();
});

test('show_opens_the_panel_with_the_current_choice', async () => {
    const page = await openPage('show');
    await grantOnly(page, A);
    await waitRecorded(page);
    await page.goto(stack.pages.set('/show2.html', bannerPage(stack)));
    await page.waitForFunction(() => window.consentd);
    assert.equal(await page.locator('consentd-ui dialog[open]').count(), 0, 'no banner with a stored choice');
    await page.evaluate(() => consentd.show());
    await waitOpen(page);
    assert.equal(await banner.switchOf(page, purposeName(A)).isChecked(), true);
    assert.equal(await banner.switchOf(page, purposeName(B)).isChecked(), false);
    await page.context().close();
});
