// IAB TCF configuration (issue 24, items 1 and 2): consentd loads the Global
// Vendor List store of tcf.gvl_dir (the real, trimmed v3 lists of
// tests/fixtures/gvl/) and checks each site's "tcf" block against its newest
// version at start-up; an invalid combination stops it naming file, field and
// reason. ops/gvl-update.sh archives a newer list, refuses an older or equal
// one, keeps every version and reloads consentd (SIGHUP). Nothing is
// downloaded: the script is given the lists with --from-file.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import {
    Consentd,
    Redis,
    SOURCE_DIR,
    consentdBin,
    makeConsentdDir,
    makeTempDir,
    runConsentd,
    shippedSite,
    test,
} from './lib/harness.mjs';

const FIXTURES = path.join(SOURCE_DIR, 'tests', 'fixtures', 'gvl');
const SCRIPT = path.join(SOURCE_DIR, 'ops', 'gvl-update.sh');

let redis;
const servers = [];
before(async () => {
    redis = await Redis.start();
});
after(async () => {
    for (const c of servers) await c.stop();
    await redis?.stop();
});

/* A store holding the given fixture files (default: all of them). */
function gvlStore(files = fs.readdirSync(FIXTURES).filter((f) => f.endsWith('.json'))) {
    const dir = makeTempDir('gvl');
    for (const f of files) fs.copyFileSync(path.join(FIXTURES, f), path.join(dir, f));
    return dir;
}

/* Vendors 1, 2, 6 and 8 are in both v7 and v17; their declarations in v17:
 * 1 consent 1-4,7-10, flexible 7-10; 2 consent 1-4,7,9,10, none flexible;
 * 6 consent 1-4,7,9; 8 consent 1,3,4, LI 2,7,8,9, flexible 2,9. */
const TCF = {
    cmp_id: 300,
    cmp_version: 2,
    publisher_cc: 'FR',
    vendors: [8, 1, 2, 6],
    stacks: [1, 2],
    publisher_restrictions: [
        { purpose: 7, type: 2, vendors: [1] },
        { purpose: 2, type: 1, vendors: [8] },
        { purpose: 10, type: 0, vendors: [2] },
    ],
    publisher_purposes: { consent: [1], legitimate_interest: [7] },
};

function tcfSite(tcf = TCF) {
    return { ...shippedSite('demo'), tcf };
}

/* consentd --check-config on a layout: {status, stderr}. */
function check({ tcf, gvlDir = gvlStore(), config = {} } = {}) {
    const layout = makeConsentdDir({
        config: { tcf: gvlDir === null ? undefined : { gvl_dir: gvlDir }, ...config },
        sites: { 'demo.json': tcfSite(tcf) },
    });
    return { ...runConsentd(['--config', layout.configPath, '--check-config']), layout };
}

function refused(tcf, field, reason) {
    const r = check({ tcf });
    assert.equal(r.status, 1, `exit status (stderr: ${r.stderr})`);
    const want = `demo.json: ${field}: ${reason}`;
    assert.ok(r.stderr.includes(want), `stderr names the field and reason:\n  want: ${want}\n  got:  ${r.stderr}`);
}

test('consentd_starts_with_a_tcf_site_checked_against_the_newest_fixture_list', async () => {
    const c = await Consentd.start({
        redis,
        config: { tcf: { gvl_dir: gvlStore() } },
        sites: { 'demo.json': tcfSite() },
    });
    servers.push(c);
    await c.waitForLog(
        /IAB Global Vendor List version 17 \(2023-09-07T16:07:28Z, 130 vendors, 1 translation\(s\)\) from \S+; 2 version\(s\) archived/,
    );
    assert.equal((await c.request('/v1/sites/demo/banner.js')).status, 200, 'the TCF site is served');
    await c.stop();
});

test('a_tcf_site_file_without_a_vendor_list_store_is_refused', () => {
    const r = check({ gvlDir: null });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /demo\.json: tcf: needs the IAB Global Vendor List: set tcf\.gvl_dir in the server configuration/);
});

test('a_vendor_not_in_the_list_is_refused_naming_the_field', () => {
    refused({ ...TCF, vendors: [1, 3] }, 'tcf.vendors[1]', 'vendor 3 is not in the Global Vendor List (version 17)');
    refused({ ...TCF, vendors: [1, 1] }, 'tcf.vendors[1]', 'duplicate of tcf.vendors[0]');
});

