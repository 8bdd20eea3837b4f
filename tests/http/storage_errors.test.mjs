// Each kind of storage error, on a real Redis, gets the answer docs/api.md's
// "Storage errors" table documents (http.c maps them in one place):
//   timeout         Redis frozen (SIGSTOP)                 503 storage_timeout, Retry-After
//   unavailable     Redis stopped                          503 storage_unavailable, Retry-After
//   not replicated  redis.wait_replicas 1 and no replica   503 storage_not_replicated, Retry-After
//   refused         a key of the wrong type (WRONGTYPE)    500 storage_error, logged with Redis'
//                                                          words and the line of src/store.lua
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import { Consentd, Redis, SOURCE_DIR, TEST_REDIS_COMMAND_TIMEOUT_MS, shippedSite, test, waitFor } from './lib/harness.mjs';
import { postConsent } from './lib/consent.mjs';

const site = shippedSite('demo');
const WAIT_TIMEOUT_MS = 200;
let redis, consentd, durable;

before(async () => {
    redis = await Redis.start();
    consentd = await Consentd.start({ redis });
    durable = await Consentd.start({ redis, config: { redis: { wait_replicas: 1, wait_timeout_ms: WAIT_TIMEOUT_MS } } });
});
after(async () => {
    try {
        await consentd?.stop();
        await durable?.stop();
    } finally {
        await redis?.stop();
    }
});

const choice = (visitor) => ({ decisions: {}, policy_version: site.policy_version, lang: 'fr', visitor });

/* store.c's partition of a visitor (FNV-1a 32 bit mod 64). */
function partition(visitor) {
    let h = 2166136261;
    for (const b of Buffer.from(visitor, 'utf8')) h = Math.imul(h ^ b, 16777619) >>> 0;
    return h % 64;
}

async function timed(fn) {
    const t0 = Date.now();
    const res = await fn();
    return { res, ms: Date.now() - t0 };
}

test('a_refused_command_is_500_storage_error_logged_with_redis_words_and_the_store_lua_line', async () => {
    const visitor = 'wrongtype-visitor-01';
    // The visitor's history is a list; make it a string.
    await redis.command('SET', `cd:{demo:${partition(visitor)}}:h:${visitor}`, 'not a list');
    const from = consentd.stderr.length;
    const res = await postConsent(consentd, choice(visitor));
    assert.equal(res.status, 500, res.text);
    assert.equal(res.json().error.code, 'storage_error');
    assert.equal(res.headers['retry-after'], undefined, 'a refusal is not retried');
    const m = await consentd.waitForLog(/warn redis: storage_error \/v1\/sites\/demo\/consents: (WRONGTYPE[^\n]*)/, { from });
    // Redis names the line of the library: src/store.lua's own numbering.
    const lpush = fs
        .readFileSync(path.join(SOURCE_DIR, 'src', 'store.lua'), 'utf8')
        .split('\n')
        .findIndex((l) => l.includes("redis.call('LPUSH'"));
    assert.ok(lpush >= 0);
    assert.match(m[1], new RegExp(`@user_function:${lpush + 1}\\b`), `not the line of LPUSH in src/store.lua (${lpush + 1}): ${m[1]}`);
});

test('a_durable_write_no_replica_acknowledged_is_503_storage_not_replicated', async () => {
    const visitor = 'unreplicated-visitor-01';
    const { res, ms } = await timed(() => postConsent(durable, choice(visitor)));
    assert.equal(res.status, 503, res.text);
    assert.equal(res.json().error.code, 'storage_not_replicated');
    assert.match(res.json().error.message, /replicas/);
    assert.ok(Number(res.headers['retry-after']) >= 1, 'Retry-After');
    assert.ok(ms >= WAIT_TIMEOUT_MS * 0.9, `answered after ${ms} ms, before WAIT could time out`);
    // As documented: the write may be on the master alone.
    assert.notEqual(await redis.command('GET', `cd:{demo:${partition(visitor)}}:s:${visitor}`), null);
    // Not logged per request (outages show in metrics and /healthz).
    assert.doesNotMatch(durable.stderr, /storage_not_replicated/);
    // The same node's reads need no replica.
    const read = await durable.request(`/v1/sites/demo/consents/${visitor}`, { headers: { origin: 'http://localhost:8080' } });
    assert.equal(read.status, 200, read.text);
});

test('a_frozen_redis_is_503_storage_timeout_after_the_command_timeout', async () => {
    redis.pause();
    let answer;
    try {
        answer = await timed(() => postConsent(consentd, choice('frozen-visitor-01')));
    } finally {
        redis.resume();
    }
    const { res, ms } = answer;
    assert.equal(res.status, 503, res.text);
    assert.equal(res.json().error.code, 'storage_timeout');
    assert.match(res.json().error.message, new RegExp(`within ${TEST_REDIS_COMMAND_TIMEOUT_MS} ms`));
    assert.ok(Number(res.headers['retry-after']) >= 1, 'Retry-After');
    assert.ok(ms >= TEST_REDIS_COMMAND_TIMEOUT_MS * 0.9, `answered after ${ms} ms, before the timeout`);
    assert.doesNotMatch(consentd.stderr, /storage_timeout/);
    await waitFor(async () => (await postConsent(consentd, choice('frozen-visitor-02'))).status === 201, { message: '201 once Redis runs again' });
});

test('a_stopped_redis_is_503_storage_unavailable_at_once', async () => {
    await redis.stop();
    try {
        // The connection is seen lost, then every write fails fast.
        await waitFor(async () => (await consentd.request('/healthz')).status === 503, { message: 'Redis seen down' });
        const { res, ms } = await timed(() => postConsent(consentd, choice('stopped-visitor-01')));
        assert.equal(res.status, 503, res.text);
        assert.equal(res.json().error.code, 'storage_unavailable');
        assert.match(res.json().error.message, /unreachable/);
        assert.ok(Number(res.headers['retry-after']) >= 1, 'Retry-After');
        assert.ok(ms < 200, `took ${ms} ms with Redis down`);
    } finally {
        await redis.start();
    }
    await waitFor(async () => (await postConsent(consentd, choice('stopped-visitor-02'))).status === 201, { message: '201 once Redis is back' });
});
