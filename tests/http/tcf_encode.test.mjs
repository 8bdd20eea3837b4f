// TC strings encoded by consentd (src/tcf.c, issue 24, item 4), decoded by
// the IAB's own library, @iabtechlabtcf/core (pinned in
// tests/package-lock.json): every field TCString.decode reads equals what the
// site offers and the visitor chose, for accept all, refuse all, a custom
// choice with objections to legitimate interests, a site with publisher
// restrictions, and the publisher TC segment. Then the IAB's encoder, given
// the decoded model and a GVL holding the site's vendors, writes the same
// string again.
//
// consentd's side runs through tests/tools/tcf_encode_tool.c (CMake target
// tcf_encode_tool, CONSENTD_TCF_ENCODE_TOOL): the consent POST's `tcf`
// member parsed, held to the site's rules and encoded, as the consent
// endpoint will do once the site file carries TCF rules (docs/tcf.md).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { GVL, TCString } from '@iabtechlabtcf/core';
import { SOURCE_DIR } from './lib/harness.mjs';

const TOOL =
    process.env.CONSENTD_TCF_ENCODE_TOOL ||
    ['build-test', 'build'].map((d) => path.join(SOURCE_DIR, d, 'tcf_encode_tool')).find((p) => fs.existsSync(p));
const NOW = Date.UTC(2026, 11, 5, 14, 30, 0) / 1000; // a visitor's afternoon
const DAY = new Date(Date.UTC(2026, 11, 5)); // what v2.2+ writes: the day, 00:00 UTC

/* A site of the GVL's kind: vendor 8 asks consent for 1-4 and LI for 2 and 7
 * (2 flexible); 21 LI only for 2 (flexible); 40 declares special purposes
 * only; 77 consent for 1 and a special purpose; 100-139, 40 vendors in a row,
 * consent for 1 and 3 (so that the disclosed vendors are written as ranges);
 * 755 consent 1, 2, 9, LI 10. */
const vendors = [
    { id: 8, purposes: [1, 2, 3, 4], li_purposes: [2, 7], flexible_purposes: [2] },
    { id: 21, li_purposes: [2], flexible_purposes: [2] },
    { id: 40, special_purposes: [1, 2] },
    { id: 77, purposes: [1], special_purposes: [1] },
    ...Array.from({ length: 40 }, (_, i) => ({ id: 100 + i, purposes: [1, 3] })),
    { id: 755, purposes: [1, 2, 9], li_purposes: [10] },
];
const baseSite = {
    cmp_id: 300,
    cmp_version: 7,
    consent_screen: 2,
    vendor_list_version: 126,
    policy_version: 5,
    publisher_cc: 'FR',
    purpose_one_treatment: false,
    use_non_standard_texts: false,
    vendors,
    purposes_consent: [1, 2, 3, 4, 9],
    purposes_li: [2, 7, 10],
    special_features: [1, 2],
};
const ALL_IDS = vendors.map((v) => v.id);

function encode(site, tcf, lang = 'fr') {
    const r = spawnSync(TOOL, [], { input: JSON.stringify({ site, tcf, lang, time: NOW }), encoding: 'utf8' });
    if (r.status !== 0) throw new Error(`tcf_encode_tool exit ${r.status}: ${r.stderr}`);
    return r.stdout.trim();
}

const ids = (vector) => {
    const out = [];
    vector.forEach((set, id) => set && out.push(id));
    return out;
};

/* The GVL (v3 format) the IAB encoder needs: the site's vendors as declared. */
function gvlOf(site, lang) {
    const named = (list) => Object.fromEntries(list.map((id) => [id, { id, name: `#${id}`, description: '' }]));
    const json = {
        gvlSpecificationVersion: 3,
        vendorListVersion: site.vendor_list_version,
        tcfPolicyVersion: site.policy_version,
        lastUpdated: '2026-12-04T16:00:00Z',
        purposes: named([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11]),
        specialPurposes: named([1, 2, 3]),
        features: named([1, 2, 3]),
        specialFeatures: named([1, 2]),
        stacks: {},
        dataCategories: {},
        vendors: Object.fromEntries(
            site.vendors.map((v) => [
                v.id,
                {
                    id: v.id,
                    name: `Vendor ${v.id}`,
                    purposes: v.purposes ?? [],
                    legIntPurposes: v.li_purposes ?? [],
                    flexiblePurposes: v.flexible_purposes ?? [],
                    specialPurposes: v.special_purposes ?? [],
                    features: [],
                    specialFeatures: [],
                    urls: [],
                    cookieMaxAgeSeconds: 0,
                    usesCookies: false,
                    usesNonCookieAccess: false,
                },
            ]),
        ),
    };
    return new GVL(json, { language: lang });
}

/* Every field of a decoded TC string (restricted vendors limited to `known`
 * when given). */
