// The console's Keys view (issue 22 follow-up) in Chromium against a real
// consentd and Redis: the operator creates a site and is offered its first
// key; the scopes offered are those of src/apikey.c, each with what it
// allows; the server's validation messages land on the field they name
// (aria-invalid, aria-describedby); a key with two scopes is made, its
// secret shown once (copy button, "will not be shown again", in no storage,
// gone when the view is left), works through the API for its scopes and
// gets 403 for another, is listed with who made it, and is revoked from the
// keyboard through a confirmation dialog, after which the server answers 401
// with it. A key without keys:admin is offered no Keys view and the API
// refuses it (403); a site key with keys:admin manages the keys, and the
// server refuses it a scope it does not hold (the message under the scopes).
// Every state screenshotted (1280 and 375 px, console-keys-*.png) is
// axe-clean, without a CSP violation.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import { test } from '../http/lib/harness.mjs';
import { sha256hex } from '../http/lib/consent.mjs';
import { AXE_PATH, newPage, screenshot, startBannerStack } from './lib/browser.mjs';

const OPERATOR_KEY = 'operator-key-for-the-console-keys-01';
const config = { admin: { operator_key_sha256: sha256hex(OPERATOR_KEY) } };
const DESKTOP = { width: 1280, height: 900 };
const PHONE = { width: 375, height: 812 };
const SECRET = /^cd_[A-Za-z0-9_-]{43}$/;

let stack;
before(async () => {
    stack = await startBannerStack({ config });
});
after(async () => {
    await stack?.stop();
});

function api(method, target, body, key = OPERATOR_KEY) {
    return stack.consentd.request(target, {
        method,
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
    });
}

/* The scope names of src/apikey.c, in its order: the console offers these. */
function scopesOfTheServer() {
    const src = fs.readFileSync(path.join(import.meta.dirname, '..', '..', 'src', 'apikey.c'), 'utf8');
    const list = /scope_names\[APIKEY_SCOPES\] = \{([^}]*)\}/.exec(src)[1];
    return [...list.matchAll(/"([^"]+)"/g)].map((m) => m[1]);
}

async function axeViolations(page) {
    await page.evaluate(fs.readFileSync(AXE_PATH, 'utf8'));
    const violations = await page.evaluate(() => axe.run(document, { iframes: false, resultTypes: ['violations'] }).then((r) => r.violations));
    return violations.flatMap((v) => v.nodes.map((n) => `${v.id} (${v.impact}): ${n.target.join(' ')}`));
}

/* Screenshot, axe-clean, no CSP violation, no page error; at 375 px nothing wider than the screen. */
async function checkpoint(page, name, { fullPage = true } = {}) {
    await screenshot(page, name, { fullPage });
    assert.deepEqual(await axeViolations(page), [], `${name}: axe`);
    const v = await page.evaluate(() => window.__violations || []);
    assert.deepEqual(v, [], `${name}: CSP violations`);
    assert.deepEqual(page.problems, [], `${name}: page errors`);
    if (page.viewportSize().width <= 375) {
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
        assert.ok(overflow <= 0, `${name}: the page fits 375 px (${overflow} px too wide)`);
    }
}

async function signIn(page, key, site = '') {
    await page.goto(stack.consentd.url('/console'));
    await page.locator('#key').fill(key);
    await page.locator('#site').fill(site);
    await page.locator('#signin-form button[type=submit]').click();
}

const focused = (page) => page.evaluate(() => document.activeElement?.id || document.activeElement?.dataset.revoke || document.activeElement?.tagName);

