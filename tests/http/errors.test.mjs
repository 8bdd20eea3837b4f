// Every error is the one JSON shape {"error":{"code","message"}} with the
// right status and content type.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { startStack, test } from './lib/harness.mjs';

let stack;
before(async () => {
    stack = await startStack();
});
after(async () => {
    await stack?.stop();
});

/* Check the exact error shape; returns the response. */
async function expectError(target, { method = 'GET', status, code }) {
    const res = await stack.consentd.request(target, { method });
    assert.equal(res.status, status, `${method} ${target}: ${res.text}`);
    assert.match(res.headers['content-type'] || '', /^application\/json/, `${method} ${target}: content-type`);
    const body = res.json();
    assert.deepEqual(Object.keys(body), ['error'], `${method} ${target}: top-level keys`);
    assert.deepEqual(Object.keys(body.error).sort(), ['code', 'message'], `${method} ${target}: error keys`);
    assert.equal(body.error.code, code, `${method} ${target}: error code`);
    assert.equal(typeof body.error.message, 'string');
    assert.ok(body.error.message.length > 0, `${method} ${target}: empty message`);
    assert.equal(Number(res.headers['content-length']), res.body.length, 'content-length');
    return res;
}

test('unknown_route_is_404_not_found_in_the_json_error_shape', async () => {
    await expectError('/no/such/route', { status: 404, code: 'not_found' });
    await expectError('/v1/sites/demo/banner.js/extra', { status: 404, code: 'not_found' });
    await expectError('/', { status: 404, code: 'not_found' });
});

test('unknown_site_is_404_site_not_found', async () => {
    await expectError('/v1/sites/no-such-site/banner.js', { status: 404, code: 'site_not_found' });
});

test('wrong_method_is_405_with_an_allow_header', async () => {
    for (const [method, target] of [
        ['POST', '/healthz'],
        ['DELETE', '/metrics'],
        ['PUT', '/v1/sites/demo/banner.js'],
    ]) {
        const res = await expectError(target, { method, status: 405, code: 'method_not_allowed' });
        const allow = (res.headers.allow || '').split(/\s*,\s*/);
        assert.ok(allow.includes('GET'), `${method} ${target}: Allow is ${JSON.stringify(res.headers.allow)}`);
        assert.ok(!allow.includes(method), `${method} ${target}: Allow lists the refused method`);
    }
});

test('malformed_percent_encoding_is_400_bad_request', async () => {
    await expectError('/v1/sites/%zz/banner.js', { status: 400, code: 'bad_request' });
    await expectError('/v1/sites/demo%/banner.js', { status: 400, code: 'bad_request' });
    await expectError('/v1/sites/de%00mo/banner.js', { status: 400, code: 'bad_request' });
});

test('an_escaped_control_character_in_the_path_is_400_bad_request', async () => {
    // Found by tests/fuzz/router (raw NUL bytes in a segment, which HTTP/2
    // could carry): no control character reaches a handler, escaped or not.
    await expectError('/v1/sites/demo/consents/visitor%0A000001', { status: 400, code: 'bad_request' });
    await expectError('/v1/sites/demo/consents/visitor%7F000001', { status: 400, code: 'bad_request' });
    await expectError('/v1/sites/de%1Fmo/banner.js', { status: 400, code: 'bad_request' });
});

test('a_valid_percent_encoding_still_finds_the_site', async () => {
    // %64 is "d": the path is decoded before matching.
    const res = await stack.consentd.request('/v1/sites/%64emo/banner.js');
    assert.equal(res.status, 200, res.text);
});

test('errors_are_json_even_for_head_requests_and_query_strings', async () => {
    const res = await stack.consentd.request('/no/such/route?x=1');
    assert.equal(res.status, 404);
    assert.match(res.headers['content-type'] || '', /^application\/json/);
    const head = await stack.consentd.request('/no/such/route', { method: 'HEAD' });
    assert.equal(head.status, 404);
    assert.match(head.headers['content-type'] || '', /^application\/json/);
    assert.equal(head.body.length, 0, 'a HEAD answer has no body');
});
