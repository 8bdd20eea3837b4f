// Erasure reaches the disk: after DELETE /v1/sites/{site}/visitors/{visitor},
// no byte of the visitor (its id, its consent ids, its proofs) is left in any
// file under the Redis directory (dump.rdb, appendonlydir/*) within the
// configured bound, erasure.disk_within_seconds (here 2 s).
//
// A Redis stream only flags an XDEL'd entry: the listpack node keeps its bytes
// as long as another entry of that node lives, and an RDB or AOF rewrite
// writes them out. Hence two visitors of the same partition (one stream).
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import { Consentd, Redis, RedisCluster, delay, keySlotOf, shippedSite, waitFor, test } from './lib/harness.mjs';
import { browser, postConsent, server } from './lib/consent.mjs';

const DISK_WITHIN_S = 2;
const MARGIN_MS = 8000; /* a BGREWRITEAOF and a BGSAVE of a tiny data set, on a busy machine */

const site = shippedSite('demo');
const CONSENT = site.purposes.filter((p) => p.legal_basis === 'consent').map((p) => p.id);
const choice = (decisions, extra = {}) => ({ decisions, policy_version: site.policy_version, lang: 'en', ...extra });

/* store_partition: FNV-1a (32 bit) of the visitor id, mod 64. */
function partition(id) {
    let h = 2166136261;
    for (const c of Buffer.from(id)) {
        h ^= c;
        h = Math.imul(h, 16777619) >>> 0;
    }
    return h % 64;
}

/* Two visitor ids of one partition: their log entries share a stream node. */
function samePartition(prefix) {
    const first = `${prefix}-erased-0000`;
    for (let i = 1; ; i++) {
        const id = `${prefix}-kept-${String(i).padStart(6, '0')}`;
        if (partition(id) === partition(first)) return [first, id];
    }
}

/* Every file under dir, as one buffer each: {name: Buffer}. */
function filesUnder(dir) {
    const out = {};
    for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
        if (!entry.isFile()) continue;
        const file = path.join(entry.parentPath ?? entry.path, entry.name);
        out[path.relative(dir, file)] = fs.readFileSync(file);
    }
    return out;
}

/* The files (names) under dir whose bytes contain any of needles. */
function filesHolding(dir, needles) {
    const found = [];
    for (const [name, bytes] of Object.entries(filesUnder(dir))) {
        for (const n of needles) if (bytes.includes(Buffer.from(n))) found.push(`${name}: ${n.slice(0, 24)}`);
    }
    return found;
}

async function persisted(redis, field) {
    const info = await redis.command('INFO', 'persistence');
    return Number((info.match(new RegExp(`${field}:(\\d+)`)) || [])[1]);
}

/* BGSAVE and wait until it is done. */
async function bgsave(redis) {
    const before = await persisted(redis, 'rdb_last_save_time');
    await waitFor(async () => {
        try {
            await redis.command('BGSAVE');
            return true;
        } catch {
            return false; /* a rewrite in progress: again */
        }
    }, { timeoutMs: 10000, message: 'BGSAVE accepted' });
    await waitFor(async () => (await persisted(redis, 'rdb_bgsave_in_progress')) === 0 &&
        (await persisted(redis, 'rdb_last_save_time')) >= before, { timeoutMs: 10000, message: 'BGSAVE done' });
}

let redis;
let consentd;
before(async () => {
    redis = await Redis.start({ args: ['--appendonly', 'yes', '--rdbcompression', 'no'] });
    consentd = await Consentd.start({ redis, config: { erasure: { disk_within_seconds: DISK_WITHIN_S } } });
});
after(async () => {
    await consentd?.stop();
    await redis?.stop();
});

test('erased_visitor_leaves_no_byte_in_the_rdb_or_the_aof_within_the_bound', async () => {
    const [visitor, keep] = samePartition('disk');
    const mine = [];
    for (let i = 0; i < 3; i++) {
        const res = await postConsent(consentd, choice({ [CONSENT[0]]: i % 2 === 0 }, { visitor }));
        assert.equal(res.status, 201, res.text);
        mine.push(res.json().consent_id, res.json().proof);
    }
    const kept = await postConsent(consentd, choice({ [CONSENT[0]]: true }, { visitor: keep }));
    assert.equal(kept.status, 201, kept.text);
    // The files hold the visitor before the erasure: the search below can see it.
    await bgsave(redis);
    assert.ok(filesHolding(redis.dir, [visitor]).some((f) => f.startsWith('dump.rdb')), 'dump.rdb lacks the visitor');
    assert.ok(filesHolding(redis.dir, [visitor]).some((f) => f.startsWith('appendonlydir')), 'the AOF lacks the visitor');

    const erased = Date.now();
    const res = await consentd.request(`/v1/sites/demo/visitors/${visitor}`, { method: 'DELETE', headers: server() });
    assert.equal(res.status, 200, res.text);
    const needles = [visitor, ...mine];
    // Within the bound, nobody but consentd asking: no file holds any of it.
    let left = [];
    while (Date.now() - erased < DISK_WITHIN_S * 1000 + MARGIN_MS) {
        left = filesHolding(redis.dir, needles);
        if (left.length === 0) break;
        await delay(200);
    }
    assert.deepEqual(left, [], `still on disk ${Date.now() - erased} ms after the erasure`);
    // And a snapshot taken now writes nothing of it either (XDEL alone would).
    await bgsave(redis);
    assert.deepEqual(filesHolding(redis.dir, needles), [], 'a fresh BGSAVE wrote the erased visitor');
    // The other visitor of the same stream is still on disk: the files were read.
    assert.ok(filesHolding(redis.dir, [keep]).length > 0, 'the kept visitor is on disk nowhere');
    const back = await consentd.request(`/v1/sites/demo/consents/${keep}`, { headers: browser() });
    assert.equal(back.status, 200, back.text);
});

