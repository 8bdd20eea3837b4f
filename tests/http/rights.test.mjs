// Access and erasure requests, the audit export, and key rotation: what a
// data-protection officer needs years later.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before } from 'node:test';
import { consentdBin, shippedSite, shippedSites, siteLike, startStack, test } from './lib/harness.mjs';
import {
    OTHER_KEY, allKeys, browser, dataDigest, everything, postConsent, server, sha256hex, verifyProof,
} from './lib/consent.mjs';

const site = shippedSite('demo');
const CONSENT = site.purposes.filter((p) => p.legal_basis === 'consent').map((p) => p.id);
const choice = (decisions, extra = {}) => ({ decisions, policy_version: site.policy_version, lang: 'en', ...extra });

let stack;
before(async () => {
    const other = siteLike('other');
    other.api_key_sha256 = sha256hex(OTHER_KEY);
    stack = await startStack({
        sites: { ...shippedSites(), 'other.json': other },
        // More writes of one visitor than its history holds (the erasure test).
        config: { rate_limit: { visitor_writes_per_minute: 1000, visitor_writes_per_day: 1000 } },
    });
});
after(async () => {
    await stack?.stop();
});

test('access_request_returns_current_state_and_full_history_with_proofs', async () => {
    const visitor = 'visitor-access-001';
    const first = (await postConsent(stack.consentd, choice({ [CONSENT[0]]: true }, { visitor }))).json();
    const second = (await postConsent(stack.consentd, choice({ [CONSENT[0]]: false }, { visitor }))).json();
    const res = await stack.consentd.request(`/v1/sites/demo/visitors/${visitor}`, { headers: server() });
    assert.equal(res.status, 200, res.text);
    const body = res.json();
    assert.equal(body.visitor, visitor);
    assert.equal(body.current.consent_id, second.consent_id);
    assert.deepEqual(body.history.map((h) => h.consent_id), [second.consent_id, first.consent_id]);
    for (const h of body.history) {
        assert.ok(h.issued_at && h.proof && h.log_id, JSON.stringify(h));
        await verifyProof(stack.consentd, h.proof);
    }
});

test('access_request_needs_the_sites_own_key', async () => {
    const none = await stack.consentd.request('/v1/sites/demo/visitors/visitor-access-001', { headers: browser() });
    assert.equal(none.status, 401, none.text);
    const wrong = await stack.consentd.request('/v1/sites/demo/visitors/visitor-access-001', { headers: server('nope') });
    assert.equal(wrong.status, 401, wrong.text);
    const other = await stack.consentd.request('/v1/sites/demo/visitors/visitor-access-001', { headers: server(OTHER_KEY) });
    assert.equal(other.status, 403, other.text);
    assert.equal(other.json().error.code, 'forbidden');
    // The other site's key reads nothing of demo's visitors through its own site either.
    const cross = await stack.consentd.request('/v1/sites/other/visitors/visitor-access-001', { headers: server(OTHER_KEY) });
    assert.equal(cross.status, 200, cross.text);
    assert.equal(cross.json().current, null);
    assert.deepEqual(cross.json().history, []);
});

/* The export's records, every page. */
async function exportAll() {
    const out = [];
    let cursor = '';
    for (let page = 0; page < 200; page++) {
        const res = await stack.consentd.request(`/v1/sites/demo/consents?limit=1000${cursor ? `&cursor=${cursor}` : ''}`, {
            headers: server(),
        });
        assert.equal(res.status, 200, res.text);
        out.push(...res.text.split('\n').filter(Boolean).map((l) => JSON.parse(l)));
        cursor = res.headers['x-next-cursor'];
        if (!cursor) break;
        cursor = encodeURIComponent(cursor);
    }
    return out;
}

/* What must not be readable anywhere in Redis after an erasure: the id, each
 * consent id, each proof (the JWS, and its payload as it is signed). */
function traces(visitor, written) {
    return [visitor, ...written.flatMap((w) => [w.consent_id, w.proof, w.proof.split('.')[1]])];
}

