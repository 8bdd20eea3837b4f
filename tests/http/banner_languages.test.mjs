// The banner's own strings in the 24 official EU languages
// (web/banner/texts.json): every language has exactly the keys of English
// and the same {placeholders}; a site's banner.js inlines the strings of its
// own languages only; a site language with a region ("pt-BR") gets the
// strings of its primary language ("pt") when the banner has none of its
// own, in what is served and in the texts hash of a proof; and the size of
// banner.js with 2 and with 24 languages (web/README.md's size table).
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { after, before } from 'node:test';
import { SOURCE_DIR, siteLike, startStack, test } from './lib/harness.mjs';
import { postConsent } from './lib/consent.mjs';

const TEXTS = JSON.parse(fs.readFileSync(path.join(SOURCE_DIR, 'web', 'banner', 'texts.json'), 'utf8'));
const EU_LANGUAGES = ['bg', 'cs', 'da', 'de', 'el', 'en', 'es', 'et', 'fi', 'fr', 'ga', 'hr', 'hu', 'it', 'lt', 'lv', 'mt', 'nl', 'pl', 'pt', 'ro', 'sk', 'sl', 'sv'];
const placeholders = (s) => (s.match(/\{\w+\}/g) || []).sort();

/* The demo site's purpose texts in lang, made distinct per language (the
 * letters rotated by the language's rank) so that gzip cannot fold one
 * language's texts onto another's: a site's real translations cost as much. */
function purposeTextsIn(purpose, lang, rank) {
    const rot = (s) => s.replace(/[a-z]/g, (c) => String.fromCharCode(97 + ((c.charCodeAt(0) - 97 + rank) % 26)));
    const en = purpose.texts.en;
    return { name: rot(en.name), description: rot(en.description) };
}

function siteIn(id, languages) {
    const site = siteLike(id);
    site.languages = languages;
    site.purposes = site.purposes.map((p) => ({
        ...p,
        texts: Object.fromEntries(languages.map((l, rank) => [l, p.texts[l] || purposeTextsIn(p, l, rank)])),
    }));
    delete site.variants;
    return site;
}

let stack;
before(async () => {
    stack = await startStack({
        sites: {
            'demo.json': siteLike('demo'),
            'eu.json': siteIn('eu', EU_LANGUAGES),
            // pt-BR and pt declared, pt-BR alone, a language the banner has no strings in.
            'regions.json': siteIn('regions', ['pt-BR', 'pt', 'de-AT', 'is']),
        },
    });
});
after(async () => {
    await stack?.stop();
});

const banner = (site, encoding = 'identity') =>
    stack.consentd.request(`/v1/sites/${site}/banner.js`, { headers: { 'accept-encoding': encoding } });
/* The strings a site's banner carries (src/banner_build.c, banner_site_ui):
 * the language's own, without the legitimate-interest label when no purpose
 * rests on it, the GPC notice when no purpose is GPC-refused, the policy
 * link's text without a policy, and the strings of features it does not use. */
function shownTexts(cfg, lang) {
    const ui = { ...TEXTS[lang] };
    if (!cfg.p.some((p) => p.b === 'legitimate_interest')) delete ui.legitimate_interest;
    if (!cfg.p.some((p) => p.gpc)) delete ui.gpc;
    if (!cfg.policy) delete ui.policy;
    for (const key of Object.keys(ui)) if (key.includes('.')) delete ui[key];
    return ui;
}
const configOf = (text) => JSON.parse(text.slice(text.lastIndexOf('})(') + 3, text.lastIndexOf(');')));

test('the_banner_speaks_the_24_official_eu_languages', () => {
    assert.deepEqual(Object.keys(TEXTS).sort(), EU_LANGUAGES);
});

test('every_language_has_exactly_the_keys_and_placeholders_of_english', () => {
    const keys = Object.keys(TEXTS.en);
    for (const [lang, t] of Object.entries(TEXTS)) {
        assert.deepEqual(Object.keys(t), keys, `${lang}: the keys of en, in the same order`);
        for (const k of keys) {
            assert.equal(typeof t[k], 'string', `${lang}.${k}`);
            assert.ok(t[k].trim().length > 0, `${lang}.${k} is not empty`);
            assert.deepEqual(placeholders(t[k]), placeholders(TEXTS.en[k]), `${lang}.${k}: the placeholders of en.${k}`);
            assert.ok(!/\{(?!(ctl|purposes|to|months|n|provider|purpose)\})/.test(t[k]), `${lang}.${k}: no broken placeholder`);
        }
        // What the texts promise the page shows: the intro names the control
        // that changes the choice by its label; the recipients label is
        // followed by the names and the rights by the contact address.
        assert.ok(t.intro.includes(t.manage), `${lang}: the intro quotes the "manage" label (${t.manage})`);
        assert.match(t.to, /: $/, `${lang}.to ends with ": "`);
        assert.match(t.rights, /:$/, `${lang}.rights ends with ":"`);
        // Refusing is as easy as accepting: two different labels, neither empty.
        assert.notEqual(t.accept, t.refuse, `${lang}: accept and refuse differ`);
    }
});

