// The console (issue 22, item 3) in Chromium against two consentd nodes on
// one Redis: the operator signs in with the operator key, sees the sites,
// creates one (a copy of another's published document: version 1, not
// served until published), edits a banner text
// beside its default, sees the preview change (the text read inside the
// sandboxed preview frame, in the language and variant chosen, at desktop
// and mobile widths), saves, makes a version, publishes it, and the SECOND
// node serves the new banner within a second; a purpose name changed as a
// typo fix is published without a policy bump; the diff of two versions
// names the field; rolling back re-publishes the old version (the second
// node serves the old text again). A key of only stats:read cannot erase
// (403 through the API) and the console offers it no erasure, nothing to
// edit, a link to the dashboard; an invalid draft shows the server's
// message beside the field it names (aria-invalid, aria-describedby); two
// editors of one draft: the second to save is told someone else saved
// first and reloads theirs; a key of site:write alone makes a version and is
// told it may not publish; typing in a field while the preview is rebuilt
// keeps the focus and the keys in the field (the banner's modal dialog took
// them), and a click into the preview gives its banner the focus; the sites
// come 100 at a time, with more on demand, and are found by part of their
// id as one types. Every state screenshotted (1280 and 375 px,
// tests/browser/screenshots/console-*.png) is axe-clean; no page nor the
// preview frame breaks its Content-Security-Policy; the key is in no URL
// and not in localStorage.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import zlib from 'node:zlib';
import { after, before } from 'node:test';
import { Consentd, delay, test, waitFor } from '../http/lib/harness.mjs';
import { sha256hex } from '../http/lib/consent.mjs';
import { AXE_PATH, DEMO_KEY, newPage, screenshot, startBannerStack } from './lib/browser.mjs';

const OPERATOR_KEY = 'operator-key-for-the-console-0001';
const config = { admin: { operator_key_sha256: sha256hex(OPERATOR_KEY) } };
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 375, height: 812 };

let stack, nodeB;
before(async () => {
    stack = await startBannerStack({ config });
    nodeB = await Consentd.start({ redis: stack.redis, config });
    // demo is a site of the directory; the walk-through starts from its document published in Redis.
    const site = stack.consentd.sites['demo.json'];
    const put = await api('PUT', '/v1/sites/demo/draft', { revision: 0, site });
    assert.equal(put.status, 200, put.text);
    const made = await api('POST', '/v1/sites/demo/versions', { message: 'from the file' });
    assert.equal(made.status, 201, made.text);
    const pub = await api('POST', `/v1/sites/demo/versions/${made.json().version}/publish`);
    assert.equal(pub.status, 200, pub.text);
});
after(async () => {
    try {
        await nodeB?.stop();
    } finally {
        await stack?.stop();
    }
});

function api(method, target, body, key = OPERATOR_KEY, node = null) {
    return (node || stack.consentd).request(target, {
        method,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
    });
}

/* axe-core's violations in the console page (the preview frame's banner is
 * the banner's own suite's: banner_a11y). Loaded through the DevTools
 * protocol, which the page's CSP does not govern. */
async function axeViolations(page) {
    await page.evaluate(fs.readFileSync(AXE_PATH, 'utf8'));
    const violations = await page.evaluate(() => axe.run(document, { iframes: false, resultTypes: ['violations'] }).then((r) => r.violations));
    return violations.flatMap((v) => v.nodes.map((n) => `${v.id} (${v.impact}): ${n.target.join(' ')}`));
}

/* Screenshot (the whole page for the short ones, the viewport for the
 * editor), axe-clean, no CSP violation in the page nor its frames. */
async function checkpoint(page, name, { fullPage = false } = {}) {
    await screenshot(page, name, { fullPage });
    assert.deepEqual(await axeViolations(page), [], `${name}: axe`);
    for (const frame of page.frames()) {
        const v = await frame.evaluate(() => window.__violations || []).catch(() => []);
        assert.deepEqual(v, [], `${name}: CSP violations in ${frame.url()}`);
    }
    assert.deepEqual(page.problems, [], `${name}: page errors`);
}

async function signIn(page, key, site = '') {
    await page.goto(stack.consentd.url('/console'));
    await page.locator('#key').fill(key);
    await page.locator('#site').fill(site);
    await page.locator('#signin-form button[type=submit]').click();
}

