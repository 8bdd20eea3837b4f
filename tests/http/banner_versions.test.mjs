// Banner versions: every banner.js consentd serves is a version named by a
// hash anyone recomputes from its bytes; the first serving archives it in
// Redis; a consent names the version it was given on (checked: an unknown or
// another site's version is refused and nothing is stored); the archive is
// read back with the site's key (list, exact bytes) and published (hashes);
// a reload makes a new version and the old one stays; erasure leaves it.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import { deepMerge, makeTempDir, redisCommandCalls, shippedSite, shippedSites, siteLike, startStack, test, waitFor } from './lib/harness.mjs';
import { OTHER_KEY, browser, dataDigest, keySlot, postConsent, server, sha256hex, verifyProof } from './lib/consent.mjs';
import { archiveState, bannerBody, carriedVersion, versionOf } from './lib/versions.mjs';

const DAY_MS = 86400 * 1000;
const THREADS = 2; /* the harness' default */
/* versions.h: the public list is read again from the archive at most once
 * per worker and site per VERSIONS_PUBLIC_RETRY_MS, and is at most
 * VERSIONS_PUBLIC_REFRESH_MS old. */
const VERSIONS_PUBLIC_RETRY_MS = 1000;
const VERSIONS_PUBLIC_REFRESH_MS = 5000;
const PUBLIC_FLOOD = 300;
const PUBLIC_FLOOD_CONCURRENCY = 20;
const GRACE_MS = 7 * DAY_MS;
const site = shippedSite('demo');
const CONSENT = site.purposes.filter((p) => p.legal_basis === 'consent').map((p) => p.id);
const choice = (extra = {}) => ({ decisions: { [CONSENT[0]]: true }, policy_version: site.policy_version, lang: 'fr', ...extra });

let stack;
before(async () => {
    const other = siteLike('other');
    other.api_key_sha256 = sha256hex(OTHER_KEY);
    other.origins = ['https://other.example'];
    other.controller = { ...other.controller, name: 'Other SAS' }; // a banner of its own
    stack = await startStack({ sites: { ...shippedSites(), 'other.json': other } });
});
after(async () => {
    await stack?.stop();
});

const list = (key = server(), s = 'demo') => stack.consentd.request(`/v1/sites/${s}/banner-versions`, { headers: key });
const download = (hash, key = server(), s = 'demo') => stack.consentd.request(`/v1/sites/${s}/banner-versions/${hash}`, { headers: key });

/* The consent and banner functions Redis ran while fn ran, in order (from
 * its slow log with a threshold of 0, which notes every command with its
 * arguments; the acceptance counters' flushes are left out). */
async function consentCalls(fn) {
    await stack.redis.command('CONFIG', 'SET', 'slowlog-log-slower-than', '0');
    await stack.redis.command('SLOWLOG', 'RESET');
    try {
        await fn();
    } finally {
        await stack.redis.command('CONFIG', 'SET', 'slowlog-log-slower-than', '10000');
    }
    const log = await stack.redis.command('SLOWLOG', 'GET', '1000');
    return log
        .reverse()
        .map((entry) => entry[3])
        .filter((args) => /^fcall/i.test(args[0]) && /^consentd_(put|banner_)/.test(args[1]))
        .map((args) => args[1]);
}

/* Serve the site's banner and wait until its version is in the archive. */
async function servedAndArchived(s = 'demo', key = server()) {
    const body = await bannerBody(stack.consentd, s);
    const bv = carriedVersion(body);
    await waitFor(async () => (await download(bv, key, s)).status === 200, { message: `version ${bv} of ${s} archived` });
    return { body, bv };
}

test('the_served_banner_carries_its_version_which_anyone_recomputes_from_its_bytes', async () => {
    const body = await bannerBody(stack.consentd);
    const bv = carriedVersion(body);
    assert.match(bv, /^[0-9a-f]{64}$/);
    assert.equal(versionOf(body), bv, 'SHA-256 of the bytes with the version read as zeros');
    // docs/api.md's command, as a DPO would run it.
    const dir = makeTempDir('bv');
    fs.writeFileSync(path.join(dir, 'banner.js'), body);
    const r = spawnSync('sh', ['-c', `sed -E 's/"bv":"[0-9a-f]{64}"/"bv":"'"$(printf '%064d' 0)"'"/' banner.js | sha256sum`], { cwd: dir, encoding: 'utf8' });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.split(' ')[0], bv);
    // Every encoding carries the same version (the same bytes).
    assert.equal((await bannerBody(stack.consentd)).toString(), body.toString());
});

