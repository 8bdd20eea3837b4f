// Issue 18, finding 8: writes that name a victim's visitor id (anyone can
// copy an Origin header) must never push the victim's genuine, signed
// consents out of the evidence: the consent log is trimmed by its retention
// only, never by the bounded history.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { shippedSite, startStack, test } from './lib/harness.mjs';
import { postConsent, server, verifyProof } from './lib/consent.mjs';

const site = shippedSite('demo');
const CONSENT = site.purposes.filter((p) => p.legal_basis === 'consent').map((p) => p.id);
const choice = (decisions, extra = {}) => ({ decisions, policy_version: site.policy_version, lang: 'en', ...extra });
const HISTORY_MAX = 200; /* STORE_HISTORY_MAX */

let stack;
before(async () => {
    stack = await startStack();
});
after(async () => {
    await stack?.stop();
});

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
    // The access request shows the bounded history: the newest writes.
    const access = await stack.consentd.request(`/v1/sites/demo/visitors/${visitor}`, { headers: server() });
    assert.equal(access.status, 200, access.text);
    assert.equal(access.json().history.length, HISTORY_MAX);
});
