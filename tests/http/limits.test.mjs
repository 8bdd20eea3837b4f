// Requests too large, too slow or too many: what bounds each, measured
// against a real consentd. Bodies over limits.max_body_bytes and broken
// bodies get the JSON error shape before they are buffered; request heads
// over h2o's compile-time limits (100 headers, about 417 KB) get h2o's own
// 400 and a closed connection; a client that drips its request (slowloris),
// or holds a connection idle, is cut at limits.request_timeout_ms; at
// limits.max_connections new connections wait in the kernel's queue until a
// slot frees. Nothing of this is stored, and the server answers others
// throughout. The figures go to stderr for docs/reliability.md.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import { after, before, describe } from 'node:test';
import { Consentd, delay, findSamples, parseMetrics, rawExchange, rssKiB, startRedis, startStack, test, waitFor } from './lib/harness.mjs';
import { dataDigest } from './lib/consent.mjs';

const MAX_BODY = 16384;
const REQUEST_TIMEOUT_MS = 1000;
const MAX_CONNECTIONS = 40;
const ORIGIN = 'https://demo.example';
const figures = (limit, values) => process.stderr.write(`FIGURES ${JSON.stringify({ limit, ...values })}\n`);

/* One HTTP/1.1 response parsed from raw bytes (the first one). */
function parseResponse(buf) {
    const text = buf.toString('latin1');
    const end = text.indexOf('\r\n\r\n');
    assert.ok(end > 0, `no complete response head in ${JSON.stringify(text.slice(0, 200))}`);
    const [statusLine, ...lines] = text.slice(0, end).split('\r\n');
    const headers = {};
    for (const line of lines) {
        const i = line.indexOf(':');
        headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
    }
    return { status: Number(statusLine.split(' ')[1]), headers, body: text.slice(end + 4) };
}

function assertJsonError(res, status, code) {
    assert.equal(res.status, status, res.body);
    assert.match(res.headers['content-type'], /^application\/json/);
    assert.equal(res.headers['x-content-type-options'], 'nosniff');
    assert.equal(res.headers['cache-control'], 'no-store');
    const body = JSON.parse(res.body.slice(0, Number(res.headers['content-length'])));
    assert.equal(body.error.code, code, res.body);
    assert.equal(typeof body.error.message, 'string');
    return body;
}

/* A connection that stays open; resolves with it once connected. */
function connect(port, localAddress) {
    return new Promise((resolve, reject) => {
        const sock = net.connect({ port, host: '127.0.0.1', localAddress });
        sock.chunks = [];
        sock.closedAt = null;
        sock.on('data', (c) => sock.chunks.push(c));
        sock.on('close', () => (sock.closedAt = Date.now()));
        sock.on('error', () => {});
        sock.once('connect', () => resolve(sock));
        sock.once('error', reject);
    });
}

const received = (sock) => Buffer.concat(sock.chunks);

async function waitClosed(sock, ms) {
    const t0 = Date.now();
    while (sock.closedAt === null && Date.now() - t0 < ms) await delay(10);
    return sock.closedAt;
}

function head(method, target, extra = '') {
    return `${method} ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nOrigin: ${ORIGIN}\r\n${extra}`;
}