test('the_first_serving_archives_the_exact_bytes_with_when_and_what', async () => {
    const { body, bv } = await servedAndArchived();
    const res = await download(bv);
    assert.equal(res.status, 200, res.text);
    assert.match(res.headers['content-type'], /^application\/javascript/);
    assert.equal(res.headers['x-banner-version'], bv);
    assert.ok(res.body.equals(body), 'the archived bytes are the served bytes');
    assert.equal(versionOf(res.body), bv);

    const listed = await list();
    assert.equal(listed.status, 200, listed.text);
    assert.equal(listed.headers['cache-control'], 'no-store');
    const v = listed.json().versions.find((x) => x.hash === bv);
    assert.ok(v, listed.text);
    assert.equal(v.current, true);
    assert.equal(v.policy_version, site.policy_version);
    assert.deepEqual(v.languages, site.languages);
    assert.deepEqual(v.variants, (site.variants || []).map((x) => x.id));
    assert.ok(Math.abs(Date.parse(v.first_served) - Date.now()) < 60000, v.first_served);
    assert.ok(Date.parse(v.last_served) >= Date.parse(v.first_served));
    assert.equal(v.url, `${stack.consentd.config.public_url}/v1/sites/demo/banner-versions/${bv}`);

    // Kept a retention (plus the grace) from now, one cluster slot per site.
    const keys = Object.keys(await archiveState(stack.redis));
    assert.ok(keys.includes(`cd:{demo:banners}:v:${bv}`) && keys.includes('cd:{demo:banners}:index'), keys.join(' '));
    assert.equal(new Set(keys.map(keySlot)).size, 1, 'every key of the archive in one slot');
    const ttl = Number(await stack.redis.command('PTTL', `cd:{demo:banners}:v:${bv}`));
    const want = (site.log_retention_days ?? 1825) * DAY_MS + GRACE_MS;
    assert.ok(Math.abs(ttl - want) < 60000, `ttl ${ttl} vs ${want}`);
});

test('an_archived_version_is_never_overwritten', async () => {
    const { bv } = await servedAndArchived();
    const key = `cd:{demo:banners}:v:${bv}`;
    const before = await stack.redis.command('HMGET', key, 'js', 'first');
    // Serve it again from a restarted consentd: the archive keeps the first serving.
    await stack.consentd.stop();
    await stack.consentd.start();
    await bannerBody(stack.consentd);
    await waitFor(async () => Number(await stack.redis.command('HGET', key, 'last')) > Number(before[1]), { message: 'last served noted' });
    assert.deepEqual(await stack.redis.command('HMGET', key, 'js', 'first'), before);
});

test('a_consent_names_the_version_in_its_proof_and_record', async () => {
    const { bv } = await servedAndArchived();
    let res;
    const calls = await consentCalls(async () => {
        res = await postConsent(stack.consentd, choice({ banner_version: bv }));
    });
    assert.equal(res.status, 201, res.text);
    assert.deepEqual(calls, ['consentd_put'], 'a version this process serves costs no look-up: one round trip');
    const body = res.json();
    assert.equal(body.banner_version, bv);
    const { payload } = await verifyProof(stack.consentd, body.proof);
    assert.equal(payload.bv, bv);
    assert.match(payload.th, /^[0-9a-f]{64}$/, 'the texts hash stays');
    const read = await stack.consentd.request(`/v1/sites/demo/consents/${body.visitor}`, { headers: server() });
    assert.equal(read.json().banner_version, bv);
    assert.equal(read.json().proof, body.proof);
});

test('an_unknown_version_is_400_and_nothing_is_stored', async () => {
    await servedAndArchived();
    const before = await dataDigest(stack.redis);
    const res = await postConsent(stack.consentd, choice({ banner_version: crypto.randomBytes(32).toString('hex') }));
    assert.equal(res.status, 400, res.text);
    assert.equal(res.json().error.code, 'unknown_banner_version');
    assert.equal(await dataDigest(stack.redis), before, 'Redis unchanged');
});

