// consentd on a Redis Cluster that changes under it, and several consentd
// nodes on one cluster: a live reshard under a steady consent load shows no
// error and loses nothing; a master killed under load is followed (its
// replica promoted, no consentd restart) and, with redis.wait_replicas, no
// acknowledged consent is lost; two consentd processes read what the other
// wrote; the acceptance counters lose no count and count none twice when
// the master of their slot is killed during flushes. Each test forms its
// own cluster (tests/http/lib/harness.mjs).
//
// CONSENTD_TEST_HEAVY=1 moves more slots and kills more masters.
import assert from 'node:assert/strict';
import { afterEach } from 'node:test';
import { Consentd, RedisCluster, delay, keySlotOf, metricSum, shippedSite, test, waitFor } from './lib/harness.mjs';
import { browser, postConsent, server } from './lib/consent.mjs';
import { Expected, expectCounts, postEvent } from './lib/counters.mjs';

const HEAVY = process.env.CONSENTD_TEST_HEAVY === '1';
/* A reshard of thousands of slots under load on a busy CI machine takes
 * minutes: only a stuck one is cut. */
const RESHARD_TIMEOUT_MS = 300000;
const site = shippedSite('demo');
const CONSENT = site.purposes.filter((p) => p.legal_basis === 'consent').map((p) => p.id);
/* Sanitized servers on shared cores: a deadline that a slow moment does not
 * turn into a client-visible error (the point is what redirects cost). */
const COMMAND_TIMEOUT_MS = 2000;
const LOAD_CLIENTS = 8;

const cleanups = [];
afterEach(async () => {
    while (cleanups.length) await cleanups.pop()();
});

function choice(visitor, i = 0) {
    return { decisions: { [CONSENT[0]]: i % 2 === 0 }, policy_version: site.policy_version, lang: 'fr', visitor };
}

/* store.c's partition of a visitor (FNV-1a 32 bit mod 64), hence its slot. */
function visitorSlot(visitor) {
    let h = 2166136261;
    for (const b of Buffer.from(visitor, 'utf8')) h = Math.imul(h ^ b, 16777619) >>> 0;
    return keySlotOf(`demo:${h % 64}`);
}

/* The slots the load writes to: the demo site's 64 partitions. */
const DATA_SLOTS = [...new Set(Array.from({ length: 64 }, (_, p) => keySlotOf(`demo:${p}`)))];

/* How many of master's slots, lowest first, hold n of the data slots. */
function slotsCarrying(master, n) {
    const owned = master.slots.flatMap(([a, b]) => Array.from({ length: b - a + 1 }, (_, i) => a + i)).sort((x, y) => x - y);
    const data = owned.filter((slot) => DATA_SLOTS.includes(slot));
    assert.ok(data.length >= n, `master ${master.port} holds ${data.length} data slots`);
    return owned.indexOf(data[n - 1]) + 1;
}

async function startCluster(options) {
    const cluster = await RedisCluster.start(options);
    cleanups.push(() => cluster.stop());
    return cluster;
}

async function startConsentd(cluster, redis = {}) {
    const consentd = await Consentd.start({
        redis: cluster,
        threads: 2,
        config: { redis: { command_timeout_ms: COMMAND_TIMEOUT_MS, ...redis } },
    });
    cleanups.push(() => consentd.stop());
    return consentd;
}

/*
 * LOAD_CLIENTS loops recording consents of fresh visitors until stop() is
 * called. acked: {visitor, consent_id} of every 201; statuses: count per
 * status; a 503 is retried (after 50 ms) with a fresh visitor, as a banner
 * would retry later.
 */
function consentLoad(consentd, prefix) {
    const load = { acked: [], statuses: {}, running: true, firstAckAfter: new Map() };
    let n = 0;
    const loop = async (k) => {
        while (load.running) {
            const visitor = `${prefix}-${k}-${String(n++).padStart(6, '0')}`;
            let status;
            const sent = Date.now();
            try {
                const res = await postConsent(consentd, choice(visitor, n));
                status = res.status;
                if (status === 201) load.acked.push({ visitor, consent_id: res.json().consent_id, sent, at: Date.now() });
            } catch (error) {
                status = `error: ${error.message}`;
            }
            load.statuses[status] = (load.statuses[status] || 0) + 1;
            if (status !== 201) await delay(50);
        }
    };
    const loops = Array.from({ length: LOAD_CLIENTS }, (_, k) => loop(k));
    load.stop = async () => {
        load.running = false;
        await Promise.all(loops);
        return load;
    };
    cleanups.push(() => load.stop()); /* a failed test stops it too (first) */
    return load;
}

