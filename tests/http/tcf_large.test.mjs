// IAB TCF on a site with many vendors (issue 24, defect 3 found at merge):
// the consent POST's body limit grows with the site's TCF vendors (computed
// at site load: 4096 B + the longest `tcf` member its choices can be,
// src/tcf.h tcf_choice_json_max), so "Accept all" on a site with 560
// vendors is recorded (it was a 413 at the flat 4 KB), and a body over the
// site's own limit, or malformed, is still refused with a clear JSON error.
// The GVL is derived here from the fixture (tests/fixtures/gvl/, version 17,
// 130 vendors): each vendor cloned under new IDs (id + 1000 k), with its
// declarations; nothing is downloaded. A real consentd and Redis; the TC
// strings are decoded by the IAB's @iabtechlabtcf/core.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import { TCString } from '@iabtechlabtcf/core';
import { SOURCE_DIR, makeTempDir, shippedSite, siteLike, startStack, test } from './lib/harness.mjs';
import { postConsent } from './lib/consent.mjs';

const FIXTURES = path.join(SOURCE_DIR, 'tests', 'fixtures', 'gvl');
const BASE_LIMIT = 4096; // CONSENT_MAX_BODY, a site without TCF
const FIXED = 1024; // TCF_CHOICE_JSON_FIXED

/* The fixture list with every live vendor also under id + 1000, + 2000,
 * + 3000 and + 4000: 5 x the fixture's vendors. */
function bigGvl() {
    const gvl = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'vendor-list-v17.json'), 'utf8'));
    const live = Object.values(gvl.vendors).filter((v) => !v.deletedDate);
    for (let k = 1; k <= 4; k++)
        for (const v of live) {
            const id = v.id + 1000 * k;
            gvl.vendors[id] = { ...structuredClone(v), id, name: `${v.name} (${k})` };
        }
    return gvl;
}
const GVL = bigGvl();
const VENDORS = Object.values(GVL.vendors)
    .filter((v) => !v.deletedDate)
    .map((v) => v.id)
    .sort((a, b) => a - b)
    .slice(0, 560);
const TCF = { cmp_id: 300, cmp_version: 2, publisher_cc: 'FR', vendors: VENDORS };
const site = shippedSite('demo');
const CONSENT = site.purposes.filter((p) => p.legal_basis === 'consent').map((p) => p.id);
const uniq = (a) => [...new Set(a)].sort((x, y) => x - y);
const declared = (key) => uniq(VENDORS.flatMap((id) => GVL.vendors[id][key]));
/* The site's limit as consentd computes it at load. */
const LIMIT = BASE_LIMIT + FIXED + VENDORS.reduce((n, id) => n + 2 * (String(id).length + 1), 0);

let stack;
before(async () => {
    const dir = makeTempDir('gvl');
    fs.writeFileSync(path.join(dir, 'vendor-list-v17.json'), JSON.stringify(GVL));
    fs.copyFileSync(path.join(FIXTURES, 'purposes-fr-v17.json'), path.join(dir, 'purposes-fr-v17.json'));
    stack = await startStack({
        config: { tcf: { gvl_dir: dir } },
        sites: { 'demo.json': { ...site, tcf: TCF }, 'plain.json': siteLike('plain') },
    });
});
after(async () => {
    await stack?.stop();
});

const ids = (v) => {
    const out = [];
    v.forEach((on, id) => on && out.push(id));
    return out.sort((a, b) => a - b);
};

/* "Accept all" as the banner sends it (features/tcf.js `all(1)`): every
 * purpose, special feature and vendor the site's vendors declare. */
function acceptAll() {
    const v = VENDORS.map((id) => GVL.vendors[id]);
    return {
        decisions: Object.fromEntries(CONSENT.map((id) => [id, true])),
        policy_version: site.policy_version,
        lang: 'fr',
        control: 'accept_all',
        tcf: {
            purposes: {
                consents: uniq([...declared('purposes'), ...declared('flexiblePurposes')]),
                legitimate_interests: uniq([...declared('legIntPurposes'), ...declared('flexiblePurposes')]).filter((p) => ![1, 3, 4, 5, 6].includes(p)),
            },
            special_features: declared('specialFeatures'),
            vendors: {
                consents: v.filter((x) => x.purposes.length).map((x) => x.id),
                legitimate_interests: v.filter((x) => x.legIntPurposes.length || x.specialPurposes.length).map((x) => x.id),
            },
        },
    };
}

