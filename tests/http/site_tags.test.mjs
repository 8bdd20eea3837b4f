// The site file's "tags" (issue 20, item 5): the non-Google tags whose
// consent signals the banner sends (Microsoft UET, Microsoft Clarity, the Meta
// pixel), each with the purposes its consent needs. A bad one stops consentd
// naming the file, the field and the reason; a site that declares tags gets
// the "tags" feature and its settings inlined, a site that does not pays no
// byte for them.
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { after, before } from 'node:test';
import { makeConsentdDir, runConsentd, siteLike, startStack, test } from './lib/harness.mjs';

const TAGS = { microsoft_uet: ['advertising'], microsoft_clarity: ['audience'], meta_pixel: ['advertising', 'audience'] };

function refusal(tags) {
    const site = siteLike('demo');
    site.tags = tags;
    const layout = makeConsentdDir({ sites: { 'demo.json': site } });
    const r = runConsentd(['--check-config', '--config', layout.configPath]);
    assert.equal(r.status, 1, `exit status (stderr: ${r.stderr})`);
    return r.stderr;
}

test('a_bad_tags_field_stops_consentd_naming_file_field_and_reason', () => {
    assert.match(refusal(['microsoft_uet']), /demo\.json: tags: must be an object/);
    assert.match(refusal({}), /demo\.json: tags: must name at least one of microsoft_uet, microsoft_clarity, meta_pixel/);
    assert.match(refusal({ linkedin: ['advertising'] }), /demo\.json: tags\.linkedin: unknown field \(known fields: microsoft_uet, microsoft_clarity, meta_pixel\)/);
    assert.match(refusal({ microsoft_uet: 'advertising' }), /demo\.json: tags\.microsoft_uet: must be an array/);
    assert.match(refusal({ microsoft_uet: [] }), /demo\.json: tags\.microsoft_uet: must not be empty/);
    assert.match(refusal({ meta_pixel: ['advertising', 'ads'] }), /demo\.json: tags\.meta_pixel\[1\]: must be the id of one of the site's purposes/);
    assert.match(refusal({ microsoft_clarity: [3] }), /demo\.json: tags\.microsoft_clarity\[0\]: must be the id of one of the site's purposes/);
    assert.match(refusal({ meta_pixel: ['advertising', 'advertising'] }), /demo\.json: tags\.meta_pixel\[1\]: duplicate of tags\.meta_pixel\[0\]/);
});

let stack;
before(async () => {
    stack = await startStack({ sites: { 'demo.json': siteLike('demo'), 'tagged.json': { ...siteLike('tagged'), tags: TAGS } } });
});
after(async () => {
    await stack?.stop();
});

const banner = (site, encoding = 'identity') =>
    stack.consentd.request(`/v1/sites/${site}/banner.js`, { headers: { 'accept-encoding': encoding } });
const settingsOf = (text) => JSON.parse(text.slice(text.lastIndexOf('})(') + 3, text.lastIndexOf(');')));

test('the_tags_feature_and_settings_only_in_the_banner_of_a_site_that_declares_tags', async () => {
    const plain = (await banner('demo')).text;
    const tagged = (await banner('tagged')).text;
    assert.equal(settingsOf(plain).tg, undefined, 'no tags setting');
    assert.ok(!plain.includes('consentv2'), 'no tags feature');
    assert.deepEqual(settingsOf(tagged).tg, TAGS);
    assert.ok(tagged.includes('consentv2') && tagged.includes('uetq'), 'the tags feature is inlined');
    // What the feature costs: the same site with and without it.
    const sizes = {};
    for (const site of ['demo', 'tagged']) {
        const gz = await banner(site, 'gzip, deflate, br;q=0');
        assert.equal(gz.headers['content-encoding'], 'gzip');
        assert.equal(zlib.gunzipSync(gz.body).toString(), site === 'demo' ? plain : tagged);
        sizes[site] = gz.body.length;
    }
    process.stdout.write(`# banner.js gzip (B): without tags ${sizes.demo}, with tags ${sizes.tagged}, the feature costs ${sizes.tagged - sizes.demo}\n`);
    assert.ok(sizes.tagged > sizes.demo && sizes.tagged - sizes.demo < 700, `the tags feature costs ${sizes.tagged - sizes.demo} B gzip`);
});

test('consentd_defaults_js_carries_the_uet_and_clarity_defaults_of_a_site_that_declares_them', async () => {
    const tagged = (await stack.consentd.request('/v1/sites/tagged/consentd-defaults.js')).text;
    const plain = (await stack.consentd.request('/v1/sites/demo/consentd-defaults.js')).text;
    assert.match(tagged, /\(w\.uetq=w\.uetq\|\|\[\]\)\.push\("consent","default",\{ad_storage:"denied"\}\)/);
    assert.match(tagged, /w\.clarity\("consentv2",\{ad_Storage:"denied",analytics_Storage:"denied"\}\)/);
    assert.ok(!tagged.includes('fbq'), 'no Meta stub: it would stop Meta\'s snippet');
    assert.ok(!plain.includes('uetq') && !plain.includes('clarity'), 'nothing for a site without tags');
});
