// consentd killed with SIGKILL under a consent load, and started again:
// every consent a client got a 201 for is in Redis (a 201 leaves only after
// Redis has the write), and the clients see connection errors while it is
// down, never a wrong answer. Prints the figures (docs/reliability.md).
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { Consentd, Redis, test } from '../http/lib/harness.mjs';
import { ConsentLoad, assertAllAckedStored, logEntries, round } from './lib/load.mjs';

const CLIENTS = 16;
const ACKS_BEFORE_KILL = 1000;
const DOWN_MS = 500;
const ACKS_AFTER_RESTART = 1000;

let redis, consentd;
before(async () => {
    redis = await Redis.start({ args: ['--appendonly', 'yes', '--appendfsync', 'always'] });
    consentd = await Consentd.start({ redis });
});
after(async () => {
    try {
        await consentd?.stop();
    } finally {
        await redis?.stop();
    }
});

test('consentd_sigkill_under_load_loses_no_acknowledged_consent', async (t) => {
    const load = new ConsentLoad(consentd, { clients: CLIENTS, prefix: 'ck' }).start();
    await load.until(() => load.acked.size >= ACKS_BEFORE_KILL, { message: `${ACKS_BEFORE_KILL} acknowledged consents` });
    const killedAt = load.now();
    const inFlight = load.sent - load.results.length;
    await consentd.kill();
    await new Promise((resolve) => setTimeout(resolve, DOWN_MS));
    const startAt = load.now();
    await consentd.start();
    const upAt = load.now();
    const ackedAtRestart = load.acked.size;
    await load.until(() => load.between(startAt).some((r) => r.status === 201), { message: 'a 201 after the restart' });
    const firstOk = load.between(startAt).find((r) => r.status === 201);
    await load.until(() => load.acked.size >= ackedAtRestart + ACKS_AFTER_RESTART, { message: 'acknowledgements after the restart' });
    await load.stop();

    const statuses = {};
    for (const r of load.results) statuses[r.status || r.error] = (statuses[r.status || r.error] || 0) + 1;
    const wrong = load.results.filter((r) => r.status !== 201 && r.status !== 0);
    assert.equal(wrong.length, 0, `answers other than 201 or a cut connection: ${JSON.stringify(wrong.slice(0, 5))}`);
    const checked = await assertAllAckedStored(consentd, load.acked);
    const entries = await logEntries(redis);
    assert.ok(entries >= checked, `the consent log holds ${entries} entries for ${checked} acknowledged consents`);
    t.diagnostic(
        `FIGURES ${JSON.stringify({
            fault: 'consentd SIGKILL under consent load, restarted',
            clients: CLIENTS,
            requests: load.results.length,
            answers: statuses,
            in_flight_at_kill: inFlight,
            acknowledged: checked,
            acknowledged_lost: 0,
            log_entries: entries,
            unacknowledged_but_stored: entries - checked,
            down_ms: round(startAt - killedAt),
            start_to_healthz_ms: round(upAt - startAt),
            first_201_after_start_ms: round(firstOk.at + firstOk.ms - startAt),
        })}`,
    );
});
