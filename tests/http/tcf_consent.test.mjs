// IAB TCF in the consent POST (issue 24, items 4 and 6): on a TCF site the
// POST's `tcf` member is parsed, held to the site's rules (filled at load
// from its tcf block and the fixture GVL v17) and encoded by consentd; the
// TC string is in the 201 answer, in the signed proof (verified with jose,
// a JOSE library we did not write), in GET .../consents/{visitor}, in the
// access request and the audit export. Every TC string is decoded by the
// IAB's own library, @iabtechlabtcf/core: its fields equal what was chosen.
// Real consentd, real Redis, the real fixture list; nothing is mocked.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import { TCString } from '@iabtechlabtcf/core';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { SOURCE_DIR, makeTempDir, shippedSite, siteLike, startStack, test } from './lib/harness.mjs';
import { browser, everything, postConsent, server, verifyProof } from './lib/consent.mjs';
import { AFTER_FLUSH_MS } from './lib/counters.mjs';
import { delay } from './lib/harness.mjs';

const FIXTURES = path.join(SOURCE_DIR, 'tests', 'fixtures', 'gvl');

/* docs/openapi.json's schemas (as tests/http/openapi.test.mjs reads them):
 * the bodies sent and the answers of a TCF site must match them too. */
const OPENAPI = JSON.parse(fs.readFileSync(path.join(SOURCE_DIR, 'docs', 'openapi.json'), 'utf8'));
const ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false, strictRequired: false });
addFormats(ajv);
const localRefs = (s) => JSON.parse(JSON.stringify(s).replaceAll('"#/components/schemas/', '"#/$defs/'));
const schema = (name) => ajv.compile({ $ref: `#/$defs/${name}`, $defs: localRefs(OPENAPI.components.schemas) });
const documented = { ConsentBody: schema('ConsentBody'), ConsentRecord: schema('ConsentRecord'), Stats: schema('Stats') };
function assertDocumented(name, value) {
    const validate = documented[name];
    assert.ok(validate(value), `${name} per docs/openapi.json: ${ajv.errorsText(validate.errors)}\n${JSON.stringify(value)}`);
}

/* Vendors of the fixture list v17 (tests/fixtures/gvl/vendor-list-v17.json):
 *   1: consent 1-4,7-10, flexible 7-10, special purposes 1,2
 *   2: consent 1-4,7,9,10, special purposes 1,2, special feature 2
 *   6: consent 1-4,7,9, special purposes 1,2
 *   8: consent 1,3,4, LI 2,7,8,9, flexible 2,9, special purposes 1,2
 * So the site offers consent for 1-4,7-10 (declared or flexible), legitimate
 * interest for 2,7,8,9,10 (declared or flexible, none of 1,3-6), special
 * feature 2; the list's tcfPolicyVersion is 4. */
const TCF = {
    cmp_id: 300,
    cmp_version: 2,
    publisher_cc: 'FR',
    vendors: [8, 1, 2, 6],
    publisher_restrictions: [
        { purpose: 7, type: 2, vendors: [1] },
        { purpose: 2, type: 1, vendors: [8] },
        { purpose: 10, type: 0, vendors: [2] },
    ],
    publisher_purposes: { consent: [1], legitimate_interest: [7] },
};
const RESTRICTIONS = [
    { purpose: 2, type: 1, vendors: [8] },
    { purpose: 7, type: 2, vendors: [1] },
    { purpose: 10, type: 0, vendors: [2] },
];
const site = shippedSite('demo');
const CONSENT = site.purposes.filter((p) => p.legal_basis === 'consent').map((p) => p.id);
const all = (value) => Object.fromEntries(CONSENT.map((id) => [id, value]));

let stack;
before(async () => {
    const gvl = makeTempDir('gvl');
    for (const f of fs.readdirSync(FIXTURES).filter((n) => n.endsWith('.json')))
        fs.copyFileSync(path.join(FIXTURES, f), path.join(gvl, f));
    stack = await startStack({
        config: { tcf: { gvl_dir: gvl } },
        sites: {
            'demo.json': { ...site, tcf: TCF },
            'plain.json': siteLike('plain'),
            'news.json': { ...siteLike('news'), tcf: TCF }, // the stats test's alone
        },
    });
});
after(async () => {
    await stack?.stop();
});

let serial = 0;
const newVisitor = (tag) => `tcf-${tag}-${process.pid}-${serial++}`.slice(0, 64);

