// The longest strings fit a 320 px wide screen: in German, Finnish and the
// languages whose strings and whose button labels are the longest in
// web/banner/texts.json, the banner, its panel and the "cookie settings"
// control overflow neither the viewport nor their own boxes (element boxes
// measured in Chromium), in both layouts (bar and box); "refuse all" stays
// the size and look of "accept all"; axe-core finds no violation in the
// banner and the panel. Screenshots of the
// bar layout kept under tests/browser/screenshots/ (banner-<lang>-320.png,
// panel-<lang>-320.png).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import { SOURCE_DIR, test } from '../http/lib/harness.mjs';
import { AXE_PATH, banner, bannerPage, newPage, screenshot, site, startBannerStack, waitOpen } from './lib/browser.mjs';

const TEXTS = JSON.parse(fs.readFileSync(path.join(SOURCE_DIR, 'web', 'banner', 'texts.json'), 'utf8'));
const WIDTH = 320;
const BUTTONS = ['accept', 'refuse', 'custom', 'close', 'save', 'manage'];
const longest = (score) => Object.keys(TEXTS).reduce((a, b) => (score(TEXTS[b]) > score(TEXTS[a]) ? b : a));
// The banner's own strings: a feature's ("embed.text", ...) are not in this banner.
const LONGEST_TEXTS = longest((t) => Object.entries(t).filter(([k]) => !k.includes('.')).map(([, v]) => v).join('').length);
const LONGEST_BUTTON = longest((t) => Math.max(...BUTTONS.map((k) => t[k].length)));
const LANGS = [...new Set(['de', 'fi', LONGEST_TEXTS, LONGEST_BUTTON])];

/* The demo's purposes in German and Finnish: [name, description]. Other
 * languages tested here show the German ones, the longest words. */
const PURPOSES = {
    de: {
        necessary: ['Betrieb der Website', 'Tracker, ohne die die Website nicht funktioniert: Aufrechterhaltung Ihrer Sitzung, Sicherheit (Verhinderung von Betrug und Missbrauch) und Speicherung Ihrer Auswahl in diesem Banner. Sie dienen keinem anderen Zweck und können nicht deaktiviert werden.'],
        audience: ['Reichweitenmessung', 'Messung der Besuche der Website und der Nutzung ihrer Seiten (Besuche, Seitenaufrufe, Navigationspfade), um sie zu verbessern. Die Ergebnisse werden nur als zusammengefasste Statistiken verwendet.'],
        personalisation: ['Personalisierung von Inhalten', 'Anpassung der auf dieser Website angezeigten Inhalte und Empfehlungen an Ihre Interessen, abgeleitet aus den hier gelesenen Seiten. Dies beruht auf unserem berechtigten Interesse: Sie können jederzeit widersprechen.'],
        advertising: ['Personalisierte Werbung', 'Anzeige von Werbung, die Ihren Interessen entspricht, Messung ihrer Wirksamkeit und Begrenzung ihrer Häufigkeit, auf Grundlage Ihres Surfverhaltens auf dieser Website. Die Daten werden an unser Werbenetzwerk übermittelt.'],
        partners_sharing: ['Weitergabe an unsere Partner', 'Übermittlung einer Kennung und Ihrer Surfdaten auf dieser Website an die genannten Partner, die sie in eigener Verantwortung für eigene Werbe- und Messzwecke verwenden.'],
    },
    fi: {
        necessary: ['Sivuston toiminta', 'Seurantatekniikat, joita ilman sivusto ei toimi: istuntosi ylläpito, tietoturva (petosten ja väärinkäytösten estäminen) ja tällä bannerilla tekemiesi valintojen muistaminen. Niitä ei käytetä mihinkään muuhun, eikä niitä voi poistaa käytöstä.'],
        audience: ['Kävijämäärien mittaus', 'Sivuston käyntien ja sivujen käytön mittaaminen (käynnit, sivunäytöt, polut) sivuston parantamiseksi. Tuloksia käytetään vain koottuina tilastoina.'],
        personalisation: ['Sisällön personointi', 'Sivustolla näytettävän sisällön ja suositusten mukauttaminen kiinnostuksen kohteisiisi täällä lukemiesi sivujen perusteella. Tämä perustuu oikeutettuun etuumme: voit vastustaa sitä milloin tahansa.'],
        advertising: ['Kohdennettu mainonta', 'Kiinnostuksen kohteitasi vastaavien mainosten näyttäminen, niiden tehokkuuden mittaaminen ja näyttökertojen rajoittaminen selaamisesi perusteella tällä sivustolla. Tiedot välitetään mainosverkostollemme.'],
        partners_sharing: ['Jakaminen kumppaneidemme kanssa', 'Tunnisteen ja tällä sivustolla kerättyjen selaustietojen välittäminen nimetyille kumppaneille, jotka käyttävät niitä omiin mainonta- ja mittaustarkoituksiinsa omalla vastuullaan.'],
    },
};