function fields(m, known) {
    return {
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
            .map((r) => ({
                purpose: r.purposeId,
                type: r.restrictionType,
                vendors: m.publisherRestrictions.getVendors(r).filter((id) => !known || known.has(id)),
            }))
            .sort((a, b) => a.purpose - b.purpose || a.type - b.type),
        publisherConsents: ids(m.publisherConsents),
        publisherLegitimateInterests: ids(m.publisherLegitimateInterests),
        numCustomPurposes: Number(m.numCustomPurposes),
        publisherCustomConsents: ids(m.publisherCustomConsents),
        publisherCustomLegitimateInterests: ids(m.publisherCustomLegitimateInterests),
    };
}

/* Decode tc with the IAB library and check every field against the site and
 * the visitor's choice; then re-encode the decoded model with the IAB
 * encoder. `iab` says what that gives:
 *   'same'     the same string, byte for byte;
 *   'shorter'  a vendor set that consentd writes as ranges because that is
 *              shorter, as the spec asks ("the encoding scheme that results
 *              in the smaller output size"), where the IAB encoder writes a
 *              bit field: it takes ranges only when the largest ID is above
 *              45 (VendorVectorEncoder.ts, 1.5.21); e.g. {40}: 12 + 17 bits
 *              of ranges against a 40-bit field. The same fields, and
 *              consentd's string no longer;
 *   'merged'   a publisher restriction the IAB encoder writes as one range
 *              over IDs its GVL does not hold (the spec allows it for
 *              restrictions): the same fields for every vendor of the GVL. */
function check(tc, site, want, { lang = 'fr', iab = 'same' } = {}) {
    const m = TCString.decode(tc);
    const pub = want.publisher ?? {};
    const expected = {
        version: 2,
        created: DAY.getTime(), // the day, 00:00 UTC (v2.2+)
        lastUpdated: DAY.getTime(), // = created
        cmpId: site.cmp_id,
        cmpVersion: site.cmp_version,
        consentScreen: site.consent_screen,
        consentLanguage: lang.toUpperCase(),
        vendorListVersion: site.vendor_list_version,
        policyVersion: site.policy_version,
        isServiceSpecific: true,
        useNonStandardTexts: site.use_non_standard_texts,
        purposeOneTreatment: site.purpose_one_treatment,
        publisherCountryCode: site.publisher_cc,
        specialFeatureOptins: want.special_features ?? [],
        purposeConsents: want.purposes_consent ?? [],
        purposeLegitimateInterests: want.purposes_li ?? [],
        vendorConsents: want.vendor_consents ?? [],
        vendorLegitimateInterests: want.vendor_li ?? [],
        vendorsDisclosed: site.vendors.map((v) => v.id), // every vendor of the site
        restrictions: site.restrictions ?? [],
        publisherConsents: pub.consents ?? [],
        publisherLegitimateInterests: pub.legitimate_interests ?? [],
        numCustomPurposes: site.publisher?.custom_purposes ?? 0,
        publisherCustomConsents: pub.custom_consents ?? [],
        publisherCustomLegitimateInterests: pub.custom_legitimate_interests ?? [],
    };
    assert.deepEqual(fields(m), expected);

    // The IAB encoder, on the model it decoded, with the segments consentd wrote.
    const segments = site.publisher ? ['core', 'vendorsDisclosed', 'publisherTC'] : ['core', 'vendorsDisclosed'];
    assert.equal(tc.split('.').length, segments.length);
    m.gvl = gvlOf(site, lang);
    const theirs = TCString.encode(m, { segments });
    if (iab === 'same') {
        assert.equal(theirs, tc, 'the IAB encoder writes the same string');
        return;
    }
    assert.notEqual(theirs, tc, `expected the '${iab}' difference`);
    const known = new Set(site.vendors.map((v) => v.id));
    assert.deepEqual(fields(TCString.decode(theirs), known), expected, "the IAB's string says the same");
    if (iab === 'shorter') assert.ok(tc.length <= theirs.length, `${tc} is no longer than ${theirs}`);
    if (iab === 'merged') {
        assert.equal(tc.split('.').slice(1).join('.'), theirs.split('.').slice(1).join('.'), 'only the core differs');
        const extra = fields(TCString.decode(theirs)).restrictions.flatMap((r) => r.vendors.filter((id) => !known.has(id)));
        assert.ok(extra.length > 0, 'the IAB range covers IDs outside its GVL');
    }
}

test('tcf_accept_all_is_decoded_field_by_field_by_the_iab_library', () => {
    const tc = encode(baseSite, {
        purposes: { consents: [1, 2, 3, 4, 9], legitimate_interests: [2, 7, 10] },
        special_features: [1, 2],
        vendors: { consents: ALL_IDS, legitimate_interests: ALL_IDS },
    });
    check(tc, baseSite, {
        special_features: [1, 2],
        purposes_consent: [1, 2, 3, 4, 9],
        purposes_li: [2, 7, 10],
        // 21 declares no consent purpose and 40 none at all: no consent bit
        vendor_consents: ALL_IDS.filter((id) => id !== 21 && id !== 40),
        // LI: the vendors declaring an LI purpose, and those with special purposes
        vendor_li: [8, 21, 40, 77, 755],
    });
    // 40 vendors in a row: the disclosed vendors as 8 ranges, not 755 bits
    assert.ok(tc.split('.')[1].length < 40, `disclosed-vendors segment ${tc.split('.')[1]} is short (ranges)`);
});

