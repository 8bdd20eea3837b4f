// HTTP/1.1 only by default: h2o 2.2.5 lacks the HTTP/2 Rapid Reset and
// MadeYouReset fixes, so neither an h2c upgrade nor the HTTP/2 preface may
// get an HTTP/2 connection.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { rawExchange, startStack, test } from './lib/harness.mjs';

const H2_PREFACE = 'PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n';
/* An empty SETTINGS frame: length 0, type 4, flags 0, stream 0. */
const H2_SETTINGS = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);

let stack;
before(async () => {
    stack = await startStack();
});
after(async () => {
    await stack?.stop();
});

test('h2c_upgrade_request_is_answered_in_http1_without_101', async () => {
    const req =
        'GET /healthz HTTP/1.1\r\n' +
        `Host: 127.0.0.1:${stack.consentd.port}\r\n` +
        'Connection: Upgrade, HTTP2-Settings\r\n' +
        'Upgrade: h2c\r\n' +
        'HTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n' +
        '\r\n';
    const raw = (await rawExchange(stack.consentd.port, req)).toString('latin1');
    const [head, body] = raw.split('\r\n\r\n');
    const statusLine = head.split('\r\n')[0];
    assert.match(statusLine, /^HTTP\/1\.1 200 /, `status line: ${JSON.stringify(statusLine)}`);
    assert.doesNotMatch(raw, /^HTTP\/1\.1 101/m, 'switched protocols');
    assert.doesNotMatch(head, /^upgrade:/im, 'an Upgrade header in the answer');
    assert.match(body, /"status":"ok"/);
});

test('http2_prior_knowledge_preface_is_not_served_as_http2', async () => {
    const bytes = Buffer.concat([Buffer.from(H2_PREFACE, 'latin1'), H2_SETTINGS]);
    const raw = await rawExchange(stack.consentd.port, bytes);
    // An HTTP/2 server would answer with its own SETTINGS frame (type 4 at byte 3).
    const looksLikeH2 = raw.length >= 9 && raw[3] === 0x04 && raw.subarray(5, 9).equals(Buffer.alloc(4));
    assert.ok(!looksLikeH2, `answered with an HTTP/2 frame: ${raw.subarray(0, 32).toString('hex')}`);
    if (raw.length > 0) assert.match(raw.toString('latin1'), /^HTTP\/1\.[01] [45]\d\d /, raw.toString('latin1'));
});

test('keep_alive_http1_serves_several_requests_on_one_connection', async () => {
    const one = 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n';
    const raw = (await rawExchange(stack.consentd.port, one + one + one)).toString('latin1');
    assert.equal(raw.match(/HTTP\/1\.1 200 /g)?.length, 3, raw);
});