test('a_refused_compaction_puts_its_marker_back_and_compacts_later', async () => {
    const [visitor, keep] = samePartition('refused');
    for (const v of [visitor, keep]) {
        const res = await postConsent(consentd, choice({ [CONSENT[0]]: true }, { visitor: v }));
        assert.equal(res.status, 201, res.text);
    }
    const marker = `cd:{demo:${partition(visitor)}}:compact`;
    // A slow AOF rewrite of our own is running: consentd's BGREWRITEAOF is refused.
    await redis.command('CONFIG', 'SET', 'rdb-key-save-delay', '400000');
    await waitFor(async () => (await persisted(redis, 'aof_rewrite_in_progress')) === 0, { timeoutMs: 10000 });
    await redis.command('BGREWRITEAOF');
    await redis.command('CONFIG', 'SET', 'rdb-key-save-delay', '0'); /* the running child keeps its delay */
    const from = consentd.stderr.length;
    const res = await consentd.request(`/v1/sites/demo/visitors/${visitor}`, { method: 'DELETE', headers: server() });
    assert.equal(res.status, 200, res.text);
    const since = Number(await redis.command('GET', marker));
    assert.ok(since > 0, 'the erasure noted no compaction marker');
    await consentd.waitForLog(/compaction on disk refused/, { from, timeoutMs: 10000 });
    assert.equal(Number(await redis.command('GET', marker)), since, 'the refused compaction did not put its marker back');
    // Once the rewrite is done, a later round takes it again and compacts.
    await waitFor(async () => (await redis.command('GET', marker)) === null, { timeoutMs: 30000, message: 'the marker taken again' });
    await waitFor(async () => (await persisted(redis, 'aof_rewrite_in_progress')) === 0 && (await persisted(redis, 'rdb_bgsave_in_progress')) === 0, {
        timeoutMs: 30000,
        message: 'the compaction done',
    });
    await waitFor(() => filesHolding(redis.dir, [visitor]).length === 0, { timeoutMs: 10000, message: 'the disk clean' });
    assert.ok(filesHolding(redis.dir, [keep]).length > 0, 'the kept visitor is on disk nowhere');
});

test('on_a_cluster_each_master_that_held_an_erased_visitor_compacts', async () => {
    const cluster = await RedisCluster.start();
    let node;
    try {
        for (const n of cluster.nodes) {
            await n.command('CONFIG', 'SET', 'rdbcompression', 'no');
            await n.command('CONFIG', 'SET', 'appendonly', 'yes');
        }
        node = await Consentd.start({ redis: cluster, config: { erasure: { disk_within_seconds: DISK_WITHIN_S } } });
        // Visitors until every master holds one, each beside a kept visitor of its partition.
        const byMaster = new Map();
        for (let i = 0; byMaster.size < cluster.nodes.length && i < 200; i++) {
            const [visitor, keep] = samePartition(`c${i}`);
            const master = await cluster.masterOf(keySlotOf(`cd:{demo:${partition(visitor)}}:log`));
            if (byMaster.has(master.port)) continue;
            for (const v of [visitor, keep]) {
                const res = await postConsent(node, choice({ [CONSENT[0]]: true }, { visitor: v }));
                assert.equal(res.status, 201, res.text);
            }
            byMaster.set(master.port, { master, visitor, keep });
        }
        assert.equal(byMaster.size, cluster.nodes.length, 'no visitor on some master');
        for (const { master, visitor } of byMaster.values()) {
            await bgsave(master);
            assert.ok(filesHolding(master.dir, [visitor]).length > 0, `master ${master.port}: nothing on disk before`);
        }
        const erased = Date.now();
        for (const { visitor } of byMaster.values()) {
            const res = await node.request(`/v1/sites/demo/visitors/${visitor}`, { method: 'DELETE', headers: server() });
            assert.equal(res.status, 200, res.text);
        }
        for (const { master, visitor, keep } of byMaster.values()) {
            let left = [];
            while (Date.now() - erased < DISK_WITHIN_S * 1000 + MARGIN_MS) {
                left = filesHolding(master.dir, [visitor]);
                if (left.length === 0) break;
                await delay(200);
            }
            assert.deepEqual(left, [], `master ${master.port}: still on disk ${Date.now() - erased} ms after the erasure`);
            assert.ok(filesHolding(master.dir, [keep]).length > 0, `master ${master.port}: the kept visitor is on disk nowhere`);
        }
    } finally {
        await node?.stop();
        await cluster.stop();
    }
});