test('operator_creates_a_site_issues_its_first_key_sees_the_secret_once_uses_it_and_revokes_it', async () => {
    const page = await newPage(stack, { viewport: DESKTOP, locale: 'en-US' });
    await page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
    await signIn(page, OPERATOR_KEY);
    await page.locator('#sites-table tbody tr[data-site="demo"]').waitFor({ timeout: 10000 });
    assert.equal(await page.locator('#sites-table button[data-keys="demo"]').textContent(), 'Keys of demo', 'each site has its keys');

    // Create a site: the console offers its first key.
    await page.locator('#create-id').fill('shop');
    await page.locator('#create-origin').fill('https://shop.example');
    await page.locator('#create-form button[type=submit]').click();
    await page.locator('#editor').waitFor({ state: 'visible', timeout: 10000 });
    await page.locator('#created').waitFor({ state: 'visible', timeout: 10000 });
    assert.match(await page.locator('#created').textContent(), /Site shop is created, with no key of its own/);
    assert.equal(await page.locator('#editor-keys').isVisible(), true, 'the editor links to the keys');
    await page.evaluate(() => window.scrollTo(0, 0));
    await checkpoint(page, 'console-keys-offer-1280', { fullPage: false });
    await page.locator('#created-keys').click();
    await page.locator('#keys').waitFor({ state: 'visible', timeout: 10000 });
    assert.equal(await page.locator('#keys-site').textContent(), 'shop');
    await page.waitForFunction(() => /No key yet/.test(document.querySelector('#keys-status').textContent), null, { timeout: 10000 });
    assert.equal(await focused(page), 'newkey-name', 'the first key: the focus is on its name');

    // The scopes offered are the server's, in its order, each saying what it allows.
    const offered = await page.locator('#newkey-scopes input[type=checkbox]').evaluateAll((els) => els.map((e) => e.value));
    assert.deepEqual(offered, scopesOfTheServer());
    for (const scope of offered) {
        const box = page.locator(`#newkey-scopes input[value="${scope}"]`);
        assert.equal(await box.isChecked(), false, `${scope}: never pre-ticked`);
        const what = await page.locator(`#${await box.getAttribute('aria-describedby')}`).textContent();
        assert.ok(what.length > 20, `${scope}: says what it allows (${what})`);
    }
    assert.match(await page.locator('#newkey-scopes').textContent(), /dashboard reads/);
    assert.match(await page.locator('#newkey-scopes').textContent(), /DPO/);

    // The server's messages, on the field they name.
    await page.locator('#newkey-name').fill('Bad Name!');
    await page.locator('#newkey-scopes input[value="stats:read"]').check();
    await page.locator('#newkey-form button[type=submit]').click();
    await page.waitForFunction(() => document.querySelector('#newkey-name').getAttribute('aria-invalid') === 'true', null, { timeout: 5000 });
    const nameNote = await page.locator(`#${await page.locator('#newkey-name').getAttribute('aria-describedby')}`).textContent();
    assert.match(nameNote, /^name is required: 1 to 64 of a-z/, nameNote);
    assert.equal(await focused(page), 'newkey-name');
    await page.locator('#newkey-name').fill('dpo-tools');
    await page.locator('#newkey-scopes input[value="stats:read"]').uncheck();
    await page.locator('#newkey-form button[type=submit]').click();
    await page.waitForFunction(() => !!document.querySelector('#newkey-scopes').getAttribute('aria-describedby'), null, { timeout: 5000 });
    assert.equal(await page.locator('#newkey-name').getAttribute('aria-invalid'), null, 'the name is fine now');
    const scopesNote = await page.locator(`#${await page.locator('#newkey-scopes').getAttribute('aria-describedby')}`).textContent();
    assert.match(scopesNote, /^scopes is required/, scopesNote);
    assert.equal(await page.locator('#newkey-scopes input[value="rights"]').getAttribute('aria-invalid'), 'true');
    await checkpoint(page, 'console-keys-invalid-1280');
    assert.equal((await api('GET', '/v1/sites/shop/keys')).json().keys.length, 0, 'nothing made');

    // Two scopes: made, the secret shown once.
    await page.locator('#newkey-scopes input[value="stats:read"]').check();
    await page.locator('#newkey-scopes input[value="rights"]').check();
    await page.locator('#newkey-form button[type=submit]').click();
    await page.locator('#secret').waitFor({ state: 'visible', timeout: 10000 });
    const secret = await page.locator('#secret-value').inputValue();
    assert.match(secret, SECRET);
    assert.equal(await page.locator('#secret-name').textContent(), 'dpo-tools');
    assert.match(await page.locator('#secret').textContent(), /it will not be shown again/);
    assert.equal(await focused(page), 'secret', 'the focus goes to the secret');
    assert.equal(await page.locator('[aria-invalid="true"]').count(), 0, 'the messages are gone');
    assert.equal(await page.locator('#newkey-scopes input:checked').count(), 0, 'the form is empty again');
    await page.locator('#secret-copy').click();
    await page.waitForFunction(() => /Copied/.test(document.querySelector('#secret-status').textContent), null, { timeout: 5000 });
    assert.equal(await page.evaluate(() => navigator.clipboard.readText()), secret, 'the copy button copies the secret');
    const stored = await page.evaluate(() => JSON.stringify(localStorage) + JSON.stringify(sessionStorage));
    assert.ok(!stored.includes(secret), 'the secret is in no storage');
    await page.locator('#keys-table tbody tr[data-key="dpo-tools"]').waitFor({ timeout: 5000 });
    await checkpoint(page, 'console-keys-secret-1280');
    await page.setViewportSize(PHONE);
    await checkpoint(page, 'console-keys-secret-375');
    await page.setViewportSize(DESKTOP);

    // Listed: name, scopes, when, by whom; the API never gives the secret again.
    const row = page.locator('#keys-table tbody tr[data-key="dpo-tools"]');
    const cells = await row.locator('th, td').allTextContents();
    assert.equal(cells[0], 'dpo-tools');
    assert.equal(cells[1], 'stats:read, rights');
    assert.match(cells[2], /^\d{4}-\d\d-\d\d \d\d:\d\d UTC$/);
    assert.equal(cells[3], 'operator');
    const listed = await api('GET', '/v1/sites/shop/keys');
    assert.ok(!listed.text.includes(secret) && !listed.text.includes(sha256hex(secret)), 'no secret, no hash in the list');

    // The key works for its scopes, and for nothing else (the site published first: a key of an unserved site is no key).
    const v1 = await api('POST', '/v1/sites/shop/versions/1/publish');
    assert.equal(v1.status, 200, v1.text);
    let stats;
    for (let i = 0; i < 50; i++) {
        stats = await api('GET', '/v1/sites/shop/stats', undefined, secret);
        if (stats.status === 200) break;
        await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(stats.status, 200, `stats:read: ${stats.text}`);
    assert.equal((await api('GET', '/v1/sites/shop/log', undefined, secret)).status, 200, 'rights: the log');
    const draft = await api('GET', '/v1/sites/shop/draft', undefined, secret);
    assert.equal(draft.status, 403, draft.text);
    assert.equal(draft.json().error.code, 'insufficient_scope');
    assert.equal((await api('GET', '/v1/sites/shop/keys', undefined, secret)).status, 403, 'no keys:admin');

    // Leaving the view forgets the secret; coming back shows the list only.
    await page.locator('#keys-to-site').click();
    await page.locator('#editor').waitFor({ state: 'visible', timeout: 10000 });
    assert.equal(await page.locator('#created').isVisible(), false, 'the offer is made once');
    assert.equal(await page.locator('#secret-value').inputValue(), '', 'forgotten');
    assert.ok(!(await page.content()).includes(secret), 'the secret is nowhere in the page');
    await page.locator('#editor-keys').click();
    await row.waitFor({ timeout: 10000 });
    assert.equal(await page.locator('#secret').isVisible(), false, 'the secret is not shown again');
    await checkpoint(page, 'console-keys-1280');
    await page.setViewportSize(PHONE);
    await checkpoint(page, 'console-keys-375');
    await page.setViewportSize(DESKTOP);

    // Revoke, with the keyboard: the confirmation opens on "Cancel"; Escape keeps the key.
    await page.locator('button[data-revoke="dpo-tools"]').focus();
    await page.keyboard.press('Enter');
    await page.locator('#revoke-dialog[open]').waitFor({ timeout: 5000 });
    assert.equal(await page.locator('#revoke-name').textContent(), 'dpo-tools');
    assert.equal(await focused(page), 'revoke-cancel', 'the safe choice has the focus');
    await checkpoint(page, 'console-keys-revoke-1280', { fullPage: false });
    await page.keyboard.press('Escape');
    await page.waitForFunction(() => !document.querySelector('#revoke-dialog').open, null, { timeout: 5000 });
    assert.equal(await focused(page), 'dpo-tools', 'the focus is back on the revoke button');
    assert.equal((await api('GET', '/v1/sites/shop/stats', undefined, secret)).status, 200, 'cancelled: the key still works');
    await page.keyboard.press('Enter');
    await page.locator('#revoke-dialog[open]').waitFor({ timeout: 5000 });
    await page.keyboard.press('Shift+Tab');
    assert.equal(await focused(page), 'revoke-confirm');
    await page.keyboard.press('Enter');
    await page.waitForFunction(() => /dpo-tools is revoked/.test(document.querySelector('#keys-status').textContent), null, { timeout: 10000 });
    assert.equal(await row.count(), 0, 'no longer listed');
    assert.equal(await page.locator('#revoke-dialog').evaluate((d) => d.open), false);
    const refused = await api('GET', '/v1/sites/shop/stats', undefined, secret);
    assert.equal(refused.status, 401, `the revoked key is refused: ${refused.text}`);
    assert.deepEqual((await api('GET', '/v1/sites/shop/keys')).json().keys, []);
    await page.context().close();
});

test('a_key_without_keys_admin_is_offered_no_keys_view_and_the_api_refuses_it', async () => {
    const editor = await api('POST', '/v1/sites/demo/keys', { name: 'editor', scopes: ['site:write', 'stats:read'] });
    assert.equal(editor.status, 201, editor.text);
    const key = editor.json().key;
    for (const [method, target, body] of [
        ['GET', '/v1/sites/demo/keys'],
        ['POST', '/v1/sites/demo/keys', { name: 'mine', scopes: ['stats:read'] }],
        ['DELETE', '/v1/sites/demo/keys/editor'],
    ]) {
        const res = await api(method, target, body, key);
        assert.equal(res.status, 403, `${method} ${target}: ${res.text}`);
        assert.equal(res.json().error.code, 'insufficient_scope');
    }
    const page = await newPage(stack, { viewport: DESKTOP, locale: 'en-US' });
    await signIn(page, key, 'demo');
    await page.locator('#editor').waitFor({ state: 'visible', timeout: 10000 });
    await page.waitForFunction(() => document.body.dataset.view === 'editor', null, { timeout: 5000 });
    assert.equal(await page.locator('#editor-keys').isVisible(), false, 'no Keys button');
    assert.equal(await page.getByRole('button', { name: /keys/i }).count(), 0, 'nothing about keys offered');
    assert.equal(await page.locator('#keys').isVisible(), false);
    await page.context().close();

    // A stats:read key: the no-access page, without keys either.
    const stats = await api('POST', '/v1/sites/demo/keys', { name: 'dashboard', scopes: ['stats:read'] });
    const page2 = await newPage(stack, { viewport: DESKTOP, locale: 'en-US' });
    await signIn(page2, stats.json().key, 'demo');
    await page2.locator('#noaccess').waitFor({ state: 'visible', timeout: 10000 });
    assert.equal(await page2.locator('#noaccess-keys').isVisible(), false);
    await page2.context().close();
    for (const name of ['editor', 'dashboard']) assert.equal((await api('DELETE', `/v1/sites/demo/keys/${name}`)).status, 204);
});

test('a_site_key_with_keys_admin_manages_keys_and_is_refused_a_scope_it_does_not_hold', async () => {
    const admin = await api('POST', '/v1/sites/demo/keys', { name: 'key-admin', scopes: ['keys:admin', 'stats:read'] });
    assert.equal(admin.status, 201, admin.text);
    const page = await newPage(stack, { viewport: PHONE, locale: 'en-US' });
    await signIn(page, admin.json().key, 'demo');
    // It may not edit: the no-access page, with the way to the keys.
    await page.locator('#noaccess-keys').waitFor({ state: 'visible', timeout: 10000 });
    await page.locator('#noaccess-keys-button').click();
    await page.locator('#keys-table tbody tr[data-key="key-admin"]').waitFor({ timeout: 10000 });
    assert.equal(await page.locator('#keys-to-sites').isVisible(), false, 'not the operator: no list of sites');
    assert.equal(await focused(page), 'keys-title', 'the focus goes to the view');

    // A scope it does not hold: the server refuses, the message under the scopes.
    await page.locator('#newkey-name').fill('dpo');
    await page.locator('#newkey-scopes input[value="rights"]').check();
    await page.locator('#newkey-form button[type=submit]').click();
    await page.waitForFunction(() => !!document.querySelector('#newkey-scopes').getAttribute('aria-describedby'), null, { timeout: 5000 });
    const note = await page.locator(`#${await page.locator('#newkey-scopes').getAttribute('aria-describedby')}`).textContent();
    assert.match(note, /a key may grant only scopes it holds: this one lacks rights/);
    await checkpoint(page, 'console-keys-refused-375');
    assert.equal((await api('GET', '/v1/sites/demo/keys')).json().keys.some((k) => k.name === 'dpo'), false, 'nothing made');

    // A name taken: the message under the name.
    await page.locator('#newkey-name').fill('key-admin');
    await page.locator('#newkey-scopes input[value="rights"]').uncheck();
    await page.locator('#newkey-scopes input[value="stats:read"]').check();
    await page.locator('#newkey-form button[type=submit]').click();
    await page.waitForFunction(() => document.querySelector('#newkey-name').getAttribute('aria-invalid') === 'true', null, { timeout: 5000 });
    assert.match(await page.locator('#keys-err-name').textContent(), /has a key named key-admin already/);
    assert.equal(await page.locator('#newkey-scopes').getAttribute('aria-describedby'), null, 'the scopes are fine');

    // A scope it holds: made, and made by it.
    await page.locator('#newkey-name').fill('dashboard-2');
    await page.locator('#newkey-form button[type=submit]').click();
    await page.locator('#secret').waitFor({ state: 'visible', timeout: 10000 });
    const secret = await page.locator('#secret-value').inputValue();
    assert.match(secret, SECRET);
    assert.equal((await api('GET', '/v1/sites/demo/stats', undefined, secret)).status, 200);
    const made = (await api('GET', '/v1/sites/demo/keys')).json().keys.find((k) => k.name === 'dashboard-2');
    assert.equal(made.created_by, 'key:key-admin');
    await page.locator('#keys-table tbody tr[data-key="dashboard-2"]').waitFor({ timeout: 5000 });
    // "Done" hides the secret at once.
    await page.locator('#secret-done').click();
    assert.equal(await page.locator('#secret').isVisible(), false);
    assert.equal(await page.locator('#secret-value').inputValue(), '');

    // Revoked by touch at 375 px: the confirmation fits the screen.
    await page.locator('button[data-revoke="dashboard-2"]').click();
    await page.locator('#revoke-dialog[open]').waitFor({ timeout: 5000 });
    const box = await page.locator('#revoke-dialog').boundingBox();
    assert.ok(box.x >= 0 && box.x + box.width <= 375, `the dialog fits 375 px (${JSON.stringify(box)})`);
    await checkpoint(page, 'console-keys-revoke-375', { fullPage: false });
    await page.locator('#revoke-confirm').click();
    await page.waitForFunction(() => /dashboard-2 is revoked/.test(document.querySelector('#keys-status').textContent), null, { timeout: 10000 });
    assert.equal((await api('GET', '/v1/sites/demo/stats', undefined, secret)).status, 401, 'revoked: refused');
    assert.equal(await page.locator('#keys-table tbody tr[data-key="dashboard-2"]').count(), 0);
    await page.context().close();
});