/* The key never in a URL nor in localStorage; in sessionStorage at most. */
async function assertKeyKept(page, key) {
    assert.ok(!page.url().includes(key), 'the key is not in the address');
    for (const frame of page.frames()) assert.ok(!frame.url().includes(key), `the key is not in ${frame.url()}`);
    const stores = await page.evaluate(() => ({ local: JSON.stringify(localStorage), session: sessionStorage.getItem('consentd.console') }));
    assert.ok(!stores.local.includes(key), 'the key is not in localStorage');
    assert.ok(stores.session.includes(key), 'the key is in sessionStorage (this tab only)');
}

/* The title of the banner inside the preview frame, once it shows. */
function previewTitle(page) {
    return page.frameLocator('#preview-frame').locator('consentd-ui dialog h2').textContent({ timeout: 10000 });
}

async function waitPreviewTitle(page, text) {
    await waitFor(async () => (await previewTitle(page).catch(() => '')) === text, { timeoutMs: 10000, message: `the preview to show "${text}"` });
}

/* Poll node B's banner.js for site until it holds text; ms it took from since. */
async function servedByB(site, text, since, ms = 3000) {
    for (;;) {
        const res = await nodeB.request(`/v1/sites/${site}/banner.js`);
        if (res.status === 200 && res.text.includes(text)) return Date.now() - since;
        if (Date.now() - since > ms) assert.fail(`node B did not serve "${text}" for ${site} within ${ms} ms`);
        await delay(10);
    }
}

// Click a button that may be below the fold. Playwright scrolls it into view
// and clicks at once; Chromium hit-tests the out-of-process preview frame
// (in a sticky column) against where it was before the scroll until the next
// frame is drawn, so a click there at once may land in the frame. A person
// does not click within a frame of scrolling: wait for two.
async function clickSettled(page, locator) {
    await locator.scrollIntoViewIfNeeded();
    await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
    await locator.click();
}

async function publishInConsole(page, version) {
    const before = await page.locator('#history-status').textContent();
    await clickSettled(page, page.locator(`#versions button[data-publish="${version}"]`));
    await page.waitForFunction((b) => {
        const t = document.querySelector('#history-status').textContent;
        return t !== b && /is published/.test(t);
    }, before, { timeout: 10000 });
    return Date.now();
}

async function makeVersion(page, message) {
    await page.locator('#commit-message').fill(message);
    await page.locator('#commit-form button[type=submit]').click();
    await page.waitForFunction((m) => [...document.querySelectorAll('#versions tbody td')].some((td) => td.textContent === m), message, { timeout: 10000 });
    return Number(await page.locator('#versions tbody tr').first().getAttribute('data-version'));
}