/* Every acknowledged consent reads back, through the given node, as written. */
async function assertAllReadable(consentd, acked) {
    const missing = [];
    for (let i = 0; i < acked.length; i += 16) {
        await Promise.all(
            acked.slice(i, i + 16).map(async ({ visitor, consent_id }) => {
                const res = await consentd.request(`/v1/sites/demo/consents/${visitor}`, { headers: browser() });
                if (res.status !== 200 || res.json().consent_id !== consent_id) missing.push(`${visitor}: ${res.status} ${res.text.slice(0, 80)}`);
            }),
        );
    }
    assert.deepEqual(missing, [], `${missing.length} of ${acked.length} acknowledged consents are not readable`);
}

async function errorStats(cluster) {
    const stats = { MOVED: 0, ASK: 0, TRYAGAIN: 0, CLUSTERDOWN: 0 };
    for (const node of cluster.nodes.filter((n) => n.proc && n.proc.running)) {
        const text = await node.command('INFO', 'errorstats');
        for (const kind of Object.keys(stats)) {
            const m = new RegExp(`errorstat_${kind}:count=(\\d+)`).exec(text);
            if (m) stats[kind] += Number(m[1]);
        }
    }
    return stats;
}

test('two_consentd_nodes_on_one_cluster_read_what_the_other_wrote', async () => {
    const cluster = await startCluster();
    const [a, b] = [await startConsentd(cluster), await startConsentd(cluster)];
    for (let i = 0; i < 40; i++) {
        const [writer, reader] = i % 2 === 0 ? [a, b] : [b, a];
        const visitor = `two-nodes-${String(i).padStart(4, '0')}`;
        const res = await postConsent(writer, choice(visitor, i));
        assert.equal(res.status, 201, res.text);
        const read = await reader.request(`/v1/sites/demo/consents/${visitor}`, { headers: browser() });
        assert.equal(read.status, 200, read.text);
        assert.equal(read.json().consent_id, res.json().consent_id);
        assert.deepEqual(read.json().decisions, res.json().decisions);
        assert.equal(read.json().proof, res.json().proof);
    }
    // Withdraw on one node, see it on the other; history through either.
    const visitor = 'two-nodes-0000';
    const withdrawn = await b.request(`/v1/sites/demo/consents/${visitor}`, { method: 'DELETE', headers: browser() });
    assert.equal(withdrawn.status, 200, withdrawn.text);
    const now = await a.request(`/v1/sites/demo/consents/${visitor}`, { headers: browser() });
    assert.equal(now.json().consent_id, withdrawn.json().consent_id);
    assert.equal(now.json().action, 'withdrawal');
    const access = await a.request(`/v1/sites/demo/visitors/${visitor}`, { headers: server() });
    assert.equal(access.status, 200, access.text);
    assert.equal(access.json().history.length, 2);
    // Erase on one, gone on the other.
    const erased = await a.request(`/v1/sites/demo/visitors/${visitor}`, { method: 'DELETE', headers: server() });
    assert.equal(erased.status, 200, erased.text);
    const gone = await b.request(`/v1/sites/demo/consents/${visitor}`, { headers: browser() });
    assert.equal(gone.status, 404, gone.text);
});

