// The edge of the server: per-client rate limits on the write routes (429
// with Retry-After, nothing stored), security headers on every answer, and
// TLS terminated by consentd itself (a real TLS client; HTTP/2 offered over
// ALPN only when the config turns it on).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import tls from 'node:tls';
import { after, before, describe } from 'node:test';
import {
    Consentd,
    Redis,
    delay,
    makeConsentdDir,
    makeTempDir,
    runConsentd,
    shippedSite,
    startStack,
    test,
} from './lib/harness.mjs';
import { browser, dataDigest, postConsent } from './lib/consent.mjs';

const site = shippedSite('demo');
const CONSENT = site.purposes.filter((p) => p.legal_basis === 'consent').map((p) => p.id);
const good = { decisions: { [CONSENT[0]]: true }, policy_version: site.policy_version, lang: 'fr' };

const from = (addr) => browser({ 'x-forwarded-for': `198.51.100.99, ${addr}` });

describe('rate limits', () => {
    let stack;
    before(async () => {
        stack = await startStack({
            config: {
                rate_limit: {
                    consents_per_second: 1,
                    consents_burst: 3,
                    events_per_second: 1,
                    events_burst: 4,
                    client_address_header: 'x-forwarded-for',
                },
            },
            threads: 1,
        });
    });
    after(() => stack?.stop());

    test('a client past its burst gets 429 with Retry-After and nothing is stored', async () => {
        const client = '203.0.113.7';
        for (let i = 0; i < 3; i++) {
            const res = await postConsent(stack.consentd, good, from(client));
            assert.equal(res.status, 201, res.text);
        }
        const before = await dataDigest(stack.redis);
        const res = await postConsent(stack.consentd, good, from(client));
        assert.equal(res.status, 429, res.text);
        assert.equal(res.json().error.code, 'rate_limited');
        assert.equal(res.headers['retry-after'], '1');
        assert.match(res.headers['content-type'], /^application\/json/);
        // The banner reads the error: CORS headers are on the 429 too.
        assert.equal(res.headers['access-control-allow-origin'], browser().origin);
        assert.equal(await dataDigest(stack.redis), before, 'a refused write changed Redis');
        // Withdrawal shares the bucket.
        const del = await stack.consentd.request('/v1/sites/demo/consents/visitor-ratelimit-1', {
            method: 'DELETE',
            headers: from(client),
        });
        assert.equal(del.status, 429, del.text);
    });

    test('another client is not affected, and the bucket refills', async () => {
        const res = await postConsent(stack.consentd, good, from('203.0.113.8'));
        assert.equal(res.status, 201, res.text);
        await delay(1100);
        const again = await postConsent(stack.consentd, good, from('203.0.113.7'));
        assert.equal(again.status, 201, again.text);
    });

    test('banner events have their own bucket and are limited too', async () => {
        // The consent bucket of this client is empty; its event bucket is not.
        const post = (addr) =>
            stack.consentd.request('/v1/sites/demo/events', {
                method: 'POST',
                headers: from(addr),
                body: JSON.stringify({ type: 'shown', lang: 'fr' }),
            });
        const client = '203.0.113.20';
        for (let i = 0; i < 3; i++) assert.equal((await postConsent(stack.consentd, good, from(client))).status, 201);
        assert.equal((await postConsent(stack.consentd, good, from(client))).status, 429);
        for (let i = 0; i < 4; i++) assert.equal((await post(client)).status, 204);
        const res = await post(client);
        assert.equal(res.status, 429, res.text);
        assert.equal(res.json().error.code, 'rate_limited');
        assert.equal(res.headers['retry-after'], '1');
    });

    test('reads are not limited', async () => {
        for (let i = 0; i < 10; i++) {
            const res = await stack.consentd.request('/v1/sites/demo/consents/visitor-ratelimit-2', {
                headers: from('203.0.113.7'),
            });
            assert.equal(res.status, 404, res.text);
        }
    });
});

