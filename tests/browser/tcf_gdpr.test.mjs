// IAB TCF when GDPR does not apply (issue 24, item 5: "gdprApplies set from
// the site's configuration"): a TCF site with "gdpr_applies": false in its
// tcf block. What the CMP API v2 asks, in Chromium:
//   - the stub's ping, before the banner, answers gdprApplies false
//     (cmpStatus "stub", displayStatus "disabled": no TCF UI will show);
//   - after load, ping answers gdprApplies false, cmpLoaded true, displayStatus
//     "disabled"; getTCData and addEventListener answer a TCData holding only
//     gdprApplies false, the CMP's ids and versions and the API's own
//     eventStatus ("tcloaded"), cmpStatus and listenerId: no tcString, no
//     purpose or vendor signals (CMP API v2, "TCData": "If GDPR does not apply
//     to this user in this context then only gdprApplies, tcfPolicyVersion,
//     cmpId and cmpVersion shall exist in the object");
//   - no TCF dialog: the core's own banner asks for the site's purposes, its
//     consent POST carries no tcf member and consentd records no TC string;
//     a POST with a tcf member is refused (400 tcf_not_enabled).
// The same site with gdpr_applies true is tcf_api.test.mjs.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import { SOURCE_DIR, makeTempDir, test, waitFor } from '../http/lib/harness.mjs';
import { DEMO_KEY, bannerPage, newPage, servedConfig, startBannerStack, waitOpen, waitRecorded } from './lib/browser.mjs';

const FIXTURES = path.join(SOURCE_DIR, 'tests', 'fixtures', 'gvl');
const GVL = JSON.parse(fs.readFileSync(path.join(FIXTURES, 'vendor-list-v17.json'), 'utf8'));
const VENDORS = [1, 2, 6, 8];
const TCF = { cmp_id: 300, cmp_version: 2, publisher_cc: 'FR', vendors: VENDORS, gdpr_applies: false };

let stack, stubUrl;
before(async () => {
    const dir = makeTempDir('gvl');
    for (const f of fs.readdirSync(FIXTURES).filter((n) => n.endsWith('.json'))) fs.copyFileSync(path.join(FIXTURES, f), path.join(dir, f));
    stack = await startBannerStack({ config: { tcf: { gvl_dir: dir } }, siteOver: { tcf: TCF } });
    stubUrl = stack.bannerUrl.replace('banner.js', 'tcf-stub.js');
});
after(async () => {
    await stack?.stop();
});

const NOT_APPLIES = { tcfPolicyVersion: GVL.tcfPolicyVersion, cmpId: 300, cmpVersion: 2, gdprApplies: false };

/* The stub first, calls before the banner (held back 600 ms so that they
 * are queued), then the banner. */
async function page() {
    const head = `<script src="${stubUrl}"></script>
<script>
window.log = [];
__tcfapi('ping', 2, (r, ok) => log.push(['ping', r, ok, !!window.consentd]));
__tcfapi('getTCData', 2, (r, ok) => log.push(['get', r, ok, !!window.consentd]));
__tcfapi('addEventListener', 2, (r, ok) => log.push(['event', r, ok, !!window.consentd]));
</script>`;
    const url = stack.pages.set(`/gdpr-${Math.random().toString(36).slice(2)}.html`, bannerPage(stack, { head }));
    const p = await newPage(stack);
    await p.route(stack.bannerUrl, async (route) => {
        await new Promise((r) => setTimeout(r, 600));
        await route.continue();
    });
    await p.goto(url);
    return p;
}
const api = (p, command, param) => p.evaluate(([c, x]) => new Promise((done) => __tcfapi(c, 2, (r, ok) => done({ r, ok }), x)), [command, param]);