function body(tcf, extra = {}) {
    const b = { decisions: all(false), policy_version: site.policy_version, lang: 'fr', control: 'custom', ...extra };
    if (tcf !== undefined) b.tcf = tcf;
    return b;
}

const ids = (v) => {
    const out = [];
    v.forEach((on, id) => {
        if (on) out.push(id);
    });
    return out.sort((a, b) => a - b);
};

/* The fields of a TC string, as the IAB's library reads them. */
function decoded(tc) {
    const m = TCString.decode(tc);
    return {
        segments: tc.split('.').length,
        version: m.version,
        created: m.created.getTime(),
        lastUpdated: m.lastUpdated.getTime(),
        cmpId: m.cmpId,
        cmpVersion: m.cmpVersion,
        consentScreen: m.consentScreen,
        consentLanguage: m.consentLanguage,
        vendorListVersion: m.vendorListVersion,
        policyVersion: m.policyVersion,
        isServiceSpecific: m.isServiceSpecific,
        useNonStandardTexts: m.useNonStandardTexts,
        purposeOneTreatment: m.purposeOneTreatment,
        publisherCountryCode: m.publisherCountryCode,
        specialFeatureOptins: ids(m.specialFeatureOptins),
        purposeConsents: ids(m.purposeConsents),
        purposeLegitimateInterests: ids(m.purposeLegitimateInterests),
        vendorConsents: ids(m.vendorConsents),
        vendorLegitimateInterests: ids(m.vendorLegitimateInterests),
        vendorsDisclosed: ids(m.vendorsDisclosed),
        restrictions: m.publisherRestrictions
            .getRestrictions()
            .map((r) => ({ purpose: r.purposeId, type: r.restrictionType, vendors: m.publisherRestrictions.getVendors(r) }))
            .sort((a, b) => a.purpose - b.purpose || a.type - b.type),
        publisherConsents: ids(m.publisherConsents),
        publisherLegitimateInterests: ids(m.publisherLegitimateInterests),
    };
}

/* What every string of this site says, whatever the choice. */
function expected(issuedAt, chosen) {
    const day = new Date(issuedAt);
    day.setUTCHours(0, 0, 0, 0);
    return {
        segments: 3, // core, disclosed vendors, publisher TC (the site has publisher purposes)
        version: 2,
        created: day.getTime(),
        lastUpdated: day.getTime(),
        cmpId: 300,
        cmpVersion: 2,
        consentScreen: 1,
        consentLanguage: 'FR',
        vendorListVersion: 17,
        policyVersion: 4,
        isServiceSpecific: true,
        useNonStandardTexts: false,
        purposeOneTreatment: false,
        publisherCountryCode: 'FR',
        specialFeatureOptins: [],
        purposeConsents: [],
        purposeLegitimateInterests: [],
        vendorConsents: [],
        vendorLegitimateInterests: [],
        vendorsDisclosed: [1, 2, 6, 8],
        restrictions: RESTRICTIONS,
        publisherConsents: [],
        publisherLegitimateInterests: [],
        ...chosen,
    };
}

/* POST, then the string from the answer, the proof, GET, the access request
 * and the export: all the same, decoded to `chosen`. */
async function recorded(tag, tcf, chosen, extra = {}) {
    const visitor = newVisitor(tag);
    const sent = body(tcf, { visitor, ...extra });
    assertDocumented('ConsentBody', sent);
    const res = await postConsent(stack.consentd, sent);
    assert.equal(res.status, 201, res.text);
    const answer = res.json();
    assertDocumented('ConsentRecord', answer);
    const tc = answer.tc_string;
    assert.equal(typeof tc, 'string', `${tag}: the answer carries tc_string`);
    assert.deepEqual(decoded(tc), expected(Date.parse(answer.issued_at), chosen), `${tag}: the IAB library reads what was chosen`);

    const { payload } = await verifyProof(stack.consentd, answer.proof);
    assert.deepEqual(payload.tcf, { tc_string: tc, vendor_list_version: 17 }, `${tag}: the signed proof carries the string`);

    const got = await stack.consentd.request(`/v1/sites/demo/consents/${visitor}`, { headers: browser() });
    assert.equal(got.status, 200, got.text);
    assert.equal(got.json().tc_string, tc, `${tag}: GET .../consents/{visitor}`);
    assert.equal(got.json().proof, answer.proof);

    const access = await stack.consentd.request(`/v1/sites/demo/visitors/${visitor}`, { headers: server() });
    assert.equal(access.status, 200, access.text);
    assert.equal(access.json().current.tc_string, tc, `${tag}: access request, current`);
    assert.equal(access.json().history[0].tc_string, tc, `${tag}: access request, history`);

    const exp = await stack.consentd.request('/v1/sites/demo/consents?limit=1000', { headers: server() });
    assert.equal(exp.status, 200, exp.text);
    const lines = exp.text
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l))
        .filter((e) => e.visitor === visitor);
    assert.equal(lines.length, 1, `${tag}: one export line`);
    assert.equal(lines[0].tc_string, tc, `${tag}: the audit export`);
    return { visitor, answer, tc };
}

