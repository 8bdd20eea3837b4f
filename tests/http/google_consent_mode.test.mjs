// The site-level Google Consent Mode options (issue 20, item 5):
// "google_consent_mode" in the site file (wait_for_update,
// ads_data_redaction, url_passthrough, default per region), validated with
// the file, the field and the reason; GET /v1/sites/{site}/consentd-defaults.js,
// the tiny synchronous script a site puts before any Google tag, built per
// site with the banner and served like it (encodings, ETag, 304); and the
// banner's own default, inlined as the same list of gtag() calls.
import assert from 'node:assert/strict';
import vm from 'node:vm';
import zlib from 'node:zlib';
import { after, before } from 'node:test';
import { makeConsentdDir, runConsentd, siteLike, startStack, test } from './lib/harness.mjs';

const TYPES = ['ad_storage', 'analytics_storage', 'ad_user_data', 'ad_personalization',
    'functionality_storage', 'personalization_storage', 'security_storage'];
const GCM = {
    wait_for_update: 800,
    ads_data_redaction: true,
    url_passthrough: true,
    regions: [{ region: ['US-CA', 'US'], default: { ad_storage: 'granted', analytics_storage: 'granted', security_storage: 'denied' } }],
};
const all = (state) => Object.fromEntries(TYPES.map((t) => [t, state]));

function refusal(gcm) {
    const site = siteLike('demo');
    site.google_consent_mode = gcm;
    const layout = makeConsentdDir({ sites: { 'demo.json': site } });
    const r = runConsentd(['--check-config', '--config', layout.configPath]);
    assert.equal(r.status, 1, `exit status (stderr: ${r.stderr})`);
    return r.stderr;
}