describe('limits', () => {
    let stack;
    let port;
    before(async () => {
        stack = await startStack({
            config: {
                limits: { max_body_bytes: MAX_BODY, request_timeout_ms: REQUEST_TIMEOUT_MS, max_connections: MAX_CONNECTIONS },
            },
            threads: 1,
        });
        port = stack.consentd.port;
    });
    after(() => stack?.stop());

    const metric = async (route, status) => {
        const res = await stack.consentd.request('/metrics');
        const samples = findSamples(parseMetrics(res.text), 'consentd_http_requests_total', { route, status: String(status) });
        return samples.reduce((n, s) => n + s.value, 0);
    };

    test('a body over max_body_bytes is 413 in the JSON shape, refused from its Content-Length', async () => {
        const before = await dataDigest(stack.redis);
        const counted = await metric('unmatched', 413);
        // Only the head is sent: the answer comes without the body being read.
        const t0 = Date.now();
        const raw = await rawExchange(
            port,
            head('POST', '/v1/sites/demo/consents', `Content-Type: application/json\r\nContent-Length: ${MAX_BODY + 1}\r\n\r\n`),
        );
        const body = assertJsonError(parseResponse(raw), 413, 'payload_too_large');
        assert.match(body.error.message, new RegExp(`${MAX_BODY} bytes`));
        assert.equal(parseResponse(raw).headers.connection, 'close');
        figures('body over max_body_bytes', { content_length: MAX_BODY + 1, status: 413, answered_ms: Date.now() - t0 });
        assert.equal(await metric('unmatched', 413), counted + 1, 'the 413 is counted');
        assert.deepEqual(await dataDigest(stack.redis), before, 'nothing stored');
    });

    test('each route refuses a body over its own bound with 413 JSON, before any key is looked at, and stores nothing', async () => {
        // The bounds of src/api/*.h (router.c's route table); the draft's
        // 256 KB is above max_body_bytes here, so the configuration's bound is
        // the one it meets. A route that takes no body refuses any.
        const routes = [
            ['POST', '/v1/sites/demo/events', 1024],
            ['POST', '/v1/sites/demo/identify', 4096],
            ['POST', '/v1/sites/demo/scans', 16384],
            ['POST', '/v1/sites/demo/keys', 1024],
            ['PUT', '/v1/sites/demo/draft', MAX_BODY],
            ['GET', '/v1/sites/demo/stats', 0],
            ['DELETE', '/v1/sites/demo/visitors/someone', 0],
            ['GET', '/v1/sites', 0],
            ['DELETE', '/v1/sites/demo', 0],
            ['POST', '/v1/sites/demo/draft/check', MAX_BODY],
        ];
        const before = await dataDigest(stack.redis);
        for (const [method, path, bound] of routes) {
            const body = bound === 0 ? '{}' : `{"x":"${'a'.repeat(bound - 7)}"}`; // bound + 1 bytes
            // Content-Length said: node sends a GET's or DELETE's body without one otherwise.
            const headers = { 'content-type': 'application/json', 'content-length': String(body.length), authorization: 'Bearer nobody' };
            const res = await stack.consentd.request(path, { method, body, headers });
            assert.equal(res.status, 413, `${method} ${path} with ${body.length} B: ${res.status} ${res.text}`);
            assert.equal(res.json().error.code, 'payload_too_large', `${method} ${path}`);
            if (bound === 0) assert.match(res.json().error.message, /takes no body/, `${method} ${path}`);
            if (bound > 0 && bound < MAX_BODY) {
                // One byte less is read: past the size check, the bad key is what it meets.
                const fits = await stack.consentd.request(path, { method, body: `{"x":"${'a'.repeat(bound - 8)}"}`, headers: { 'content-type': 'application/json', authorization: 'Bearer nobody' } });
                assert.notEqual(fits.status, 413, `${method} ${path} with ${bound} B: ${fits.text}`);
            }
        }
        assert.deepEqual(await dataDigest(stack.redis), before, 'nothing stored');
    });

    test('a chunked body growing past max_body_bytes is cut with 413 JSON', async () => {
        const chunk = 'x'.repeat(4096);
        const chunks = Array.from({ length: 6 }, () => `${(4096).toString(16)}\r\n${chunk}\r\n`).join('');
        const raw = await rawExchange(
            port,
            head('POST', '/v1/sites/demo/consents', 'Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n') + chunks,
        );
        assertJsonError(parseResponse(raw), 413, 'payload_too_large');
    });

    test('a broken chunked body and a bad Content-Length are 400 JSON, an unknown Expect 417 JSON', async () => {
        let raw = await rawExchange(port, head('POST', '/v1/sites/demo/consents', 'Transfer-Encoding: chunked\r\n\r\nzz\r\n{}\r\n'));
        assertJsonError(parseResponse(raw), 400, 'bad_request');
        raw = await rawExchange(port, head('POST', '/v1/sites/demo/consents', 'Content-Length: 12abc\r\n\r\n{}'));
        assertJsonError(parseResponse(raw), 400, 'bad_request');
        raw = await rawExchange(port, head('POST', '/v1/sites/demo/consents', 'Content-Length: 2\r\nExpect: 200-ok\r\n\r\n{}'));
        assertJsonError(parseResponse(raw), 417, 'expectation_failed');
        // HEAD of a refused body: the same headers, no body.
        raw = await rawExchange(port, head('HEAD', '/healthz', `Content-Length: ${MAX_BODY * 2}\r\n\r\n`));
        const res = parseResponse(raw);
        assert.equal(res.status, 413);
        assert.equal(res.body, '');
    });

    test('request heads over h2o limits get 400 and a closed connection; the server answers on', async () => {
        // 101 headers (h2o takes 100).
        const many = Array.from({ length: 101 }, (_, i) => `X-H${i}: ${i}\r\n`).join('');
        let raw = await rawExchange(port, head('GET', '/healthz', `${many}\r\n`));
        assert.equal(parseResponse(raw).status, 400);
        // One header of 500 KB (h2o's head limit is about 417 KB).
        const t0 = Date.now();
        raw = await rawExchange(port, head('GET', '/healthz', `Cookie: ${'c'.repeat(500 * 1024)}\r\n\r\n`));
        const res = parseResponse(raw);
        assert.equal(res.status, 400);
        assert.equal(res.headers.connection, 'close');
        figures('request head over h2o limits', { head_bytes: 500 * 1024, status: 400, answered_ms: Date.now() - t0, headers_101: 400 });
        // Under the limit, a large head is served (a big cookie is not an attack).
        raw = await rawExchange(port, head('GET', '/healthz', `Cookie: ${'c'.repeat(64 * 1024)}\r\nConnection: close\r\n\r\n`));
        assert.equal(parseResponse(raw).status, 200);
        assert.equal((await stack.consentd.request('/healthz')).status, 200);
    });

    test('a client dripping its request head (slowloris) is cut at request_timeout_ms', async () => {
        const sock = await connect(port);
        const t0 = Date.now();
        const text = head('GET', '/healthz', 'X-Slow: ');
        let i = 0;
        const drip = setInterval(() => {
            if (sock.closedAt !== null) return clearInterval(drip);
            sock.write(i < text.length ? text[i++] : 'a');
        }, 50);
        const closedAt = await waitClosed(sock, REQUEST_TIMEOUT_MS * 6);
        clearInterval(drip);
        assert.ok(closedAt !== null, 'a dripping client was never cut');
        const ms = closedAt - t0;
        figures('slowloris head, a byte every 50 ms', { request_timeout_ms: REQUEST_TIMEOUT_MS, cut_after_ms: ms });
        assert.ok(ms >= REQUEST_TIMEOUT_MS - 100, `cut after ${ms} ms, before the timeout`);
        assert.ok(ms < REQUEST_TIMEOUT_MS * 4, `cut after ${ms} ms`);
        assert.equal(received(sock).length, 0, 'no answer to a request never finished');
    });

    test('a client dripping its body is cut at request_timeout_ms and nothing is stored', async () => {
        const before = await dataDigest(stack.redis);
        const sock = await connect(port);
        const t0 = Date.now();
        sock.write(head('POST', '/v1/sites/demo/consents', 'Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n'));
        const drip = setInterval(() => sock.closedAt === null && sock.write('{'), 50);
        const closedAt = await waitClosed(sock, REQUEST_TIMEOUT_MS * 6);
        clearInterval(drip);
        assert.ok(closedAt !== null, 'a dripping body was never cut');
        figures('slow body, a byte every 50 ms', { request_timeout_ms: REQUEST_TIMEOUT_MS, cut_after_ms: closedAt - t0 });
        assert.ok(closedAt - t0 < REQUEST_TIMEOUT_MS * 4);
        assert.deepEqual(await dataDigest(stack.redis), before, 'nothing stored');
    });

    test('an idle keep-alive connection is closed after request_timeout_ms', async () => {
        const sock = await connect(port);
        sock.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
        await delay(200);
        assert.match(received(sock).toString(), /^HTTP\/1\.1 200/);
        const t0 = Date.now();
        const closedAt = await waitClosed(sock, REQUEST_TIMEOUT_MS * 6);
        assert.ok(closedAt !== null, 'an idle connection stayed open');
        figures('idle keep-alive connection', { request_timeout_ms: REQUEST_TIMEOUT_MS, closed_after_ms: closedAt - t0 });
        assert.ok(closedAt - t0 < REQUEST_TIMEOUT_MS * 4);
    });

    test('at max_connections, new connections wait in the queue and are served when slots free', async () => {
        // Hold every slot with a connection that never sends a byte, and
        // wait until consentd has accepted them all (its open descriptors).
        const pid = stack.consentd.proc.pid;
        const fds = () => fs.readdirSync(`/proc/${pid}/fd`).length;
        const fds0 = fds();
        const idle = await Promise.all(Array.from({ length: MAX_CONNECTIONS }, () => connect(port)));
        await waitFor(() => fds() >= fds0 + MAX_CONNECTIONS, { timeoutMs: 5000, message: 'consentd to accept the idle connections' });
        const t0 = Date.now();
        const waiting = await connect(port); /* the kernel accepts it; consentd does not yet */
        waiting.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n');
        await delay(300);
        assert.equal(received(waiting).length, 0, 'served past max_connections');
        // The idle ones time out (request_timeout_ms): the waiting one is served.
        await waitClosed(waiting, REQUEST_TIMEOUT_MS * 8);
        const ms = Date.now() - t0;
        assert.match(received(waiting).toString(), /^HTTP\/1\.1 200/, 'the waiting connection was not served');
        figures('connections past max_connections', { max_connections: MAX_CONNECTIONS, held_idle: MAX_CONNECTIONS, extra_served_after_ms: ms });
        await Promise.all(idle.map((s) => waitClosed(s, REQUEST_TIMEOUT_MS * 4)));
        assert.ok(idle.every((s) => s.closedAt !== null), 'idle connections past the timeout are closed');
    });

    test('many large heads held open cost bounded memory and are all released', async () => {
        // MAX_CONNECTIONS clients each send 400 KB of an unfinished head,
        // then hold. That is the worst a client can make consentd buffer.
        const pid = stack.consentd.proc.pid;
        const rss0 = rssKiB(pid);
        const socks = await Promise.all(Array.from({ length: MAX_CONNECTIONS }, () => connect(port)));
        const big = head('GET', '/healthz', `Cookie: ${'c'.repeat(400 * 1024)}`);
        await Promise.all(socks.map((s) => new Promise((resolve) => s.write(big, resolve))));
        await delay(300);
        const rss1 = rssKiB(pid);
        const perConnection = (rss1 - rss0) / MAX_CONNECTIONS;
        figures('unfinished 400 KB heads held open', { connections: MAX_CONNECTIONS, rss_before_kib: rss0, rss_held_kib: rss1, kib_per_connection: Math.round(perConnection) });
        assert.ok(perConnection < 2048, `${perConnection} KiB per connection`);
        await Promise.all(socks.map((s) => waitClosed(s, REQUEST_TIMEOUT_MS * 6)));
        assert.ok(socks.every((s) => s.closedAt !== null), 'held heads were never cut');
        assert.equal((await stack.consentd.request('/healthz')).status, 200);
    });
});

