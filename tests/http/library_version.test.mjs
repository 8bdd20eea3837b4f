// The Redis Function library's version across a rolling upgrade: consentd
// loads src/store.lua only into a Redis whose `consentd` library is older
// (absent, from before versions, or a smaller VERSION); the same version is
// not loaded again on a reconnect (INFO commandstats' FUNCTION LOAD count
// stays put); a newer one is left alone, said once in the log, and consents
// still work on it. On a Redis Cluster, every master gets the same treatment.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import { Consentd, Redis, RedisCluster, RedisError, SOURCE_DIR, shippedSite, test, waitFor } from './lib/harness.mjs';
import { postConsent } from './lib/consent.mjs';

const SOURCE = fs.readFileSync(path.join(SOURCE_DIR, 'src', 'store.lua'), 'utf8');
const VERSION = Number(/\nlocal VERSION = (\d+)\n/.exec(SOURCE)[1]);
const THREADS = 2;
const TIMEOUT = { timeout: 60000 }; /* a failure must not hang the file */
const site = shippedSite('demo');

/* The real library under another VERSION: what an older or a newer consentd
 * would have loaded (a newer one keeps every function of the older). */
function libraryWithVersion(v) {
    return SOURCE.replace(/\nlocal VERSION = \d+\n/, `\nlocal VERSION = ${v}\n`);
}
/* A library from before versions: no consentd_version at all. */
const UNVERSIONED = "#!lua name=consentd\nredis.register_function('consentd_put', function() return redis.error_reply('ERR old library') end)\n";

/* The library version of one Redis node: 0 when it has none. */
async function versionOf(node) {
    try {
        return await node.command('FCALL_RO', 'consentd_version', '0');
    } catch (error) {
        if (error instanceof RedisError && /Function not found/.test(error.message)) return 0;
        throw error;
    }
}

/* How many times a command ran on that node (INFO commandstats). */
async function calls(node, name) {
    const info = await node.command('INFO', 'commandstats');
    const m = new RegExp(`^cmdstat_${name.replace('|', '\\|')}:calls=(\\d+)`, 'm').exec(info);
    return m ? Number(m[1]) : 0;
}

async function consentWorks(consentd, visitor) {
    const res = await postConsent(consentd, { decisions: {}, policy_version: site.policy_version, lang: 'fr', visitor });
    assert.equal(res.status, 201, res.text);
}

/* After its connections were dropped: 201 once it has reconnected. */
function consentSoon(consentd, visitor) {
    return waitFor(
        async () => {
            const res = await postConsent(consentd, { decisions: {}, policy_version: site.policy_version, lang: 'fr', visitor });
            return res.status === 201;
        },
        { message: 'a consent answered 201 after the reconnect' },
    );
}

describeOneRedis();
describeCluster();

