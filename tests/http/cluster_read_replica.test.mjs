// redis.read_url on a Redis Cluster (issue 21, item 2): with redis.url and
// redis.read_url both redis+cluster://, the stats and the exports are read
// from a replica of the master of their slot (a connection that said
// READONLY), and the masters answer when that replica is down or cannot
// answer. A real cluster of 3 masters with a replica each
// (tests/http/lib/harness.mjs).
//
// Shown: the stats the replica answers equal the master's answer, and the
// master runs no function for them (INFO commandstats); the replica's
// connection said READONLY (CLIENT LIST flags); the replica killed -> the
// master answers the same stats and the consents export, counted in /metrics as a
// fallback (promtool-valid); back up -> the replica answers again; the
// config refusing a read URL of another kind than redis.url.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before } from 'node:test';
import {
    Consentd,
    RedisCluster,
    keySlotOf,
    makeConsentdDir,
    metricSum,
    parseMetrics,
    redisCommandCalls,
    runConsentd,
    siteLike,
    test,
    waitFor,
} from './lib/harness.mjs';
import { postConsent, server } from './lib/consent.mjs';

const DAY_MS = 86400000;
const DAYS = 40;
const TODAY = Date.parse(`${new Date().toISOString().slice(0, 10)}T00:00:00Z`);
const FIRST = TODAY - (DAYS - 1) * DAY_MS; /* through today: one open row */
const isoDay = (ms) => new Date(ms).toISOString().slice(0, 10);
const stamp = (ms) => isoDay(ms).replaceAll('-', '');
const key = (kind, s) => `cd:{crp:stats}:${kind}:${s}`;
const RANGE = `?from=${isoDay(FIRST)}&to=${isoDay(TODAY)}`;
const SLOT = keySlotOf('crp:stats');

let cluster, consentd, master, replica;

/* The master of the stats' slot and its replica (Redis objects), once the
 * node asked has heard (gossip) which replica follows which master. */
async function slotNodes() {
    let found;
    await waitFor(
        async () => {
            const topo = await cluster.topology();
            const m = topo.find((t) => t.master && !t.failed && t.slots.some(([a, b]) => SLOT >= a && SLOT <= b));
            const r = m && topo.find((t) => !t.master && !t.failed && t.masterId === m.id);
            found = r ? [m.node, r.node] : undefined;
            return found !== undefined;
        },
        { timeoutMs: 15000, message: `a master and a replica for slot ${SLOT}` },
    );
    return found;
}

async function replicated() {
    await waitFor(async () => /master_link_status:up/.test(await replica.command('INFO', 'replication')), {
        timeoutMs: 15000,
        message: 'the replica linked to its master',
    });
    assert.equal(Number(await master.command('WAIT', '1', '5000')), 1, 'the replica has every write');
}

before(async () => {
    cluster = await RedisCluster.start({ replicas: 1 });
    [master, replica] = await slotNodes();
    for (let i = 0; i < DAYS; i++) {
        const d = stamp(FIRST + i * DAY_MS);
        const at = String(FIRST + (i + 1 + 400) * DAY_MS);
        await master.command('HSET', key('d', d), 'all|shown', String(100 + i), 'all|decisions', String(50 + i),
            'all|accept_all', String(20 + (i % 5)), 'l.fr|shown', String(60 + i), 'v.a|shown', '7');
        await master.command('PFADD', key('u', d), `r${i % 10}`, `d${i}`);
        await master.command('PEXPIREAT', key('d', d), at);
        await master.command('PEXPIREAT', key('u', d), at);
    }
    consentd = await Consentd.start({
        redis: cluster,
        /* crq: the consents of the export (their counts would change crp's stats) */
        sites: { 'crp.json': siteLike('crp'), 'crq.json': siteLike('crq') },
        threads: 1,
        config: {
            redis: { read_url: cluster.url, command_timeout_ms: 1000, reconnect_max_ms: 200 },
            stats: { cache_seconds: 0, cache_closed_seconds: 0 },
            log: { checkpoint_seconds: 0 },
        },
    });
    await replicated();
});
after(async () => {
    await consentd?.stop();
    await cluster?.stop();
});

async function statsJson(query = RANGE) {
    const res = await consentd.request(`/v1/sites/crp/stats${query}`, { headers: server() });
    assert.equal(res.status, 200, res.text);
    return res.json();
}

async function metricsText() {
    const res = await consentd.request('/metrics');
    assert.equal(res.status, 200);
    return res.text;
}

async function metrics() {
    const samples = parseMetrics(await metricsText());
    return {
        replica: metricSum(samples, 'consentd_redis_replica_reads_total'),
        fallback: metricSum(samples, 'consentd_redis_replica_fallbacks_total'),
        connected: metricSum(samples, 'consentd_redis_replica_connected'),
    };
}