/* user+system CPU seconds of a process, from /proc/PID/stat. */
function cpuSeconds(pid) {
    const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
}

describe('open-file limit', () => {
    const NOFILE = 600;
    let redis;
    let consentd;
    before(async () => {
        redis = await startRedis();
        // The default max_connections (10000) under a hard limit of 600 open
        // files, as a service manager might impose.
        consentd = await Consentd.start({ redis, threads: 1, launcher: ['prlimit', `--nofile=${NOFILE}:${NOFILE}`] });
    });
    after(async () => {
        await consentd?.stop();
        await redis?.stop();
    });

    test('under a low open-file limit, consentd says so, serves fewer connections and never spins', async () => {
        const fit = NOFILE - 256; /* less SERVER_FD_RESERVE */
        assert.match(consentd.proc.stderr, new RegExp(`limits.max_connections is 10000 but the open-file limit is ${NOFILE}.*serving at most ${fit} connections`));
        const socks = await Promise.all(Array.from({ length: NOFILE + 50 }, () => connect(consentd.port)));
        await delay(200);
        const cpu0 = cpuSeconds(consentd.proc.pid);
        await delay(1000);
        const spent = cpuSeconds(consentd.proc.pid) - cpu0;
        figures('connections past the open-file limit', { nofile: NOFILE, served_at_most: fit, held: socks.length, cpu_seconds_in_1s: spent });
        assert.ok(spent < 0.3, `consentd used ${spent} s of CPU in 1 s with its connections full (spinning on accept?)`);
        for (const s of socks) s.destroy();
        await delay(100);
        assert.equal((await consentd.request('/healthz')).status, 200);
    });
});

