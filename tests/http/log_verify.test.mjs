// The tamper-evident consent log (issue 19, item 2): the checkpointer chains
// every partition and signs checkpoints; ops/verify-log.sh, which shares no
// code with consentd, verifies a clean log and names each tampering done
// directly in Redis after a checkpoint covered the entries.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before } from 'node:test';
import { Consentd, shippedSite, shippedSites, siteLike, startRedis, test } from './lib/harness.mjs';
import { browser, keySlot, postConsent, server } from './lib/consent.mjs';
import {
    busyPartition, checkpointsOf, choiceOf, payloadOf, rawLog, tamper, verifyLog, waitCovered, writeConsents,
} from './lib/auditlog.mjs';

const demo = shippedSite('demo');
const SITES = ['clean', 'alter', 'insert', 'reorder', 'remove', 'legacy'];
const sites = Object.fromEntries(SITES.map((id) => [`${id}.json`, siteLike(id)]));
const config = {
    log: { checkpoint_seconds: 1 },
    rate_limit: { visitor_writes_per_minute: 1000, visitor_writes_per_day: 1000 },
};

let redis, a, b;
before(async () => {
    redis = await startRedis();
    // Two nodes on one Redis (or one cluster): one linear chain of checkpoints.
    a = await Consentd.start({ redis, sites: { ...shippedSites(), ...sites }, config });
    b = await Consentd.start({ redis, sites: { ...shippedSites(), ...sites }, config });
    // Nodes of one deployment share the signing keys: b restarts with a's.
    await b.stop();
    fs.rmSync(b.layout.keysDir, { recursive: true });
    fs.cpSync(a.layout.keysDir, b.layout.keysDir, { recursive: true });
    await b.start();
});
after(async () => {
    try {
        await a?.stop();
        await b?.stop();
    } finally {
        await redis?.stop();
    }
});

/* Six writes of one visitor (one partition, n 1..6) and a few others,
 * covered by a checkpoint: returns that partition. */
async function coveredLog(siteId) {
    const site = siteLike(siteId, demo);
    const written = await writeConsents(a, site, `visitor-${siteId}`, 6);
    await waitCovered(a, siteId, written);
    return busyPartition(redis, siteId, 6);
}

test('a_clean_log_verifies_and_every_entry_is_chained', async () => {
    await coveredLog('clean');
    const { status, out } = verifyLog(a, 'clean');
    assert.equal(status, 0, out);
    assert.match(out, /verify-log: OK: 9 entries/);
    const log = await rawLog(a, 'clean');
    assert.equal(log.length, 9);
    for (const e of log) {
        assert.match(e.h, /^[0-9a-f]{64}$/, JSON.stringify(e));
        assert.ok(Number.isInteger(e.n) && e.n >= 1, JSON.stringify(e));
    }
    const last = payloadOf((await checkpointsOf(a, 'clean')).at(-1).jws);
    assert.equal(last.site, 'clean');
    assert.equal(last.size, 9);
});

test('an_inclusion_proof_leads_from_one_consent_to_a_signed_checkpoint', async () => {
    // The access request names each write's log entry; its proof verifies alone.
    const access = await a.request('/v1/sites/clean/visitors/visitor-clean', { headers: server() });
    assert.equal(access.status, 200, access.text);
    const history = access.json().history;
    assert.equal(history.length, 6);
    for (const h of [history[5], history[2], history[0]]) {
        const { status, out } = verifyLog(a, 'clean', undefined, ['--inclusion', `${h.log_id}:visitor-clean`]);
        assert.equal(status, 0, out);
        assert.match(out, new RegExp(`OK: entry ${h.log_id} \\(partition \\d+, n \\d+\\) is in the log under checkpoint`));
    }
    // A proof whose entry was altered leads nowhere.
    const res = await a.request(`/v1/sites/clean/log/inclusion?visitor=visitor-clean&id=${history[2].log_id}`, { headers: server() });
    assert.equal(res.status, 200, res.text);
    const proof = res.json();
    const raw = Buffer.from(proof.raw, 'base64url');
    raw[raw.length - 1] ^= 1;
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'inclusion-')), 'proof.json');
    fs.writeFileSync(file, JSON.stringify({ ...proof, raw: raw.toString('base64url') }));
    const { status, out } = verifyLog(a, 'clean', undefined, ['--inclusion', file]);
    assert.equal(status, 1, out);
    assert.match(out, /does not lead to the head signed in checkpoint/);
    // Errors: no such entry, a malformed id, no key.
    const none = await a.request('/v1/sites/clean/log/inclusion?partition=0&id=1-0', { headers: server() });
    assert.equal(none.status, 404, none.text);
    const bad = await a.request('/v1/sites/clean/log/inclusion?partition=0&id=x', { headers: server() });
    assert.equal(bad.status, 400, bad.text);
    const anon = await a.request(`/v1/sites/clean/log/inclusion?visitor=visitor-clean&id=${history[2].log_id}`, { headers: browser() });
    assert.equal(anon.status, 401, anon.text);
});