test('operator_creates_a_site_edits_a_text_sees_the_preview_publishes_and_node_b_serves_it_then_rolls_back', async () => {
    const page = await newPage(stack, { viewport: DESKTOP, locale: 'en-US' });
    await page.goto(stack.consentd.url('/console'));
    await checkpoint(page, 'console-signin-1280', { fullPage: true });

    // A site's key without a site id is not the operator's.
    await signIn(page, DEMO_KEY);
    await page.waitForFunction(() => !document.querySelector('#error').hidden, null, { timeout: 10000 });
    assert.match(await page.locator('#error').textContent(), /not the operator key/);
    assert.equal(await page.locator('#sites').isVisible(), false);

    // The operator key: every site, and create one.
    await signIn(page, OPERATOR_KEY);
    await page.locator('#sites-table tbody tr[data-site="demo"]').waitFor({ timeout: 10000 });
    assert.match(await page.locator('#sites-table tbody tr[data-site="demo"]').textContent(), /demoversion 1/);
    await assertKeyKept(page, OPERATOR_KEY);
    await page.locator('#create-id').fill('shop');
    await page.locator('#create-from').selectOption('demo');
    await checkpoint(page, 'console-sites-1280', { fullPage: true });
    await page.locator('#create-form button[type=submit]').click();
    await page.locator('#editor').waitFor({ state: 'visible', timeout: 10000 });
    assert.equal(await page.locator('#editor-site').textContent(), 'shop');
    assert.equal(await page.locator('#dashboard-link').getAttribute('href'), '/dashboard?site=shop', 'a link to the dashboard of the same site');
    // Created: version 1 and the draft, not published, not served.
    const created = await api('GET', '/v1/sites/shop/versions/1');
    assert.equal(created.status, 200, created.text);
    assert.equal(created.json().site.id, 'shop');
    assert.equal(created.json().published, false);
    assert.deepEqual(created.json().site.purposes, stack.consentd.sites['demo.json'].purposes, 'made from demo');
    assert.equal((await nodeB.request('/v1/sites/shop/banner.js')).status, 404, 'nothing served before the first publish');
    assert.equal(await page.locator('#versions button[data-publish="1"]').textContent(), 'Publish version 1');

    // The preview: the real banner of the document, in English, variant b.
    await page.locator('#preview-lang').selectOption('en');
    await page.locator('#preview-variant').selectOption('b');
    await waitPreviewTitle(page, 'Your choice');
    const src = await page.locator('#preview-frame').getAttribute('src');
    assert.match(src, /^\/console\/preview\.html\?src=%2Fv1%2Fsites%2Fshop%2Fpreviews%2F/, src);
    assert.equal(await page.locator('#preview-frame').getAttribute('sandbox'), 'allow-scripts');

    // Edit variant b's English title, beside the default string.
    await page.locator('#texts-lang').selectOption('en');
    await page.locator('#texts-variant').selectOption('b');
    const row = page.locator('.text-row', { has: page.locator('label[for="text-title"]') });
    assert.equal(await row.locator('.text-default').textContent(), 'Your cookie choices', "the banner's default English title beside");
    assert.equal(await page.locator('#text-title').inputValue(), 'Your choice');
    await page.locator('#text-title').fill('Choose, and change your mind any time');
    await waitPreviewTitle(page, 'Choose, and change your mind any time');
    assert.match(await page.locator('#json').inputValue(), /"title": "Choose, and change your mind any time"/, 'the JSON view follows the form');

    // The same preview at mobile width, and in French.
    await page.locator('input[name="preview-width"][value="375"]').check();
    assert.equal(await page.locator('#preview-frame').getAttribute('width'), '375');
    await page.locator('#preview-lang').selectOption('fr');
    await waitPreviewTitle(page, 'À vous de choisir');
    await page.locator('#preview-lang').selectOption('en');
    await waitPreviewTitle(page, 'Choose, and change your mind any time');
    await page.locator('input[name="preview-width"][value="1280"]').check();
    assert.equal(await page.locator('#preview-frame').getAttribute('width'), '1280');
    await checkpoint(page, 'console-editor-1280');

    // Save, make a version, publish: node B serves it within a second.
    await page.locator('#save').click();
    await page.waitForFunction(() => document.body.dataset.dirty === 'false', null, { timeout: 10000 });
    const v2 = await makeVersion(page, 'a friendlier title');
    assert.equal(v2, 2);
    // A notice above both columns (the layout under which a Publish button
    // below the fold, clicked as soon as scrolled to, was hit in the preview
    // frame: see clickSettled).
    await page.evaluate(() => {
        const n = document.querySelector('#created');
        n.hidden = false;
        document.querySelector('#editor .columns').before(n);
    });
    let at = await publishInConsole(page, v2);
    await page.evaluate(() => {
        const n = document.querySelector('#created');
        n.hidden = true;
        document.querySelector('#editor .form-col').prepend(n);
    });
    const ms = await servedByB('shop', 'Choose, and change your mind any time', at);
    assert.ok(ms <= 1000, `node B served the published banner ${ms} ms after the publish answered`);
    assert.match(await page.locator('#history-status').textContent(), /Version 2 is published \(was none\)\. The first publish: the site is served from now on\./);
    assert.equal(await page.locator('#versions tr[data-version="2"] .badge').textContent(), 'published');

    // A typo fix in a purpose's name, published without asking visitors again.
    const name = page.locator('[data-field="purposes[1].texts.en.name"]');
    await name.fill('Audience measurment');
    await page.locator('#save').click();
    await page.waitForFunction(() => document.body.dataset.dirty === 'false', null, { timeout: 10000 });
    const v3 = await makeVersion(page, 'typo');
    await page.locator('#no-bump').check();
    at = await publishInConsole(page, v3);
    assert.match(await page.locator('#history-status').textContent(), /Version 3 is published \(was 2\)\. The policy changed but was not bumped/);
    await servedByB('shop', 'Audience measurment', at);
    const published = await api('GET', '/v1/sites/shop/versions/published');
    assert.equal(published.json().site.policy_version, created.json().site.policy_version, 'no bump');

    // The diff of versions 1 and 3, readable.
    await page.locator('#diff-from').selectOption('1');
    await page.locator('#diff-to').selectOption('3');
    await page.locator('#diff-form button[type=submit]').click();
    await page.locator('#diff li').first().waitFor({ timeout: 10000 });
    const diff = await page.locator('#diff').textContent();
    assert.match(diff, /variants\[1\]\.texts\.en\.title: "Your choice" → "Choose, and change your mind any time"/);
    assert.match(diff, /purposes\[1\]\.texts\.en\.name: "Audience measurement" → "Audience measurment"/);
    await checkpoint(page, 'console-history-1280');

    // Roll back to version 1: node B serves the old text again.
    assert.equal(await page.locator('#versions button[data-publish="1"]').textContent(), 'Roll back to version 1');
    at = await publishInConsole(page, 1);
    await servedByB('shop', '"Your choice"', at);
    const back = await nodeB.request('/v1/sites/shop/banner.js');
    assert.ok(!back.text.includes('Choose, and change your mind'), 'the rolled back banner has the old title only');
    // Version 1 names the purpose as version 3 did not: the bump rule makes a
    // copy of it with a new policy version, and says so.
    assert.match(await page.locator('#history-status').textContent(), /Version 4 is published \(was 3\)\. The policy changed: its version was bumped \(version 4 made for it\)/);
    const versions = (await api('GET', '/v1/sites/shop/versions')).json();
    assert.equal(versions.published, 4);
    assert.equal(versions.versions[0].parent, 1, 'a copy of version 1');
    const one = (await api('GET', '/v1/sites/shop/versions/1')).json().site;
    const four = (await api('GET', '/v1/sites/shop/versions/4')).json().site;
    assert.deepEqual({ ...four, policy_version: one.policy_version }, one, 'version 4 is version 1 but for its policy version');

    // At 375 px: one column, nothing wider than the screen.
    await page.setViewportSize(PHONE);
    await page.locator('input[name="preview-width"][value="375"]').check();
    await page.evaluate(() => window.scrollTo(0, 0));
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    assert.ok(overflow <= 0, `the page fits 375 px (${overflow} px too wide)`);
    await checkpoint(page, 'console-editor-375');
    await assertKeyKept(page, OPERATOR_KEY);
    await page.context().close();
});

