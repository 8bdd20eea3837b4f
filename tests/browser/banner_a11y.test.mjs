// Accessibility: an axe-core audit of the open banner and of its panel,
// French and English, finds nothing; the dialog is labelled and modal; the
// whole path works by keyboard alone, focus stays inside, Escape continues
// without accepting; usable at 320 px wide and at 200% zoom.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { test } from '../http/lib/harness.mjs';
import {
    AXE_PATH, CONSENT, LEGIT, NECESSARY, banner, bannerPage, isOpen, newPage, site,
    startBannerStack, waitOpen, waitRecorded,
} from './lib/browser.mjs';

let stack;
before(async () => {
    stack = await startBannerStack();
});
after(async () => {
    await stack?.stop();
});

const TEXTS = {
    fr: { accept: 'Tout accepter', refuse: 'Tout refuser', custom: 'Personnaliser', save: 'Enregistrer mes choix', title: 'Vos choix sur les cookies' },
    en: { accept: 'Accept all', refuse: 'Refuse all', custom: 'Customise', save: 'Save my choices', title: 'Your cookie choices' },
};

async function audit(page) {
    await page.addScriptTag({ path: AXE_PATH });
    const result = await page.evaluate(() => axe.run(document, { resultTypes: ['violations'] }));
    return result.violations.map((v) => `${v.id} (${v.impact}): ${v.help}\n    ${v.nodes.map((n) => n.target.join(' > ')).join('\n    ')}`);
}

/* Every variant of the demo site (each layout, each title), or none. */
const VARIANTS = site.variants?.length ? site.variants : [{ id: undefined }];

for (const lang of ['fr', 'en']) for (const v of VARIANTS) {
    test(`axe_finds_no_violation_in_the_banner_and_its_panel_${lang}${v.id ? `_variant_${v.id}` : ''}`, async () => {
        const url = stack.pages.set(`/a11y-${lang}.html`, bannerPage(stack, { lang }));
        const page = await newPage(stack, { locale: lang, variant: v.id });
        await page.goto(url);
        await waitOpen(page);
        const dialog = banner.dialog(page);
        assert.equal(await dialog.getAttribute('aria-modal'), 'true');
        assert.equal(await dialog.getAttribute('lang'), lang);
        const title = v.texts?.[lang]?.title ?? TEXTS[lang].title;
        assert.equal(await page.locator('consentd-ui').getByRole('dialog', { name: title }).count(), 1, 'labelled by its title');
        assert.ok(await dialog.getAttribute('aria-describedby'));
        assert.deepEqual(await audit(page), [], 'first layer');
        await banner.button(page, TEXTS[lang].custom).click();
        assert.deepEqual(await audit(page), [], 'panel');
        await page.context().close();
    });
}

test('accept_refuse_and_customise_are_the_same_size_and_style_in_every_layout', async () => {
    const url = stack.pages.set('/same.html', bannerPage(stack));
    for (const v of VARIANTS) {
        const page = await newPage(stack, { variant: v.id });
        await page.goto(url);
        await waitOpen(page);
        const looks = [];
        for (const name of ['accept', 'refuse', 'custom']) {
            const b = banner.button(page, TEXTS.fr[name]);
            const box = await b.boundingBox();
            const style = await b.evaluate((el) => { const s = getComputedStyle(el); return [s.backgroundColor, s.color, s.fontSize, s.fontWeight].join(' '); });
            looks.push({ w: Math.round(box.width), h: Math.round(box.height), style });
        }
        assert.deepEqual(looks[1], looks[0], `${v.id ?? ''}: refuse looks like accept`);
        assert.deepEqual(looks[2], looks[0], `${v.id ?? ''}: customise looks like accept`);
        await page.context().close();
    }
});

/* The element that has focus, seen through the shadow root. */
const focused = (page) => page.evaluate(() => {
    const root = document.querySelector('consentd-ui')?.shadowRoot;
    const el = root?.activeElement;
    if (!el) return { inside: false, what: document.activeElement?.tagName };
    return { inside: root.querySelector('dialog').contains(el), what: el.tagName, text: el.textContent, role: el.getAttribute('role'), outline: getComputedStyle(el).outlineStyle };
});