test('another_sites_version_is_400_and_nothing_is_stored', async () => {
    // The other site's texts differ, so its banner is another version, archived under it.
    const other = await servedAndArchived('other', server(OTHER_KEY));
    const demo = await servedAndArchived();
    assert.notEqual(other.bv, demo.bv);
    const before = await dataDigest(stack.redis);
    const res = await postConsent(stack.consentd, choice({ banner_version: other.bv }));
    assert.equal(res.status, 400, res.text);
    assert.equal(res.json().error.code, 'unknown_banner_version');
    assert.equal(await dataDigest(stack.redis), before, 'Redis unchanged');
    // And the demo key cannot read the other site's archive through demo.
    assert.equal((await download(other.bv)).status, 404);
});

test('a_malformed_version_is_400_invalid_banner_version', async () => {
    for (const bad of ['abc', 'A'.repeat(64), 'g'.repeat(64), 42]) {
        const res = await postConsent(stack.consentd, choice({ banner_version: bad }));
        assert.equal(res.status, 400, res.text);
        assert.equal(res.json().error.code, bad === 42 ? 'invalid_field' : 'invalid_banner_version', String(bad));
    }
});

test('server_side_sources_may_give_no_version', async () => {
    const res = await postConsent(stack.consentd, choice({ source: 'call_center' }), server());
    assert.equal(res.status, 201, res.text);
    assert.equal(res.json().banner_version, undefined);
    const { payload } = await verifyProof(stack.consentd, res.json().proof);
    assert.equal(payload.bv, undefined);
});

test('endpoints_need_the_sites_key_but_the_published_list', async () => {
    const { bv } = await servedAndArchived();
    for (const path of ['/v1/sites/demo/banner-versions', `/v1/sites/demo/banner-versions/${bv}`]) {
        const none = await stack.consentd.request(path);
        assert.equal(none.status, 401, `${path}: ${none.text}`);
        assert.equal(none.json().error.code, 'unauthorized');
        assert.equal((await stack.consentd.request(path, { headers: browser() })).status, 401, `${path} from the site's page`);
        assert.equal((await stack.consentd.request(path, { headers: server('nope') })).status, 401, path);
        const other = await stack.consentd.request(path, { headers: server(OTHER_KEY) });
        assert.equal(other.status, 403, `${path}: ${other.text}`);
        assert.equal(other.json().error.code, 'forbidden');
    }
    const pub = await stack.consentd.request('/v1/sites/demo/banner-versions.json');
    assert.equal(pub.status, 200, pub.text);
    assert.match(pub.headers['cache-control'], /public, max-age=\d+/);
    assert.equal(pub.headers['access-control-allow-origin'], '*');
    const published = pub.json();
    assert.equal(published.site, 'demo');
    const v = published.versions.find((x) => x.hash === bv);
    assert.deepEqual(Object.keys(v).sort(), ['first_served', 'hash'], 'hashes and times only');
    const full = (await list()).json().versions.find((x) => x.hash === bv);
    assert.equal(v.first_served, full.first_served);
    assert.equal((await stack.consentd.request('/v1/sites/nosuch/banner-versions.json')).status, 404);
});

test('a_download_of_a_malformed_or_unknown_hash_is_400_or_404', async () => {
    const bad = await download('not-a-hash');
    assert.equal(bad.status, 400, bad.text);
    assert.equal(bad.json().error.code, 'invalid_banner_version');
    const none = await download('0'.repeat(64));
    assert.equal(none.status, 404, none.text);
    assert.equal(none.json().error.code, 'banner_version_not_found');
});

