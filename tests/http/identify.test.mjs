// Cross-device consent for logged-in visitors (issue 20, item 7): POST
// /v1/sites/{site}/identify with a token the site's server signed
// (ops/identify-token.mjs), the user's latest choice carried to the user's
// other visitors, erasure of a visitor taking its link and the user's record
// it made, every refusal with its JSON error, and the site file's
// "identify" section checked field by field.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import {
    SOURCE_DIR, TEST_ON_CLUSTER, makeConsentdDir, redisCommandCalls, runConsentd, shippedSite, siteLike, startStack, test,
} from './lib/harness.mjs';
import { allKeys, browser, keySlot, postConsent, server, sha256hex } from './lib/consent.mjs';
import { identifyKeygen, identifyMint } from '../../ops/identify-token.mjs';

const site = shippedSite('demo');
const CONSENT = site.purposes.filter((p) => p.legal_basis === 'consent').map((p) => p.id);
const keys = identifyKeygen();
const stranger = identifyKeygen();
const OTHER_KEY = 'plain-site-key-0123456789';

let stack;
before(async () => {
    const demo = { ...structuredClone(site), identify: { public_key: keys.public_key, max_age_seconds: 3600 } };
    const plain = siteLike('plain');
    plain.api_key_sha256 = sha256hex(OTHER_KEY);
    stack = await startStack({ sites: { 'demo.json': demo, 'plain.json': plain } });
});
after(async () => {
    await stack?.stop();
});

const token = (sub, extra = {}) => identifyMint({ privateKey: keys.private_key, site: 'demo', sub, ...extra });
const identify = (body, { headers = browser(), site: id = 'demo' } = {}) =>
    stack.consentd.request(`/v1/sites/${id}/identify`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
const choose = (visitor, granted) =>
    postConsent(stack.consentd, { visitor, decisions: { [CONSENT[0]]: granted }, policy_version: site.policy_version, lang: 'fr', control: 'custom' });

test('a_users_choice_made_on_one_visitor_is_carried_to_another_visitor_of_that_user', async () => {
    const t = token('user-carried-1');
    let res = await identify({ token: t, visitor: 'visitor-device-a1' });
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json(), { visitor: 'visitor-device-a1', choice: null });
    res = await choose('visitor-device-a1', true);
    assert.equal(res.status, 201, res.text);
    const made = res.json();
    // Another device of the same user: A's choice, with its proof.
    res = await identify({ token: t, visitor: 'visitor-device-b1' });
    assert.equal(res.status, 200, res.text);
    const { choice } = res.json();
    assert.equal(choice.visitor, 'visitor-device-a1');
    assert.equal(choice.consent_id, made.consent_id);
    assert.equal(choice.proof, made.proof);
    assert.equal(choice.decisions[CONSENT[0]], true);
    assert.equal(choice.policy_version, site.policy_version);
    // The device that made it is not told its own choice again.
    res = await identify({ token: t, visitor: 'visitor-device-a1' });
    assert.equal(res.json().choice, null);
    // A later choice on B (a linked visitor) becomes the user's: A gets it.
    res = await choose('visitor-device-b1', false);
    assert.equal(res.status, 201, res.text);
    res = await identify({ token: t, visitor: 'visitor-device-a1' });
    assert.equal(res.json().choice.visitor, 'visitor-device-b1');
    assert.equal(res.json().choice.decisions[CONSENT[0]], false);
    // Another user of the site gets nothing of it.
    res = await identify({ token: token('user-carried-2'), visitor: 'visitor-device-c1' });
    assert.equal(res.json().choice, null);
    // The site's server, before it renders a page (no visitor yet): the
    // user's latest choice, to set as the page's cookie; nothing is linked.
    const before = (await allKeys(stack.redis)).length;
    res = await identify({ token: t }, { headers: server() });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json().visitor, null);
    assert.equal(res.json().choice.visitor, 'visitor-device-b1');
    assert.equal((await allKeys(stack.redis)).length, before, 'a read only');
});