describe('forwarded client addresses', () => {
    // Behind a proxy that appends X-Forwarded-For: the client is the last
    // address of the last line (the one the proxy wrote), parsed, IPv6 per
    // /64, a port ignored; anything else falls back to the peer. Burst 2,
    // one worker thread (buckets are per thread), loopback limited.
    let stack;
    before(async () => {
        stack = await startStack({
            config: {
                rate_limit: {
                    consents_per_second: 1,
                    consents_burst: 2,
                    client_address_header: 'x-forwarded-for',
                    exempt_loopback: false,
                },
            },
            threads: 1,
        });
    });
    after(() => stack?.stop());

    const post = (xff) => postConsent(stack.consentd, good, browser({ 'x-forwarded-for': xff }));
    /* The statuses of posts with each of the header values in turn. */
    const statuses = async (values) => {
        const out = [];
        for (const v of values) out.push((await post(v)).status);
        return out;
    };

    test('two clients behind the same proxy have their own buckets', async () => {
        assert.deepEqual(await statuses(['203.0.113.30', '203.0.113.30', '203.0.113.30']), [201, 201, 429]);
        assert.deepEqual(await statuses(['203.0.113.31', '2001:db8:aaaa::1']), [201, 201]);
        // Two 16-character IPv6 texts that share their first 8 characters
        // are different /64s: different clients.
        assert.deepEqual(await statuses(['2001:db8:aaaa::1', '2001:db8:bbbb::1']), [201, 201]);
    });

    test('a line the client sent before the proxy\'s cannot choose its bucket', async () => {
        const spoofed = (i) => [`198.18.0.${i}`, '203.0.113.40'];
        assert.deepEqual(await statuses([spoofed(1), spoofed(2), spoofed(3), spoofed(4)]), [201, 201, 429, 429]);
        // Nor can elements the client put first on the proxy's line.
        assert.deepEqual(await statuses(['198.18.1.1, 203.0.113.41', '198.18.1.2, 203.0.113.41', '198.18.1.3,203.0.113.41']), [201, 201, 429]);
    });

    test('addresses in the same IPv6 /64 share a bucket; another /64 has its own', async () => {
        assert.deepEqual(
            await statuses(['2001:db8:1:2::1', '2001:db8:1:2:ffff:ffff:ffff:fffe', '2001:db8:1:2::abcd', '2001:db8:1:3::1']),
            [201, 201, 429, 201],
        );
    });

    test('a port does not make a bucket per port', async () => {
        assert.deepEqual(await statuses(['198.51.100.7:1111', '198.51.100.7:2222', '198.51.100.7:3333']), [201, 201, 429]);
        assert.deepEqual(await statuses(['[2001:db8:9::5]:443', '[2001:db8:9::6]:444', '2001:db8:9::7']), [201, 201, 429]);
        // The same client with and without a port: one bucket.
        assert.deepEqual(await statuses(['198.51.100.8', '198.51.100.8:1']), [201, 201]);
        assert.equal((await post('198.51.100.8')).status, 429);
    });

    test('a last element that is no address counts against the peer, logged once', async () => {
        const from = stack.consentd.stderr.length;
        // Whatever the text, it is the peer (loopback here) that is limited.
        assert.deepEqual(await statuses(['unknown', 'garbage-1', '203.0.113.50, ', '1.2.3.4.5']), [201, 201, 429, 429]);
        await stack.consentd.waitForLog(/x-forwarded-for.*not an IP address/, { from });
        const lines = stack.consentd.stderr.slice(from).split('\n').filter((l) => /not an IP address/.test(l));
        assert.equal(lines.length, 1, lines.join('\n'));
        assert.ok(!/garbage|unknown/.test(lines[0]), `the untrusted value is logged: ${lines[0]}`);
    });
});

describe('rate limits by peer address', () => {
    let redis;
    before(async () => {
        redis = await Redis.start();
    });
    after(() => redis?.stop());

    test('a loopback peer is limited by default, exempt only when exempt_loopback is true', async () => {
        // A proxy on the same host that forwards no address makes every
        // client a loopback peer: limits stay on unless the operator says so.
        // The harness turns the exemption on for the other tests; undefined
        // leaves the option out of the config file, as a fresh install has it.
        const limits = { consents_per_second: 1, consents_burst: 1 };
        const strict = await Consentd.start({
            redis,
            threads: 1,
            config: { rate_limit: { ...limits, exempt_loopback: undefined } },
        });
        try {
            assert.ok(!('exempt_loopback' in JSON.parse(fs.readFileSync(strict.layout.configPath, 'utf8')).rate_limit));
            assert.equal((await postConsent(strict, good)).status, 201);
            const res = await postConsent(strict, good);
            assert.equal(res.status, 429, res.text);
            assert.equal(res.json().error.code, 'rate_limited');
        } finally {
            await strict.stop();
        }
        const exempt = await Consentd.start({
            redis,
            threads: 1,
            config: { rate_limit: { ...limits, exempt_loopback: true } },
        });
        try {
            for (let i = 0; i < 5; i++) assert.equal((await postConsent(exempt, good)).status, 201);
        } finally {
            await exempt.stop();
        }
    });
});

