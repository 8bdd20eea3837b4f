// Issue 18, finding 8: writes that name a victim's visitor id (anyone can
// copy an Origin header) must never push the victim's genuine, signed
// consents out of the evidence: the consent log is trimmed by its retention
// only, never by the bounded history.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { delay, shippedSite, startStack, test } from './lib/harness.mjs';
import { allKeys, browser, postConsent, server, verifyProof } from './lib/consent.mjs';

const site = shippedSite('demo');
const CONSENT = site.purposes.filter((p) => p.legal_basis === 'consent').map((p) => p.id);
const choice = (decisions, extra = {}) => ({ decisions, policy_version: site.policy_version, lang: 'en', ...extra });
const HISTORY_MAX = 200; /* STORE_HISTORY_MAX */

const PER_MINUTE = 10; /* rate_limit.visitor_writes_per_minute's default */

/* stack: the per-visitor write limit raised, so that 201 writes land;
 * limited: the shipped defaults. */
let stack;
let limited;
before(async () => {
    stack = await startStack({
        config: { rate_limit: { visitor_writes_per_minute: 1000, visitor_writes_per_day: 1000 } },
    });
    limited = await startStack();
});
after(async () => {
    await stack?.stop();
    await limited?.stop();
});

/* What Redis holds about a visitor: every key with its id (state, history,
 * index, write counters) and its entries in the log. */
async function heldAbout(redis, visitor) {
    const out = {};
    for (const key of (await allKeys(redis)).filter((k) => k.endsWith(`:${visitor}`))) {
        const type = await redis.command('TYPE', key);
        out[key] = type === 'list' ? await redis.command('LRANGE', key, '0', '-1') : await redis.command('GET', key);
        const log = key.replace(/}:[a-z]+:.*$/, '}:log');
        out[log] = JSON.stringify((await redis.command('XRANGE', log, '-', '+')).filter((e) => e[1][1] === visitor));
    }
    return out;
}

/* Every record of the audit export, page by page. */
async function auditExport(consentd) {
    const out = [];
    let cursor = '';
    for (let page = 0; page < 100; page++) {
        const res = await consentd.request(`/v1/sites/demo/consents?limit=1000${cursor ? `&cursor=${cursor}` : ''}`, {
            headers: server(),
        });
        assert.equal(res.status, 200, res.text);
        out.push(...res.text.split('\n').filter(Boolean).map((l) => JSON.parse(l)));
        cursor = res.headers['x-next-cursor'];
        if (!cursor) return out;
        cursor = encodeURIComponent(cursor);
    }
    throw new Error('the export did not end');
}

test('forged_writes_naming_a_visitor_never_delete_its_genuine_consent_from_the_log', async () => {
    const visitor = 'visitor-victim-0001';
    const genuine = await postConsent(stack.consentd, choice({ [CONSENT[0]]: true }, { visitor }));
    assert.equal(genuine.status, 201, genuine.text);
    const { consent_id: genuineId, proof } = genuine.json();
    for (let i = 0; i <= HISTORY_MAX; i++) {
        const forged = await postConsent(stack.consentd, choice({ [CONSENT[0]]: false }, { visitor }));
        assert.equal(forged.status, 201, forged.text);
    }
    const records = await auditExport(stack.consentd);
    assert.equal(records.filter((r) => r.visitor === visitor).length, HISTORY_MAX + 2, 'every write of the visitor is in the log');
    const kept = records.find((r) => r.consent_id === genuineId);
    assert.ok(kept, 'the genuine consent is gone from the audit export');
    assert.equal(kept.proof, proof);
    await verifyProof(stack.consentd, kept.proof);
    // The access request shows every write too, newest first: the history,
    // then the older writes the visitor's log index names.
    const access = await stack.consentd.request(`/v1/sites/demo/visitors/${visitor}`, { headers: server() });
    assert.equal(access.status, 200, access.text);
    const history = access.json().history;
    assert.equal(history.length, HISTORY_MAX + 2);
    assert.equal(history.at(-1).consent_id, genuineId, 'the genuine consent is gone from the access request');
    assert.equal(history.at(-1).proof, proof);
    assert.ok(history.at(-1).log_id, 'no log id');
    const issued = history.map((h) => Date.parse(h.issued_at));
    assert.deepEqual(issued, [...issued].sort((a, b) => b - a), 'not newest first');
});

test('the_eleventh_write_of_a_visitor_within_a_minute_is_429_and_stores_nothing', async () => {
    const visitor = 'visitor-busy-00001';
    for (let i = 0; i < PER_MINUTE - 1; i++) {
        const res = await postConsent(limited.consentd, choice({ [CONSENT[0]]: i % 2 === 0 }, { visitor }));
        assert.equal(res.status, 201, res.text);
    }
    // Withdrawals count too: the tenth write.
    const withdrawn = await limited.consentd.request(`/v1/sites/demo/consents/${visitor}`, { method: 'DELETE', headers: browser() });
    assert.equal(withdrawn.status, 200, withdrawn.text);
    const held = await heldAbout(limited.redis, visitor);
    const over = await postConsent(limited.consentd, choice({ [CONSENT[0]]: true }, { visitor }));
    assert.equal(over.status, 429, over.text);
    assert.equal(over.json().error.code, 'too_many_writes');
    const retry = Number(over.headers['retry-after']);
    assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= 60, `Retry-After ${over.headers['retry-after']}`);
    // The server-side API is limited the same way, and so is a withdrawal.
    const api = await postConsent(limited.consentd, choice({ [CONSENT[0]]: true }, { visitor }), server());
    assert.equal(api.status, 429, api.text);
    const withdraw = await limited.consentd.request(`/v1/sites/demo/consents/${visitor}`, { method: 'DELETE', headers: browser() });
    assert.equal(withdraw.status, 429, withdraw.text);
    assert.deepEqual(await heldAbout(limited.redis, visitor), held, 'a write over the limit changed what Redis holds');
    // Another visitor is not limited by this one.
    const other = await postConsent(limited.consentd, choice({ [CONSENT[0]]: true }, { visitor: 'visitor-calm-00001' }));
    assert.equal(other.status, 201, other.text);
    // The minute passes (its counter expires): the next write is 201.
    const minute = (await allKeys(limited.redis)).find((k) => k.endsWith(`:wm:${visitor}`));
    assert.ok(minute, 'no per-minute counter of the visitor');
    await limited.redis.command('PEXPIRE', minute, '1');
    await delay(20);
    const again = await postConsent(limited.consentd, choice({ [CONSENT[0]]: true }, { visitor }));
    assert.equal(again.status, 201, again.text);
});
