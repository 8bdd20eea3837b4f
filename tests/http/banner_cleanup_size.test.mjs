// What the clean-up feature (issue 20, item 1) costs, measured on the demo
// site as served: without a cleanup declaration the banner's code is
// byte for byte the core bundle (web/banner/main.js as built, no feature,
// no "ck"/"st"/"rl" setting); with one, the feature is inlined before it and
// the settings carry the declarations. Prints the gzip figures that
// web/README.md's size table quotes.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import { consentdBin, shippedSite, siteLike, startStack, test } from './lib/harness.mjs';

const HEAD = '((CONSENTD_CONFIG,CONSENTD_FEATURES=[])=>{';
const CORE = fs.readFileSync(path.join(path.dirname(consentdBin()), 'web', 'banner.min.js'), 'utf8').trim();

// One cookie: the feature's fixed cost. Typical: the usual trackers of the
// demo's purposes.
const DECLARATIONS = {
    one: { audience: { cookies: [{ name: '_ga' }] } },
    typical: {
        audience: { cookies: [{ name: '_ga' }, { name: '_ga_*' }, { name: '_gid' }, { name: '_clck' }, { name: '_clsk' }], storage: ['_hjSession*'] },
        personalisation: { cookies: [{ name: '_pk_id.*' }], storage: ['reco_*'] },
        advertising: { cookies: [{ name: '_fbp' }, { name: '_gcl_au' }, { name: '_uetsid' }, { name: '_uetvid' }, { name: 'MUID' }] },
    },
};
function declaring(id, declared) {
    const site = siteLike(id);
    site.purposes = site.purposes.map((p) => ({ ...p, ...declared[p.id] }));
    return site;
}

let stack;
before(async () => {
    stack = await startStack({
        sites: {
            'demo.json': shippedSite('demo'),
            'one.json': declaring('one', DECLARATIONS.one),
            'typical.json': declaring('typical', DECLARATIONS.typical),
            'noreload.json': { ...declaring('noreload', DECLARATIONS.one), reload_on_withdrawal: false },
            'plainnoreload.json': { ...siteLike('plainnoreload'), reload_on_withdrawal: false },
        },
    });
});
after(async () => {
    await stack?.stop();
});

const get = async (site, encoding = 'identity') =>
    (await stack.consentd.request(`/v1/sites/${site}/banner.js`, { headers: { 'accept-encoding': encoding } })).body;
const code = (text) => text.slice(0, text.lastIndexOf('})('));
const settings = (text) => JSON.parse(text.slice(text.lastIndexOf('})(') + 3, text.lastIndexOf(');')));

test('a_site_that_declares_no_cleanup_gets_the_core_code_byte_for_byte_and_no_setting', async () => {
    for (const id of ['demo', 'plainnoreload']) {
        const text = (await get(id)).toString();
        assert.equal(code(text), HEAD + CORE, `${id}: the core bundle alone`);
        const cfg = settings(text);
        assert.equal(cfg.rl, undefined, `${id}: no "rl" without the feature`);
        for (const p of cfg.p) assert.ok(!('ck' in p) && !('st' in p), `${id}: no clean-up settings in ${p.id}`);
    }
});

test('a_site_that_declares_cookies_gets_the_feature_before_the_core_and_its_declarations', async () => {
    const text = (await get('typical')).toString();
    const c = code(text);
    assert.ok(c.startsWith(HEAD) && c.endsWith(CORE), 'the core bundle, unchanged, after the feature');
    assert.match(c.slice(HEAD.length, c.length - CORE.length), /^.*CONSENTD_FEATURES\.push\(.*$/s, 'the feature pushes itself');
    const cfg = settings(text);
    const byId = Object.fromEntries(cfg.p.map((p) => [p.id, p]));
    assert.deepEqual(byId.audience.ck, [['_ga'], ['_ga_*'], ['_gid'], ['_clck'], ['_clsk']]);
    assert.deepEqual(byId.audience.st, ['_hjSession*']);
    assert.deepEqual(byId.advertising.ck.map(([n]) => n), ['_fbp', '_gcl_au', '_uetsid', '_uetvid', 'MUID']);
    assert.equal(byId.necessary.ck, undefined);
    assert.equal(cfg.rl, undefined, 'reload on withdrawal is the default: not written');
    assert.equal(settings((await get('noreload')).toString()).rl, false);
});

test('the_cleanup_feature_costs_this_much_gzip', async () => {
    const sizes = {};
    for (const id of ['demo', 'one', 'typical']) sizes[id] = { identity: (await get(id)).length, gzip: (await get(id, 'gzip')).length, br: (await get(id, 'br')).length };
    process.stdout.write(
        `# demo banner.js: ${sizes.demo.identity} B, gzip ${sizes.demo.gzip} B, brotli ${sizes.demo.br} B; ` +
            `with one declared cookie: ${sizes.one.identity} B, gzip ${sizes.one.gzip} B (+${sizes.one.gzip - sizes.demo.gzip} B), brotli ${sizes.one.br} B; ` +
            `with the typical declarations: ${sizes.typical.identity} B, gzip ${sizes.typical.gzip} B (+${sizes.typical.gzip - sizes.demo.gzip} B), brotli ${sizes.typical.br} B\n`,
    );
    assert.ok(sizes.one.gzip > sizes.demo.gzip, 'the feature is inlined');
    // The feature is small: well under half a kilobyte gzip for its code.
    assert.ok(sizes.one.gzip - sizes.demo.gzip < 600, `the feature costs ${sizes.one.gzip - sizes.demo.gzip} B gzip`);
});
