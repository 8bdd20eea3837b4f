// Redis killed with SIGKILL in the middle of a consent load, with the
// append-only file fsynced at every write (appendfsync always), then
// restarted on the same port and data directory: every consent a client got
// a 201 for is in Redis afterwards, writes meanwhile got 503 with
// Retry-After (never a hang), and consentd recovered by itself, without a
// restart. Prints the figures (docs/reliability.md).
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { Consentd, Redis, test } from '../http/lib/harness.mjs';
import { ConsentLoad, assertAllAckedStored, logEntries, percentile, round } from './lib/load.mjs';

const CLIENTS = 16;
const CYCLES = 3;
const ACKS_BETWEEN_KILLS = 1500;
const OUTAGE_MS = 1500;
const COMMAND_TIMEOUT_MS = 500;
const RECONNECT_MAX_MS = 500;
/* No answer may take longer than the command timeout and a margin. */
const ANSWER_BOUND_MS = COMMAND_TIMEOUT_MS + 1000;
/* Writes succeed again within the reconnect backoff and a margin. */
const RECOVERY_BOUND_MS = RECONNECT_MAX_MS + 2500;

let redis, consentd;
before(async () => {
    redis = await Redis.start({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
    consentd = await Consentd.start({
        redis,
        config: { redis: { command_timeout_ms: COMMAND_TIMEOUT_MS, reconnect_max_ms: RECONNECT_MAX_MS } },
    });
});
after(async () => {
    try {
        await consentd?.stop();
    } finally {
        await redis?.stop();
    }
});

test('redis_sigkill_under_load_loses_no_acknowledged_consent_and_consentd_recovers_alone', async (t) => {
    const pid = consentd.pid;
    const load = new ConsentLoad(consentd, { clients: CLIENTS, prefix: 'rk' }).start();
    const cycles = [];
    for (let cycle = 0; cycle < CYCLES; cycle++) {
        const target = load.acked.size + ACKS_BETWEEN_KILLS;
        await load.until(() => load.acked.size >= target, { message: `${target} acknowledged consents` });
        const killedAt = load.now();
        const inFlight = load.sent - load.results.length;
        await redis.kill();
        await load.until(() => load.between(killedAt).some((r) => r.status === 503), { message: 'a 503 after the kill' });
        const first503 = load.between(killedAt).find((r) => r.status === 503);
        await new Promise((resolve) => setTimeout(resolve, OUTAGE_MS));
        await redis.start();
        const upAt = load.now();
        await load.until(() => load.between(upAt).some((r) => r.status === 201), {
            timeoutMs: 15000,
            message: 'a 201 after Redis came back',
        });
        const firstOk = load.between(upAt).find((r) => r.status === 201);
        const outage = load.between(killedAt, upAt);
        cycles.push({
            in_flight_at_kill: inFlight,
            first_503_after_kill_ms: round(first503.at + first503.ms - killedAt),
            outage_ms: round(upAt - killedAt),
            refused_during_outage: outage.filter((r) => r.status === 503).length,
            outage_p99_ms: round(percentile(outage.map((r) => r.ms), 0.99)),
            recovery_after_redis_up_ms: round(firstOk.at + firstOk.ms - upAt),
        });
    }
    const target = load.acked.size + ACKS_BETWEEN_KILLS;
    await load.until(() => load.acked.size >= target, { message: 'acknowledgements after the last recovery' });
    await load.stop();

    // What the clients saw.
    const statuses = {};
    for (const r of load.results) statuses[r.status] = (statuses[r.status] || 0) + 1;
    const bad = load.results.filter((r) => r.status !== 201 && r.status !== 503);
    assert.equal(bad.length, 0, `answers other than 201/503: ${JSON.stringify(bad.slice(0, 5))}`);
    for (const r of load.results.filter((x) => x.status === 503)) {
        assert.equal(r.code, 'storage_unavailable', JSON.stringify(r));
        assert.ok(Number(r.retryAfter) >= 1, `503 without Retry-After: ${JSON.stringify(r)}`);
    }
    const slowest = Math.max(...load.results.map((r) => r.ms));
    assert.ok(slowest < ANSWER_BOUND_MS, `an answer took ${round(slowest)} ms (bound ${ANSWER_BOUND_MS} ms): a hang`);
    for (const c of cycles) {
        assert.ok(c.refused_during_outage > 0, `no write was refused during an outage: ${JSON.stringify(c)}`);
        assert.ok(c.recovery_after_redis_up_ms < RECOVERY_BOUND_MS, `writes came back late: ${JSON.stringify(c)}`);
    }
    assert.equal(consentd.pid, pid, 'consentd was restarted');
    assert.ok(consentd.running, 'consentd is not running');

    // What Redis holds: every acknowledged consent, read back through the API.
    const checked = await assertAllAckedStored(consentd, load.acked);
    const entries = await logEntries(redis);
    assert.ok(entries >= checked, `the consent log holds ${entries} entries for ${checked} acknowledged consents`);

    const figures = {
        fault: 'redis SIGKILL under consent load, appendfsync always',
        clients: CLIENTS,
        kills: CYCLES,
        requests: load.results.length,
        statuses,
        acknowledged: checked,
        acknowledged_lost: 0,
        log_entries: entries,
        unacknowledged_but_stored: entries - checked,
        slowest_answer_ms: round(slowest),
        max_recovery_after_redis_up_ms: Math.max(...cycles.map((c) => c.recovery_after_redis_up_ms)),
        cycles,
    };
    t.diagnostic(`FIGURES ${JSON.stringify(figures)}`);
});