test('a_bad_google_consent_mode_stops_consentd_naming_file_field_and_reason', () => {
    assert.match(refusal(true), /demo\.json: google_consent_mode: must be an object/);
    assert.match(refusal({ wait: 1 }), /demo\.json: google_consent_mode\.wait: unknown field \(known fields: wait_for_update, ads_data_redaction, url_passthrough, regions\)/);
    assert.match(refusal({ wait_for_update: 20000 }), /demo\.json: google_consent_mode\.wait_for_update: must be an integer from 0 to 10000 \(milliseconds\)/);
    assert.match(refusal({ ads_data_redaction: 'yes' }), /demo\.json: google_consent_mode\.ads_data_redaction: must be true or false/);
    assert.match(refusal({ url_passthrough: 1 }), /demo\.json: google_consent_mode\.url_passthrough: must be true or false/);
    assert.match(refusal({ regions: {} }), /demo\.json: google_consent_mode\.regions: must be an array/);
    assert.match(refusal({ regions: [{ default: {} }] }), /demo\.json: google_consent_mode\.regions\[0\]\.region: is required/);
    assert.match(refusal({ regions: [{ region: [], default: {} }] }), /demo\.json: google_consent_mode\.regions\[0\]\.region: must not be empty/);
    assert.match(refusal({ regions: [{ region: ['us-ca'], default: {} }] }), /demo\.json: google_consent_mode\.regions\[0\]\.region\[0\]: must be an ISO 3166 region code/);
    assert.match(refusal({ regions: [{ region: ['US'] }] }), /demo\.json: google_consent_mode\.regions\[0\]\.default: is required/);
    assert.match(refusal({ regions: [{ region: ['US'], default: { ads_storage: 'granted' } }] }), /demo\.json: google_consent_mode\.regions\[0\]\.default\.ads_storage: unknown field \(known fields: ad_storage, /);
    assert.match(refusal({ regions: [{ region: ['US'], default: { ad_storage: true } }] }), /demo\.json: google_consent_mode\.regions\[0\]\.default\.ad_storage: must be "granted" or "denied"/);
    // Where trackers need consent, a default may not grant what needs it.
    assert.match(refusal({ regions: [{ region: ['US'], default: {} }, { region: ['US-CA', 'FR-75'], default: { security_storage: 'granted', analytics_storage: 'granted' } }] }),
        /demo\.json: google_consent_mode\.regions\[1\]\.region\[1\]: FR is in the EU, the EEA, the UK or Switzerland, where analytics_storage needs the visitor's consent: a row naming it may grant only security_storage and functionality_storage by default/);
    assert.match(refusal({ regions: [{ region: ['GB', 'CH'], default: { ad_user_data: 'granted' } }] }), /google_consent_mode\.regions\[0\]\.region\[0\]: GB is in the EU/);
});

test('a_row_for_the_eea_may_grant_what_needs_no_consent', () => {
    const site = siteLike('demo');
    site.google_consent_mode = { regions: [{ region: ['FR', 'DE', 'NO'], default: { security_storage: 'granted', functionality_storage: 'granted' } }] };
    const layout = makeConsentdDir({ sites: { 'demo.json': site } });
    const r = runConsentd(['--check-config', '--config', layout.configPath]);
    assert.equal(r.status, 0, r.stderr);
});

let stack;
before(async () => {
    stack = await startStack({ sites: { 'demo.json': siteLike('demo'), 'gcm.json': { ...siteLike('gcm'), google_consent_mode: GCM } } });
});
after(async () => {
    await stack?.stop();
});

const get = (site, file, headers = {}) => stack.consentd.request(`/v1/sites/${site}/${file}`, { headers: { 'accept-encoding': 'identity', ...headers } });
const settingsOf = (text) => JSON.parse(text.slice(text.lastIndexOf('})(') + 3, text.lastIndexOf(');')));

/* Run a consentd-defaults.js body as a browser would, on a window with or
 * without a gtag: what it pushed on the dataLayer, as arrays. */
function run(body, withGtag = false) {
    const window = {};
    window.window = window;
    const calls = [];
    if (withGtag) window.gtag = (...args) => calls.push(args);
    vm.runInNewContext(body, window);
    const plain = (v) => JSON.parse(JSON.stringify(v));
    return { window, pushed: plain((window.dataLayer || []).map((a) => Array.from(a))), calls: plain(calls), argumentsObjects: (window.dataLayer || []).every((a) => Object.prototype.toString.call(a) === '[object Arguments]') };
}

test('consentd_defaults_js_pushes_the_sites_defaults_per_region_then_the_settings', async () => {
    const res = await get('gcm', 'consentd-defaults.js');
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /^application\/javascript/);
    assert.ok(res.text.length < 1024, `tiny (${res.text.length} B)`);
    const expected = [
        ['consent', 'default', { ...all('denied'), wait_for_update: 800 }],
        ['consent', 'default', { ...all('denied'), ad_storage: 'granted', analytics_storage: 'granted', region: ['US-CA', 'US'], wait_for_update: 800 }],
        ['set', 'ads_data_redaction', true],
        ['set', 'url_passthrough', true],
    ];
    const { window, pushed, argumentsObjects } = run(res.text);
    assert.deepEqual(pushed, expected);
    assert.ok(argumentsObjects, 'pushed as gtag does: arguments objects');
    assert.equal(window.consentd_gtm, true, 'marks that the defaults are set: the banner skips its own');
    // A page whose gtag exists already gets the same calls through it.
    const viaGtag = run(res.text, true);
    assert.deepEqual(viaGtag.calls, expected);
    // The banner's own default (when no defaults script ran) is the same list.
    assert.deepEqual(settingsOf((await get('gcm', 'banner.js')).text).cmd, expected);
});

test('without_google_consent_mode_everything_is_denied_everywhere_with_500_ms', async () => {
    const expected = [['consent', 'default', { ...all('denied'), wait_for_update: 500 }]];
    assert.deepEqual(run((await get('demo', 'consentd-defaults.js')).text).pushed, expected);
    assert.deepEqual(settingsOf((await get('demo', 'banner.js')).text).cmd, expected);
});

test('consentd_defaults_js_is_served_like_the_banner_encodings_etag_304', async () => {
    const plain = await get('gcm', 'consentd-defaults.js');
    const gz = await get('gcm', 'consentd-defaults.js', { 'accept-encoding': 'gzip' });
    const br = await get('gcm', 'consentd-defaults.js', { 'accept-encoding': 'gzip, br' });
    assert.equal(gz.headers['content-encoding'], 'gzip');
    assert.equal(br.headers['content-encoding'], 'br');
    assert.equal(zlib.gunzipSync(gz.body).toString(), plain.text);
    assert.equal(zlib.brotliDecompressSync(br.body).toString(), plain.text);
    for (const r of [plain, gz, br]) {
        assert.match(r.headers.etag, /^"[0-9a-f]{32}(-gz|-br)?"$/);
        assert.match(r.headers['cache-control'], /max-age=/);
        assert.match(r.headers.vary, /accept-encoding/i);
    }
    const again = await get('gcm', 'consentd-defaults.js', { 'if-none-match': plain.headers.etag });
    assert.equal(again.status, 304);
    assert.notEqual(plain.headers.etag, (await get('demo', 'consentd-defaults.js')).headers.etag, 'per site');
    const missing = await get('nosuch', 'consentd-defaults.js');
    assert.equal(missing.status, 404);
    assert.match(missing.text, /"error"/);
});