test('accept_all_on_a_site_with_560_vendors_is_recorded_and_its_tc_string_grants_them', async () => {
    const body = acceptAll();
    const text = JSON.stringify(body);
    assert.ok(VENDORS.length >= 500, `${VENDORS.length} vendors`);
    assert.ok(text.length > BASE_LIMIT, `the body (${text.length} B) is over the 4 KB of a site without TCF`);
    assert.ok(text.length <= LIMIT, `the body (${text.length} B) fits the site's limit (${LIMIT} B)`);
    const res = await postConsent(stack.consentd, text);
    assert.equal(res.status, 201, res.text);
    const m = TCString.decode(res.json().tc_string);
    assert.deepEqual(ids(m.vendorConsents), body.tcf.vendors.consents, 'every vendor consent');
    assert.deepEqual(ids(m.vendorsDisclosed), VENDORS, 'every vendor disclosed');
    assert.deepEqual(ids(m.purposeConsents), body.tcf.purposes.consents);
    assert.deepEqual(ids(m.specialFeatureOptins), body.tcf.special_features);
    assert.ok(ids(m.vendorConsents).length > 400, 'hundreds of consents');
});

test('the_body_limit_is_the_sites_own_computed_from_its_vendors', async () => {
    // Padded with spaces (valid JSON) to exactly the limit: accepted.
    const text = JSON.stringify(acceptAll());
    const exact = text.slice(0, -1) + ' '.repeat(LIMIT - text.length) + '}';
    assert.equal(exact.length, LIMIT);
    const ok = await postConsent(stack.consentd, exact);
    assert.equal(ok.status, 201, ok.text);
    // One byte more: 413, in the JSON error shape, naming the site's limit.
    const over = await postConsent(stack.consentd, text.slice(0, -1) + ' '.repeat(LIMIT - text.length + 1) + '}');
    assert.equal(over.status, 413);
    assert.equal(over.json().error.code, 'payload_too_large');
    assert.equal(over.json().error.message, `the body is too large: at most ${LIMIT} bytes for this site`);
});

test('a_site_without_tcf_keeps_its_4_kb_limit', async () => {
    const plain = siteLike('plain');
    const body = { decisions: {}, policy_version: plain.policy_version, lang: 'fr' };
    const text = JSON.stringify(body);
    const at = text.slice(0, -1) + ' '.repeat(BASE_LIMIT - text.length) + '}';
    assert.notEqual((await postConsent(stack.consentd, at, undefined, 'plain')).status, 413, 'exactly 4096 B is not too large');
    const over = await postConsent(stack.consentd, text.slice(0, -1) + ' '.repeat(BASE_LIMIT - text.length + 1) + '}', undefined, 'plain');
    assert.equal(over.status, 413);
    assert.equal(over.json().error.message, `the body is too large: at most ${BASE_LIMIT} bytes for this site`);
    // The TCF site's body, to the site without TCF: over its limit.
    const tcfBody = await postConsent(stack.consentd, JSON.stringify({ ...acceptAll(), policy_version: plain.policy_version }), undefined, 'plain');
    assert.equal(tcfBody.status, 413);
});

test('malformed_or_oversized_large_bodies_are_refused_with_a_json_error', async () => {
    // Malformed, within the limit: 400.
    const text = JSON.stringify(acceptAll());
    const bad = await postConsent(stack.consentd, text.slice(0, -2));
    assert.equal(bad.status, 400);
    assert.equal(bad.json().error.code, 'malformed_json');
    // Far over any site's limit (the route's bound, the largest a site can
    // have: 2048 vendors): 413 before the site's own check.
    const huge = await postConsent(stack.consentd, text.slice(0, -1) + ' '.repeat(40000) + '}');
    assert.equal(huge.status, 413);
    assert.equal(huge.json().error.code, 'payload_too_large');
    // A vendor list with an ID twice, in a large body: 400 naming the field.
    const twice = acceptAll();
    twice.tcf.vendors.consents.push(twice.tcf.vendors.consents[0]);
    const dup = await postConsent(stack.consentd, twice);
    assert.equal(dup.status, 400);
    assert.equal(dup.json().error.code, 'invalid_tcf');
    assert.match(dup.json().error.message, /^tcf\.vendors\.consents/);
});
