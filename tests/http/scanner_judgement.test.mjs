// The scanner's judgement (ops/scan.mjs), without a browser: its options and
// their errors (exit 2), the CSV reader and the pinned Open Cookie Database,
// the site of a host, the verdicts on given observations (the first-layer
// rule, necessary and wildcard declarations, leftovers, stale), and the JSON
// Patch of --propose. The browser runs are tests/browser/scanner*.test.mjs.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { SOURCE_DIR } from './lib/harness.mjs';

const SCAN = path.join(SOURCE_DIR, 'ops', 'scan.mjs');
const { judge, loadTrackers, parseArgs, parseCsv, proposal, proposePurpose, purposesFromBanner, purposesFromSite, siteOf } = await import(SCAN);
const trackers = loadTrackers();

test('options_and_their_errors', () => {
    const o = parseArgs(['--depth', '2', '--max-pages', '5', '--fail-on-undeclared', '--browser-arg', '--x=1', 'https://a.example/']);
    assert.deepEqual([o.depth, o.maxPages, o.failOnUndeclared, o.browserArgs, o.urls], [2, 5, true, ['--x=1'], ['https://a.example/']]);
    assert.throws(() => parseArgs([]), /no URL given/);
    assert.throws(() => parseArgs(['--depth', 'x', 'https://a/']), /--depth: must be a whole number, not "x"/);
    assert.throws(() => parseArgs(['ftp://a/']), /ftp:\/\/a\/: not an http\(s\) URL/);
    assert.throws(() => parseArgs(['--nope', 'https://a/']), /--nope: unknown option/);
    assert.throws(() => parseArgs(['https://a/', '--out']), /--out: needs a value/);
    const run = spawnSync(process.execPath, [SCAN, '--depth'], { encoding: 'utf8' });
    assert.equal(run.status, 2);
    assert.match(run.stderr, /consentd-scan: --depth: needs a value\nusage: node ops\/scan\.mjs/);
    assert.equal(spawnSync(process.execPath, [SCAN, '--help'], { encoding: 'utf8' }).status, 0);
});

test('csv_reader_and_the_open_cookie_database', () => {
    assert.deepEqual(parseCsv('a,"b, ""c""",d\r\n"e\nf",,\n'), [['a', 'b, "c"', 'd'], ['e\nf', '', '']]);
    assert.deepEqual(trackers.byName('_ga'), { vendor: 'Google Analytics', controller: 'Google', category: 'Analytics' });
    assert.equal(trackers.byName('_ga_ABC123')?.vendor, 'Google Analytics', 'wildcard rows match by prefix');
    assert.equal(trackers.byName('_fbp')?.category, 'Marketing');
    assert.equal(trackers.byHost('region1.google-analytics.com')?.vendor, 'Google Analytics');
    assert.equal(trackers.byName('no-such-cookie-xyz'), null);
});

test('site_of_a_host', () => {
    assert.equal(siteOf('www.shop.example.com'), 'example.com');
    assert.equal(siteOf('.shop.example.co.uk'), 'example.co.uk');
    assert.equal(siteOf('127.0.0.1'), '127.0.0.1');
});

const site = {
    purposes: [
        { id: 'necessary', legal_basis: 'necessary', cookies: [{ name: 'sess' }], consent_mode: ['security_storage'] },
        { id: 'audience', legal_basis: 'consent', cookies: [{ name: '_ga' }, { name: '_ga_*' }, { name: '_gid' }], consent_mode: ['analytics_storage'] },
        { id: 'advertising', legal_basis: 'consent', consent_mode: ['ad_storage'] },
    ],
};
const purposes = purposesFromSite(site);
const cookie = (name, extra = {}) => ({ name, domain: 'shop.example', by: 'script', url: 'https://shop.example/t.js', written: true, ...extra });
const state = (cookies, storage = {}, requests = []) => ({ result: { cookies, storage: { localStorage: [], sessionStorage: [], indexedDB: [], ...storage }, requests } });
const button = (w, h, same = true) => ({ visible: true, w, h, parentIsSame: same });
const layoutOk = { shown: true, accept: button(200, 40), refuse: button(190, 40) };

function verdicts(states, layout = layoutOk) {
    return judge({ states, bannerHost: 'consent.example', layout, purposes, trackers, configSource: 'x' }).map((f) => `${f.level} ${f.state} ${f.kind} ${f.name}${f.propose ? ` -> ${f.propose}` : ''}`);
}