describe('connections per client', () => {
    const PER_CLIENT = 10;
    let stack;
    before(async () => {
        stack = await startStack({
            // Loopback is exempt by default (a local proxy): not here.
            config: { limits: { max_connections_per_client: PER_CLIENT }, rate_limit: { exempt_loopback: false } },
            threads: 1,
        });
    });
    after(() => stack?.stop());

    const refused = async () => {
        const res = await stack.consentd.request('/metrics', { localAddress: '127.0.0.9' });
        return findSamples(parseMetrics(res.text), 'consentd_connections_refused_total').reduce((n, s) => n + s.value, 0);
    };
    const get = (sock) =>
        new Promise((resolve) => {
            sock.write('GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n');
            const t0 = Date.now();
            const poll = setInterval(() => {
                if (received(sock).length > 0 || sock.closedAt !== null || Date.now() - t0 > 2000) {
                    clearInterval(poll);
                    resolve(received(sock).toString());
                }
            }, 10);
        });

    test('a client past max_connections_per_client is cut at accept; other clients are served', async () => {
        const before = await refused();
        const mine = [];
        for (let i = 0; i < PER_CLIENT; i++) mine.push(await connect(stack.consentd.port, '127.0.0.2'));
        for (const s of mine.slice(0, 2)) assert.match(await get(s), /^HTTP\/1\.1 200/);
        // One more from the same address: closed unanswered.
        const extra = await connect(stack.consentd.port, '127.0.0.2');
        await waitClosed(extra, 2000);
        assert.ok(extra.closedAt !== null, 'the connection past the limit stayed open');
        assert.equal(received(extra).length, 0);
        assert.equal(await refused(), before + 1, 'counted in consentd_connections_refused_total');
        // Another address is not affected.
        const other = await connect(stack.consentd.port, '127.0.0.3');
        assert.match(await get(other), /^HTTP\/1\.1 200/);
        other.destroy();
        // One of the client's connections closes: it may open one again.
        mine.pop().destroy();
        await delay(100);
        const again = await connect(stack.consentd.port, '127.0.0.2');
        assert.match(await get(again), /^HTTP\/1\.1 200/);
        for (const s of [...mine, again]) s.destroy();
        figures('connections per client', { max_connections_per_client: PER_CLIENT, refused: (await refused()) - before });
    });
});
