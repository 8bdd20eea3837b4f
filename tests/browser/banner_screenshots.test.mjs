// Screenshots of the banner, its panel and the closed state at 1280 and 375
// px wide, in each banner variant of the demo site (variant a: the bar, the
// reference names without prefix; variant b: the centred box, "box-..."),
// kept under tests/browser/screenshots/ as references (rewritten with
// CONSENTD_UPDATE_SCREENSHOTS=1); the dialog fits the viewport in each.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { test } from '../http/lib/harness.mjs';
import { CONSENT, banner, bannerPage, choiceCookie, newPage, screenshot, site, startBannerStack, waitOpen } from './lib/browser.mjs';

let stack;
before(async () => {
    stack = await startBannerStack();
});
after(async () => {
    await stack?.stop();
});

const TEXTS = { custom: 'Personnaliser', refuse: 'Tout refuser' };
const LAYOUTS = { bar: '', box: 'box-' };

test('screenshots_at_1280_and_375_px_in_every_variant', async () => {
    const url = stack.pages.set('/shots.html', bannerPage(stack, { body: '<p>'.concat('Lorem ipsum dolor sit amet. '.repeat(80), '</p>') }));
    const variants = site.variants?.length ? site.variants : [{ layout: 'bar' }];
    for (const v of variants) for (const [width, height] of [[1280, 800], [375, 812]]) {
        const prefix = LAYOUTS[v.layout || 'bar'];
        const page = await newPage(stack, { viewport: { width, height }, variant: v.id });
        await page.goto(url);
        await waitOpen(page);
        const box = await banner.dialog(page).boundingBox();
        assert.ok(box.x >= 0 && box.x + box.width <= width, `${v.id} ${width}px: the dialog fits`);
        await screenshot(page, `${prefix}banner-fr-${width}`);
        await banner.button(page, TEXTS.custom).click();
        await screenshot(page, `${prefix}panel-fr-${width}`);
        await banner.button(page, TEXTS.refuse).click();
        await banner.manage(page).waitFor({ state: 'visible' });
        if (!prefix) await screenshot(page, `closed-fr-${width}`); // the same in every layout
        assert.equal((await choiceCookie(page)).d[CONSENT[0]], false);
        await page.context().close();
    }
});
