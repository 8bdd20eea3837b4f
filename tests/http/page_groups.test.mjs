// The site file's "page_groups" (issue 21, item 4): URL path prefixes named
// for the stats' page segment. A bad one stops consentd naming the file, the
// field and the reason; a site that declares them gets the "pages" feature
// and its settings ("pg") inlined, a site that does not pays no byte; the
// page group a banner names with its events and choices is counted as
// p.<group> (any other name as p.other: bounded), and the raw path is never
// stored; the stats give by_page and the CSV segment=page.
import assert from 'node:assert/strict';
import zlib from 'node:zlib';
import { after, before } from 'node:test';
import { makeConsentdDir, runConsentd, siteLike, startStack, test, waitFor } from './lib/harness.mjs';
import { allKeys, browser, postConsent, server } from './lib/consent.mjs';
import { postEvent } from './lib/counters.mjs';

const GROUPS = [
    { id: 'blog', prefixes: ['/blog/'] },
    { id: 'shop', prefixes: ['/shop/', '/cart'] },
];

function refusal(groups) {
    const site = siteLike('demo');
    site.page_groups = groups;
    const layout = makeConsentdDir({ sites: { 'demo.json': site } });
    const r = runConsentd(['--check-config', '--config', layout.configPath]);
    assert.equal(r.status, 1, `exit status (stderr: ${r.stderr})`);
    return r.stderr;
}

test('a_bad_page_groups_field_stops_consentd_naming_file_field_and_reason', () => {
    assert.match(refusal({}), /demo\.json: page_groups: must be an array/);
    assert.match(refusal([]), /demo\.json: page_groups: must not be empty/);
    const nine = Array.from({ length: 9 }, (_, i) => ({ id: `g${i}`, prefixes: [`/g${i}/`] }));
    assert.match(refusal(nine), /demo\.json: page_groups: must have at most 8 entries/);
    assert.match(refusal(['blog']), /demo\.json: page_groups\[0\]: must be an object with id and prefixes/);
    assert.match(refusal([{ id: 'blog', prefixes: ['/b/'], path: '/x' }]), /demo\.json: page_groups\[0\]\.path: unknown field \(known fields: id, prefixes\)/);
    assert.match(refusal([{ prefixes: ['/b/'] }]), /demo\.json: page_groups\[0\]\.id: is required/);
    assert.match(refusal([{ id: 'Blog!', prefixes: ['/b/'] }]), /demo\.json: page_groups\[0\]\.id: must match \[a-z0-9_-\]\{1,32\}/);
    assert.match(refusal([{ id: 'other', prefixes: ['/b/'] }]), /demo\.json: page_groups\[0\]\.id: "other" is the group of every other page/);
    assert.match(refusal([GROUPS[0], { id: 'blog', prefixes: ['/x/'] }]), /demo\.json: page_groups\[1\]\.id: "blog" is declared twice/);
    assert.match(refusal([{ id: 'blog' }]), /demo\.json: page_groups\[0\]\.prefixes: is required/);
    assert.match(refusal([{ id: 'blog', prefixes: [] }]), /demo\.json: page_groups\[0\]\.prefixes: must not be empty/);
    assert.match(refusal([{ id: 'blog', prefixes: ['blog/'] }]), /demo\.json: page_groups\[0\]\.prefixes\[0\]: must be a URL path prefix starting with "\/"/);
    assert.match(refusal([{ id: 'blog', prefixes: ['/b/', '/x?y'] }]), /demo\.json: page_groups\[0\]\.prefixes\[1\]: must be a URL path prefix/);
    assert.match(refusal([{ id: 'blog', prefixes: [`/${'a'.repeat(128)}`] }]), /demo\.json: page_groups\[0\]\.prefixes\[0\]: must be at most 128 bytes long/);
});

let stack;
before(async () => {
    stack = await startStack({
        sites: { 'demo.json': siteLike('demo'), 'paged.json': { ...siteLike('paged'), page_groups: GROUPS } },
    });
});
after(async () => {
    await stack?.stop();
});

const banner = (site, encoding = 'identity') => stack.consentd.request(`/v1/sites/${site}/banner.js`, { headers: { 'accept-encoding': encoding } });
const settingsOf = (text) => JSON.parse(text.slice(text.lastIndexOf('})(') + 3, text.lastIndexOf(');')));