test('operator_creates_a_site_from_the_starter_document_and_publishes_it', async () => {
    const page = await newPage(stack, { viewport: PHONE, locale: 'en-US' });
    await page.goto(stack.consentd.url('/console'));
    await checkpoint(page, 'console-signin-375', { fullPage: true });
    await signIn(page, OPERATOR_KEY);
    await page.locator('#sites-table tbody tr[data-site="demo"]').waitFor({ timeout: 10000 });
    await checkpoint(page, 'console-sites-375', { fullPage: true });
    // No origin: the console says what is missing, and sends nothing.
    await page.locator('#create-id').fill('blog');
    await page.locator('#create-form button[type=submit]').click();
    await page.waitForFunction(() => /its origin/.test(document.querySelector('#error').textContent), null, { timeout: 5000 });
    assert.equal((await api('GET', '/v1/sites/blog/versions')).status, 404, 'nothing created');
    await page.locator('#create-origin').fill('https://blog.example');
    await page.locator('#create-form button[type=submit]').click();
    await page.locator('#editor').waitFor({ state: 'visible', timeout: 10000 });
    assert.equal(await page.locator('#f-origins').inputValue(), 'https://blog.example');
    assert.equal(await page.locator('#f-languages').inputValue(), 'en');
    assert.equal(await page.locator('#preview-variant').isDisabled(), true, 'no variant');
    await page.locator('#texts-lang').selectOption('en');
    assert.match(await page.locator('#texts-note').textContent(), /add a variant/);
    // The starter banner in the preview, then published: node B serves it.
    await waitPreviewTitle(page, 'Your cookie choices');
    const at = await publishInConsole(page, 1);
    await servedByB('blog', 'privacy@blog.example', at); // the starter's contact
    assert.match(await page.locator('#history-status').textContent(), /Version 1 is published \(was none\)/);
    await page.context().close();
});