let stack;
before(async () => {
    stack = await startBannerStack({
        siteOver: {
            languages: ['fr', 'en', ...LANGS],
            purposes: site.purposes.map((p) => ({
                ...p,
                texts: {
                    ...p.texts,
                    ...Object.fromEntries(LANGS.map((l) => {
                        const [name, description] = (PURPOSES[l] || PURPOSES.de)[p.id];
                        return [l, { name, description }];
                    })),
                },
            })),
        },
    });
});
after(async () => {
    await stack?.stop();
});

/* Every visible element of the banner's shadow root (the dialog and what it
 * holds, the "cookie settings" control) that leaves the viewport, or whose
 * content overflows its own box; and the page scrolling sideways. */
function overflows(page) {
    return page.evaluate(() => {
        const root = document.querySelector('consentd-ui').shadowRoot;
        const vw = document.documentElement.clientWidth;
        const dialog = root.querySelector('dialog');
        const inDialog = dialog.open ? dialog.getBoundingClientRect() : null;
        const found = [];
        for (const el of [...root.querySelectorAll('dialog, dialog *, button.m')]) {
            if (!el.getClientRects().length) continue; // hidden
            const r = el.getBoundingClientRect();
            const name = `${el.tagName.toLowerCase()} "${(el.textContent || '').slice(0, 40)}"`;
            if (r.left < -0.5 || r.right > vw + 0.5) found.push(`${name}: ${r.left}..${r.right} outside the viewport 0..${vw}`);
            if (inDialog && el !== dialog && el.closest('dialog') && (r.left < inDialog.left - 0.5 || r.right > inDialog.right + 0.5)) {
                found.push(`${name}: ${r.left}..${r.right} outside the dialog ${inDialog.left}..${inDialog.right}`);
            }
            if (getComputedStyle(el).display !== 'inline' && el.scrollWidth > el.clientWidth + 1) {
                found.push(`${name}: content ${el.scrollWidth} px wide in a box of ${el.clientWidth} px`);
            }
        }
        if (document.documentElement.scrollWidth > vw) found.push(`the page scrolls sideways (${document.documentElement.scrollWidth} px)`);
        return found;
    });
}

async function audit(page) {
    await page.addScriptTag({ path: AXE_PATH });
    const result = await page.evaluate(() => axe.run(document, { resultTypes: ['violations'] }));
    return result.violations.map((v) => `${v.id} (${v.impact}): ${v.help}`);
}

/* Box and look of a button, as the visitor sees it. */
const looks = (locator) =>
    locator.evaluate((el) => {
        const r = el.getBoundingClientRect();
        const s = getComputedStyle(el);
        return [Math.round(r.width), Math.round(r.height), s.backgroundColor, s.color, s.fontSize, s.fontWeight].join(' ');
    });

test('the_longest_strings_fit_320_px_in_the_banner_the_panel_and_the_settings_control', async () => {
    assert.ok(LANGS.length >= 3, `languages tested: ${LANGS.join(', ')}`);
    process.stdout.write(`# at ${WIDTH} px: ${LANGS.join(', ')} (longest strings: ${LONGEST_TEXTS}, longest button: ${LONGEST_BUTTON})\n`);
    for (const lang of LANGS) for (const v of site.variants?.length ? site.variants : [{ layout: 'bar' }]) {
        const t = TEXTS[lang];
        const url = stack.pages.set(`/long-${lang}.html`, bannerPage(stack, { lang, body: '<p>'.concat('Lorem ipsum dolor sit amet. '.repeat(40), '</p>') }));
        const page = await newPage(stack, { viewport: { width: WIDTH, height: 640 }, locale: lang, variant: v.id });
        await page.goto(url);
        await waitOpen(page);
        const at = `${lang}, ${v.layout || 'bar'}`;
        assert.equal(await banner.dialog(page).locator('h2').textContent(), t.title, `${at}: the banner in ${lang}`);
        assert.deepEqual(await overflows(page), [], `${at}: the banner`);
        assert.equal(await looks(banner.button(page, t.refuse)), await looks(banner.button(page, t.accept)), `${at}: refuse looks like accept`);
        const bar = (v.layout || 'bar') === 'bar';
        if (bar) {
            await screenshot(page, `banner-${lang}-${WIDTH}`);
            assert.deepEqual(await audit(page), [], `${at}: axe, the banner`);
        }
        await banner.button(page, t.custom).click();
        await banner.button(page, t.save).waitFor();
        assert.deepEqual(await overflows(page), [], `${at}: the panel`);
        if (bar) {
            await screenshot(page, `panel-${lang}-${WIDTH}`);
            assert.deepEqual(await audit(page), [], `${at}: axe, the panel`);
        }
        await banner.button(page, t.refuse).click();
        await banner.manage(page).waitFor({ state: 'visible' });
        assert.equal(await banner.manage(page).textContent(), t.manage);
        assert.deepEqual(await overflows(page), [], `${at}: the "${t.manage}" control`);
        assert.deepEqual(page.problems, []);
        await page.context().close();
    }
});