test('the_pages_feature_and_settings_only_in_the_banner_of_a_site_that_declares_page_groups', async () => {
    const plain = (await banner('demo')).text;
    const paged = (await banner('paged')).text;
    assert.equal(settingsOf(plain).pg, undefined, 'no page groups setting');
    assert.ok(!plain.includes('pathname'), 'no pages feature');
    assert.deepEqual(settingsOf(paged).pg, [['blog', ['/blog/']], ['shop', ['/shop/', '/cart']]]);
    assert.ok(paged.includes('location.pathname'), 'the pages feature is inlined');
    // What the feature costs: the same site with and without it.
    const sizes = {};
    for (const site of ['demo', 'paged']) {
        const gz = await banner(site, 'gzip, deflate, br;q=0');
        assert.equal(zlib.gunzipSync(gz.body).toString(), site === 'demo' ? plain : paged);
        sizes[site] = gz.body.length;
    }
    process.stdout.write(`# banner.js gzip (B): without page groups ${sizes.demo}, with ${sizes.paged}, the feature and its settings cost ${sizes.paged - sizes.demo}\n`);
    assert.ok(sizes.paged > sizes.demo && sizes.paged - sizes.demo < 300, `the pages feature costs ${sizes.paged - sizes.demo} B gzip`);
});

test('the_page_group_a_banner_names_is_counted_and_the_raw_path_never_stored', async () => {
    const { consentd, redis } = stack;
    const pv = siteLike('paged').policy_version;
    for (const page of ['blog', 'blog', 'shop', 'other', '/blog/secret-post?id=42', undefined]) {
        const res = await postEvent(consentd, { type: 'shown', lang: 'fr', ...(page ? { page } : {}) }, browser(), 'paged');
        assert.equal(res.status, 204, res.text);
    }
    const all = { audience: true, personalisation: true, advertising: true, partners_sharing: true };
    for (const page of ['blog', 'shop', '/cart/items']) {
        const res = await postConsent(consentd, { policy_version: pv, lang: 'fr', decisions: all, control: 'accept_all', page }, browser(), 'paged');
        assert.equal(res.status, 201, res.text);
    }
    // A site without page groups ignores the field.
    assert.equal((await postEvent(consentd, { type: 'shown', lang: 'fr', page: 'blog' }, browser(), 'demo')).status, 204);
    const today = new Date().toISOString().slice(0, 10);
    const body = await waitFor(
        async () => {
            const res = await consentd.request(`/v1/sites/paged/stats?from=${today}&to=${today}`, { headers: server() });
            const b = res.json();
            return b.total.shown === 6 && b.total.decisions === 3 ? b : null;
        },
        { timeoutMs: 5000, message: 'the counts in the stats' },
    );
    assert.deepEqual(Object.keys(body.total.by_page), ['blog', 'shop', 'other']);
    assert.deepEqual(
        Object.fromEntries(Object.entries(body.total.by_page).map(([k, v]) => [k, [v.shown, v.decisions, v.accept_all]])),
        { blog: [2, 1, 1], shop: [1, 1, 1], other: [2, 1, 1] }, // an unknown name folds into other; none: not in the segment
    );
    const csv = await consentd.request(`/v1/sites/paged/stats?from=${today}&to=${today}&format=csv&segment=page`, { headers: server() });
    assert.equal(csv.status, 200, csv.text);
    assert.equal(csv.text.split('\n')[0], 'page,shown,decisions,accept_all,reject_all,custom,interaction_rate,accept_all_share,reject_all_share,custom_share');
    assert.match(csv.text, /\nblog,2,1,1,0,0,0\.5,1,0,0\n/);
    const plain = await consentd.request(`/v1/sites/demo/stats?from=${today}&to=${today}`, { headers: server() });
    assert.equal(plain.json().total.by_page, null, 'no page groups: null');
    const refused = await consentd.request(`/v1/sites/demo/stats?segment=page&format=csv`, { headers: server() });
    assert.equal(refused.status, 400);
    assert.match(refused.json().error.message, /declares no page_groups/);
    // No key, field or value in Redis holds a path a banner sent (the
    // banner archive holds the site's own prefixes, as its settings do).
    for (const key of await allKeys(redis)) {
        assert.ok(!key.includes('/blog') && !key.includes('/cart'), key);
        if (key.includes(':banners}') || (await redis.command('TYPE', key)) !== 'hash') continue;
        const flat = (await redis.command('HGETALL', key)).map(String);
        assert.ok(!flat.some((x) => x.includes('secret-post') || x.includes('/cart/items') || x.includes('/blog')), `a path in ${key}`);
    }
});
