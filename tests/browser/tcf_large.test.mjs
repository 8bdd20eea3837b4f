// IAB TCF in Chromium on a site with 560 vendors (issue 24, defect 3 found
// at merge): the banner's own "Accept all" body is over the 4 KB of a site
// without TCF, and consentd records it (the limit grows with the site's
// vendors, src/api/consent.c); the stored TC string, decoded by the IAB's
// @iabtechlabtcf/core, grants every vendor consent. The GVL is derived in
// the test from the fixture (tests/fixtures/gvl/, version 17, 130 vendors:
// each cloned under id + 1000 k); nothing is downloaded. The HTTP side
// (the limit to the byte, refusals) is tests/http/tcf_large.test.mjs.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import { TCString } from '@iabtechlabtcf/core';
import { SOURCE_DIR, makeTempDir, test } from '../http/lib/harness.mjs';
import { DEMO_KEY, bannerPage, newPage, startBannerStack, waitOpen, waitRecorded } from './lib/browser.mjs';

const FIXTURES = path.join(SOURCE_DIR, 'tests', 'fixtures', 'gvl');
const GVL = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'vendor-list-v17.json'), 'utf8'));
for (const v of Object.values(GVL.vendors).filter((x) => !x.deletedDate && x.id < 1000))
    for (let k = 1; k <= 4; k++) GVL.vendors[v.id + 1000 * k] = { ...structuredClone(v), id: v.id + 1000 * k, name: `${v.name} (${k})` };
const VENDORS = Object.values(GVL.vendors)
    .filter((v) => !v.deletedDate)
    .map((v) => v.id)
    .sort((a, b) => a - b)
    .slice(0, 560);

let stack;
before(async () => {
    const dir = makeTempDir('gvl');
    fs.writeFileSync(path.join(dir, 'vendor-list-v17.json'), JSON.stringify(GVL));
    fs.copyFileSync(path.join(FIXTURES, 'purposes-fr-v17.json'), path.join(dir, 'purposes-fr-v17.json'));
    stack = await startBannerStack({
        config: { tcf: { gvl_dir: dir } },
        siteOver: { tcf: { cmp_id: 300, cmp_version: 2, publisher_cc: 'FR', vendors: VENDORS } },
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

test('accept_all_from_the_banner_of_a_site_with_560_vendors_is_recorded', async () => {
    const url = stack.pages.set('/large.html', bannerPage(stack));
    const page = await newPage(stack);
    const sent = [];
    page.on('request', (r) => r.method() === 'POST' && r.url().endsWith('/consents') && sent.push(r));
    await page.goto(url);
    await waitOpen(page);
    await page.locator('consentd-ui dialog').getByRole('button', { name: 'Tout accepter', exact: true }).click();
    const c = await waitRecorded(page);
    assert.equal(sent.length, 1);
    const body = sent[0].postData();
    assert.ok(body.length > 4096, `the banner's body (${body.length} B) is over 4 KB`);
    assert.equal((await sent[0].response()).status(), 201);
    const stored = await stack.consentd.request(`/v1/sites/demo/consents/${c.v}`, { headers: { authorization: `Bearer ${DEMO_KEY}` } });
    const m = TCString.decode(stored.json().tc_string);
    const consentVendors = VENDORS.filter((id) => GVL.vendors[id].purposes.length > 0);
    assert.ok(consentVendors.length > 400);
    assert.deepEqual(ids(m.vendorConsents), consentVendors, 'every vendor consent granted');
    assert.deepEqual(ids(m.vendorsDisclosed), VENDORS, 'every vendor disclosed');
    assert.deepEqual(page.problems, []);
    await page.context().close();
});