test('erasure_leaves_no_trace_of_the_visitor_anywhere_in_redis', async () => {
    const visitor = 'visitor-erase-0001';
    const keep = 'visitor-keep-00001';
    const written = [];
    written.push((await postConsent(stack.consentd, choice({ [CONSENT[0]]: true }, { visitor }))).json());
    written.push((await postConsent(stack.consentd, choice({ [CONSENT[1]]: true }, { visitor }))).json());
    const kept = (await postConsent(stack.consentd, choice({ [CONSENT[0]]: true }, { visitor: keep }))).json();
    assert.ok((await everything(stack.redis)).includes(visitor), 'the visitor was stored');
    const logIds = (await exportAll()).filter((r) => r.visitor === visitor).map((r) => r.log_id);
    assert.equal(logIds.length, 2, 'the export shows both writes before the erasure');
    const res = await stack.consentd.request(`/v1/sites/demo/visitors/${visitor}`, { method: 'DELETE', headers: server() });
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json().erased, true);
    // Every key name, string, list item, hash field and value, stream entry
    // field and value: nothing of the visitor in clear.
    const all = await everything(stack.redis);
    for (const t of traces(visitor, written)) assert.ok(!all.includes(t), `still in Redis after the erasure: ${t.slice(0, 40)}`);
    assert.ok(all.includes(keep) && all.includes(kept.consent_id), 'another visitor was erased too');
    // The export: the erased writes are still there, as erased entries (the
    // log keeps its ciphertext); the other visitor's is readable.
    const after = await exportAll();
    for (const id of logIds) {
        const e = after.find((r) => r.log_id === id);
        assert.ok(e, `log entry ${id} left the log`);
        assert.deepEqual(Object.keys(e).sort(), ['erased', 'log_id', 'logged_at'], JSON.stringify(e));
        assert.equal(e.erased, true);
        assert.equal(Date.parse(e.logged_at) > 0, true);
    }
    assert.ok(!JSON.stringify(after).includes(visitor), 'the export still names the erased visitor');
    const other = after.find((r) => r.consent_id === kept.consent_id);
    assert.ok(other && other.visitor === keep && other.proof === kept.proof, 'the other visitor is not readable');
    await verifyProof(stack.consentd, other.proof);
    const gone = await stack.consentd.request(`/v1/sites/demo/consents/${visitor}`, { headers: browser() });
    assert.equal(gone.status, 404, gone.text);
    const erasures = (await allKeys(stack.redis)).filter((k) => k.includes('erasures'));
    assert.ok(erasures.length >= 1, 'no anonymous erasure count');
});

test('erasure_after_more_writes_than_the_history_holds_leaves_no_log_entry_of_the_visitor', async () => {
    const visitor = 'visitor-erase-many1';
    const HISTORY_MAX = 200; /* STORE_HISTORY_MAX: the older log entries are named by the index */
    for (let i = 0; i < HISTORY_MAX + 5; i++) {
        const res = await postConsent(stack.consentd, choice({ [CONSENT[0]]: i % 2 === 0 }, { visitor }));
        assert.equal(res.status, 201, res.text);
    }
    assert.ok((await allKeys(stack.redis)).some((k) => k.endsWith(`:x:${visitor}`)), 'no log index of the visitor');
    // The access request shows all of them: the history's and the older ones
    // the index names, opened from the sealed log.
    const access = await stack.consentd.request(`/v1/sites/demo/visitors/${visitor}`, { headers: server() });
    assert.equal(access.status, 200, access.text);
    const history = access.json().history;
    assert.equal(history.length, HISTORY_MAX + 5);
    assert.equal(new Set(history.map((h) => h.log_id)).size, HISTORY_MAX + 5);
    for (const h of history.slice(HISTORY_MAX)) {
        assert.equal(h.visitor, visitor);
        await verifyProof(stack.consentd, h.proof);
    }
    const res = await stack.consentd.request(`/v1/sites/demo/visitors/${visitor}`, { method: 'DELETE', headers: server() });
    assert.equal(res.status, 200, res.text);
    const all = await everything(stack.redis);
    for (const t of traces(visitor, history)) assert.ok(!all.includes(t), `still in Redis after the erasure: ${t.slice(0, 40)}`);
    const erased = (await exportAll()).filter((r) => r.erased);
    for (const h of history) assert.ok(erased.some((r) => r.log_id === h.log_id), `${h.log_id} not shown as erased`);
});

test('erasure_with_another_sites_key_is_403_and_erases_nothing', async () => {
    await postConsent(stack.consentd, choice({}, { visitor: 'visitor-safe-00001' }));
    const before = await dataDigest(stack.redis);
    const res = await stack.consentd.request('/v1/sites/demo/visitors/visitor-safe-00001', {
        method: 'DELETE',
        headers: server(OTHER_KEY),
    });
    assert.equal(res.status, 403, res.text);
    assert.equal(await dataDigest(stack.redis), before);
});