test('tcf_refuse_all_keeps_only_what_the_visitor_cannot_refuse', () => {
    const tc = encode(baseSite, {
        purposes: { consents: [], legitimate_interests: [] },
        special_features: [],
        vendors: { consents: [], legitimate_interests: [] },
    });
    // vendor 40 declares only special purposes: its LI bit is set (policy)
    check(tc, baseSite, { vendor_li: [40] }, { iab: 'shorter' });
    assert.equal(tc, encode(baseSite, {}), 'an empty tcf object is a refusal of everything');
});

test('tcf_custom_choice_with_objections_to_legitimate_interests', () => {
    const tc = encode(baseSite, {
        purposes: { consents: [1, 3], legitimate_interests: [2] }, // objects to LI on 7 and 10
        special_features: [2],
        vendors: { consents: [8, 101, 105, 139], legitimate_interests: [21] }, // objects to 8, 755
    });
    check(tc, baseSite, {
        special_features: [2],
        purposes_consent: [1, 3],
        purposes_li: [2],
        vendor_consents: [8, 101, 105, 139],
        vendor_li: [21, 40],
    });
});

test('tcf_site_with_publisher_restrictions', () => {
    const site = {
        ...baseSite,
        restrictions: [
            { purpose: 1, type: 0, vendors: [755] },
            { purpose: 2, type: 1, vendors: [8, 21] },
            { purpose: 3, type: 0, vendors: Array.from({ length: 10 }, (_, i) => 100 + i) },
        ],
    };
    const tc = encode(site, {
        purposes: { consents: [1, 2, 3], legitimate_interests: [7] },
        vendors: { consents: [8, 21, 100, 755], legitimate_interests: [8, 21, 755] },
    });
    // 21's flexible purpose 2 switched to consent by the site: its consent counts
    check(tc, site, {
        purposes_consent: [1, 2, 3],
        purposes_li: [7],
        vendor_consents: [8, 21, 100, 755],
        vendor_li: [8, 21, 40, 755],
    }, { iab: 'merged' });
    // restrictions over IDs with no GVL vendor between them: the IAB writes the same
    const tight = { ...baseSite, restrictions: [{ purpose: 2, type: 2, vendors: [8] }, { purpose: 3, type: 0, vendors: [100, 101, 102, 139] }] };
    const same = encode(tight, { purposes: { consents: [2, 3] }, vendors: { consents: [8, 100, 139], legitimate_interests: [8, 755] } });
    check(same, tight, { purposes_consent: [2, 3], vendor_consents: [8, 100, 139], vendor_li: [8, 40, 755] });
});

test('tcf_publisher_tc_segment_with_custom_purposes', () => {
    const site = {
        ...baseSite,
        publisher: {
            consents: [1, 3],
            legitimate_interests: [7, 8],
            custom_purposes: 3,
            custom_consents: [1, 2],
            custom_legitimate_interests: [3],
        },
    };
    const publisher = { consents: [1], legitimate_interests: [8], custom_consents: [2], custom_legitimate_interests: [3] };
    const tc = encode(site, { purposes: { consents: [1] }, vendors: { consents: [77], legitimate_interests: [755] }, publisher }, 'de');
    check(tc, site, { purposes_consent: [1], vendor_consents: [77], vendor_li: [40, 755], publisher }, { lang: 'de' });
    // the segment is written as the site declares it, even when all is refused
    const none = encode(site, { publisher: {} });
    check(none, site, { vendor_li: [40] }, { iab: 'shorter' });
    assert.equal(none.split('.')[2], 'YAAAAAAAAYAA', 'publisher TC: type 3, nothing given, NumCustomPurposes 3');
    assert.equal(tc.split('.').length, 3);
});

test('tcf_choice_beyond_the_site_is_refused_naming_the_field', () => {
    const r = spawnSync(TOOL, [], {
        input: JSON.stringify({ site: baseSite, tcf: { vendors: { consents: [8, 9] } }, lang: 'fr', time: NOW }),
        encoding: 'utf8',
    });
    assert.equal(r.status, 1);
    assert.equal(r.stderr, 'refused: tcf.vendors.consents: vendor 9 is not a vendor of this site\n');
    const li = spawnSync(TOOL, [], {
        input: JSON.stringify({ site: baseSite, tcf: { purposes: { legitimate_interests: [3] } }, lang: 'fr', time: NOW }),
        encoding: 'utf8',
    });
    assert.equal(
        li.stderr,
        'refused: tcf.purposes.legitimate_interests: purpose 3 cannot rest on legitimate interest (TCF v2.2+)\n',
    );
});