test('verdicts_on_given_observations', () => {
    const clean = {
        before: state([cookie('sess'), cookie('consentd')], { sessionStorage: ['consentd'] }, [{ host: 'consent.example', type: 'script' }]),
        refused: state([cookie('sess'), cookie('consentd')]),
        accepted: state([cookie('sess'), cookie('_ga'), cookie('_ga_X1'), cookie('_gid')]),
        withdrawn: state([cookie('sess')]),
    };
    assert.deepEqual(verdicts(clean), [], 'necessary, own and wildcard-declared cookies; the banner host');
    assert.deepEqual(
        verdicts({ ...clean, before: state([cookie('_ga')], { localStorage: ['ajs_user_id'] }, [{ host: 'www.google-analytics.com', type: 'script' }, { host: 'fonts.example', type: 'font' }]) }),
        ['violation before cookie _ga', 'violation before localStorage ajs_user_id', 'violation before request www.google-analytics.com', 'notice before request fonts.example'],
    );
    assert.deepEqual(
        verdicts({ ...clean, accepted: state([cookie('_ga'), cookie('_ga_X1'), cookie('_gid'), cookie('_fbp'), cookie('xyz')]), withdrawn: state([cookie('_fbp', { written: false }), cookie('_gid', { written: true })]) }),
        ['violation withdrawn cookie _gid', 'undeclared accepted cookie _fbp -> advertising', 'undeclared accepted cookie xyz', 'leftover withdrawn cookie _fbp'],
    );
    assert.deepEqual(verdicts({ ...clean, accepted: state([cookie('sess'), cookie('_ga')]) }), ['stale accepted cookie _ga_*', 'stale accepted cookie _gid']);
    const unjudged = judge({ states: clean, bannerHost: null, layout: layoutOk, purposes: [], trackers, configSource: 'none' });
    assert.ok(unjudged.some((f) => f.level === 'violation' && f.kind === 'config'), 'no purposes at all is said, not taken for a clean site');
    // The first layer: refuse missing, hidden, smaller, or apart from accept.
    assert.deepEqual(verdicts(clean, { shown: false }), ['violation before banner banner']);
    assert.deepEqual(verdicts(clean, { shown: true, accept: button(200, 40), refuse: null }), ['violation before banner refuse']);
    assert.deepEqual(verdicts(clean, { shown: true, accept: button(200, 40), refuse: button(100, 20) }), ['violation before banner refuse']);
    assert.deepEqual(verdicts(clean, { shown: true, accept: button(200, 40, false), refuse: button(200, 40, false) }), ['violation before banner refuse']);
});

test('proposal_is_a_json_patch_of_the_site_file', () => {
    const findings = [
        { level: 'undeclared', kind: 'cookie', name: '_fbp', propose: 'advertising' },
        { level: 'undeclared', kind: 'cookie', name: '_gcl_au', propose: 'advertising' },
        { level: 'undeclared', kind: 'cookie', name: '_hjid', propose: 'audience' },
        { level: 'undeclared', kind: 'localStorage', name: '_hjSession', propose: 'audience' },
        { level: 'undeclared', kind: 'cookie', name: 'mystery', propose: null },
    ];
    assert.deepEqual(proposal(findings, purposes), [
        { op: 'add', path: '/purposes/1/cookies/-', value: { name: '_hjid' } },
        { op: 'add', path: '/purposes/1/storage', value: ['_hjSession'] },
        { op: 'add', path: '/purposes/2/cookies', value: [{ name: '_fbp' }, { name: '_gcl_au' }] },
    ]);
    assert.equal(proposePurpose(purposes, 'Analytics'), 'audience');
    assert.equal(proposePurpose(purposes, 'Personalization'), null, 'no such purpose: no guess');
});

test('purposes_from_the_public_banner_settings', () => {
    const body = `((CONSENTD_CONFIG,CONSENTD_FEATURES=[])=>{x})({"bv":"0","p":[{"id":"necessary","b":"necessary","t":{}},{"id":"audience","b":"consent","cm":["analytics_storage"],"ck":[["_ga"],["_fbp","example.com"]],"st":["_hj*"]}]});`;
    const { purposes: p } = purposesFromBanner(body);
    assert.deepEqual(p, [
        { id: 'necessary', basis: 'necessary', cookies: [], storage: [], cm: [] },
        { id: 'audience', basis: 'consent', cookies: [{ name: '_ga', domain: null }, { name: '_fbp', domain: 'example.com' }], storage: ['_hj*'], cm: ['analytics_storage'] },
    ]);
});