test('audit_export_pages_through_every_partition_with_a_cursor', async () => {
    await stack.redis.command('FLUSHALL');
    const ids = new Set();
    for (let i = 0; i < 25; i++) {
        const res = await postConsent(stack.consentd, choice({ [CONSENT[0]]: i % 2 === 0 }));
        assert.equal(res.status, 201, res.text);
        ids.add(res.json().consent_id);
    }
    const seen = [];
    let cursor = '';
    for (let page = 0; page < 50; page++) {
        const res = await stack.consentd.request(`/v1/sites/demo/consents?limit=7${cursor ? `&cursor=${cursor}` : ''}`, {
            headers: server(),
        });
        assert.equal(res.status, 200, res.text);
        assert.match(res.headers['content-type'], /^application\/x-ndjson/);
        const lines = res.text.split('\n').filter(Boolean).map((l) => JSON.parse(l));
        assert.ok(lines.length <= 7);
        seen.push(...lines.map((l) => l.consent_id));
        cursor = res.headers['x-next-cursor'];
        if (!cursor) break;
        cursor = encodeURIComponent(cursor);
    }
    assert.equal(seen.length, ids.size, 'each record exactly once');
    assert.deepEqual(new Set(seen), ids);
});

test('audit_export_and_raw_log_refuse_a_bad_page_size_or_cursor', async () => {
    for (const path of ['/v1/sites/demo/consents', '/v1/sites/demo/log', '/v1/sites/demo/log/checkpoints']) {
        for (const limit of ['0', '1001', 'abc', '', '5x', '-1']) {
            const bad = await stack.consentd.request(`${path}?limit=${limit}`, { headers: server() });
            assert.equal(bad.status, 400, `${path} limit=${limit}: ${bad.text}`);
            assert.equal(bad.json().error.code, 'invalid_limit');
            assert.match(bad.json().error.message, /^limit must be from 1 to \d+$/);
        }
        const bad = await stack.consentd.request(`${path}?cursor=not-a-cursor`, { headers: server() });
        assert.equal(bad.status, 400, `${path} cursor: ${bad.text}`);
        assert.equal(bad.json().error.code, 'invalid_cursor');
        const good = await stack.consentd.request(`${path}?limit=1`, { headers: server() });
        assert.equal(good.status, 200, `${path}: ${good.text}`);
    }
});

test('audit_export_honours_the_time_range', async () => {
    const future = await stack.consentd.request('/v1/sites/demo/consents?from=2999-01-01', { headers: server() });
    assert.equal(future.status, 200, future.text);
    assert.equal(future.text, '');
    for (const range of ['from=yesterday', 'from=2026-02-29', 'from=2026-02-31', 'from=2026-1-01', 'from=%2B5', 'from=%205', 'to=-1', 'to=1e3', 'from=2026-11-02&to=2026-11-01']) {
        const bad = await stack.consentd.request(`/v1/sites/demo/consents?${range}`, { headers: server() });
        assert.equal(bad.status, 400, `${range}: ${bad.text}`);
        assert.equal(bad.json().error.code, 'invalid_range');
    }
    for (const range of ['from=2024-02-29', 'from=0&to=2026-11-01', 'from=1700000000000']) {
        const good = await stack.consentd.request(`/v1/sites/demo/consents?${range}`, { headers: server() });
        assert.equal(good.status, 200, `${range}: ${good.text}`);
    }
    const noKey = await stack.consentd.request('/v1/sites/demo/consents', { headers: browser() });
    assert.equal(noKey.status, 401, noKey.text);
});

test('old_proofs_still_verify_after_a_key_rotation', async () => {
    const before = (await postConsent(stack.consentd, choice({ [CONSENT[0]]: true }))).json();
    const oldKid = JSON.parse(Buffer.from(before.proof.split('.')[0], 'base64url')).kid;
    const r = spawnSync(consentdBin(), ['keygen', '--keys', stack.consentd.layout.keysDir, '--activate'], {
        encoding: 'utf8',
    });
    assert.equal(r.status, 0, r.stderr);
    const from = stack.consentd.stderr.length;
    stack.consentd.signal('SIGHUP');
    await stack.consentd.waitForLog(/reloaded/, { from });
    const after = (await postConsent(stack.consentd, choice({ [CONSENT[0]]: true }))).json();
    const newKid = JSON.parse(Buffer.from(after.proof.split('.')[0], 'base64url')).kid;
    assert.notEqual(newKid, oldKid, 'the new key signs');
    const jwks = (await stack.consentd.request('/.well-known/jwks.json')).json();
    assert.deepEqual(jwks.keys.map((k) => k.kid).sort(), [oldKid, newKid].sort());
    for (const k of jwks.keys) assert.equal(k.d, undefined, 'private key in the JWKS');
    await verifyProof(stack.consentd, before.proof);
    await verifyProof(stack.consentd, after.proof);
});