test('a_visitors_own_newer_choice_becomes_the_users_on_identify', async () => {
    // Chose before logging in; then identified: the user's record is that choice.
    assert.equal((await choose('visitor-before-login', true)).status, 201);
    const t = token('user-before-login');
    assert.equal((await identify({ token: t, visitor: 'visitor-before-login' })).json().choice, null);
    const res = await identify({ token: t, visitor: 'visitor-after-login' });
    assert.equal(res.json().choice.visitor, 'visitor-before-login');
});

test('redis_keys_carry_a_pseudonym_of_the_user_never_its_id', async () => {
    const sub = 'user-secret-name@example.com';
    await identify({ token: token(sub), visitor: 'visitor-pseudonym-1' });
    await choose('visitor-pseudonym-1', true);
    const all = await allKeys(stack.redis);
    assert.ok(!all.some((k) => k.includes('secret-name')), all.join('\n'));
    const users = all.filter((k) => /^cd:\{demo:u:[0-9a-f]{32}\}:c$/.test(k));
    assert.ok(users.length >= 1, all.join('\n'));
    for (const k of users) assert.ok(!String(await stack.redis.command('HGET', k, 'r')).includes('secret-name'));
    const link = `cd:{demo:${partitionOf('visitor-pseudonym-1')}}:u:visitor-pseudonym-1`;
    assert.ok(all.includes(link), all.join('\n'));
    // The link names the user's key; on a cluster they are two slots, each call touching one.
    const user = `cd:{demo:u:${await stack.redis.command('GET', link)}}:c`;
    assert.ok(users.includes(user), user);
    assert.notEqual(keySlot(user), keySlot(link));
    // The access request shows the link (the user's pseudonym), null when none.
    let res = await stack.consentd.request('/v1/sites/demo/visitors/visitor-pseudonym-1', { headers: server() });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json().user, await stack.redis.command('GET', link));
    res = await stack.consentd.request('/v1/sites/demo/visitors/visitor-never-linked', { headers: server() });
    assert.equal(res.json().user, null);
    res = await stack.consentd.request('/v1/sites/plain/visitors/visitor-never-linked', { headers: server(OTHER_KEY) });
    assert.equal(res.status, 200, res.text);
    assert.ok(!('user' in res.json()), 'a site without identify answers as before');
});

/* The store's nodes: the redis-server, or every master of the cluster. */
const nodes = async () => (TEST_ON_CLUSTER ? (await stack.redis.masters()).map((t) => t.node) : [stack.redis]);
async function resetStats() {
    for (const n of await nodes()) await n.command('CONFIG', 'RESETSTAT');
}
async function fcalls() {
    let sum = 0;
    for (const n of await nodes()) sum += await redisCommandCalls(n, 'fcall');
    return sum;
}

test('an_unidentified_visitor_still_writes_in_one_round_trip_and_an_identified_one_in_two', async () => {
    await resetStats();
    assert.equal((await choose('visitor-not-identified', true)).status, 201);
    assert.equal(await fcalls(), 1, 'one FCALL for a visitor with no link');
    await identify({ token: token('user-two-calls'), visitor: 'visitor-identified-2' });
    await resetStats();
    assert.equal((await choose('visitor-identified-2', true)).status, 201);
    assert.equal(await fcalls(), 2, 'the consent, then the user record');
});

test('erasure_of_a_visitor_takes_its_link_and_the_users_choice_it_made', async () => {
    const t = token('user-erased-1');
    await identify({ token: t, visitor: 'visitor-erased-a' });
    assert.equal((await choose('visitor-erased-a', true)).status, 201);
    assert.equal((await identify({ token: t, visitor: 'visitor-erased-b' })).json().choice.visitor, 'visitor-erased-a');
    const res = await stack.consentd.request('/v1/sites/demo/visitors/visitor-erased-a', { method: 'DELETE', headers: server() });
    assert.equal(res.status, 200, res.text);
    const all = await allKeys(stack.redis);
    assert.ok(!all.some((k) => k.endsWith(':u:visitor-erased-a')), 'the link is gone');
    // A new device of that user finds nothing: the choice was the erased visitor's.
    assert.equal((await identify({ token: t, visitor: 'visitor-erased-c' })).json().choice, null);
    // Erasing a visitor whose choice the user record does not hold leaves it.
    assert.equal((await choose('visitor-erased-c', false)).status, 201);
    await stack.consentd.request('/v1/sites/demo/visitors/visitor-erased-b', { method: 'DELETE', headers: server() });
    assert.equal((await identify({ token: t, visitor: 'visitor-erased-d' })).json().choice.visitor, 'visitor-erased-c');
});