test('an_altered_entry_is_named', async () => {
    const { key, p } = await coveredLog('alter');
    const [id] = await tamper(redis, key, 'alter', 3);
    const { status, out } = verifyLog(a, 'alter');
    assert.equal(status, 1, out);
    assert.match(out, new RegExp(`PROBLEM: altered: partition ${p}, n 3, id ${id}:`));
    assert.match(out, new RegExp(`checkpoint \\S+ does not match the log: partition ${p}, n 6`));
});

test('an_inserted_entry_is_named', async () => {
    const { key, p } = await coveredLog('insert');
    const [forged] = await tamper(redis, key, 'insert', 2);
    const { status, out } = verifyLog(a, 'insert');
    assert.equal(status, 1, out);
    assert.match(out, new RegExp(`PROBLEM: inserted: partition ${p}, id ${forged}`));
    assert.doesNotMatch(out, /altered/);
});

test('reordered_entries_are_named', async () => {
    const { key, p } = await coveredLog('reorder');
    await tamper(redis, key, 'reorder', 3);
    const { status, out } = verifyLog(a, 'reorder');
    assert.equal(status, 1, out);
    assert.match(out, new RegExp(`PROBLEM: reordered: partition ${p}, n 4 \\(id \\S+\\) comes before n 3`));
});

test('a_deleted_entry_is_named_missing', async () => {
    const { key, p } = await coveredLog('remove');
    const [id] = await tamper(redis, key, 'delete', 4);
    const { status, out } = verifyLog(a, 'remove');
    assert.equal(status, 1, out);
    assert.match(out, new RegExp(`PROBLEM: missing: partition ${p}, n 4 \\(before id `));
    assert.ok(!out.includes(`id ${id}:`), out);
});

/* store_partition: FNV-1a (32 bit) of the visitor id, mod 64. */
function partitionOf(visitor) {
    let h = 2166136261;
    for (const b of Buffer.from(visitor)) h = Math.imul(h ^ b, 16777619) >>> 0;
    return h % 64;
}

test('entries_from_before_version_6_are_numbered_in_order_and_verify', async () => {
    // A log written before library version 6 (entries without n), then a write.
    const visitor = 'visitor-legacy';
    const key = `cd:{legacy:${partitionOf(visitor)}}:log`;
    for (let i = 0; i < 3; i++) {
        const cmd = ['XADD', key, '*', 'v', `${visitor}-old-${i}`, 'r', `record ${i}`];
        if (typeof redis.masterOf === 'function') await (await redis.masterOf(keySlot(key))).command(...cmd);
        else await redis.command(...cmd);
    }
    const res = await postConsent(a, choiceOf(demo, visitor), browser(), 'legacy');
    assert.equal(res.status, 201, res.text);
    await waitCovered(a, 'legacy', 4);
    const log = await rawLog(a, 'legacy');
    assert.deepEqual(log.map((e) => e.n), [null, null, null, 4]);
    const { status, out } = verifyLog(a, 'legacy');
    assert.equal(status, 0, out);
    assert.match(out, /OK: 4 entries/);
});

test('two_nodes_writing_at_once_make_one_linear_chain_of_checkpoints', async () => {
    // Both nodes write to the demo site for about three checkpoint intervals.
    let written = 0;
    const deadline = Date.now() + 3500;
    let i = 0;
    while (Date.now() < deadline) {
        const batch = [];
        for (const node of [a, b]) {
            for (let k = 0; k < 4; k++) batch.push(postConsent(node, choiceOf(demo, `visitor-two-${i++}`), browser()));
        }
        for (const res of await Promise.all(batch)) {
            assert.equal(res.status, 201, res.text);
            written++;
        }
    }
    const cps = await waitCovered(a, 'demo', written);
    assert.ok(cps.length >= 2, `checkpoints: ${cps.length}`);
    // One sequence: every checkpoint names the previous one, none is named twice.
    const prevs = cps.map((c) => payloadOf(c.jws).prev);
    assert.equal(prevs[0], null);
    assert.equal(new Set(prevs).size, prevs.length);
    const { status, out } = verifyLog(b, 'demo');
    assert.equal(status, 0, out);
    assert.match(out, new RegExp(`OK: ${written} entries`));
    // Either node serves the same checkpoints.
    assert.deepEqual((await checkpointsOf(b, 'demo')).map((c) => c.id), cps.map((c) => c.id));
});

test('the_raw_log_needs_the_sites_key_and_the_checkpoints_do_not', async () => {
    const none = await a.request('/v1/sites/demo/log', { headers: browser() });
    assert.equal(none.status, 401, none.text);
    const ok = await a.request('/v1/sites/demo/log?limit=1', { headers: server() });
    assert.equal(ok.status, 200, ok.text);
    assert.ok(ok.headers['x-next-cursor'], 'a page of one entry has a next cursor');
    const pub = await a.request('/v1/sites/demo/log/checkpoints?limit=1');
    assert.equal(pub.status, 200, pub.text);
    assert.match(pub.headers['cache-control'], /public, max-age=\d+/);
    assert.equal(pub.json().checkpoints.length, 1);
    const bad = await a.request('/v1/sites/demo/log/checkpoints?cursor=nope');
    assert.equal(bad.status, 400, bad.text);
    assert.equal(bad.json().error.code, 'invalid_cursor');
    const limit = await a.request('/v1/sites/demo/log?limit=0', { headers: server() });
    assert.equal(limit.status, 400, limit.text);
});