function check(answer) {
    assert.equal(answer.buckets.length, DAYS);
    let shown = 0;
    for (let i = 0; i < DAYS; i++) {
        assert.equal(answer.buckets[i].shown, 100 + i);
        assert.equal(answer.buckets[i].unique_visitors, 2, `day ${i}`);
        shown += 100 + i;
    }
    assert.equal(answer.total.shown, shown);
    assert.equal(answer.total.unique_visitors, 10 + DAYS);
}

const calls = async (redis) => (await redisCommandCalls(redis, 'fcall')) + (await redisCommandCalls(redis, 'fcall_ro'));

function promtoolClean(text) {
    const run = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.ok(!run.error, `cannot run promtool (Debian package prometheus): ${run.error}`);
    assert.equal(`${run.stdout}${run.stderr}`, '', `promtool check metrics complains:\n${run.stdout}${run.stderr}`);
    assert.equal(run.status, 0);
}

test('the_replica_of_the_slot_answers_the_stats_the_master_gave_and_the_master_runs_nothing', async () => {
    await waitFor(async () => (await metrics()).connected === 1, { timeoutMs: 15000, message: 'the replicas connected' });
    const m0 = await metrics();
    const fromMaster = await statsJson(); /* nothing packed yet: the master answers (and packs) */
    check(fromMaster);
    const m1 = await metrics();
    assert.equal(m1.fallback - m0.fallback, 1, 'the first query fell back to the master');
    await replicated();
    const p0 = await calls(master);
    const r0 = await redisCommandCalls(replica, 'fcall_ro');
    const fromReplica = await statsJson();
    assert.deepEqual(fromReplica, fromMaster, "the replica's stats equal the master's");
    assert.equal(await calls(master), p0, 'no function ran on the master');
    assert.ok((await redisCommandCalls(replica, 'fcall_ro')) > r0, 'FCALL_RO on the replica');
    const m2 = await metrics();
    assert.equal(m2.replica - m1.replica, 1, 'counted as a replica read');
    assert.equal(m2.fallback, m1.fallback);
    // The replica serves consentd's reads on a READONLY connection.
    const clients = String(await replica.command('CLIENT', 'LIST'));
    assert.ok(/flags=r /.test(clients), `a READONLY client on the replica:\n${clients}`);
    promtoolClean(await metricsText());
});

test('the_master_answers_when_the_replica_is_killed_then_the_replica_again', async () => {
    const site = siteLike('crq');
    const purpose = site.purposes.find((p) => p.legal_basis === 'consent').id;
    const written = await postConsent(consentd, { decisions: { [purpose]: true }, policy_version: site.policy_version, lang: 'en' }, undefined, 'crq');
    assert.equal(written.status, 201, written.text);
    const before = await statsJson();
    await replica.kill();
    try {
        await waitFor(async () => (await metrics()).connected === 0, { timeoutMs: 15000, message: 'the replica seen down' });
        const m0 = await metrics();
        const answer = await statsJson();
        assert.deepEqual(answer, before, 'the same stats from the master');
        const exported = await consentd.request('/v1/sites/crq/consents?limit=1000', { headers: server() });
        assert.equal(exported.status, 200, exported.text);
        assert.ok(exported.text.includes(written.json().consent_id), 'the consents export read from the masters');
        const m1 = await metrics();
        assert.equal(m1.fallback - m0.fallback, 1, 'counted as a fallback');
        assert.equal(m1.replica, m0.replica);
        promtoolClean(await metricsText());
    } finally {
        await replica.start();
    }
    await cluster.waitOk();
    await replicated();
    await waitFor(async () => (await metrics()).connected === 1, { timeoutMs: 20000, message: 'the replica seen up again' });
    const m0 = await metrics();
    check(await statsJson());
    assert.equal((await metrics()).replica - m0.replica, 1, 'the replica answers again');
});

test('a_read_url_of_another_kind_than_redis_url_is_refused_naming_the_field', async () => {
    const single = makeConsentdDir({ config: { redis: { url: 'redis://127.0.0.1:6390', read_url: 'redis+cluster://127.0.0.1:7000' } } });
    const r1 = runConsentd(['--config', single.configPath]);
    assert.equal(r1.status, 1, r1.stderr);
    assert.match(r1.stderr, /consentd\.json: redis\.read_url: redis\+cluster:\/\/ needs a redis\+cluster:\/\/ redis\.url/);
    const mixed = makeConsentdDir({ config: { redis: { url: 'redis+cluster://127.0.0.1:7000', read_url: 'redis://127.0.0.1:7001' } } });
    const r2 = runConsentd(['--config', mixed.configPath]);
    assert.equal(r2.status, 1, r2.stderr);
    assert.match(r2.stderr, /consentd\.json: redis\.read_url: redis\.url is a cluster: name its nodes/);
});
