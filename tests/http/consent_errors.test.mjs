// Every bad consent request gets its JSON error and status, and leaves Redis
// byte-for-byte as it was (DEBUG DIGEST before and after).
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { shippedSite, shippedSites, siteLike, startStack, test } from './lib/harness.mjs';
import { OTHER_KEY, browser, dataDigest, postConsent, server, sha256hex } from './lib/consent.mjs';

const site = shippedSite('demo');
const CONSENT = site.purposes.filter((p) => p.legal_basis === 'consent').map((p) => p.id);
const NECESSARY = site.purposes.find((p) => p.legal_basis === 'necessary').id;
const good = { decisions: { [CONSENT[0]]: true }, policy_version: site.policy_version, lang: 'fr' };

let stack;
before(async () => {
    const other = siteLike('other');
    other.api_key_sha256 = sha256hex(OTHER_KEY);
    other.origins = ['https://other.example'];
    // plain: the demo site without banner variants.
    const plain = siteLike('plain');
    delete plain.variants;
    stack = await startStack({ sites: { ...shippedSites(), 'other.json': other, 'plain.json': plain } });
    // Something stored already, that must survive every bad request.
    const res = await postConsent(stack.consentd, good);
    assert.equal(res.status, 201, res.text);
});
after(async () => {
    await stack?.stop();
});

/* Send, check status and error code, check Redis did not change. */
async function refused(status, code, send) {
    const before = await dataDigest(stack.redis);
    const res = await send();
    assert.equal(res.status, status, res.text);
    assert.match(res.headers['content-type'], /^application\/json/);
    const body = res.json();
    assert.equal(body.error.code, code, res.text);
    assert.equal(typeof body.error.message, 'string');
    assert.equal(await dataDigest(stack.redis), before, 'Redis changed');
    return res;
}

test('malformed_json_is_400_malformed_json', () =>
    refused(400, 'malformed_json', () => postConsent(stack.consentd, '{"decisions": {')));

test('json_that_is_not_an_object_is_400', () =>
    refused(400, 'malformed_json', () => postConsent(stack.consentd, '[1,2,3]')));

test('duplicate_keys_are_400', () =>
    refused(400, 'malformed_json', () =>
        postConsent(stack.consentd, `{"lang":"fr","lang":"en","decisions":{},"policy_version":"${site.policy_version}"}`)));

test('unknown_field_is_400_invalid_field', () =>
    refused(400, 'invalid_field', () => postConsent(stack.consentd, { ...good, ip: '1.2.3.4' })));

test('missing_decisions_is_400_missing_field', () =>
    refused(400, 'missing_field', () => postConsent(stack.consentd, { policy_version: site.policy_version, lang: 'fr' })));

test('unknown_purpose_is_400_unknown_purpose', () =>
    refused(400, 'unknown_purpose', () => postConsent(stack.consentd, { ...good, decisions: { telepathy: true } })));

test('non_boolean_decision_is_400', () =>
    refused(400, 'invalid_decision', () => postConsent(stack.consentd, { ...good, decisions: { [CONSENT[0]]: 'yes' } })));

test('refusing_a_necessary_purpose_is_400', () =>
    refused(400, 'necessary_purpose', () => postConsent(stack.consentd, { ...good, decisions: { [NECESSARY]: false } })));

test('unknown_language_is_400', () =>
    refused(400, 'unknown_language', () => postConsent(stack.consentd, { ...good, lang: 'xx' })));

test('bad_visitor_id_is_400', () =>
    refused(400, 'invalid_visitor', () => postConsent(stack.consentd, { ...good, visitor: 'a b' })));

test('malformed_variant_is_400_invalid_variant', () =>
    refused(400, 'invalid_variant', () => postConsent(stack.consentd, { ...good, variant: 'B!' })));

test('variant_the_site_does_not_declare_is_400_unknown_variant', async () => {
    assert.ok(site.variants?.some((v) => v.id === 'b'), 'the demo site declares variant b');
    const res = await refused(400, 'unknown_variant', () => postConsent(stack.consentd, { ...good, variant: 'zz' }));
    assert.match(res.json().error.message, /zz/);
});

test('a_site_without_variants_accepts_no_variant', async () => {
    await refused(400, 'unknown_variant', () => postConsent(stack.consentd, { ...good, variant: 'a' }, browser(), 'plain'));
    const res = await postConsent(stack.consentd, good, browser(), 'plain');
    assert.equal(res.status, 201, res.text);
    assert.equal(res.json().variant, undefined);
});

test('unknown_source_is_400', () =>
    refused(400, 'invalid_source', () => postConsent(stack.consentd, { ...good, source: 'carrier_pigeon' })));

test('source_other_than_banner_from_a_browser_is_401', () =>
    refused(401, 'unauthorized', () => postConsent(stack.consentd, { ...good, source: 'call_center' })));

test('body_over_4_kb_is_413', () =>
    refused(413, 'payload_too_large', () =>
        postConsent(stack.consentd, { ...good, variant: 'x'.repeat(5000) })));

test('wrong_content_type_is_415', () =>
    refused(415, 'unsupported_media_type', () =>
        postConsent(stack.consentd, good, browser({ 'content-type': 'text/html' }))));

test('stale_policy_version_leaves_redis_unchanged', () =>
    refused(409, 'policy_version_mismatch', () => postConsent(stack.consentd, { ...good, policy_version: 'old' })));

test('foreign_origin_is_403', () =>
    refused(403, 'origin_not_allowed', () =>
        postConsent(stack.consentd, good, browser({ origin: 'https://evil.example' }))));

test('no_origin_and_no_key_is_401', () =>
    refused(401, 'unauthorized', () =>
        postConsent(stack.consentd, good, { 'content-type': 'application/json' })));

test('wrong_api_key_is_401', () =>
    refused(401, 'unauthorized', () => postConsent(stack.consentd, good, server('not-a-key'))));

test('another_sites_key_is_403', () =>
    refused(403, 'forbidden', () => postConsent(stack.consentd, good, server(OTHER_KEY))));

test('another_sites_origin_is_403_here', () =>
    refused(403, 'origin_not_allowed', () =>
        postConsent(stack.consentd, good, browser({ origin: 'https://other.example' }))));

test('unknown_site_is_404', () =>
    refused(404, 'site_not_found', () => postConsent(stack.consentd, good, browser(), 'nosuchsite')));

test('get_with_a_malformed_visitor_is_400', () =>
    refused(400, 'invalid_visitor', () =>
        stack.consentd.request('/v1/sites/demo/consents/bad!visitor', { headers: browser() })));

test('delete_from_a_foreign_origin_is_403', () =>
    refused(403, 'origin_not_allowed', () =>
        stack.consentd.request('/v1/sites/demo/consents/visitor-0000001', {
            method: 'DELETE',
            headers: { origin: 'https://evil.example' },
        })));

test('writes_answer_503_with_retry_after_fast_when_redis_is_down', async () => {
    await stack.redis.kill();
    try {
        const t0 = Date.now();
        const res = await postConsent(stack.consentd, good);
        assert.equal(res.status, 503, res.text);
        assert.equal(res.json().error.code, 'storage_unavailable');
        assert.ok(res.headers['retry-after'], 'Retry-After');
        assert.ok(Date.now() - t0 < 2000, 'took too long');
    } finally {
        await stack.redis.start();
    }
});