test('a_restriction_the_vendor_declaration_does_not_allow_is_refused', () => {
    // Require legitimate interest where vendor 2 declared consent, not flexible.
    refused(
        { ...TCF, publisher_restrictions: [{ purpose: 2, type: 2, vendors: [2] }] },
        'tcf.publisher_restrictions[0].vendors[0]',
        'vendor 2 declares it on consent, not as flexible: legitimate interest cannot be required (purpose 2)',
    );
    // Require consent where vendor 8 declared legitimate interest, not flexible (purpose 7).
    refused(
        { ...TCF, publisher_restrictions: [{ purpose: 7, type: 1, vendors: [8] }] },
        'tcf.publisher_restrictions[0].vendors[0]',
        'vendor 8 declares it on legitimate interest, not as flexible: consent cannot be required (purpose 7)',
    );
    // Restrict a purpose the vendor does not use at all (6 does not declare 8).
    refused(
        { ...TCF, publisher_restrictions: [{ purpose: 8, type: 0, vendors: [6] }] },
        'tcf.publisher_restrictions[0].vendors[0]',
        'vendor 6 does not declare the purpose in the Global Vendor List (purpose 8)',
    );
    refused(
        { ...TCF, publisher_restrictions: [{ purpose: 3, type: 2, vendors: [1] }] },
        'tcf.publisher_restrictions[0].type',
        'purpose 3 is never processed on legitimate interest (TCF policy: purposes 1, 3, 4, 5 and 6): it cannot be required',
    );
    refused(
        { ...TCF, vendors: [1, 2], publisher_restrictions: [{ purpose: 2, type: 0, vendors: [6] }] },
        'tcf.publisher_restrictions[0].vendors[0]',
        "vendor 6 is not one of the site's (tcf.vendors)",
    );
    refused(
        {
            ...TCF,
            publisher_restrictions: [
                { purpose: 2, type: 0, vendors: [1] },
                { purpose: 2, type: 1, vendors: [6, 1] },
            ],
        },
        'tcf.publisher_restrictions[1].vendors[1]',
        'vendor 1 already has a restriction on purpose 2 (tcf.publisher_restrictions[0])',
    );
    refused(
        { ...TCF, publisher_restrictions: [{ purpose: 2, type: 3, vendors: [1] }] },
        'tcf.publisher_restrictions[0].type',
        'must be an integer from 0 to 2 (0: not allowed, 1: require consent, 2: require legitimate interest)',
    );
});

test('a_stack_not_in_the_list_or_overlapping_another_is_refused', () => {
    refused({ ...TCF, stacks: [1, 99] }, 'tcf.stacks[1]', 'stack 99 is not in the Global Vendor List (version 17)');
    refused(
        { ...TCF, stacks: [2, 42] },
        'tcf.stacks[1]',
        'stack 42 shares purpose 2 with stack 2 (tcf.stacks[0]): stacks shown together must not overlap',
    );
});

test('a_bad_country_code_cmp_id_or_publisher_purpose_is_refused', () => {
    const cc = 'must be the publisher\'s country: an ISO 3166-1 alpha-2 code, two upper-case letters ("FR")';
    refused({ ...TCF, publisher_cc: 'fr' }, 'tcf.publisher_cc', cc);
    refused({ ...TCF, publisher_cc: 'FRA' }, 'tcf.publisher_cc', cc);
    refused({ ...TCF, cmp_id: 0 }, 'tcf.cmp_id', "must be an integer from 2 to 4095 (the CMP's id registered with IAB Europe)");
    // 1 is not a CMP ID a TC string may carry (src/tcf.c encodes 2..4095): refused at load, not at every POST.
    refused({ ...TCF, cmp_id: 1 }, 'tcf.cmp_id', "must be an integer from 2 to 4095 (the CMP's id registered with IAB Europe)");
    refused({ ...TCF, cmp_version: undefined }, 'tcf.cmp_version', 'is required');
    refused(
        { ...TCF, publisher_purposes: { legitimate_interest: [4] } },
        'tcf.publisher_purposes.legitimate_interest[0]',
        'purpose 4 is never processed on legitimate interest (TCF policy: purposes 1, 3, 4, 5 and 6)',
    );
    refused({ ...TCF, vendor: [1] }, 'tcf.vendor', 'unknown field');
});

// tcf.gdpr_applies (issue 24, item 5): a boolean, true when absent.
test('gdpr_applies_must_be_a_boolean', () => {
    const why = 'must be true or false (whether GDPR applies to the site\'s visitors)';
    refused({ ...TCF, gdpr_applies: 'yes' }, 'tcf.gdpr_applies', why);
    refused({ ...TCF, gdpr_applies: 0 }, 'tcf.gdpr_applies', why);
    refused({ ...TCF, gdpr_applies: null }, 'tcf.gdpr_applies', why);
    for (const v of [true, false]) {
        const r = check({ tcf: { ...TCF, gdpr_applies: v } });
        assert.equal(r.status, 0, `gdpr_applies ${v}: ${r.stderr}`);
    }
});

