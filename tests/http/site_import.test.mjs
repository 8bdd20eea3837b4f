// Files stay a way in (issue 22, item 1): `consentd site import FILE...`
// makes a new version of each site in Redis and publishes it (--draft: the
// draft), with the configuration's Redis; an unchanged file makes no new
// version; an invalid file is refused with the site file's messages;
// `consentd site export SITE [VERSION]` prints the JSON. A site in Redis
// wins over a file of the same id in the sites directory, and a site that is
// only in Redis is served too.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import { Consentd, delay, makeTempDir, runConsentd, shippedSite, siteLike, startRedis, test } from './lib/harness.mjs';
import { server } from './lib/consent.mjs';

let redis, consentd, dir;
before(async () => {
    redis = await startRedis();
    consentd = await Consentd.start({ redis });
    dir = makeTempDir('site-import');
});
after(async () => {
    try {
        await consentd?.stop();
    } finally {
        await redis?.stop();
    }
});

const site = (cli, ...args) => runConsentd(['site', cli, '--config', consentd.layout.configPath, ...args]);
function writeFile(name, doc) {
    const file = path.join(dir, name);
    fs.writeFileSync(file, typeof doc === 'string' ? doc : JSON.stringify(doc, null, 2));
    return file;
}
async function served(id, text, ms = 1000) {
    const start = Date.now();
    for (;;) {
        const res = await consentd.request(`/v1/sites/${id}/banner.js`);
        if (res.status === 200 && res.text.includes(text)) return;
        if (Date.now() - start > ms) assert.fail(`site ${id} not served with "${text}" within ${ms} ms`);
        await delay(20);
    }
}

const edited = () => {
    const d = shippedSite('demo');
    d.purposes[1].texts.en.name = 'Audience, from git';
    return d;
};

test('import_publishes_a_new_version_that_wins_over_the_sites_directory', async () => {
    const r = site('import', writeFile('demo.json', edited()));
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /site demo version 1 \(new\), published version 1/);
    await served('demo', 'Audience, from git');
    const list = (await consentd.request('/v1/sites/demo/versions', { headers: server() })).json();
    assert.equal(list.versions[0].message, 'import of demo.json');
    assert.match(list.versions[0].who, /^consentd site import/);
});

test('an_unchanged_file_makes_no_new_version', async () => {
    const pretty = JSON.stringify(edited(), null, 4); // other spacing, same document
    const r = site('import', writeFile('demo.json', pretty));
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /site demo version 1 \(unchanged\)/);
    const list = (await consentd.request('/v1/sites/demo/versions', { headers: server() })).json();
    assert.equal(list.last, 1);
});

test('an_invalid_file_is_refused_with_the_site_file_message', async () => {
    const bad = edited();
    bad.purposes[2].legal_basis = 'because_we_can';
    const file = writeFile('demo.json', bad);
    const r = site('import', file);
    assert.equal(r.status, 1);
    assert.equal(r.stderr, `consentd site: ${file}: purposes[2].legal_basis: must be one of consent, legitimate_interest, necessary\n`);
    const list = (await consentd.request('/v1/sites/demo/versions', { headers: server() })).json();
    assert.equal(list.last, 1, 'nothing stored');
});

test('a_file_the_banner_build_would_refuse_is_refused_by_the_import', async () => {
    const bad = edited();
    bad.variants[1].texts.fr.titel = 'Faute';
    const file = writeFile('demo.json', bad);
    const r = site('import', file);
    assert.equal(r.status, 1);
    assert.match(r.stderr, new RegExp(`^consentd site: ${file.replace(/[.]/g, '\\.')}: variants\\[1\\]\\.texts\\.fr\\.titel: is not one of the banner's texts`));
});

test('import_draft_sets_the_draft_only', async () => {
    const d = edited();
    d.purposes[1].texts.en.name = 'Audience, a draft';
    const r = site('import', '--draft', writeFile('demo.json', d));
    assert.equal(r.status, 0, r.stderr);
    const draft = (await consentd.request('/v1/sites/demo/draft', { headers: server() })).json();
    assert.equal(draft.site.purposes[1].texts.en.name, 'Audience, a draft');
    const list = (await consentd.request('/v1/sites/demo/versions', { headers: server() })).json();
    assert.equal(list.last, 1);
});

test('export_prints_the_published_version_and_refuses_a_missing_one', async () => {
    const r = site('export', 'demo');
    assert.equal(r.status, 0, r.stderr);
    assert.deepEqual(JSON.parse(r.stdout), edited());
    const one = site('export', 'demo', '1');
    assert.deepEqual(JSON.parse(one.stdout), edited());
    const missing = site('export', 'demo', '7');
    assert.equal(missing.status, 1);
    assert.match(missing.stderr, /site demo has no version 7 in Redis/);
    assert.equal(site('export').status, 2);
});

test('a_site_only_in_redis_is_served_within_a_second_of_its_import', async () => {
    const shop = siteLike('shop');
    shop.api_key_sha256 = shippedSite('demo').api_key_sha256;
    shop.purposes[1].texts.en.name = 'Shop audience';
    const r = site('import', writeFile('shop.json', shop));
    assert.equal(r.status, 0, r.stderr);
    await served('shop', 'Shop audience');
});