test('a_stats_only_key_cannot_erase_and_the_console_offers_it_nothing_but_the_dashboard', async () => {
    const made = await api('POST', '/v1/sites/demo/keys', { name: 'dashboard', scopes: ['stats:read'] });
    assert.equal(made.status, 201, made.text);
    const statsKey = made.json().key;
    const erase = await api('DELETE', '/v1/sites/demo/visitors/AAAAAAAAAAAAAAAAAAAAAA', undefined, statsKey);
    assert.equal(erase.status, 403, erase.text);
    assert.equal(erase.json().error.code, 'insufficient_scope');

    for (const [viewport, name] of [
        [DESKTOP, 'console-stats-key-1280'],
        [PHONE, 'console-stats-key-375'],
    ]) {
        const page = await newPage(stack, { viewport, locale: 'en-US' });
        await signIn(page, statsKey, 'demo');
        await page.locator('#noaccess').waitFor({ state: 'visible', timeout: 10000 });
        assert.equal(await page.locator('#editor').isVisible(), false, 'no editor');
        const text = await page.locator('main').textContent();
        assert.match(await page.locator('#noaccess-text').textContent(), /site:write/);
        assert.equal(await page.getByRole('button', { name: /erase|delete/i }).count(), 0, 'no erasure offered');
        assert.ok(!/erase (a|the) visitor|erasure request/i.test(text));
        assert.equal(await page.locator('#noaccess a').getAttribute('href'), '/dashboard?site=demo');
        await checkpoint(page, name, { fullPage: true });
        await page.context().close();
    }
});

test('an_invalid_draft_shows_the_servers_message_on_the_right_field', async () => {
    const page = await newPage(stack, { viewport: DESKTOP, locale: 'en-US' });
    await signIn(page, DEMO_KEY, 'demo');
    await page.locator('#editor').waitFor({ state: 'visible', timeout: 10000 });
    const basis = page.locator('[data-field="purposes[2].legal_basis"]');
    await basis.selectOption('legitimate_interest'); // with trackers: refused by site.c
    // The server's own reason for that document, asked directly.
    const doc = JSON.parse(await page.locator('#json').inputValue());
    const check = await api('POST', '/v1/sites/demo/draft/check', doc, DEMO_KEY);
    assert.equal(check.status, 422, check.text);
    const reason = check.json().error.errors.find((e) => e.field === 'purposes[2].legal_basis').reason;
    assert.match(reason, /legitimate_interest cannot cover trackers/);
    // As you type: no save, the debounced check answers.
    await page.waitForFunction(() => document.querySelector('[data-field="purposes[2].legal_basis"]').getAttribute('aria-invalid') === 'true', null, { timeout: 5000 });
    assert.equal(await page.evaluate(() => document.body.dataset.dirty), 'true', 'not saved');
    const describedBy = await basis.getAttribute('aria-describedby');
    assert.ok(describedBy, 'aria-describedby names the message');
    assert.equal(await page.locator(`#${describedBy}`).textContent(), reason, "the server's message, beside the field");
    assert.equal(await page.locator(`#${describedBy}`).getAttribute('data-for'), 'purposes[2].legal_basis');
    await page.locator(`#${describedBy}`).evaluate((el) => el.scrollIntoView({ block: 'center' }));
    await checkpoint(page, 'console-invalid-1280');
    await page.setViewportSize(PHONE);
    await page.locator(`#${describedBy}`).evaluate((el) => el.scrollIntoView({ block: 'center' }));
    await checkpoint(page, 'console-invalid-375');
    // Fixed: the message goes.
    await page.setViewportSize(DESKTOP);
    await basis.selectOption('consent');
    await page.waitForFunction(() => !document.querySelector('[aria-invalid="true"]') && !document.querySelector('.field-error.server'), null, { timeout: 5000 });
    assert.equal(await page.locator('#check-status').textContent(), 'The server accepts this draft.');
    // Saving an invalid draft shows the same message (PUT draft's own 422).
    await basis.selectOption('legitimate_interest');
    await page.waitForFunction(() => document.body.dataset.checked === 'invalid', null, { timeout: 5000 });
    await page.locator('#save').click();
    await page.waitForFunction(() => /Not saved/.test(document.querySelector('#draft-status').textContent), null, { timeout: 5000 });
    assert.equal(await page.locator('.field-error.server[data-for="purposes[2].legal_basis"]').textContent(), reason);
    // A field below a control (a cookie of the list): shown under the list, the field named.
    await basis.selectOption('consent');
    const cookies = page.locator('[data-field="purposes[2].cookies"]');
    await cookies.fill('_pk_id.*\nconsentd*');
    await page.waitForFunction(() => document.querySelector('[data-field="purposes[2].cookies"]').getAttribute('aria-invalid') === 'true', null, { timeout: 5000 });
    const cookieNote = await page.locator(`#${await cookies.getAttribute('aria-describedby')}`).textContent();
    assert.match(cookieNote, /^purposes\[2\]\.cookies\[1\]\.name: \S/, cookieNote);
    await cookies.fill('');
    // Storage keys: the list in the document as typed.
    await page.locator('[data-field="purposes[2].storage"]').fill('_hjSession*\n ajs_user_id ');
    await page.waitForFunction(() => /"_hjSession\*",\s*"ajs_user_id"/.test(document.querySelector('#json').value), null, { timeout: 5000 });
    await page.locator('[data-field="purposes[2].storage"]').fill('');
    // A field the form has no control for (edited in the JSON view): listed at the top.
    const bad = JSON.parse(await page.locator('#json').inputValue());
    bad.purposes[2].legal_basis = 'consent';
    bad.google_consent_mode = { wait_for_update: 99999 };
    await page.locator('#json').fill(JSON.stringify(bad, null, 2));
    await page.locator('#json-apply').click();
    await page.locator('#problems').waitFor({ state: 'visible', timeout: 5000 });
    assert.match(await page.locator('#problems-list').textContent(), /^google_consent_mode\.wait_for_update: \S/);
    assert.equal(await page.locator('[data-field="purposes[2].legal_basis"]').inputValue(), 'consent', 'the form follows the JSON view');
    assert.equal(await page.locator('[aria-invalid="true"]').count(), 0);
    await page.context().close();
});