test('a_reload_with_new_texts_makes_a_new_version_and_the_old_one_stays', async () => {
    const old = await servedAndArchived();
    const visitor = 'visitor-versions-01';
    const given = (await postConsent(stack.consentd, choice({ visitor, banner_version: old.bv }))).json();
    assert.equal(given.banner_version, old.bv);

    const changed = deepMerge(site, { controller: { name: 'Demo SAS (nouveau nom)' } });
    stack.consentd.writeSite('demo.json', changed);
    stack.consentd.signal('SIGHUP');
    let next;
    await waitFor(async () => {
        next = await bannerBody(stack.consentd);
        return carriedVersion(next) !== old.bv && next.includes('nouveau nom');
    }, { timeoutMs: 10000, message: 'the reloaded banner' });
    const bv = carriedVersion(next);
    assert.equal(versionOf(next), bv);
    await waitFor(async () => (await download(bv)).status === 200, { message: 'the new version archived' });

    // The old version stays readable, byte for byte, and is no longer current.
    const again = await download(old.bv);
    assert.ok(again.body.equals(old.body));
    const versions = (await list()).json().versions;
    assert.equal(versions.find((v) => v.hash === bv).current, true);
    assert.equal(versions.find((v) => v.hash === old.bv).current, false);
    assert.equal(versions[0].hash, bv, 'newest first');

    // A browser still running the old banner (its cache) may still give a choice on it.
    let late;
    let calls = await consentCalls(async () => {
        late = await postConsent(stack.consentd, choice({ banner_version: old.bv }));
    });
    assert.equal(late.status, 201, late.text);
    assert.deepEqual(calls, ['consentd_put'], 'a version replaced lately is still known without Redis');
    // The old proof still names the old version, and the access request links to it.
    const access = (await stack.consentd.request(`/v1/sites/demo/visitors/${visitor}`, { headers: server() })).json();
    assert.equal(access.current.banner_version, old.bv);
    assert.equal(access.current.banner_version_url, `${stack.consentd.config.public_url}/v1/sites/demo/banner-versions/${old.bv}`);
    assert.equal((await verifyProof(stack.consentd, access.current.proof)).payload.bv, old.bv);
    const linked = await stack.consentd.request(new URL(access.current.banner_version_url).pathname, { headers: server() });
    assert.ok(linked.body.equals(old.body));

    // After a restart the process no longer knows the old version: the archive answers.
    await stack.consentd.stop();
    await stack.consentd.start();
    let after;
    calls = await consentCalls(async () => {
        after = await postConsent(stack.consentd, choice({ banner_version: old.bv }));
    });
    assert.equal(after.status, 201, after.text);
    assert.deepEqual(calls, ['consentd_banner_named', 'consentd_put'], 'one look-up in the archive, then the write');
    assert.equal((await verifyProof(stack.consentd, after.json().proof)).payload.bv, old.bv);
    const unknown = await postConsent(stack.consentd, choice({ banner_version: sha256hex('never served') }));
    assert.equal(unknown.status, 400, unknown.text);
});

test('erasure_of_a_visitor_leaves_the_archive_untouched', async () => {
    const { bv } = await servedAndArchived();
    const visitor = 'visitor-versions-erase';
    assert.equal((await postConsent(stack.consentd, choice({ visitor, banner_version: bv }))).status, 201);
    const before = await archiveState(stack.redis);
    assert.ok(!JSON.stringify(before).includes(visitor), 'the archive holds no visitor id');
    const erased = await stack.consentd.request(`/v1/sites/demo/visitors/${visitor}`, { method: 'DELETE', headers: server() });
    assert.equal(erased.status, 200, erased.text);
    assert.deepEqual(await archiveState(stack.redis), before);
    assert.equal((await download(bv)).status, 200);
});

test('a_banner_served_while_redis_is_down_is_archived_once_it_is_back', async () => {
    await stack.redis.command('FLUSHALL');
    await stack.consentd.stop();
    await stack.redis.kill();
    await stack.consentd.start();
    const body = await bannerBody(stack.consentd);
    const bv = carriedVersion(body);
    await stack.redis.start();
    await waitFor(async () => (await stack.consentd.request('/healthz')).status === 200, { message: 'Redis back' });
    // The next serving (any worker) archives it.
    await waitFor(async () => {
        await bannerBody(stack.consentd);
        return (await download(bv)).status === 200;
    }, { timeoutMs: 10000, message: 'archived after Redis came back' });
    assert.ok((await download(bv)).body.equals(body));
});

const published = () => stack.consentd.request('/v1/sites/demo/banner-versions.json');