describe('security headers', () => {
    let stack;
    before(async () => {
        stack = await startStack();
    });
    after(() => stack?.stop());

    test('every answer says nosniff; JSON answers are not cached, framed or rendered', async () => {
        const answers = [
            await stack.consentd.request('/healthz'),
            await stack.consentd.request('/v1/sites/demo/banner.js'),
            await stack.consentd.request('/.well-known/jwks.json'),
            await stack.consentd.request('/nowhere'),
            await postConsent(stack.consentd, good),
        ];
        for (const res of answers) assert.equal(res.headers['x-content-type-options'], 'nosniff', res.text);
        for (const res of [answers[3], answers[4]]) {
            assert.equal(res.headers['cache-control'], 'no-store');
            assert.equal(res.headers['content-security-policy'], "default-src 'none'; frame-ancestors 'none'");
        }
        assert.equal(answers[0].headers['strict-transport-security'], undefined, 'HSTS over plain HTTP');
    });
});

describe('TLS', () => {
    let redis, dir, cert, key;
    before(async () => {
        redis = await Redis.start();
        dir = makeTempDir('consentd-tls-');
        cert = path.join(dir, 'cert.pem');
        key = path.join(dir, 'key.pem');
        const r = spawnSync('openssl', [
            'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256', '-nodes', '-days', '2',
            '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
            '-keyout', key, '-out', cert,
        ], { encoding: 'utf8' });
        assert.equal(r.status, 0, r.stderr);
    });
    after(() => redis?.stop());

    function get(port, target) {
        return new Promise((resolve, reject) => {
            const req = https.get(
                { host: '127.0.0.1', port, path: target, ca: fs.readFileSync(cert), servername: 'localhost', agent: false },
                (res) => {
                    const chunks = [];
                    res.on('data', (c) => chunks.push(c));
                    res.on('end', () =>
                        resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString() }),
                    );
                },
            );
            req.on('error', reject);
        });
    }

    function alpn(port, protocols) {
        return new Promise((resolve, reject) => {
            const sock = tls.connect(
                { host: '127.0.0.1', port, ca: fs.readFileSync(cert), servername: 'localhost', ALPNProtocols: protocols },
                () => {
                    const got = { protocol: sock.alpnProtocol, version: sock.getProtocol() };
                    sock.end();
                    resolve(got);
                },
            );
            sock.on('error', reject);
        });
    }

    test('consentd serves HTTPS from the configured certificate, with HSTS, HTTP/1.1 only by default', async () => {
        const consentd = await Consentd.start({ redis, config: { tls: { cert_file: cert, key_file: key } } });
        try {
            const res = await get(consentd.port, '/healthz');
            assert.equal(res.status, 200, res.text);
            assert.equal(res.headers['strict-transport-security'], 'max-age=31536000');
            const banner = await get(consentd.port, '/v1/sites/demo/banner.js');
            assert.equal(banner.status, 200);
            const negotiated = await alpn(consentd.port, ['h2', 'http/1.1']);
            assert.equal(negotiated.protocol, 'http/1.1', 'h2 offered although http2 is off');
            assert.match(negotiated.version, /^TLSv1\.[23]$/);
            // TLS below 1.2 is refused.
            await assert.rejects(
                new Promise((resolve, reject) => {
                    const s = tls.connect(
                        { host: '127.0.0.1', port: consentd.port, ca: fs.readFileSync(cert), servername: 'localhost', maxVersion: 'TLSv1.1', minVersion: 'TLSv1' },
                        () => resolve(s.end()),
                    );
                    s.on('error', reject);
                }),
            );
        } finally {
            await consentd.stop();
        }
    });

    test('with http2 on, h2 is negotiated over TLS', async () => {
        const consentd = await Consentd.start({ redis, config: { http2: true, tls: { cert_file: cert, key_file: key } } });
        try {
            assert.equal((await alpn(consentd.port, ['h2', 'http/1.1'])).protocol, 'h2');
        } finally {
            await consentd.stop();
        }
    });

    test('a missing or mismatched key is refused at start-up, naming the file', () => {
        const other = path.join(dir, 'other-key.pem');
        const r0 = spawnSync('openssl', ['genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', other]);
        assert.equal(r0.status, 0);
        for (const [tlsConfig, want] of [
            [{ cert_file: path.join(dir, 'absent.pem'), key_file: key }, /tls: cannot load the certificate chain \(.*absent\.pem\)/],
            [{ cert_file: cert, key_file: other }, /tls: the private key does not match the certificate|tls: cannot load the private key/],
            [{ cert_file: cert }, /tls\.key_file: is required/],
        ]) {
            const layout = makeConsentdDir({ config: { listen: { address: '127.0.0.1', port: 1 }, redis: { url: redis.url }, tls: tlsConfig } });
            const r = runConsentd(['--config', layout.configPath]);
            assert.notEqual(r.status, 0);
            assert.match(r.stderr, want);
        }
    });
});