test('two_editors_of_one_draft_the_second_to_save_is_told_someone_else_saved_first_and_reloads', async () => {
    const a = await newPage(stack, { viewport: DESKTOP, locale: 'en-US' });
    const b = await newPage(stack, { viewport: DESKTOP, locale: 'en-US' });
    await signIn(a, DEMO_KEY, 'demo');
    // b signs in with the keyboard alone.
    await b.goto(stack.consentd.url('/console'));
    assert.equal(await b.evaluate(() => document.activeElement.id), 'key', 'the key field has the focus');
    await b.keyboard.type(DEMO_KEY);
    await b.keyboard.press('Tab');
    await b.keyboard.type('demo');
    await b.keyboard.press('Enter');
    for (const page of [a, b]) await page.locator('#editor').waitFor({ state: 'visible', timeout: 10000 });
    await a.locator('#f-policy').fill('2026-12-01');
    await a.locator('#save').click();
    await a.waitForFunction(() => document.body.dataset.dirty === 'false', null, { timeout: 10000 });
    await b.locator('#f-policy').fill('2026-12-02');
    await b.locator('#save').click();
    await b.locator('#conflict').waitFor({ state: 'visible', timeout: 10000 });
    assert.match(await b.locator('#conflict').textContent(), /Someone else saved first/);
    await checkpoint(b, 'console-conflict-1280');
    // Reloaded while the focus is in the field (a click that does not move
    // it): the field shows theirs too.
    await b.locator('#f-policy').focus();
    await b.locator('#reload').evaluate((button) => button.click());
    await b.waitForFunction(() => document.querySelector('#f-policy').value === '2026-12-01', null, { timeout: 10000 });
    assert.equal(await b.locator('#conflict').isVisible(), false);
    await b.locator('#f-policy').fill('2026-12-03');
    await b.locator('#save').click();
    await b.waitForFunction(() => document.body.dataset.dirty === 'false', null, { timeout: 10000 });
    const draft = await api('GET', '/v1/sites/demo/draft', undefined, DEMO_KEY);
    assert.equal(draft.json().site.policy_version, '2026-12-03');
    for (const page of [a, b]) await page.context().close();
});

test('a_key_that_may_edit_but_not_publish_makes_a_version_and_is_told_why_it_cannot_publish', async () => {
    const made = await api('POST', '/v1/sites/demo/keys', { name: 'editor', scopes: ['site:write'] });
    assert.equal(made.status, 201, made.text);
    const page = await newPage(stack, { viewport: DESKTOP, locale: 'en-US' });
    await signIn(page, made.json().key, 'demo');
    await page.locator('#editor').waitFor({ state: 'visible', timeout: 10000 });
    await page.locator('#f-policy').fill('2026-12-24');
    const version = await makeVersion(page, 'by the editor');
    const published = (await api('GET', '/v1/sites/demo/versions')).json();
    assert.equal(published.versions[0].who, 'key:editor', 'the version names its key');
    await page.locator(`#versions button[data-publish="${version}"]`).click();
    await page.waitForFunction(() => !document.querySelector('#error').hidden, null, { timeout: 10000 });
    assert.match(await page.locator('#error').textContent(), /may not do this.*site:publish/);
    assert.equal((await api('GET', '/v1/sites/demo/versions')).json().published, published.published, 'nothing published');
    assert.deepEqual(await axeViolations(page), []);
    await page.context().close();
});

