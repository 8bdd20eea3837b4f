// How a choice was given (issue 19, item 4; GDPR art. 7(1)): the action
// (consent or withdrawal), the control used and the Global Privacy Control
// signal, in the proof's claims (verified and decoded by jose, a JOSE
// library we did not write), the answer, the access request and the audit
// export; a withdrawal from the banner counts in the stats' withdrawn as the
// API's DELETE does; every new body field is validated.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { shippedSite, shippedSites, startStack, test } from './lib/harness.mjs';
import { browser, postConsent, server, verifyProof } from './lib/consent.mjs';
import { AFTER_FLUSH_MS } from './lib/counters.mjs';
import { delay } from './lib/harness.mjs';

const site = shippedSite('demo');
const byBasis = (basis) => site.purposes.filter((p) => p.legal_basis === basis).map((p) => p.id);
const CONSENT = byBasis('consent');
const GPC_PURPOSES = site.purposes.filter((p) => p.gpc).map((p) => p.id);
const all = (ids, value) => Object.fromEntries(ids.map((id) => [id, value]));

let stack;
before(async () => {
    stack = await startStack({ sites: shippedSites() });
});
after(async () => {
    await stack?.stop();
});

let serial = 0;
const newVisitor = (tag) => `how-${tag}-${process.pid}-${serial++}`.slice(0, 64);

function body(decisions, extra = {}) {
    return { decisions, policy_version: site.policy_version, lang: 'fr', ...extra };
}

async function record(extra, decisions = all(CONSENT, true), headers = browser()) {
    const res = await postConsent(stack.consentd, body(decisions, extra), headers);
    assert.equal(res.status, 201, res.text);
    const answer = res.json();
    const { payload } = await verifyProof(stack.consentd, answer.proof);
    return { answer, payload };
}

async function access(visitor) {
    const res = await stack.consentd.request(`/v1/sites/demo/visitors/${visitor}`, { headers: server() });
    assert.equal(res.status, 200, res.text);
    return res.json();
}

async function exported(visitor) {
    const res = await stack.consentd.request('/v1/sites/demo/consents?limit=1000', { headers: server() });
    assert.equal(res.status, 200, res.text);
    return res.text
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line))
        .filter((e) => e.visitor === visitor);
}

test('each_banner_control_is_in_the_proof_the_answer_the_access_request_and_the_export', async () => {
    assert.ok(CONSENT.length >= 2, 'demo site shape');
    const cases = {
        accept_all: all(CONSENT, true),
        reject_all: all(CONSENT, false),
        custom: { ...all(CONSENT, false), [CONSENT[0]]: true },
        dismiss: all(CONSENT, false),
    };
    for (const [control, decisions] of Object.entries(cases)) {
        const visitor = newVisitor(control);
        const { answer, payload } = await record({ visitor, control }, decisions);
        assert.equal(payload.ctl, control, `${control}: the proof's ctl`);
        assert.equal(payload.act, 'consent', `${control}: the proof's act`);
        assert.equal(payload.gpc, undefined, `${control}: no GPC signal, no claim`);
        assert.equal(answer.control, control);
        assert.equal(answer.action, 'consent');
        assert.equal(answer.gpc, undefined);
        const a = await access(visitor);
        assert.equal(a.current.control, control, `${control}: access request, current`);
        assert.equal(a.history[0].control, control, `${control}: access request, history`);
        const lines = await exported(visitor);
        assert.equal(lines.length, 1, `${control}: one export line`);
        assert.equal(lines[0].control, control, `${control}: export`);
        assert.equal(lines[0].action, 'consent');
    }
});

test('a_server_channel_records_control_api_by_default_and_a_browser_may_not_claim_it', async () => {
    const visitor = newVisitor('api');
    const { answer, payload } = await record({ visitor, source: 'call_center' }, all(CONSENT, true), server());
    assert.equal(payload.ctl, 'api');
    assert.equal(payload.src, 'call_center');
    assert.equal(answer.control, 'api');
    const res = await postConsent(stack.consentd, body(all(CONSENT, true), { control: 'api' }));
    assert.equal(res.status, 401, res.text);
    assert.equal(res.json().error.code, 'unauthorized');
});

test('a_banner_that_does_not_say_records_no_control', async () => {
    const { answer, payload } = await record({ visitor: newVisitor('old') });
    assert.equal(payload.ctl, undefined, 'an older banner: nothing invented');
    assert.equal(answer.control, undefined);
    assert.equal(payload.act, 'consent');
});

test('delete_records_a_withdrawal_with_control_withdraw_or_api', async () => {
    for (const [headers, control] of [
        [browser(), 'withdraw'],
        [server(), 'api'],
    ]) {
        const visitor = newVisitor(`del-${control}`);
        await record({ visitor, control: 'accept_all' });
        const res = await stack.consentd.request(`/v1/sites/demo/consents/${visitor}`, { method: 'DELETE', headers });
        assert.equal(res.status, 200, res.text);
        const { payload } = await verifyProof(stack.consentd, res.json().proof);
        assert.equal(payload.act, 'withdrawal');
        assert.equal(payload.ctl, control);
        assert.equal((await access(visitor)).current.action, 'withdrawal');
        assert.equal(payload.gpc, undefined);
    }
    // A withdrawal with the browser's GPC signal says so too.
    const visitor = newVisitor('del-gpc');
    await record({ visitor, control: 'accept_all' });
    const res = await stack.consentd.request(`/v1/sites/demo/consents/${visitor}`, {
        method: 'DELETE',
        headers: browser({ 'sec-gpc': '1' }),
    });
    assert.equal(res.status, 200, res.text);
    assert.equal((await verifyProof(stack.consentd, res.json().proof)).payload.gpc, true);
});