test('tcf_accept_all_is_in_the_answer_proof_get_access_and_export_and_decoded_by_the_iab_library', async () => {
    await recorded(
        'accept',
        {
            purposes: { consents: [1, 2, 3, 4, 7, 8, 9, 10], legitimate_interests: [2, 7, 8, 9, 10] },
            special_features: [2],
            vendors: { consents: [1, 2, 6, 8], legitimate_interests: [1, 2, 6, 8] },
            publisher: { consents: [1], legitimate_interests: [7] },
        },
        {
            specialFeatureOptins: [2],
            purposeConsents: [1, 2, 3, 4, 7, 8, 9, 10],
            purposeLegitimateInterests: [2, 7, 8, 9, 10],
            vendorConsents: [1, 2, 6, 8],
            // every vendor keeps its LI bit: 8 declares LI purposes, 1 has
            // purpose 7 switched to LI by the restriction, 2 and 6 declare
            // special purposes (docs/tcf.md, "Clamped")
            vendorLegitimateInterests: [1, 2, 6, 8],
            publisherConsents: [1],
            publisherLegitimateInterests: [7],
        },
        { decisions: all(true), control: 'accept_all' },
    );
});

test('tcf_refuse_all_and_a_post_without_tcf_member_give_a_string_refusing_everything', async () => {
    const a = await recorded('refuse', {}, {}, { control: 'reject_all' });
    const b = await recorded('silent', undefined, {}, { control: 'reject_all' });
    assert.equal(a.tc, b.tc, 'no tcf member is the empty choice');
});

test('tcf_custom_choice_with_li_objections_is_decoded_as_chosen', async () => {
    await recorded(
        'custom',
        {
            purposes: { consents: [1, 3], legitimate_interests: [2, 7] }, // objects to LI 8, 9, 10
            vendors: { consents: [8, 6], legitimate_interests: [8] }, // objects to 1, 2, 6
            publisher: { consents: [], legitimate_interests: [] }, // objects to the publisher's LI 7
        },
        {
            purposeConsents: [1, 3],
            purposeLegitimateInterests: [2, 7],
            vendorConsents: [6, 8],
            vendorLegitimateInterests: [8],
        },
    );
});

test('tcf_withdrawal_records_a_string_refusing_everything', async () => {
    const { visitor } = await recorded('withdraw', { vendors: { consents: [1] }, purposes: { consents: [1] } }, { vendorConsents: [1], purposeConsents: [1] });
    const res = await stack.consentd.request(`/v1/sites/demo/consents/${visitor}`, { method: 'DELETE', headers: server() });
    assert.equal(res.status, 200, res.text);
    const answer = res.json();
    assert.deepEqual(decoded(answer.tc_string), expected(Date.parse(answer.issued_at), {}));
    const { payload } = await verifyProof(stack.consentd, answer.proof);
    assert.equal(payload.tcf.tc_string, answer.tc_string);
});

