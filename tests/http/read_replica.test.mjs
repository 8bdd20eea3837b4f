// redis.read_url (issue 21, item 2): the stats and the exports are read
// from a replica (redis-server --replicaof the primary) with FCALL_RO of
// no-writes functions, and the primary answers when the replica is down,
// failing, or (stats) lacks a packed row or rollup only the primary makes.
// Shown: the same answers from either; the replica serving while the
// primary is blocked (DEBUG SLEEP); the primary running nothing for a query
// the replica served (INFO commandstats); the fallback when the replica is
// down; the metrics of which served; the consents export and the raw log
// export from the replica, and from the primary with the replica down; the
// config refusing a cluster read URL beside one Redis (a cluster's replicas:
// cluster_read_replica.test.mjs).
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import {
    Consentd,
    Redis,
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
const key = (kind, s) => `cd:{rp:stats}:${kind}:${s}`;
const RANGE = `?from=${isoDay(FIRST)}&to=${isoDay(TODAY)}`;

let primary, replica, consentd;

async function replicated() {
    await waitFor(async () => /master_link_status:up/.test(await replica.command('INFO', 'replication')), {
        timeoutMs: 15000,
        message: 'the replica linked to its primary',
    });
    const acked = await primary.command('WAIT', '1', '5000');
    assert.equal(Number(acked), 1, 'the replica has every write');
}

before(async () => {
    primary = await Redis.start();
    replica = await Redis.start({ args: ['--replicaof', '127.0.0.1', String(primary.port)] });
    for (let i = 0; i < DAYS; i++) {
        const d = stamp(FIRST + i * DAY_MS);
        const at = String(FIRST + (i + 1 + 400) * DAY_MS);
        await primary.command('HSET', key('d', d), 'all|shown', String(100 + i), 'all|decisions', String(50 + i),
            'all|accept_all', String(20 + (i % 5)), 'l.fr|shown', String(60 + i), 'v.a|shown', '7');
        await primary.command('PFADD', key('u', d), `r${i % 10}`, `d${i}`);
        await primary.command('PEXPIREAT', key('d', d), at);
        await primary.command('PEXPIREAT', key('u', d), at);
    }
    const site = siteLike('rp');
    consentd = await Consentd.start({
        redis: primary,
        sites: { 'rp.json': site },
        threads: 1,
        config: {
            redis: { read_url: replica.url, command_timeout_ms: 500 },
            stats: { cache_seconds: 0, cache_closed_seconds: 0 },
            log: { checkpoint_seconds: 0 },
        },
    });
    await replicated();
});
after(async () => {
    await consentd?.stop();
    await replica?.stop();
    await primary?.stop();
});

async function statsJson(query = RANGE) {
    const res = await consentd.request(`/v1/sites/rp/stats${query}`, { headers: server() });
    assert.equal(res.status, 200, res.text);
    return res.json();
}

async function metrics() {
    const samples = parseMetrics((await consentd.request('/metrics')).text);
    return {
        replica: metricSum(samples, 'consentd_redis_replica_reads_total'),
        fallback: metricSum(samples, 'consentd_redis_replica_fallbacks_total'),
        connected: metricSum(samples, 'consentd_redis_replica_connected'),
    };
}

/* The answer against the seed. */
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

test('the_primary_packs_what_the_replica_lacks_then_the_replica_answers_alone', async () => {
    assert.equal((await metrics()).connected, 1);
    const m0 = await metrics();
    const first = await statsJson();
    check(first);
    const m1 = await metrics();
    assert.equal(m1.fallback - m0.fallback, 1, 'nothing packed yet: the primary answered (and packed)');
    await replicated();
    // Now the replica has the packed rows: it answers, the primary runs nothing.
    const p0 = await calls(primary);
    const r0 = await redisCommandCalls(replica, 'fcall_ro');
    const again = await statsJson();
    assert.deepEqual(again, first, 'the same answer from the replica');
    assert.equal(await calls(primary), p0, 'no function ran on the primary');
    assert.ok((await redisCommandCalls(replica, 'fcall_ro')) > r0, 'FCALL_RO on the replica');
    assert.ok((await redisCommandCalls(replica, 'pfcount')) > 0, "the open day's and the union's PFCOUNT on the replica");
    const m2 = await metrics();
    assert.equal(m2.replica - m1.replica, 1);
    assert.equal(m2.fallback, m1.fallback);
});

test('stats_are_served_by_the_replica_while_the_primary_is_blocked', async () => {
    await statsJson();
    await replicated();
    const m0 = await metrics();
    const sleeping = primary.command('DEBUG', 'SLEEP', '2');
    try {
        await new Promise((r) => setTimeout(r, 200));
        const t0 = Date.now();
        const answer = await statsJson();
        const took = Date.now() - t0;
        check(answer);
        assert.ok(took < 1000, `answered in ${took} ms while the primary sleeps 2 s`);
        assert.equal((await metrics()).replica - m0.replica, 1);
    } finally {
        await sleeping;
    }
});

test('the_primary_answers_when_the_replica_is_down', async () => {
    const before = await statsJson();
    await replica.stop();
    try {
        await waitFor(async () => (await metrics()).connected === 0, { timeoutMs: 10000, message: 'the replica seen down' });
        const m0 = await metrics();
        const answer = await statsJson();
        assert.deepEqual(answer, before);
        const m1 = await metrics();
        assert.equal(m1.fallback - m0.fallback, 1);
        assert.equal(m1.replica, m0.replica);
    } finally {
        await replica.start();
    }
    await replicated();
    await waitFor(async () => (await metrics()).connected === 1, { timeoutMs: 10000, message: 'the replica seen up again' });
    const m0 = await metrics();
    check(await statsJson());
    assert.equal((await metrics()).replica - m0.replica, 1, 'the replica answers again');
});

test('a_late_flush_on_the_primary_reaches_the_replica_answer_through_the_primary_once', async () => {
    // A flush into a closed day drops its packed row on the primary (and,
    // replicated, on the replica): the replica lacks it, the primary packs it
    // again, and from then on the replica answers with the new count.
    const i = 5;
    const d = stamp(FIRST + i * DAY_MS);
    const at = String(FIRST + (i + 1 + 400) * DAY_MS);
    await primary.command('FCALL', 'consentd_count', '3', key('h', `${d}12`), key('d', d), key('u', d), at, at, '1', 'all|shown', '4');
    await replicated();
    const m0 = await metrics();
    const a = await statsJson();
    assert.equal(a.buckets[i].shown, 100 + i + 4);
    const m1 = await metrics();
    assert.equal(m1.fallback - m0.fallback, 1);
    await replicated();
    const b = await statsJson();
    assert.deepEqual(b, a);
    assert.equal((await metrics()).replica - m1.replica, 1);
});

test('the_exports_are_read_from_the_replica_and_from_the_primary_when_it_is_down', async () => {
    const site = siteLike('rp');
    const purpose = site.purposes.find((p) => p.legal_basis === 'consent').id;
    const body = { decisions: { [purpose]: true }, policy_version: site.policy_version, lang: 'en' };
    const written = (await postConsent(consentd, body, undefined, 'rp')).json();
    assert.ok(written.consent_id, JSON.stringify(written));
    await replicated();
    const exported = async () => {
        const res = await consentd.request('/v1/sites/rp/consents?limit=1000', { headers: server() });
        assert.equal(res.status, 200, res.text);
        return res.text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
    };
    const raw = async () => {
        const res = await consentd.request('/v1/sites/rp/log?limit=1000', { headers: server() });
        assert.equal(res.status, 200, res.text);
        return res.text;
    };
    const r0 = await redisCommandCalls(replica, 'fcall_ro');
    const p0 = await redisCommandCalls(primary, 'fcall_ro');
    const fromReplica = await exported();
    assert.ok(JSON.stringify(fromReplica).includes(written.consent_id), 'the consent in the export');
    const rawReplica = await raw();
    assert.ok((await redisCommandCalls(replica, 'fcall_ro')) > r0, 'read on the replica');
    assert.equal(await redisCommandCalls(primary, 'fcall_ro'), p0, 'nothing read on the primary');
    await replica.stop();
    try {
        await waitFor(async () => (await metrics()).connected === 0, { timeoutMs: 10000, message: 'the replica seen down' });
        assert.deepEqual(await exported(), fromReplica, 'the same export from the primary');
        assert.equal(await raw(), rawReplica);
        assert.ok((await redisCommandCalls(primary, 'fcall_ro')) > p0, 'read on the primary');
    } finally {
        await replica.start();
    }
    await replicated();
});

test('a_cluster_read_url_beside_one_redis_is_refused_naming_the_field', async () => {
    const layout = makeConsentdDir({ config: { redis: { read_url: 'redis+cluster://127.0.0.1:7000' } } });
    const r = runConsentd(['--config', layout.configPath]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /consentd\.json: redis\.read_url: redis\+cluster:\/\/ needs a redis\+cluster:\/\/ redis\.url/);
    const bad = makeConsentdDir({ config: { redis: { read_url: 'http://replica' } } });
    const r2 = runConsentd(['--config', bad.configPath]);
    assert.equal(r2.status, 1, r2.stderr);
    assert.match(r2.stderr, /consentd\.json: redis\.read_url: must be redis:\/\//);
});