test('a_flood_of_the_published_list_costs_redis_at_most_one_read_per_worker_per_second', async (t) => {
    const { bv } = await servedAndArchived();
    await stack.redis.command('CONFIG', 'RESETSTAT');
    const t0 = performance.now();
    for (let sent = 0; sent < PUBLIC_FLOOD; sent += PUBLIC_FLOOD_CONCURRENCY) {
        const answers = await Promise.all(Array.from({ length: PUBLIC_FLOOD_CONCURRENCY }, published));
        for (const r of answers) {
            assert.equal(r.status, 200, r.text);
            assert.ok(r.json().versions.some((v) => v.hash === bv), `the served version is not listed: ${r.text}`);
        }
    }
    const ms = performance.now() - t0;
    const reads = await redisCommandCalls(stack.redis, 'fcall_ro');
    const bound = THREADS * (Math.ceil(ms / VERSIONS_PUBLIC_RETRY_MS) + 1);
    t.diagnostic(`${PUBLIC_FLOOD} requests in ${Math.round(ms)} ms: ${reads} archive reads`);
    assert.ok(reads <= bound, `${PUBLIC_FLOOD} requests in ${Math.round(ms)} ms made ${reads} archive reads (bound ${bound})`);
});

test('a_version_archived_by_another_node_is_published_within_the_refresh_interval', async (t) => {
    await servedAndArchived();
    // Every worker has a fresh list in memory.
    for (let i = 0; i < 4 * THREADS; i++) assert.equal((await published()).status, 200);
    // Another node archives a version (the archive's layout, store.c).
    const other = sha256hex('a version another node served');
    const now = Date.now();
    const until = now + DAY_MS;
    await stack.redis.command('HSET', `cd:{demo:banners}:v:${other}`, 'js', '/* another node */', 'first', String(now), 'last', String(now), 'pv', site.policy_version, 'langs', site.languages.join(','), 'vars', '');
    await stack.redis.command('PEXPIREAT', `cd:{demo:banners}:v:${other}`, String(until));
    await stack.redis.command('ZADD', 'cd:{demo:banners}:index', String(until), other);
    const t0 = performance.now();
    // Listed by every worker (requests on fresh connections spread over them).
    await waitFor(
        async () => {
            for (let i = 0; i < 4 * THREADS; i++) if (!(await published()).json().versions.some((v) => v.hash === other)) return false;
            return true;
        },
        { timeoutMs: VERSIONS_PUBLIC_REFRESH_MS + 2000, intervalMs: 100, message: 'the other node\'s version in the published list' },
    );
    const ms = performance.now() - t0;
    t.diagnostic(`published after ${Math.round(ms)} ms`);
    assert.ok(ms < VERSIONS_PUBLIC_REFRESH_MS + 1000, `published after ${Math.round(ms)} ms`);
});

test('a_version_this_process_archives_is_published_within_a_second', async (t) => {
    await servedAndArchived();
    for (let i = 0; i < 4 * THREADS; i++) assert.equal((await published()).status, 200); // lists in memory
    stack.consentd.writeSite('demo.json', deepMerge(site, { controller: { name: 'Demo SAS (publiée)' } }));
    stack.consentd.signal('SIGHUP');
    let body;
    await waitFor(async () => (body = await bannerBody(stack.consentd)).includes('(publiée)'), { timeoutMs: 10000, message: 'the reloaded banner' });
    const bv = carriedVersion(body);
    await waitFor(async () => (await download(bv)).status === 200, { message: 'the new version archived' });
    const t0 = performance.now();
    await waitFor(
        async () => {
            for (let i = 0; i < 4 * THREADS; i++) if (!(await published()).json().versions.some((v) => v.hash === bv)) return false;
            return true;
        },
        { timeoutMs: VERSIONS_PUBLIC_RETRY_MS + 3000, intervalMs: 50, message: 'the new version in the published list' },
    );
    const ms = performance.now() - t0;
    t.diagnostic(`published ${Math.round(ms)} ms after it was archived`);
    assert.ok(ms < VERSIONS_PUBLIC_RETRY_MS + 1000, `published ${Math.round(ms)} ms after it was archived`);
});