test('tcf_erasure_leaves_no_tc_string_of_the_visitor_in_redis_the_export_or_the_api', async () => {
    // Two writes, so both the current record and the history carry a string.
    const first = await recorded('erase1', { purposes: { consents: [1] }, vendors: { consents: [8] } }, { purposeConsents: [1], vendorConsents: [8] });
    const { visitor } = first;
    const res = await postConsent(stack.consentd, body({ purposes: { consents: [1, 3] } }, { visitor }));
    assert.equal(res.status, 201, res.text);
    const strings = [first.tc, res.json().tc_string];
    const kept = await recorded('erase-kept', { purposes: { consents: [1] } }, { purposeConsents: [1] });
    for (const tc of strings) assert.ok((await everything(stack.redis)).includes(tc), 'the string was stored in clear');

    const erase = await stack.consentd.request(`/v1/sites/demo/visitors/${visitor}`, { method: 'DELETE', headers: server() });
    assert.equal(erase.status, 200, erase.text);
    assert.equal(erase.json().erased, true);
    const all = await everything(stack.redis);
    for (const tc of strings) assert.ok(!all.includes(tc), `a TC string of the erased visitor is still in Redis: ${tc}`);
    assert.ok(all.includes(kept.tc), 'the other visitor\'s string went too');
    const gone = await stack.consentd.request(`/v1/sites/demo/consents/${visitor}`, { headers: browser() });
    assert.equal(gone.status, 404, gone.text);
    const exp = await stack.consentd.request('/v1/sites/demo/consents?limit=1000', { headers: server() });
    for (const tc of strings) assert.ok(!exp.text.includes(tc), 'the export still shows the string');
    assert.ok(exp.text.includes(kept.tc), 'the export lost the other visitor');
});

test('tcf_member_errors_answer_400_naming_the_field', async () => {
    const cases = [
        [{ purposes: { consents: [25] } }, 'invalid_tcf', /^tcf\.purposes\.consents\[0\]: /],
        [{ purposes: { consents: [1, 1] } }, 'invalid_tcf', /^tcf\.purposes\.consents\[1\]: /],
        [{ vendors: { consents: ['8'] } }, 'invalid_tcf', /^tcf\.vendors\.consents\[0\]: /],
        [{ vendors: 8 }, 'invalid_tcf', /^tcf\.vendors: /],
        [{ nonsense: [] }, 'invalid_tcf', /^tcf: unknown member "nonsense"$/],
        [{ vendors: { consents: [10] } }, 'tcf_refused', /^tcf\.vendors\.consents: vendor 10 is not a vendor of this site$/], // not one of the site's vendors
        [{ purposes: { consents: [5] } }, 'tcf_refused', /^tcf\.purposes\.consents: purpose 5 is not asked for consent here$/], // no vendor asks consent for 5
        [{ purposes: { legitimate_interests: [3] } }, 'tcf_refused', /^tcf\.purposes\.legitimate_interests: purpose 3 cannot rest on legitimate interest/], // LI forbidden for 3
        [{ special_features: [1] }, 'tcf_refused', /^tcf\.special_features: special feature 1 is not offered here$/], // not offered
        [{ publisher: { consents: [2] } }, 'tcf_refused', /^tcf\.publisher\.consents: purpose 2 is not asked for consent by the publisher$/], // not a publisher purpose
    ];
    for (const [tcf, code, message] of cases) {
        const res = await postConsent(stack.consentd, body(tcf, { visitor: newVisitor('bad') }));
        assert.equal(res.status, 400, `${JSON.stringify(tcf)}: ${res.text}`);
        const err = res.json().error;
        assert.equal(err.code, code, `${JSON.stringify(tcf)}: ${res.text}`);
        assert.match(err.message, message, `${JSON.stringify(tcf)}: names the field`);
    }
    const wrongType = await postConsent(stack.consentd, body([1]));
    assert.equal(wrongType.status, 400);
    assert.equal(wrongType.json().error.code, 'invalid_field');
    assert.match(wrongType.json().error.message, /tcf/);
});

test('a_tcf_member_on_a_site_without_tcf_is_400_and_its_records_have_no_tc_string', async () => {
    const plain = siteLike('plain');
    const b = { decisions: all(false), policy_version: plain.policy_version, lang: 'fr', control: 'reject_all' };
    const refused = await postConsent(stack.consentd, { ...b, tcf: {} }, browser(), 'plain');
    assert.equal(refused.status, 400, refused.text);
    assert.equal(refused.json().error.code, 'tcf_not_enabled');
    assert.match(refused.json().error.message, /^tcf: /);
    const ok = await postConsent(stack.consentd, b, browser(), 'plain');
    assert.equal(ok.status, 201, ok.text);
    assert.equal(ok.json().tc_string, undefined);
    const { payload } = await verifyProof(stack.consentd, ok.json().proof, { site: 'plain' });
    assert.equal(payload.tcf, undefined, 'no tcf claim');
});