test('a_banner_withdrawal_is_recorded_as_a_withdrawal_and_counted_in_withdrawn', async () => {
    const day = new Date().toISOString().slice(0, 10);
    const stats = async () => {
        const res = await stack.consentd.request(`/v1/sites/demo/stats?from=${day}&to=${day}`, { headers: server() });
        assert.equal(res.status, 200, res.text);
        return res.json().total;
    };
    await delay(AFTER_FLUSH_MS); // everything above flushed
    const before = await stats();
    const visitor = newVisitor('panel');
    await record({ visitor, control: 'accept_all' });
    // The panel: the visitor switches off what they had granted.
    const { answer, payload } = await record(
        { visitor, control: 'custom', action: 'withdrawal' },
        { ...all(CONSENT, true), [CONSENT[0]]: false },
    );
    assert.equal(payload.act, 'withdrawal');
    assert.equal(payload.ctl, 'custom');
    assert.equal(answer.action, 'withdrawal');
    assert.equal(answer.decisions[CONSENT[0]], false);
    // ...and the API's DELETE, for comparison.
    await stack.consentd.request(`/v1/sites/demo/consents/${visitor}`, { method: 'DELETE', headers: server() });
    await delay(AFTER_FLUSH_MS);
    const now = await stats();
    assert.equal(now.withdrawn - before.withdrawn, 2, 'the banner withdrawal and the DELETE');
    assert.equal(now.decisions - before.decisions, 1, 'only the first choice is a decision');
    const kinds = (await access(visitor)).history.map((h) => `${h.action}/${h.control}`);
    assert.deepEqual(kinds, ['withdrawal/api', 'withdrawal/custom', 'consent/accept_all']);
});

test('gpc_from_the_header_or_the_banner_is_in_the_proof_and_the_header_wins', async () => {
    assert.ok(GPC_PURPOSES.length >= 1, 'demo site: a purpose GPC objects to');
    const refusedUnderGpc = { ...all(CONSENT, true), ...all(GPC_PURPOSES, false) };
    // The header, as the browser sends it.
    let r = await record({ visitor: newVisitor('gpc-h'), control: 'accept_all' }, refusedUnderGpc, browser({ 'sec-gpc': '1' }));
    assert.equal(r.payload.gpc, true);
    assert.equal(r.answer.gpc, true);
    // The banner's report of navigator.globalPrivacyControl alone.
    r = await record({ visitor: newVisitor('gpc-b'), control: 'accept_all', gpc: true }, refusedUnderGpc);
    assert.equal(r.payload.gpc, true);
    // The body cannot take away the header's signal.
    r = await record({ visitor: newVisitor('gpc-x'), control: 'custom', gpc: false }, all(CONSENT, true), browser({ 'sec-gpc': '1' }));
    assert.equal(r.payload.gpc, true);
    // Neither: no claim; and accept_all then has to grant what GPC would refuse.
    r = await record({ visitor: newVisitor('gpc-n'), control: 'accept_all', gpc: false }, all(CONSENT, true));
    assert.equal(r.payload.gpc, undefined);
    const res = await postConsent(stack.consentd, body(refusedUnderGpc, { control: 'accept_all' }));
    assert.equal(res.status, 400, res.text);
    assert.equal(res.json().error.code, 'control_mismatch');
    // The signal is in the access request and the export too.
    const visitor = newVisitor('gpc-a');
    await record({ visitor, control: 'reject_all' }, all(CONSENT, false), browser({ 'sec-gpc': '1' }));
    assert.equal((await access(visitor)).current.gpc, true);
    assert.equal((await exported(visitor))[0].gpc, true);
});

test('new_body_fields_are_validated_and_nothing_is_stored', async () => {
    const visitor = newVisitor('bad');
    const cases = [
        [{ action: 'withdraw' }, 400, 'invalid_action'],
        [{ action: 7 }, 400, 'invalid_field'],
        [{ control: 'accept' }, 400, 'invalid_control'],
        [{ control: null }, 400, 'invalid_field'],
        [{ gpc: 'true' }, 400, 'invalid_field'],
        [{ control: 'withdraw' }, 400, 'invalid_control'],
        [{ control: 'reject_all' }, 400, 'control_mismatch'],
        [{ control: 'dismiss' }, 400, 'control_mismatch'],
    ];
    for (const [extra, status, code] of cases) {
        const res = await postConsent(stack.consentd, body(all(CONSENT, true), { visitor, ...extra }));
        assert.equal(res.status, status, `${JSON.stringify(extra)}: ${res.text}`);
        assert.equal(res.json().error.code, code, JSON.stringify(extra));
    }
    const res = await postConsent(stack.consentd, body(all(CONSENT, false), { visitor, control: 'accept_all' }));
    assert.equal(res.json().error.code, 'control_mismatch');
    const got = await stack.consentd.request(`/v1/sites/demo/consents/${visitor}`, { headers: browser() });
    assert.equal(got.status, 404, 'nothing stored');
    // withdraw is a control of withdrawals.
    const ok = await postConsent(stack.consentd, body(all(CONSENT, false), { visitor, control: 'withdraw', action: 'withdrawal' }));
    assert.equal(ok.status, 201, ok.text);
});
