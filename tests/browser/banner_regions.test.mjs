// Region tags in Chromium: a page or browser asking for pt-BR gets pt-BR
// when the site declares it (the site's pt-BR purpose texts and its own
// overrides of the banner's strings, over the banner's pt strings), else pt;
// the choice is recorded in the language shown.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import { SOURCE_DIR, test } from '../http/lib/harness.mjs';
import { banner, bannerPage, newPage, site, startBannerStack, updateSite, waitOpen, waitRecorded } from './lib/browser.mjs';

const TEXTS = JSON.parse(fs.readFileSync(path.join(SOURCE_DIR, 'web', 'banner', 'texts.json'), 'utf8'));

/* The demo's purposes in European and in Brazilian Portuguese: [name, description]. */
const PT = {
    necessary: ['Funcionamento do site', 'Indispensáveis ao funcionamento do site; não podem ser desativados.'],
    audience: ['Medição de audiências', 'Medir as visitas para melhorar o site, apenas em estatísticas agregadas.'],
    personalisation: ['Personalização de conteúdos', 'Adaptar os conteúdos aos seus interesses; pode opor-se a qualquer momento.'],
    advertising: ['Publicidade direcionada', 'Mostrar anúncios adaptados aos seus interesses e medir a sua eficácia.'],
    partners_sharing: ['Partilha com os nossos parceiros', 'Transmitir dados de navegação aos parceiros indicados, para fins próprios.'],
};
const PT_BR = {
    necessary: ['Funcionamento do site', 'Indispensáveis para o funcionamento do site; não podem ser desativados.'],
    audience: ['Medição de audiência', 'Medir as visitas para melhorar o site, somente em estatísticas agregadas.'],
    personalisation: ['Personalização de conteúdo', 'Adaptar o conteúdo aos seus interesses; você pode se opor a qualquer momento.'],
    advertising: ['Publicidade segmentada', 'Exibir anúncios adaptados aos seus interesses e medir sua eficácia.'],
    partners_sharing: ['Compartilhamento com nossos parceiros', 'Transmitir dados de navegação aos parceiros indicados, para fins próprios deles.'],
};
// The site's own overrides of the banner's strings in pt-BR.
const PT_BR_OVER = { title: 'Suas escolhas sobre cookies', accept: 'Aceitar todos' };

const text = ([name, description]) => ({ name, description });
/* The demo site in fr, en and the given Portuguese languages. */
function siteIn(languages) {
    const texts = { pt: PT, 'pt-BR': PT_BR };
    return {
        languages: ['fr', 'en', ...languages],
        policy_version: `regions-${languages.join('-')}`,
        purposes: site.purposes.map((p) => ({
            ...p,
            texts: { ...p.texts, ...Object.fromEntries(languages.map((l) => [l, text(texts[l][p.id])])) },
        })),
        variants: [{ id: 'a', weight: 1, layout: 'bar', ...(languages.includes('pt-BR') && { texts: { 'pt-BR': PT_BR_OVER } }) }],
    };
}

let stack;
before(async () => {
    stack = await startBannerStack({ siteOver: siteIn(['pt', 'pt-BR']) });
});
after(async () => {
    await stack?.stop();
});

/* What the open banner shows: its lang, title, buttons and (panel opened) purpose names. */
async function shown(page, lang) {
    await waitOpen(page);
    const dialog = banner.dialog(page);
    const seen = {
        lang: await dialog.getAttribute('lang'),
        title: await dialog.locator('h2').textContent(),
        buttons: await dialog.locator('.b button').allTextContents(),
    };
    await banner.button(page, TEXTS[lang].custom).click();
    seen.purposes = await dialog.locator('li label').allTextContents();
    return seen;
}

const expect = (lang, ui, purposes) => ({
    lang,
    title: ui.title,
    buttons: [ui.accept, ui.refuse, ui.custom],
    purposes: site.purposes.map((p) => purposes[p.id][0]),
});

async function open(pageLang, locale) {
    const url = stack.pages.set(`/regions-${pageLang || 'none'}-${locale}.html`, bannerPage(stack, { lang: pageLang }));
    const page = await newPage(stack, { locale });
    await page.goto(url);
    return page;
}

test('pt_br_asked_by_the_page_and_declared_gets_pt_br_with_the_site_texts_over_pt', async () => {
    const page = await open('pt-BR', 'fr-FR');
    assert.deepEqual(await shown(page, 'pt'), expect('pt-BR', { ...TEXTS.pt, ...PT_BR_OVER }, PT_BR));
    // The choice is recorded in pt-BR: consentd takes it as one of the site's languages.
    await banner.button(page, TEXTS.pt.save).click();
    const cookie = await waitRecorded(page);
    assert.ok(cookie.p, 'recorded with a proof');
    const [, payload] = cookie.p.split('.');
    assert.equal(JSON.parse(Buffer.from(payload, 'base64url')).lang, 'pt-BR');
    assert.deepEqual(page.problems, []);
    await page.context().close();
});

test('pt_br_asked_by_the_browser_and_declared_gets_pt_br', async () => {
    const page = await open('', 'pt-BR');
    assert.deepEqual(await shown(page, 'pt'), expect('pt-BR', { ...TEXTS.pt, ...PT_BR_OVER }, PT_BR));
    await page.context().close();
});

test('a_region_the_site_does_not_declare_gets_its_primary_language', async () => {
    const page = await open('pt-PT', 'pt-PT');
    assert.deepEqual(await shown(page, 'pt'), expect('pt', TEXTS.pt, PT));
    await page.context().close();
});

test('pt_br_asked_but_not_declared_gets_pt', async () => {
    await updateSite(stack, siteIn(['pt']));
    for (const [pageLang, locale] of [['pt-BR', 'fr-FR'], ['', 'pt-BR']]) {
        const page = await open(pageLang, locale);
        assert.deepEqual(await shown(page, 'pt'), expect('pt', TEXTS.pt, PT), `page ${pageLang || '-'}, browser ${locale}`);
        await page.context().close();
    }
});