test('a_forged_tampered_expired_or_foreign_token_is_refused_with_its_reason', async () => {
    const visitor = 'visitor-refused-01';
    const cases = [
        ['not a token', 401, 'invalid_token'],
        [identifyMint({ privateKey: stranger.private_key, site: 'demo', sub: 'user-x' }), 401, 'invalid_token_signature'],
        [(() => {
            // Another user's id in a genuine token's claims: the signature no longer holds.
            const [h, c, s] = token('user-honest').split('.');
            const claims = JSON.parse(Buffer.from(c, 'base64url'));
            claims.sub = 'user-victim';
            return `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`;
        })(), 401, 'invalid_token_signature'],
        [token('user-x', { header: { alg: 'HS256' } }), 401, 'invalid_token_alg'],
        [token('user-x', { now: Math.floor(Date.now() / 1000) - 7200, ttl: 3600 }), 401, 'token_expired'],
        [token('user-x', { ttl: 7200 }), 401, 'token_lifetime'],
        [token('user-x', { now: Math.floor(Date.now() / 1000) + 600 }), 401, 'token_lifetime'],
        [identifyMint({ privateKey: keys.private_key, site: 'plain', sub: 'user-x' }), 403, 'token_wrong_site'],
    ];
    for (const [t, status, code] of cases) {
        const res = await identify({ token: t, visitor });
        assert.equal(res.status, status, `${code}: ${res.text}`);
        assert.equal(res.json().error.code, code, res.text);
    }
    // Nothing was linked by a refused token.
    assert.ok(!(await allKeys(stack.redis)).some((k) => k.endsWith(`:u:${visitor}`)));
});

test('bad_bodies_unknown_sites_sites_without_identify_and_foreign_pages_get_their_errors', async () => {
    const t = token('user-errors');
    let res = await identify('{"token":');
    assert.equal(res.status, 400, res.text);
    assert.equal(res.json().error.code, 'malformed_json');
    res = await identify({ token: t, visitor: 'visitor-errors-01', extra: 1 });
    assert.equal(res.json().error.code, 'invalid_body');
    res = await identify({ token: t });
    assert.equal(res.status, 400, res.text);
    assert.equal(res.json().error.code, 'missing_field', 'only the site server may leave the visitor out');
    res = await identify({ token: t, visitor: 'bad visitor!' });
    assert.equal(res.status, 400);
    assert.equal(res.json().error.code, 'invalid_visitor');
    res = await identify({ token: 'x'.repeat(5000), visitor: 'visitor-errors-01' });
    assert.equal(res.status, 413, res.text);
    res = await identify({ token: t, visitor: 'visitor-errors-01' }, { site: 'nosuchsite' });
    assert.equal(res.status, 404, res.text);
    assert.equal(res.json().error.code, 'site_not_found');
    res = await identify({ token: t, visitor: 'visitor-errors-01' }, { site: 'plain', headers: server(OTHER_KEY) });
    assert.equal(res.status, 404, res.text);
    assert.equal(res.json().error.code, 'identify_not_enabled');
    res = await identify({ token: t, visitor: 'visitor-errors-01' }, { headers: browser({ origin: 'https://evil.example' }) });
    assert.equal(res.status, 403, res.text);
    // The site's server may call it too, with its API key.
    res = await identify({ token: t, visitor: 'visitor-errors-01' }, { headers: server() });
    assert.equal(res.status, 200, res.text);
});

test('identify_answers_503_storage_when_redis_is_down', { skip: TEST_ON_CLUSTER && 'stops one redis-server' }, async () => {
    await stack.redis.stop();
    try {
        const res = await identify({ token: token('user-down'), visitor: 'visitor-down-0001' });
        assert.equal(res.status, 503, res.text);
        assert.match(res.json().error.code, /^storage_/);
    } finally {
        await stack.redis.start();
    }
    await waitReady();
});