test('keyboard_only_path_with_focus_kept_inside_and_visible', async () => {
    const url = stack.pages.set('/keys.html', bannerPage(stack, { body: '<a href="#x">page link</a><button>page button</button>' }));
    const page = await newPage(stack);
    await page.goto(url);
    await waitOpen(page);
    assert.equal((await focused(page)).inside || (await focused(page)).what === 'DIALOG', true, 'focus moved into the dialog');
    for (let i = 0; i < 12; i++) {
        await page.keyboard.press('Tab');
        const f = await focused(page);
        assert.ok(f.inside, `Tab ${i + 1}: focus left the dialog (${f.what})`);
        assert.notEqual(f.outline, 'none', `Tab ${i + 1}: visible focus on ${f.text}`);
    }
    for (let i = 0; i < 12; i++) {
        await page.keyboard.press('Shift+Tab');
        assert.ok((await focused(page)).inside, `Shift+Tab ${i + 1}: focus left the dialog`);
    }
    // Customise, switch the first consent purpose on, save: all by keyboard.
    let f;
    for (let i = 0; i < 20 && (f = await focused(page)).text !== TEXTS.fr.custom; i++) await page.keyboard.press('Tab');
    assert.equal(f.text, TEXTS.fr.custom);
    await page.keyboard.press('Enter');
    for (let i = 0; i < 30 && (f = await focused(page)).role !== 'switch'; i++) await page.keyboard.press('Tab');
    const order = site.purposes.map((p) => p.id).filter((id) => !NECESSARY.includes(id));
    assert.equal(f.role, 'switch');
    // The first enabled switch is the first purpose that is not necessary.
    const first = order[0];
    await page.keyboard.press('Space');
    for (let i = 0; i < 30 && (f = await focused(page)).text !== TEXTS.fr.save; i++) await page.keyboard.press('Tab');
    await page.keyboard.press('Enter');
    assert.equal(await isOpen(page), false);
    const c = await waitRecorded(page);
    const flipped = CONSENT.includes(first) ? true : false;
    assert.equal(c.d[first], flipped, `${first} flipped by Space`);
    await page.context().close();
});

test('escape_continues_without_accepting', async () => {
    const url = stack.pages.set('/escape.html', bannerPage(stack));
    const page = await newPage(stack);
    await page.goto(url);
    await waitOpen(page);
    await page.keyboard.press('Escape');
    assert.equal(await isOpen(page), false);
    const c = await waitRecorded(page);
    for (const id of CONSENT) assert.equal(c.d[id], false, `${id} refused`);
    for (const id of LEGIT) assert.equal(c.d[id], true, `${id} kept: no objection was made`);
    await page.context().close();
});

async function fitsWidth(page) {
    return page.evaluate(() => {
        const d = document.querySelector('consentd-ui').shadowRoot.querySelector('dialog');
        const r = d.getBoundingClientRect();
        return { left: r.left, right: r.right, vw: innerWidth, overflow: d.scrollWidth - d.clientWidth };
    });
}

test('usable_at_320_px_and_at_200_percent_zoom_in_every_layout', async () => {
    const url = stack.pages.set('/narrow.html', bannerPage(stack));
    // 200% zoom of a 1280x720 window lays out like a 640x360 one.
    for (const v of VARIANTS) for (const viewport of [{ width: 320, height: 640 }, { width: 640, height: 360 }]) {
        const page = await newPage(stack, { viewport, variant: v.id });
        await page.goto(url);
        await waitOpen(page);
        for (const step of ['first', 'panel']) {
            if (step === 'panel') await banner.button(page, TEXTS.fr.custom).click();
            const w = await fitsWidth(page);
            assert.ok(w.left >= 0 && w.right <= w.vw, `${v.id ?? ""} ${viewport.width}px ${step}: inside the viewport (${w.left}..${w.right})`);
            assert.ok(w.overflow <= 0, `${v.id ?? ""} ${viewport.width}px ${step}: no horizontal scrolling`);
        }
        // Every control can be reached (the dialog scrolls).
        await banner.button(page, TEXTS.fr.refuse).click();
        assert.equal(await isOpen(page), false);
        await page.context().close();
    }
});
