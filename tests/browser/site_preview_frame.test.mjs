// The console's preview in a real browser (issue 22, item 3): the banner of
// an unsaved document (POST /v1/sites/{site}/previews), loaded as the
// console loads it, in <iframe sandbox="allow-scripts"> (an opaque origin:
// no cookie, no storage, Origin: null), opens with the unsaved text in the
// forced language, and a choice made in it is sent nowhere and recorded
// nowhere: no request leaves the frame, and Redis holds the same keys after
// "Accept all" as before.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { shippedSite, test, waitFor } from '../http/lib/harness.mjs';
import { allKeys } from '../http/lib/consent.mjs';
import { DEMO_KEY, newPage, screenshot, startBannerStack } from './lib/browser.mjs';

let stack, preview;
before(async () => {
    stack = await startBannerStack();
    const doc = stack.consentd.sites['demo.json'] ?? shippedSite('demo');
    const unsaved = JSON.parse(JSON.stringify(doc));
    unsaved.purposes[1].texts.en.name = 'Unsaved audience (preview)';
    const res = await stack.consentd.request('/v1/sites/demo/previews', {
        method: 'POST',
        headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify(unsaved),
    });
    assert.equal(res.status, 201, res.text);
    preview = res.json();
});
after(async () => {
    await stack?.stop();
});

const frameKeys = async () => (await allKeys(stack.redis)).filter((k) => !k.includes(':preview:'));

test('a_preview_in_a_sandboxed_frame_shows_the_unsaved_text_and_records_nothing', async () => {
    const src = `http://127.0.0.1:${stack.consentd.port}${preview.banner_url}?lang=en`;
    const frame = `<!doctype html><html><head><meta charset="utf-8"></head><body><p>preview</p><script src="${src}"></script></body></html>`;
    const url = stack.pages.set('/console-like.html', `<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>console</title></head>
<body><iframe id="preview" title="preview" sandbox="allow-scripts" style="width:1000px;height:640px;border:1px solid #999" srcdoc="${frame.replace(/"/g, '&quot;')}"></iframe></body></html>`);
    const before = await frameKeys();
    const page = await newPage(stack, { locale: 'de-DE' });
    const consentRequests = [];
    page.on('request', (r) => {
        if (r.method() === 'POST') consentRequests.push(r.url());
    });
    await page.goto(url);
    const inFrame = page.frameLocator('#preview');
    const dialog = inFrame.locator('consentd-ui dialog[open]');
    await dialog.waitFor({ state: 'visible', timeout: 10000 }).catch((e) => {
        throw new Error(`${e.message}; page problems: ${page.problems.join(' | ')}`);
    });
    const text = await dialog.innerText();
    assert.match(text, /Unsaved audience \(preview\)/, 'the unsaved English text, though the page is French and the browser German');
    assert.match(text, /Accept all/);
    await screenshot(page, 'console-preview-frame');
    await inFrame.locator('consentd-ui dialog').getByRole('button', { name: 'Accept all', exact: true }).click();
    await waitFor(async () => !(await inFrame.locator('consentd-ui dialog[open]').count()), { message: 'the dialog closes' });
    await new Promise((r) => setTimeout(r, 2500)); /* counters flush every second */
    assert.deepEqual(consentRequests, [], 'the preview sent nothing: its "shown" event and its consent were answered in the frame');
    assert.equal(await inFrame.locator('consentd-ui').evaluate(() => /consentd=/.test(document.cookie)), true, 'the choice is kept in the frame, in memory');
    assert.deepEqual(await frameKeys(), before, 'no consent, event or counter was written');
    await page.context().close();
});