test('the_stub_and_the_banner_answer_gdpr_applies_false_with_no_tc_data', async () => {
    const stub = await stack.consentd.request('/v1/sites/demo/tcf-stub.js');
    assert.equal(stub.status, 200);
    assert.match(stub.text, /gdprApplies:false,/, 'the stub carries the site\'s gdprApplies');
    const served = servedConfig((await stack.consentd.request('/v1/sites/demo/banner.js')).text);
    assert.equal(served.tcf.ga, false, 'the feature\'s setting');

    const p = await page();
    // Before the banner: the stub's ping.
    const first = await p.evaluate(() => log.filter((l) => !l[3]));
    assert.deepEqual(first.map((l) => l[0]), ['ping'], 'only ping answered by the stub');
    assert.deepEqual(first[0][1], {
        gdprApplies: false, cmpLoaded: false, cmpStatus: 'stub', displayStatus: 'disabled',
        apiVersion: '2.2', cmpId: 300, cmpVersion: 2, gvlVersion: 17, tcfPolicyVersion: GVL.tcfPolicyVersion,
    });
    // After: the queued calls, answered by the banner.
    await waitFor(() => p.evaluate(() => log.length >= 3), { message: 'queued calls answered' });
    const get = await p.evaluate(() => log.find((l) => l[0] === 'get'));
    assert.equal(get[3], true, 'answered once the banner ran');
    assert.equal(get[2], true, 'success');
    assert.deepEqual(get[1], { ...NOT_APPLIES, eventStatus: 'tcloaded', cmpStatus: 'loaded', listenerId: undefined }, 'the TCData: no tcString, no signals');
    const event = await p.evaluate(() => log.find((l) => l[0] === 'event'));
    assert.equal(event[1].eventStatus, 'tcloaded');
    assert.equal(event[1].gdprApplies, false);
    assert.equal(typeof event[1].listenerId, 'number');
    assert.equal(event[1].tcString, undefined);
    assert.equal(event[1].vendor, undefined);
    const ping = (await api(p, 'ping')).r;
    assert.equal(ping.gdprApplies, false);
    assert.equal(ping.cmpLoaded, true);
    assert.equal(ping.cmpStatus, 'loaded');
    assert.equal(ping.displayStatus, 'disabled');
    assert.deepEqual((await api(p, 'getTCData', [1, 8])).r, { ...NOT_APPLIES, eventStatus: 'tcloaded', cmpStatus: 'loaded', listenerId: undefined });
    assert.deepEqual(await api(p, 'removeEventListener', event[1].listenerId), { r: true, ok: true });
    assert.deepEqual(p.problems, []);
    await p.context().close();
});

test('the_core_banner_asks_and_its_choice_carries_no_tcf_member_nor_tc_string', async () => {
    const p = await page();
    await waitOpen(p);
    const cfg = servedConfig((await stack.consentd.request('/v1/sites/demo/banner.js')).text);
    const dialog = await p.locator('consentd-ui dialog').innerText();
    // The TCF first layer names the vendors ("... et ses 4 partenaires ..."):
    // the core's banner does not.
    const partners = cfg.ui.fr['tcf.intro'].match(/\{n\} (\S+)/)[1];
    assert.ok(!dialog.includes(`4 ${partners}`), `no TCF first layer: ${dialog}`);
    const coreIntro = cfg.ui.fr.intro.split('{purposes}')[0].replace('{ctl}', '').trim();
    assert.ok(dialog.includes(coreIntro), `the core's banner (the site's purposes): ${dialog}`);
    const posts = [];
    p.on('request', (r) => r.method() === 'POST' && r.url().endsWith('/consents') && posts.push(JSON.parse(r.postData())));
    await p.locator('consentd-ui dialog').getByRole('button', { name: 'Tout accepter', exact: true }).click();
    const c = await waitRecorded(p);
    assert.equal(posts.length, 1);
    assert.equal(posts[0].tcf, undefined, 'no tcf member');
    const stored = await stack.consentd.request(`/v1/sites/demo/consents/${c.v}`, { headers: { authorization: `Bearer ${DEMO_KEY}` } });
    assert.equal(stored.status, 200);
    assert.equal(stored.json().tc_string, undefined, 'no TC string recorded');
    assert.equal((await api(p, 'getTCData')).r.gdprApplies, false, 'still gdprApplies false after the choice');
    // A tcf member sent anyway: refused, naming why.
    const res = await stack.consentd.request('/v1/sites/demo/consents', {
        method: 'POST',
        headers: { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' },
        body: JSON.stringify({ decisions: {}, policy_version: cfg.pv, lang: 'fr', source: 'api', tcf: {} }),
    });
    assert.equal(res.status, 400);
    assert.equal(res.json().error.code, 'tcf_not_enabled');
    assert.equal(res.json().error.message, 'tcf: GDPR does not apply on this site (tcf.gdpr_applies is false): no TCF choice is recorded');
    await p.context().close();
});