async function waitReady() {
    for (let i = 0; i < 100; i++) {
        const res = await identify({ token: token('user-back'), visitor: 'visitor-back-0001' });
        if (res.status === 200) return;
        await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('consentd did not reconnect');
}

/* store.c's partition of a visitor (FNV-1a 32 bit mod 64). */
function partitionOf(visitor) {
    let h = 2166136261;
    for (const b of Buffer.from(visitor, 'utf8')) h = Math.imul(h ^ b, 16777619) >>> 0;
    return h % 64;
}

// ---- the site file's "identify" -------------------------------------------

function checkSite(identifyValue) {
    const demo = { ...structuredClone(site), identify: identifyValue };
    const layout = makeConsentdDir({ sites: { 'demo.json': demo } });
    return runConsentd(['--check-config', '--config', layout.configPath]);
}

test('site_file_identify_is_checked_field_by_field', async () => {
    const ok = checkSite({ public_key: keys.public_key });
    assert.equal(ok.status, 0, ok.stderr);
    const cases = [
        ['nope', /demo\.json: identify: must be an object/],
        [{}, /demo\.json: identify\.public_key: is required/],
        [{ public_key: 'abc' }, /demo\.json: identify\.public_key: must be an Ed25519 public key: 32 bytes in base64url/],
        [{ public_key: Buffer.alloc(32).toString('base64') + '==' }, /identify\.public_key: must be an Ed25519 public key/],
        [{ public_key: keys.public_key, max_age_seconds: 10 }, /demo\.json: identify\.max_age_seconds: must be an integer from 60 to 2592000/],
        [{ public_key: keys.public_key, max_age_seconds: 2592001 }, /identify\.max_age_seconds: must be an integer from 60 to 2592000/],
        [{ public_key: keys.public_key, secret: 'x' }, /demo\.json: identify\.secret: unknown field/],
    ];
    for (const [value, want] of cases) {
        const r = checkSite(value);
        assert.equal(r.status, 1, `${JSON.stringify(value)}: ${r.stderr}`);
        assert.match(r.stderr, want);
    }
});

// ---- rolling upgrade ---------------------------------------------------------

test('writes_and_erasures_of_a_linked_visitor_still_answer_on_a_library_that_ignores_the_link', { skip: TEST_ON_CLUSTER && 'loads one redis-server' }, async () => {
    // A node of version 7 may put its library back while this one runs
    // (store.c's head): its put and erase ignore the link key. Simulated by
    // the real library without its version 8 link branches, under a newer
    // VERSION so that consentd leaves it in place.
    const source = fs.readFileSync(path.join(SOURCE_DIR, 'src', 'store.lua'), 'utf8');
    const older = source
        .replace(/\n {2}if keys\[9\] then\n[^]*?\n {2}end\n/, '\n')
        .replace(/\n {2}if keys\[10\] then\n[^]*?\n {2}end\n/, '\n')
        .replace(/\nlocal VERSION = \d+\n/, '\nlocal VERSION = 99\n');
    assert.notEqual(older, source);
    assert.doesNotMatch(older, /return \{id, redis\.call\('GET', keys\[9\]\)|keys\[10\] then/);
    assert.match(older, /'SET', keys\[9\], now_ms\(\), 'NX'/, "erase's compaction marker stays");
    await identify({ token: token('user-upgrade'), visitor: 'visitor-upgrade-01' });
    await stack.redis.command('FUNCTION', 'LOAD', 'REPLACE', older);
    try {
        const res = await choose('visitor-upgrade-01', true);
        assert.equal(res.status, 201, res.text);
        const erased = await stack.consentd.request('/v1/sites/demo/visitors/visitor-upgrade-01', { method: 'DELETE', headers: server() });
        assert.equal(erased.status, 200, erased.text);
        assert.equal(erased.json().erased, true);
    } finally {
        await stack.redis.command('FUNCTION', 'LOAD', 'REPLACE', source);
    }
});