// A node of many sites: the list comes 100 at a time, with more on demand,
// and finds a site by part of its id as you type (GET /v1/sites?q=&cursor=).
test('the_operator_pages_through_many_sites_and_finds_one_by_part_of_its_id', async () => {
    // 150 sites known to the registry, not served (after every other id).
    const bulk = Array.from({ length: 150 }, (_, i) => `zz-bulk-${String(i).padStart(3, '0')}`);
    await stack.redis.command('HSET', 'cd:{sites}:registry', ...bulk.flatMap((id) => [id, '-1']));
    try {
        const all = (await api('GET', '/v1/sites?limit=1000')).json();
        assert.equal(all.total, all.sites.length);
        const page = await newPage(stack, { viewport: DESKTOP, locale: 'en-US' });
        await signIn(page, OPERATOR_KEY);
        await page.locator('#sites-table tbody tr[data-site="demo"]').waitFor({ timeout: 10000 });
        const rows = () => page.locator('#sites-table tbody tr').evaluateAll((trs) => trs.map((tr) => tr.dataset.site));
        assert.deepEqual(await rows(), all.sites.slice(0, 100).map((s) => s.id), 'the first 100, by id');
        assert.equal(await page.locator('#sites-status').textContent(), `100 of ${all.total} sites, by id.`);
        assert.equal(await page.locator('#sites-more').textContent(), `Show ${Math.min(100, all.total - 100)} more`);
        await page.locator('#sites-more').click();
        await page.waitForFunction((n) => document.querySelectorAll('#sites-table tbody tr').length == n, Math.min(200, all.total), { timeout: 10000 });
        assert.deepEqual(await rows(), all.sites.slice(0, 200).map((s) => s.id), 'then the next ones, each once');
        // Find: part of an id, as you type.
        await page.locator('#sites-q').click();
        await page.keyboard.type('bulk-14', { delay: 20 });
        await page.waitForFunction(() => /holds “bulk-14”/.test(document.querySelector('#sites-status').textContent), null, { timeout: 10000 });
        assert.deepEqual(await rows(), bulk.slice(140, 150));
        assert.equal(await page.locator('#sites-status').textContent(), '10 site(s) whose id holds “bulk-14”.');
        assert.equal(await page.locator('#sites-more').isVisible(), false);
        await checkpoint(page, 'console-sites-find-1280');
        await page.locator('#sites-q').fill('nothing-like-it');
        await page.waitForFunction(() => /^No site whose id holds/.test(document.querySelector('#sites-status').textContent), null, { timeout: 10000 });
        assert.deepEqual(await rows(), []);
        await page.locator('#sites-q').fill('');
        await page.waitForFunction(() => document.querySelectorAll('#sites-table tbody tr').length == 100, null, { timeout: 10000 });
        assert.deepEqual(page.problems, []);
        await page.context().close();
    } finally {
        await stack.redis.command('HDEL', 'cd:{sites}:registry', ...bulk);
    }
});

