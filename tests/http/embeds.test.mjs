// Embeds (issue 20, item 2): the site file's "embeds" ([{host, provider}])
// is validated with errors naming the file, the field and the reason; a site
// that declares it gets the placeholder feature, its strings and its
// providers ("em") in its banner.js, and a site that does not gets none of
// them: the size of both, for web/README.md's table. The placeholders
// themselves: tests/browser/banner_embeds.test.mjs.
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { after, before } from 'node:test';
import { makeConsentdDir, runConsentd, siteLike, startStack, test } from './lib/harness.mjs';

const EMBEDS = [
    { host: 'www.youtube-nocookie.com', provider: 'YouTube' },
    { host: 'www.google.com', provider: 'Google Maps' },
];
const withEmbeds = (id, embeds = EMBEDS) => ({ ...siteLike(id), embeds });

let stack;
before(async () => {
    stack = await startStack({
        sites: { 'demo.json': siteLike('demo'), 'media.json': withEmbeds('media'), 'bare.json': withEmbeds('bare', []) },
    });
});
after(async () => {
    await stack?.stop();
});

const banner = (site, encoding = 'identity') =>
    stack.consentd.request(`/v1/sites/${site}/banner.js`, { headers: { 'accept-encoding': encoding } });
const configOf = (text) => JSON.parse(text.slice(text.lastIndexOf('})(') + 3, text.lastIndexOf(');')));

/* consentd --check-config on the demo site with `embeds` set to value. */
function check(value) {
    const layout = makeConsentdDir({ sites: { 'demo.json': { ...siteLike('demo'), embeds: value } } });
    return runConsentd(['--check-config', '--config', layout.configPath]);
}

test('a_bad_embeds_field_is_refused_naming_file_field_and_reason', () => {
    const cases = [
        [true, 'embeds: must be an array of {"host", "provider"} (empty: the placeholders name the host)'],
        [['www.youtube.com'], 'embeds[0]: must be an object with host and provider'],
        [[{ host: 'www.youtube.com' }], 'embeds[0].provider: is required'],
        [[{ provider: 'YouTube' }], 'embeds[0].host: is required'],
        [[{ host: 'https://www.youtube.com/embed', provider: 'YouTube' }],
            'embeds[0].host: must be a host name in lower case, like "www.youtube-nocookie.com" (no scheme, port or path)'],
        [[{ host: 'WWW.YouTube.com', provider: 'YouTube' }],
            'embeds[0].host: must be a host name in lower case, like "www.youtube-nocookie.com" (no scheme, port or path)'],
        [[{ host: 'www.google.com', provider: 'Maps' }, { host: 'www.google.com', provider: 'Google' }], 'embeds[1].host: duplicate of embeds[0].host'],
        [[{ host: 'www.google.com', provider: '' }], 'embeds[0].provider: must not be empty'],
        [[{ host: 'www.google.com', provider: 'Maps', purpose: 'ads' }], 'embeds[0].purpose: unknown field (known fields: host, provider)'],
        [Array.from({ length: 33 }, (_, i) => ({ host: `h${i}.example.com`, provider: `P${i}` })), 'embeds: must have at most 32 entries'],
    ];
    for (const [value, message] of cases) {
        const r = check(value);
        assert.equal(r.status, 1, `${JSON.stringify(value).slice(0, 80)}: refused (${r.stdout})`);
        assert.ok(r.stderr.includes(`demo.json: ${message}`), `expected "demo.json: ${message}" in: ${r.stderr}`);
    }
    for (const good of [[], EMBEDS]) {
        const r = check(good);
        assert.equal(r.status, 0, `${JSON.stringify(good)} is accepted: ${r.stderr}`);
    }
});

test('a_site_without_embeds_carries_no_placeholder_code_strings_or_settings', async () => {
    const text = (await banner('demo')).text;
    const cfg = configOf(text);
    assert.equal(cfg.em, undefined, 'no "em" setting');
    for (const lang of cfg.langs) assert.deepEqual(Object.keys(cfg.ui[lang]).filter((k) => k.startsWith('embed.')), [], `no embed strings in ${lang}`);
    assert.ok(!text.includes('consentd-embed'), 'no placeholder code');
});

test('a_site_with_embeds_carries_the_feature_its_strings_and_its_providers', async () => {
    const text = (await banner('media')).text;
    const cfg = configOf(text);
    assert.deepEqual(cfg.em, EMBEDS.map((e) => [e.host, e.provider]));
    assert.ok(text.includes('consentd-embed'), 'the placeholder code');
    assert.ok(text.indexOf('consentd-embed') < text.indexOf('consentd.onChange') || !text.includes('consentd.onChange'), 'the feature comes before the core');
    assert.equal(cfg.ui.fr['embed.load'], 'Charger ce contenu');
    assert.equal(cfg.ui.en['embed.load'], 'Load this content');
    assert.equal(cfg.ui.en['embed.always'], 'Always allow “{purpose}”');
    // Declared empty: the feature, no providers (the placeholders name the host).
    const bare = configOf((await banner('bare')).text);
    assert.deepEqual(bare.em, []);
    assert.ok(bare.ui.fr['embed.text'].includes('{provider}'));
});

test('size_with_and_without_embeds', async () => {
    const sizes = {};
    for (const site of ['demo', 'media']) {
        const identity = (await banner(site)).body.length;
        const gz = await banner(site, 'gzip, deflate, br;q=0');
        const br = await banner(site, 'gzip, deflate, br');
        assert.equal(gz.headers['content-encoding'], 'gzip');
        assert.equal(br.headers['content-encoding'], 'br');
        assert.equal(zlib.gunzipSync(gz.body).length, identity);
        sizes[site] = { identity, gzip: gz.body.length, brotli: br.body.length };
    }
    const cost = Object.fromEntries(Object.keys(sizes.demo).map((k) => [k, sizes.media[k] - sizes.demo[k]]));
    process.stdout.write(`# banner.js sizes (B): ${JSON.stringify(sizes)}, embeds cost ${JSON.stringify(cost)}\n`);
    assert.ok(sizes.demo.gzip <= 6 * 1024, `the demo, without embeds, stays within 6 KB gzip (${sizes.demo.gzip} B)`);
    assert.ok(cost.gzip > 500, 'the placeholders are in the site that declares them');
    assert.ok(cost.gzip < 2048, `and cost it less than 2 KB gzip (${cost.gzip} B)`);
});