function describeOneRedis() {
    let redis;
    const nodes = [];
    before(async () => {
        redis = await Redis.start();
    });
    after(async () => {
        try {
            for (const n of nodes) await n.stop();
        } finally {
            await redis?.stop();
        }
    });
    const start = async () => {
        const c = await Consentd.start({ redis, threads: THREADS });
        nodes.push(c);
        return c;
    };
    const stop = async (c) => {
        await c.stop();
        nodes.splice(nodes.indexOf(c), 1);
    };

    test('two_nodes_starting_together_on_an_empty_redis_load_the_library_and_both_work', TIMEOUT, async () => {
        const [a, b] = await Promise.all([start(), start()]);
        await waitFor(async () => (await versionOf(redis)) === VERSION, { message: `library version ${VERSION} in Redis` });
        await consentWorks(a, 'race-visitor-0001');
        await consentWorks(b, 'race-visitor-0002');
        for (const c of [a, b]) assert.doesNotMatch(c.stderr, /loading the Redis function library/);
        await stop(a);
        await stop(b);
    });

    test('the_same_version_is_not_loaded_again_on_a_reconnect', TIMEOUT, async () => {
        const c = await start();
        await consentWorks(c, 'same-visitor-0001');
        const loads = await calls(redis, 'function|load');
        const asked = await calls(redis, 'fcall_ro');
        // Every connection of consentd dropped: each worker reconnects and asks.
        await redis.command('CLIENT', 'KILL', 'TYPE', 'normal');
        await waitFor(async () => (await calls(redis, 'fcall_ro')) >= asked + THREADS, {
            message: 'each worker to ask the library version again',
        });
        await consentSoon(c, 'same-visitor-0002');
        assert.equal(await calls(redis, 'function|load'), loads, 'FUNCTION LOAD was sent again for the same version');
        assert.equal(await versionOf(redis), VERSION);
        await stop(c);
    });

    for (const [what, older, had] of [
        ['an_older_version', libraryWithVersion(VERSION - 1), `version ${VERSION - 1}`],
        ['a_library_from_before_versions', UNVERSIONED, 'no versioned consentd library'],
    ]) {
        test(`${what}_in_redis_is_replaced`, TIMEOUT, async () => {
            await redis.command('FUNCTION', 'LOAD', 'REPLACE', older);
            const c = await start();
            await waitFor(async () => (await versionOf(redis)) === VERSION, { message: `library version ${VERSION} in Redis` });
            await c.waitForLog(new RegExp(`loaded the Redis function library, version ${VERSION} \\(Redis had ${had}\\)`));
            await consentWorks(c, 'older-visitor-01');
            await stop(c);
        });
    }

    test('a_newer_version_is_left_alone_said_once_and_consents_still_work', TIMEOUT, async () => {
        await redis.command('FUNCTION', 'LOAD', 'REPLACE', libraryWithVersion(VERSION + 1));
        const loads = await calls(redis, 'function|load');
        const c = await start();
        const line = `Redis has consentd library version ${VERSION + 1}, newer than this node's ${VERSION}: leaving it`;
        await c.waitForLog(new RegExp(line));
        await consentWorks(c, 'newer-visitor-01');
        // Reconnects (both workers) do not say it again.
        await redis.command('CLIENT', 'KILL', 'TYPE', 'normal');
        await consentSoon(c, 'newer-visitor-02');
        assert.equal(c.stderr.split(line).length - 1, 1, `said ${c.stderr.split(line).length - 1} times:\n${c.stderr}`);
        assert.equal(await versionOf(redis), VERSION + 1, 'the newer library was replaced');
        assert.equal(await calls(redis, 'function|load'), loads, 'FUNCTION LOAD was sent over a newer library');
        await stop(c);
    });
}

function describeCluster() {
    let cluster, consentd;
    before(async () => {
        cluster = await RedisCluster.start({ masters: 3 });
    });
    after(async () => {
        try {
            await consentd?.stop();
        } finally {
            await cluster?.stop();
        }
    });

    test('on_a_cluster_every_master_is_checked_older_replaced_newer_left_alone', TIMEOUT, async () => {
        const masters = (await cluster.masters()).map((t) => t.node);
        assert.equal(masters.length, 3);
        consentd = await Consentd.start({ redis: cluster, threads: THREADS });
        for (const m of masters) {
            await waitFor(async () => (await versionOf(m)) === VERSION, { message: `library version ${VERSION} on master ${m.port}` });
        }
        await consentWorks(consentd, 'cluster-visitor-01');
        // A rolling upgrade seen from one node: one master has an older
        // library, another a newer one; every connection comes back.
        const [older, newer, same] = masters;
        await older.command('FUNCTION', 'LOAD', 'REPLACE', libraryWithVersion(VERSION - 1));
        await newer.command('FUNCTION', 'LOAD', 'REPLACE', libraryWithVersion(VERSION + 1));
        const sameLoads = await calls(same, 'function|load');
        const sameAsked = await calls(same, 'fcall_ro');
        for (const m of masters) await m.command('CLIENT', 'KILL', 'TYPE', 'normal');
        await waitFor(async () => (await versionOf(older)) === VERSION, { message: `master ${older.port} to get version ${VERSION} back` });
        await consentd.waitForLog(new RegExp(`Redis has consentd library version ${VERSION + 1}, newer than this node's ${VERSION}: leaving it`));
        await waitFor(async () => (await calls(same, 'fcall_ro')) >= sameAsked + THREADS, { message: `master ${same.port} to be asked again` });
        assert.equal(await versionOf(newer), VERSION + 1);
        assert.equal(await calls(same, 'function|load'), sameLoads, `master ${same.port} had the same version and got FUNCTION LOAD`);
        // Consents on every master's slots (the visitors spread over 64 partitions).
        await waitFor(async () => (await consentd.request('/healthz')).status === 200, { message: 'consentd connected again' });
        for (let i = 0; i < 12; i++) await consentSoon(consentd, `cluster-visitor-${String(i).padStart(4, '0')}x`);
    });
}