test('live_reshard_under_consent_load_shows_no_error_and_loses_nothing', { timeout: 600000 }, async () => {
    const cluster = await startCluster({ replicas: 1 });
    const consentd = await startConsentd(cluster);
    const before = await errorStats(cluster);
    const load = consentLoad(consentd, 'reshard');
    await delay(500);
    const masters = (await cluster.masters()).sort((x, y) => x.slots[0][0] - y.slots[0][0]);
    // reshard takes a source's slots lowest first: move enough of them to
    // carry 3 of the slots the load writes to (the demo site's 64
    // partitions), or (heavy) whole thirds of the cluster, round.
    const moves = HEAVY
        ? [[0, 1, 3000], [1, 2, 3000], [2, 0, 3000]]
        : [[0, 1, slotsCarrying(masters[0], 3)], [2, 0, slotsCarrying(masters[2], 3)]];
    const t0 = Date.now();
    for (const [from, to, slots] of moves) {
        // redis-cli refuses to reshard until every node has heard (gossip)
        // of the last move: "Nodes don't agree about configuration".
        await cluster.waitAgreed();
        // prettier-ignore
        await cluster.cli(['--cluster', 'reshard', `127.0.0.1:${masters[0].port}`,
            '--cluster-from', masters[from].id, '--cluster-to', masters[to].id,
            '--cluster-slots', String(slots), '--cluster-yes', '--cluster-pipeline', '10'],
            { timeoutMs: RESHARD_TIMEOUT_MS });
    }
    const reshardMs = Date.now() - t0;
    await delay(500);
    await load.stop();
    const after = await errorStats(cluster);
    const redirects = after.MOVED + after.ASK - before.MOVED - before.ASK;
    process.stderr.write(
        `reshard: ${moves.reduce((n, m) => n + m[2], 0)} slots in ${reshardMs} ms under load; ` +
            `${load.acked.length} consents acknowledged; statuses ${JSON.stringify(load.statuses)}; ` +
            `Redis answered ${redirects} redirects (${JSON.stringify(after)})\n`,
    );
    assert.deepEqual(Object.keys(load.statuses), ['201'], `client-visible errors: ${JSON.stringify(load.statuses)}`);
    assert.ok(redirects > 0, 'the load never met a moved slot: the test proved nothing');
    await assertAllReadable(consentd, load.acked);
    // Once every node agrees on the new owners (gossip), and consentd has
    // read once more, the map it holds is the new one: no redirect on reads.
    await cluster.waitAgreed();
    await assertAllReadable(consentd, load.acked);
    const quiet = await errorStats(cluster);
    await assertAllReadable(consentd, load.acked.slice(0, 200));
    const later = await errorStats(cluster);
    assert.equal(later.MOVED + later.ASK, quiet.MOVED + quiet.ASK, 'reads were still redirected after the reshard');
});

test('killed_master_is_followed_and_no_acknowledged_consent_is_lost_with_wait', { timeout: 600000 }, async () => {
    // Two replicas per master: once one is promoted, the other replicates
    // the new master, so that WAIT 1 can still be met.
    const cluster = await startCluster({ replicas: 2 });
    const consentd = await startConsentd(cluster, { wait_replicas: 1, wait_timeout_ms: 500, reconnect_max_ms: 200 });
    const pid = consentd.proc.pid;
    const load = consentLoad(consentd, 'failover');
    const rounds = HEAVY ? 2 : 1;
    const figures = [];
    for (let round = 0; round < rounds; round++) {
        await delay(1500);
        const victim = (await cluster.masters()).sort((x, y) => x.slots[0][0] - y.slots[0][0])[round];
        const inVictim = (v) => victim.slots.some(([a, b]) => visitorSlot(v) >= a && visitorSlot(v) <= b);
        const ackedBefore = load.acked.filter((a) => inVictim(a.visitor)).length;
        assert.ok(ackedBefore > 0, 'no load on the master to kill');
        await victim.node.kill();
        const t0 = Date.now();
        // When the cluster promotes a replica (polled), and when consentd
        // acknowledges a consent on those slots again, without a restart.
        const servedBy = async () => (await cluster.masters()).find((m) => m.slots.some(([a]) => a === victim.slots[0][0]));
        const promotion = waitFor(async () => ((await servedBy())?.port ?? victim.port) !== victim.port && Date.now(), {
            timeoutMs: 30000,
            intervalMs: 20,
            message: 'a replica of the killed master promoted',
        });
        const followed = await waitFor(() => load.acked.find((a) => a.sent > t0 && inVictim(a.visitor)), {
            timeoutMs: 30000,
            intervalMs: 20,
            message: `a consent acknowledged on the slots of the killed master ${victim.port}`,
        });
        const promotedAt = await promotion;
        figures.push(`${followed.at - t0} ms after the kill, ${followed.at - promotedAt} ms after the promotion`);
        assert.notEqual((await servedBy()).port, victim.port, 'no replica took over');
        await waitFor(async () => (await consentd.request('/healthz')).status === 200, { timeoutMs: 10000, message: 'healthz 200 again' });
    }
    await delay(1000);
    await load.stop();
    process.stderr.write(
        `failover: consents on the killed master's slots acknowledged again ${figures.join('; ')} ` +
            `(cluster-node-timeout ${cluster.nodeTimeoutMs} ms); ${load.acked.length} acknowledged; ` +
            `statuses ${JSON.stringify(load.statuses)}\n`,
    );
    assert.equal(consentd.proc.pid, pid);
    assert.ok(consentd.running, 'consentd died');
    for (const status of Object.keys(load.statuses)) assert.ok(status === '201' || status === '503', `unexpected answers: ${JSON.stringify(load.statuses)}`);
    await assertAllReadable(consentd, load.acked);
});

