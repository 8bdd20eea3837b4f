// Screenshots of the banner, its panel and the closed state at 1280 and 375
// px wide, kept under tests/browser/screenshots/ as references (rewritten
// with CONSENTD_UPDATE_SCREENSHOTS=1); the dialog fits the viewport in each.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { test } from '../http/lib/harness.mjs';
import { CONSENT, banner, bannerPage, choiceCookie, newPage, screenshot, startBannerStack, waitOpen } from './lib/browser.mjs';

let stack;
before(async () => {
    stack = await startBannerStack();
});
after(async () => {
    await stack?.stop();
});

const TEXTS = { custom: 'Personnaliser', refuse: 'Tout refuser' };

test('screenshots_at_1280_and_375_px', async () => {
    const url = stack.pages.set('/shots.html', bannerPage(stack, { body: '<p>'.concat('Lorem ipsum dolor sit amet. '.repeat(80), '</p>') }));
    for (const [width, height] of [[1280, 800], [375, 812]]) {
        const page = await newPage(stack, { viewport: { width, height } });
        await page.goto(url);
        await waitOpen(page);
        const box = await banner.dialog(page).boundingBox();
        assert.ok(box.x >= 0 && box.x + box.width <= width, `${width}px: the dialog fits`);
        await screenshot(page, `banner-fr-${width}`);
        await banner.button(page, TEXTS.custom).click();
        await screenshot(page, `panel-fr-${width}`);
        await banner.button(page, TEXTS.refuse).click();
        await banner.manage(page).waitFor({ state: 'visible' });
        await screenshot(page, `closed-fr-${width}`);
        assert.equal((await choiceCookie(page)).d[CONSENT[0]], false);
        await page.context().close();
    }
});