test('the_server_configuration_tcf_block_is_checked', () => {
    let r = check({ config: { tcf: { gvl_dir: gvlStore(), gvl_url: 'http://example.com/vl.json' } } });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /consentd\.json: tcf\.gvl_url: must be an https:\/\/ URL/);
    r = check({ config: { tcf: { gvl_dir: gvlStore(), translations: ['FR'] } } });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /consentd\.json: tcf\.translations\[0\]: must be a language code/);
    r = check({ gvlDir: path.join(makeTempDir('nogvl'), 'absent') });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /absent: cannot open the vendor list directory \(tcf\.gvl_dir\)/);
    r = check({ gvlDir: makeTempDir('emptygvl') });
    assert.equal(r.status, 1);
    assert.match(r.stderr, /no vendor list \(vendor-list-v<N>\.json\) in the directory: run ops\/gvl-update\.sh/);
});

function update(layout, args) {
    const r = spawnSync('bash', [SCRIPT, '--config', layout.configPath, ...args], {
        encoding: 'utf8',
        env: { ...process.env, CONSENTD_BIN: consentdBin() },
        timeout: 60000,
    });
    if (r.error) throw r.error;
    return r;
}

test('gvl_update_archives_a_newer_list_reloads_consentd_and_refuses_older_or_equal', async () => {
    const store = gvlStore(['vendor-list-v7.json']);
    const c = await Consentd.start({ redis, config: { tcf: { gvl_dir: store } }, sites: { 'demo.json': tcfSite() } });
    servers.push(c);
    await c.waitForLog(/IAB Global Vendor List version 7 \(2023-06-29T16:07:26Z, 74 vendors, 0 translation\(s\)\)/);
    const layout = c.layout;

    const from = c.stderr.length;
    let r = update(layout, ['--from-file', path.join(FIXTURES, 'vendor-list-v17.json'), '--pid', String(c.proc.pid)]);
    assert.equal(r.status, 0, `${r.stdout}${r.stderr}`);
    assert.match(r.stdout, /archived version 17 .*previous newest: 7/);
    await c.waitForLog(/IAB Global Vendor List version 17 \(.*130 vendors.*\) from \S+; 2 version\(s\) archived/, { from });
    assert.ok(fs.existsSync(path.join(store, 'vendor-list-v7.json')), 'the older version stays archived');
    assert.ok(fs.existsSync(path.join(store, 'vendor-list-v17.json')));

    // Equal, then older: refused, nothing changed (exit 3).
    for (const f of ['vendor-list-v17.json', 'vendor-list-v7.json']) {
        r = update(layout, ['--from-file', path.join(FIXTURES, f)]);
        assert.equal(r.status, 3, `${f}: ${r.stdout}${r.stderr}`);
        assert.match(r.stdout, /is not newer than the store's newest, 17: nothing to do/);
    }
    assert.deepEqual(fs.readdirSync(store).sort(), ['vendor-list-v17.json', 'vendor-list-v7.json']);

    // A newer list that deletes a vendor the site works with: consentd would
    // refuse the site, so the script moves the list aside and consentd keeps 17.
    const v18 = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'vendor-list-v17.json'), 'utf8'));
    v18.vendorListVersion = 18;
    v18.vendors['2'].deletedDate = '2023-09-10T00:00:00Z';
    const v18Path = path.join(makeTempDir('v18'), 'list.json');
    fs.writeFileSync(v18Path, JSON.stringify(v18));
    r = update(layout, ['--from-file', v18Path, '--pid', String(c.proc.pid)]);
    assert.equal(r.status, 1, `${r.stdout}${r.stderr}`);
    assert.match(r.stderr, /tcf\.vendors\[\d\]: vendor 2 \(Captify Technologies Limited\) was deleted from the Global Vendor List/);
    assert.ok(fs.existsSync(path.join(store, 'refused', 'vendor-list-v18.json')), 'the refused list is kept aside');
    assert.ok(!fs.existsSync(path.join(store, 'vendor-list-v18.json')));
    assert.equal((await c.request('/v1/sites/demo/banner.js')).status, 200);

    // Not a v3 list at all.
    const v2Path = path.join(makeTempDir('v2'), 'list.json');
    fs.writeFileSync(v2Path, JSON.stringify({ vendorListVersion: 99, vendors: {} }));
    r = update(layout, ['--from-file', v2Path]);
    assert.equal(r.status, 1);
    assert.match(r.stderr, /not a v3 Global Vendor List/);

    // A broken list put there by hand: the reload fails naming the file and
    // the JSON path, and consentd keeps serving version 17.
    const broken = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'vendor-list-v17.json'), 'utf8'));
    broken.vendorListVersion = 30;
    broken.vendors['1'].flexiblePurposes = [5];
    fs.writeFileSync(path.join(store, 'vendor-list-v30.json'), JSON.stringify(broken));
    const from2 = c.stderr.length;
    c.signal('SIGHUP');
    await c.waitForLog(
        /reload failed, keeping the previous sites: \S*vendor-list-v30\.json: vendors\.1\.flexiblePurposes: purpose 5 must also be in purposes or legIntPurposes/,
        { from: from2 },
    );
    assert.equal((await c.request('/v1/sites/demo/banner.js')).status, 200);
    await c.stop();
});