test('a_site_inlines_the_strings_of_its_own_languages_only', async () => {
    const demo = configOf((await banner('demo')).text);
    assert.deepEqual(Object.keys(demo.ui).sort(), ['en', 'fr']);
    assert.deepEqual(demo.ui.fr, shownTexts(demo, 'fr'));
    assert.deepEqual(demo.ui.en, shownTexts(demo, 'en'));
    assert.equal(demo.ui.en.legitimate_interest, undefined, 'no purpose of the demo rests on legitimate interest');
    assert.ok(demo.ui.en.gpc, 'the demo has purposes GPC refuses');
    const text = (await banner('demo')).text;
    for (const lang of EU_LANGUAGES.filter((l) => l !== 'fr' && l !== 'en')) {
        assert.ok(!text.includes(JSON.stringify(TEXTS[lang].intro)), `no ${lang} strings in the demo's banner.js`);
    }
    const eu = configOf((await banner('eu')).text);
    assert.deepEqual(eu.langs, EU_LANGUAGES);
    for (const lang of EU_LANGUAGES) assert.deepEqual(eu.ui[lang], shownTexts(eu, lang), `the eu site's banner in ${lang}`);
});

test('a_region_tag_gets_the_strings_of_its_primary_language', async () => {
    const cfg = configOf((await banner('regions')).text);
    assert.deepEqual(cfg.langs, ['pt-BR', 'pt', 'de-AT', 'is']);
    assert.deepEqual(cfg.ui['pt-BR'], shownTexts(cfg, 'pt'), 'pt-BR: the pt strings');
    assert.deepEqual(cfg.ui['de-AT'], shownTexts(cfg, 'de'), 'de-AT, without de declared: the de strings');
    assert.deepEqual(cfg.ui.is, shownTexts(cfg, 'en'), 'a language the banner does not speak: English');
});

/* jansson's JSON_COMPACT | JSON_SORT_KEYS, done in JS. */
function canonical(v) {
    if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
    if (v && typeof v === 'object') {
        return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
    }
    return JSON.stringify(v);
}

test('a_proof_in_a_region_tag_hashes_the_strings_shown_in_it', async () => {
    const cfg = configOf((await banner('regions')).text);
    for (const lang of ['pt-BR', 'de-AT']) {
        const doc = {
            lang,
            policy_version: cfg.pv,
            controller: cfg.ctl,
            contact: cfg.contact,
            choice_lifetime_days: cfg.days,
            purposes: cfg.p.map((p) => ({ id: p.id, legal_basis: p.b, retention_days: p.days, recipients: p.to, name: p.t[lang][0], description: p.t[lang][1] })),
            ui: shownTexts(cfg, lang.slice(0, 2)),
        };
        if (cfg.policy) doc.privacy_policy_url = cfg.policy;
        const expected = crypto.createHash('sha256').update(canonical(doc)).digest('hex');
        const res = await postConsent(stack.consentd, { decisions: {}, policy_version: cfg.pv, lang }, undefined, 'regions');
        assert.equal(res.status, 201, res.text);
        const [, payload] = res.json().proof.split('.');
        assert.equal(JSON.parse(Buffer.from(payload, 'base64url')).th, expected, `th in ${lang}`);
    }
});

test('size_with_2_and_with_24_languages', async () => {
    const sizes = {};
    for (const site of ['demo', 'eu']) {
        const identity = (await banner(site)).body.length;
        const gz = await banner(site, 'gzip, deflate, br;q=0');
        const br = await banner(site, 'gzip, deflate, br');
        assert.equal(gz.headers['content-encoding'], 'gzip');
        assert.equal(br.headers['content-encoding'], 'br');
        assert.deepEqual(zlib.gunzipSync(gz.body).length, identity);
        sizes[site] = { identity, gzip: gz.body.length, brotli: br.body.length };
    }
    process.stdout.write(`# banner.js sizes (B): ${JSON.stringify(sizes)}\n`);
    // 22 more languages of strings and purpose texts cost something, but
    // only the site that declares them pays it.
    assert.ok(sizes.eu.gzip > sizes.demo.gzip + 22 * 300, 'the 24-language banner carries 22 more languages');
    assert.ok(sizes.demo.gzip <= 6 * 1024, `the demo stays within 6 KB gzip (${sizes.demo.gzip} B)`);
});