test('tcf_choices_are_counted_per_purpose_and_per_vendor_and_the_stats_name_the_top_vendors_by_refusal', async () => {
    const post = async (tcf, extra = {}) => {
        const res = await postConsent(stack.consentd, body(tcf, { visitor: newVisitor('stats'), ...extra }), browser(), 'news');
        assert.equal(res.status, 201, res.text);
    };
    const A = {
        purposes: { consents: [1, 2, 3, 4, 7, 8, 9, 10], legitimate_interests: [2, 7, 8, 9, 10] },
        vendors: { consents: [1, 2, 6, 8], legitimate_interests: [1, 2, 6, 8] },
    };
    await post(A, { decisions: all(true), control: 'accept_all' });
    await post({ purposes: { consents: [1], legitimate_interests: [2, 8, 9, 10] }, vendors: { consents: [8], legitimate_interests: [8] } });
    await post({ purposes: { consents: [1], legitimate_interests: [2, 8, 9, 10] }, vendors: { consents: [8, 6] } });
    // A withdrawal is counted in withdrawn, not as TCF refusals.
    const w = newVisitor('stats-w');
    await post(A, { visitor: w, decisions: all(true), control: 'accept_all' });
    const del = await stack.consentd.request(`/v1/sites/news/consents/${w}`, { method: 'DELETE', headers: server() });
    assert.equal(del.status, 200, del.text);
    await delay(AFTER_FLUSH_MS);

    const day = new Date().toISOString().slice(0, 10);
    const res = await stack.consentd.request(`/v1/sites/news/stats?from=${day}&to=${day}`, { headers: server() });
    assert.equal(res.status, 200, res.text);
    assertDocumented('Stats', res.json());
    const { tcf, total } = res.json();
    assert.equal(total.decisions, 4);
    assert.equal(total.withdrawn, 1);
    const counts = (key, id, g, r, o) => ({ [key]: id, granted: g, refused: r, objected: o, refusal_rate: g + r ? r / (g + r) : null });
    // Purposes offered (consent 1-4, 7-10; LI 2, 7-10), each: given, refused, LI objected.
    assert.deepEqual(tcf.purposes, [
        counts('purpose', 1, 4, 0, 0),
        counts('purpose', 2, 2, 2, 0),
        counts('purpose', 3, 2, 2, 0),
        counts('purpose', 4, 2, 2, 0),
        counts('purpose', 7, 2, 2, 2), // LI 7 objected to by the two custom choices
        counts('purpose', 8, 2, 2, 0),
        counts('purpose', 9, 2, 2, 0),
        counts('purpose', 10, 2, 2, 0),
    ]);
    // Vendors: 1 and 2 refused twice, 6 once, 8 never (not listed).
    assert.deepEqual(tcf.top_vendors_by_refusal, [
        counts('vendor', 1, 2, 2, 2),
        counts('vendor', 2, 2, 2, 2),
        counts('vendor', 6, 3, 1, 2),
    ]);
    assert.equal(tcf.vendors_counted, 4);

    // Nothing TCF on a site without tcf, nor under a variant filter or in CSV.
    const plain = await stack.consentd.request(`/v1/sites/plain/stats?from=${day}&to=${day}`, { headers: server() });
    assert.equal(plain.status, 200, plain.text);
    assert.equal(plain.json().tcf, undefined);
    const csv = await stack.consentd.request(`/v1/sites/news/stats?from=${day}&to=${day}&format=csv`, { headers: server() });
    assert.equal(csv.status, 200, csv.text);
    assert.ok(!csv.text.includes('tcf'), 'the CSV is unchanged');

    // The counter keys hold the documented fields (docs/data.md).
    const keys = (await stack.redis.command('KEYS', 'cd:{news:stats}:*')).sort();
    const dayKey = keys.find((k) => /:d:/.test(k)) ?? keys[0];
    const fields = await stack.redis.command('HGETALL', dayKey);
    const map = {};
    for (let i = 0; i < fields.length; i += 2) map[fields[i]] = Number(fields[i + 1]);
    assert.equal(map['all|tcf.v1.r'], 2, `${dayKey}: ${JSON.stringify(map)}`);
    assert.equal(map['all|tcf.v8.g'], 4);
    assert.equal(map['all|tcf.p7.o'], 2);
    assert.equal(map['all|tcf.v8.r'], undefined, 'zero counts are not written');
});