test('counts_flushed_while_their_master_is_killed_arrive_exactly_once', { timeout: 300000 }, async () => {
    // The counters of a site live on one slot ({demo:stats}): kill its
    // master (frozen, then killed) while banner events stream in. Flushes
    // meet the dead master (lost connections: outcome unknown) and the failover
    // (-CLUSTERDOWN, -TRYAGAIN: nothing ran); every batch is kept and sent
    // again with its number, so the sums are exact. wait_replicas: a batch
    // acknowledged is on a replica, so the promotion keeps it.
    const cluster = await startCluster({ replicas: 2 });
    const consentd = await startConsentd(cluster, { wait_replicas: 1, wait_timeout_ms: 500, reconnect_max_ms: 200 });
    const want = new Expected(site);
    const types = ['shown', 'shown', 'dismissed', 'panel_opened'];
    let running = true;
    let sent = 0;
    const statuses = {};
    const loop = async (k) => {
        for (let i = 0; running; i++) {
            const ev = { type: types[i % 4], lang: i % 2 ? 'fr' : 'en', visitor: `count-${k}-${String(i).padStart(6, '0')}` };
            const res = await postEvent(consentd, ev);
            statuses[res.status] = (statuses[res.status] || 0) + 1;
            if (res.status === 204) want.event(ev);
            sent++;
            await delay(25); // within the 512 visitor ids a group keeps while its master is away

        }
    };
    const loops = Array.from({ length: 2 }, (_, k) => loop(k));
    await delay(2500);
    const slot = keySlotOf('{demo:stats}');
    const victim = await cluster.masterOf(slot);
    // Frozen first, so that flushes are in flight when it dies: their
    // outcome is unknown to consentd.
    victim.pause();
    await delay(1500);
    const t0 = Date.now();
    await victim.kill();
    await waitFor(async () => (await cluster.masterOf(slot)).port !== victim.port, {
        timeoutMs: 30000,
        intervalMs: 50,
        message: 'a replica of the killed master promoted',
    });
    const promotedMs = Date.now() - t0;
    await delay(2500); // flushes to the new master
    running = false;
    await Promise.all(loops);
    assert.deepEqual(Object.keys(statuses), ['204'], `events answered ${JSON.stringify(statuses)}`);
    await expectCounts(cluster, 'demo', want.fields, { timeoutMs: 20000 });
    const samples = await consentd.metrics();
    const retries = metricSum(samples, 'consentd_stats_flush_retries_total');
    const duplicates = metricSum(samples, 'consentd_stats_flush_duplicates_total');
    process.stderr.write(
        `counts through a failover: ${sent} events, promotion after ${promotedMs} ms, ` +
            `${retries} batches sent again, ${duplicates} of them applied before\n`,
    );
    assert.ok(retries >= 1, 'no flush met the failover: the test proved nothing');
    assert.equal(metricSum(samples, 'consentd_stats_flush_failures_total'), 0);
    assert.equal(metricSum(samples, 'consentd_stats_dropped_total'), 0);
    assert.equal(metricSum(samples, 'consentd_stats_batches_waiting'), 0);
});
