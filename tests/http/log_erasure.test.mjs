// An erasure is not a violation of the tamper-evident log (issue 19, items
// 1 and 2): erasure keeps the visitor's log entries as ciphertext and
// deletes the key that opens them, so their raw bytes, hence their chain
// values and the signed checkpoints, stay valid.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { shippedSite, startStack, test } from './lib/harness.mjs';
import { server } from './lib/consent.mjs';
import { busyPartition, rawLog, verifyLog, waitCovered, writeConsents } from './lib/auditlog.mjs';

const demo = shippedSite('demo');

let stack;
before(async () => {
    stack = await startStack({
        config: {
            log: { checkpoint_seconds: 1 },
            rate_limit: { visitor_writes_per_minute: 1000, visitor_writes_per_day: 1000 },
        },
    });
});
after(async () => {
    await stack?.stop();
});

test('an_erasure_after_a_checkpoint_is_not_a_violation', async () => {
    const visitor = 'visitor-erased-from-the-log';
    const written = await writeConsents(stack.consentd, demo, visitor, 5);
    await waitCovered(stack.consentd, 'demo', written);
    const { p } = await busyPartition(stack.redis, 'demo', 5);
    const before = await rawLog(stack.consentd, 'demo');

    const erased = await stack.consentd.request(`/v1/sites/demo/visitors/${visitor}`, { method: 'DELETE', headers: server() });
    assert.equal(erased.status, 200, erased.text);

    // The entries stay (as ciphertext): same ids, same raw bytes, same chain.
    const afterErasure = await rawLog(stack.consentd, 'demo');
    assert.deepEqual(
        afterErasure.map((e) => [e.p, e.id, e.raw, e.h]),
        before.map((e) => [e.p, e.id, e.raw, e.h]),
    );
    assert.ok(!afterErasure.some((e) => Buffer.from(e.raw, 'base64url').includes(visitor)), `partition ${p}`);
    const { status, out } = verifyLog(stack.consentd, 'demo');
    assert.equal(status, 0, out);
    assert.match(out, new RegExp(`OK: ${written} entries`));
});
