// Serving the banner: the demo site's banner.js, as a browser receives it,
// stays within the 6 KB gzip budget; brotli and gzip are chosen by
// Accept-Encoding and decode to the same script; ETag, 304, Cache-Control
// and Vary; every language and banner variant inlined; the texts hash of a
// proof is the hash of exactly what the banner shows in that language and
// variant.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import zlib from 'node:zlib';
import { after, before } from 'node:test';
import { startStack, test } from '../http/lib/harness.mjs';
import { postConsent } from '../http/lib/consent.mjs';
import { servedConfig, site } from './lib/browser.mjs';

const BUDGET_GZIP_BYTES = 6 * 1024;
const PATH = '/v1/sites/demo/banner.js';

let stack;
before(async () => {
    stack = await startStack();
});
after(async () => {
    await stack?.stop();
});

const get = (encoding, headers = {}) => stack.consentd.request(PATH, { headers: { 'accept-encoding': encoding, ...headers } });

test('demo_banner_is_at_most_6_kb_gzip_as_served', async () => {
    const gz = await get('gzip, deflate, br;q=0');
    assert.equal(gz.status, 200);
    assert.equal(gz.headers['content-encoding'], 'gzip');
    const br = await get('gzip, deflate, br');
    assert.equal(br.headers['content-encoding'], 'br');
    const identity = await get('identity');
    process.stdout.write(`# demo banner.js: ${identity.body.length} B, gzip ${gz.body.length} B, brotli ${br.body.length} B\n`);
    assert.ok(gz.body.length <= BUDGET_GZIP_BYTES, `gzip ${gz.body.length} B > budget ${BUDGET_GZIP_BYTES} B`);
    assert.ok(br.body.length <= gz.body.length, 'brotli is not larger than gzip');
});

test('every_encoding_decodes_to_the_same_script', async () => {
    const identity = await get('identity');
    assert.equal(identity.headers['content-encoding'], undefined);
    assert.match(identity.headers['content-type'], /^application\/javascript/);
    assert.deepEqual(zlib.gunzipSync((await get('gzip')).body), identity.body);
    assert.deepEqual(zlib.brotliDecompressSync((await get('br')).body), identity.body);
    assert.match(identity.text, /^\(\(CONSENTD_CONFIG,CONSENTD_FEATURES=\[\]\)=>\{/);
});

test('etag_and_304_per_encoding_with_vary_and_cache_control', async () => {
    const first = await get('gzip');
    assert.ok(first.headers.etag, 'etag');
    assert.match(first.headers.vary, /accept-encoding/i);
    assert.match(first.headers['cache-control'], /max-age=\d+/);
    const again = await get('gzip', { 'if-none-match': first.headers.etag });
    assert.equal(again.status, 304);
    assert.equal(again.body.length, 0);
    const other = await get('br', { 'if-none-match': first.headers.etag });
    assert.equal(other.status, 200, 'the gzip ETag does not validate the brotli body');
});

test('settings_inline_every_language_and_never_the_api_key_hash', async () => {
    const res = await get('identity');
    const cfg = servedConfig(res.text);
    assert.deepEqual(cfg.langs, site.languages);
    for (const lang of site.languages) {
        assert.ok(cfg.ui[lang]?.accept, `banner strings in ${lang}`);
        for (const p of cfg.p) assert.ok(p.t[lang], `${p.id} in ${lang}`);
    }
    assert.equal(cfg.pv, site.policy_version);
    assert.ok(!res.text.includes(site.api_key_sha256 || 'no-such-hash'), 'no API key hash in the script');
});

/* jansson's JSON_COMPACT | JSON_SORT_KEYS, done in JS. */
function canonical(v) {
    if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
    if (v && typeof v === 'object') {
        return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
    }
    return JSON.stringify(v);
}

test('variants_are_inlined_with_weight_layout_and_text_overrides', async () => {
    const cfg = servedConfig((await get('identity')).text);
    assert.ok(site.variants?.length >= 2, 'the demo site declares variants');
    assert.deepEqual(cfg.vs, site.variants.map((v) => ({ id: v.id, w: v.weight, l: v.layout || 'bar', ...(v.texts && { t: v.texts }) })));
});

test('texts_hash_of_a_proof_is_the_hash_of_the_texts_served_in_that_language_and_variant', async () => {
    const cfg = servedConfig((await get('identity')).text);
    const hashes = new Set();
    for (const variant of [undefined, ...cfg.vs.map((v) => v.id)]) for (const lang of cfg.langs) {
        const doc = {
            lang,
            policy_version: cfg.pv,
            controller: cfg.ctl,
            contact: cfg.contact,
            choice_lifetime_days: cfg.days,
            purposes: cfg.p.map((p) => ({
                id: p.id,
                legal_basis: p.b,
                retention_days: p.days,
                recipients: p.to,
                name: p.t[lang][0],
                description: p.t[lang][1],
            })),
            // The banner's strings as that variant shows them.
            ui: { ...cfg.ui[lang], ...cfg.vs.find((v) => v.id === variant)?.t?.[lang] },
        };
        if (cfg.policy) doc.privacy_policy_url = cfg.policy;
        const expected = crypto.createHash('sha256').update(canonical(doc)).digest('hex');
        hashes.add(`${lang} ${expected}`);
        const res = await postConsent(stack.consentd, { decisions: {}, policy_version: cfg.pv, lang, variant });
        assert.equal(res.status, 201, res.text);
        const [, payload] = res.json().proof.split('.');
        assert.equal(JSON.parse(Buffer.from(payload, 'base64url')).th, expected, `th in ${lang}, variant ${variant}`);
    }
    // Per language: the banner without variant and variant a show the same texts, b others.
    assert.equal(hashes.size, 2 * cfg.langs.length);
});