// The banner opens as a modal dialog and takes the focus, as on a site; in
// the preview it must not take it from the field being typed in each time
// the preview is rebuilt (it did: the next keys went into the banner).
test('typing_while_the_preview_is_rebuilt_keeps_the_focus_and_the_keys_in_the_field', async () => {
    const page = await newPage(stack, { viewport: DESKTOP, locale: 'en-US' });
    await signIn(page, OPERATOR_KEY, 'demo');
    await page.locator('#editor').waitFor({ state: 'visible', timeout: 10000 });
    const frameSrc = () => page.locator('#preview-frame').getAttribute('src');
    // A preview other than `was` is in the frame, and its banner is open.
    const rebuilt = async (was) => {
        await waitFor(async () => /%2Fpreviews%2F/.test((await frameSrc()) || '') && (await frameSrc()) !== was, { timeoutMs: 10000, message: 'the preview rebuilt' });
        const src = await frameSrc();
        const loaded = () =>
            page
                .frameLocator('#preview-frame')
                .locator('html')
                .evaluate((el, want) => location.href.endsWith(want) && el.dataset.banner === 'loaded', src, { timeout: 1000 })
                .catch(() => false);
        await waitFor(loaded, { timeoutMs: 10000, message: 'the new preview loaded in the frame' });
        await previewTitle(page);
        return src;
    };
    let src = await rebuilt(null);
    const focused = () => page.evaluate(() => document.activeElement?.id);
    // The focus on id within 3 s (given back by a message from the frame).
    const focusOn = (id, message) => waitFor(async () => (await focused()) === id, { timeoutMs: 3000, message });
    const field = page.locator('#f-lifetime');
    await field.click();
    await page.keyboard.press('Control+A');
    await page.keyboard.type('30', { delay: 30 });
    src = await rebuilt(src);
    await focusOn('f-lifetime', 'the focus back in the field');
    await page.keyboard.type('0');
    assert.equal(await field.inputValue(), '300', 'the next key went into the field');
    src = await rebuilt(src);
    await focusOn('f-lifetime', 'the focus back in the field');
    // Clicked into, the preview's banner has the focus as on a site.
    // (Playwright places a click in the scaled-down frame as if unscaled: the
    // point is computed here, the frame's box plus the title's box scaled.)
    const box = await page.locator('#preview-frame').boundingBox();
    const scale = box.width / Number(await page.locator('#preview-frame').getAttribute('width'));
    const title = await page
        .frameLocator('#preview-frame')
        .locator('consentd-ui dialog h2')
        .evaluate((el) => {
            const r = el.getBoundingClientRect();
            return { x: r.x + r.width / 2, y: r.y + r.height / 2 };
        });
    await page.mouse.click(box.x + title.x * scale, box.y + title.y * scale);
    await focusOn('preview-frame', 'a click into the preview gives it the focus');
    await delay(300);
    assert.equal(await focused(), 'preview-frame', 'and the console leaves it there');
    assert.deepEqual(page.problems, []);
    await page.context().close();
});

test('the_console_is_served_under_a_strict_policy', async () => {
    const page = await stack.consentd.request('/console');
    assert.equal(page.status, 200);
    const csp = page.headers['content-security-policy'];
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self';/);
    assert.match(csp, /frame-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.ok(!/unsafe-inline|unsafe-eval/.test(csp), csp);
    assert.ok(!/<script>|<style|style="/.test(page.text), 'no inline script or style');
    const frame = await stack.consentd.request('/console/preview.html');
    assert.match(frame.headers['content-security-policy'], /frame-ancestors 'self'/);
    assert.ok(!/unsafe-inline/.test(frame.headers['content-security-policy']));
    // Each file from memory in brotli, gzip or identity, the same bytes; ETag and 304.
    const js = /<script src="(\/console\/console\.js\?v=[0-9a-f]{16})"/.exec(page.text)[1];
    const css = /<link rel="stylesheet" href="(\/console\/console\.css\?v=[0-9a-f]{16})"/.exec(page.text)[1];
    const pjs = /<script src="(\/console\/preview\.js\?v=[0-9a-f]{16})"/.exec(frame.text)[1];
    const get = (p, enc, headers = {}) => stack.consentd.request(p, { headers: { 'accept-encoding': enc, ...headers } });
    for (const p of ['/console/', js, css, '/console/preview.html', pjs]) {
        const identity = await get(p, 'identity');
        const gz = await get(p, 'gzip');
        const br = await get(p, 'gzip, br');
        assert.equal(identity.status, 200, p);
        assert.deepEqual(zlib.gunzipSync(gz.body), identity.body, `${p}: gzip`);
        assert.deepEqual(zlib.brotliDecompressSync(br.body), identity.body, `${p}: brotli`);
        assert.match(br.headers.vary, /accept-encoding/i, p);
        const again = await get(p, 'gzip, br', { 'if-none-match': br.headers.etag });
        assert.equal(again.status, 304, `${p}: 304`);
    }
    assert.equal((await get(js, 'br')).headers['cache-control'], 'public, max-age=86400');
    assert.equal((await get('/console', 'br')).headers['cache-control'], 'no-cache');
    // The banner's default strings are bundled in the console (the texts beside the site's own).
    assert.ok((await get(js, 'identity')).text.includes('Your cookie choices'));
    const missing = await stack.consentd.request('/console/nothing.js');
    assert.equal(missing.status, 404);
    assert.equal(missing.json().error.code, 'not_found');
});
