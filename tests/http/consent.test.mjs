// Recording, reading and withdrawing a choice; the signed proof verifies with
// jose and the JWKS alone; the records land in Redis as documented.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { shippedSite, shippedSites, siteWithLegitimateInterest, startStack, test } from './lib/harness.mjs';
import { browser, keySlot, allKeys, postConsent, server, verifyProof } from './lib/consent.mjs';

const DAY_MS = 86400 * 1000;
const site = shippedSite('demo');
// lisite: the demo site with a legitimate-interest purpose (without
// trackers: the demo itself has none since issue 19).
const lisite = siteWithLegitimateInterest('lisite');
const byBasis = (basis, s = site) => s.purposes.filter((p) => p.legal_basis === basis).map((p) => p.id);
const CONSENT = byBasis('consent');
const LEGIT = byBasis('legitimate_interest', lisite);
const NECESSARY = byBasis('necessary');

let stack;
before(async () => {
    // gpcsite: lisite whose legitimate-interest purposes are also objected
    // to by Global Privacy Control.
    const gpcsite = siteWithLegitimateInterest('gpcsite');
    for (const p of gpcsite.purposes) if (p.legal_basis === 'legitimate_interest') p.gpc = true;
    stack = await startStack({ sites: { ...shippedSites(), 'lisite.json': lisite, 'gpcsite.json': gpcsite } });
});
after(async () => {
    await stack?.stop();
});

function choice(decisions, extra = {}) {
    return { decisions, policy_version: site.policy_version, lang: 'fr', ...extra };
}

test('post_consent_returns_201_with_every_purpose_resolved_by_its_legal_basis', async () => {
    assert.ok(CONSENT.length >= 2 && LEGIT.length >= 1 && NECESSARY.length >= 1, 'site shape');
    assert.equal(byBasis('legitimate_interest').length, 0, 'the demo puts no tracker on legitimate interest');
    const res = await postConsent(stack.consentd, choice({ [CONSENT[0]]: true }), browser(), 'lisite');
    assert.equal(res.status, 201, res.text);
    assert.equal(res.headers['access-control-allow-origin'], 'http://localhost:8080');
    const body = res.json();
    assert.match(body.visitor, /^[A-Za-z0-9_-]{22}$/);
    assert.match(body.consent_id, /^[A-Za-z0-9_-]{22}$/);
    assert.equal(body.policy_version, site.policy_version);
    assert.deepEqual(Object.keys(body.decisions).sort(), lisite.purposes.map((p) => p.id).sort());
    assert.equal(body.decisions[CONSENT[0]], true, 'asked for');
    for (const id of CONSENT.slice(1)) assert.equal(body.decisions[id], false, `${id}: consent left out is refused`);
    for (const id of LEGIT) assert.equal(body.decisions[id], true, `${id}: legitimate interest left out is granted`);
    for (const id of NECESSARY) assert.equal(body.decisions[id], true, `${id}: necessary`);
    const lifetime = Date.parse(body.expires_at) - Date.parse(body.issued_at);
    assert.ok(Math.abs(lifetime - (site.choice_lifetime_days ?? 182) * DAY_MS) < 2000, `lifetime ${lifetime}`);
});

test('legitimate_interest_purpose_is_refused_when_the_visitor_objects', async () => {
    const res = await postConsent(stack.consentd, choice({ [LEGIT[0]]: false }), browser(), 'lisite');
    assert.equal(res.status, 201, res.text);
    assert.equal(res.json().decisions[LEGIT[0]], false);
});

test('proof_verifies_with_jose_and_the_jwks_and_carries_every_claim', async () => {
    const visitor = 'visitor-proof-0001';
    const res = await postConsent(stack.consentd, choice({ [CONSENT[1]]: true }, { visitor, variant: 'b' }));
    assert.equal(res.status, 201, res.text);
    const body = res.json();
    const { payload, protectedHeader } = await verifyProof(stack.consentd, body.proof);
    assert.equal(protectedHeader.alg, 'EdDSA');
    assert.equal(protectedHeader.typ, 'JWT');
    assert.ok(protectedHeader.kid);
    assert.equal(payload.aud, 'demo');
    assert.equal(payload.sub, visitor);
    assert.equal(payload.jti, body.consent_id);
    assert.equal(payload.iss, stack.consentd.config.public_url);
    assert.equal(payload.pv, site.policy_version);
    assert.match(payload.th, /^[0-9a-f]{64}$/);
    assert.equal(payload.src, 'banner');
    assert.equal(payload.lang, 'fr');
    assert.equal(payload.var, 'b');
    assert.deepEqual(payload.dec, body.decisions);
    assert.equal(payload.exp * 1000, Math.floor(Date.parse(body.expires_at) / 1000) * 1000);
});

test('tampered_proof_fails_verification', async () => {
    const res = await postConsent(stack.consentd, choice({ [CONSENT[0]]: false }));
    const [h, p, s] = res.json().proof.split('.');
    const claims = JSON.parse(Buffer.from(p, 'base64url'));
    claims.dec[CONSENT[0]] = true; // grant what was refused
    const forged = `${h}.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.${s}`;
    await assert.rejects(verifyProof(stack.consentd, forged), /signature verification failed/);
});

test('texts_hash_differs_between_languages', async () => {
    const fr = (await postConsent(stack.consentd, choice({}, { lang: 'fr' }))).json();
    const en = (await postConsent(stack.consentd, choice({}, { lang: 'en' }))).json();
    assert.match(fr.texts_hash, /^[0-9a-f]{64}$/);
    assert.notEqual(fr.texts_hash, en.texts_hash);
});

test('get_returns_the_very_proof_bytes_that_were_issued', async () => {
    const posted = (await postConsent(stack.consentd, choice({ [CONSENT[0]]: true }))).json();
    for (const headers of [{ origin: 'http://localhost:8080' }, { authorization: 'Bearer demo-key-change-me' }]) {
        const res = await stack.consentd.request(`/v1/sites/demo/consents/${posted.visitor}`, { headers });
        assert.equal(res.status, 200, res.text);
        const got = res.json();
        assert.equal(got.proof, posted.proof);
        assert.equal(got.consent_id, posted.consent_id);
        assert.deepEqual(got.decisions, posted.decisions);
    }
});

test('get_unknown_visitor_is_404_consent_not_found', async () => {
    const res = await stack.consentd.request('/v1/sites/demo/consents/nobody-ever-0000', { headers: browser() });
    assert.equal(res.status, 404, res.text);
    assert.equal(res.json().error.code, 'consent_not_found');
});

test('delete_withdraws_every_non_necessary_purpose_with_a_new_signed_record', async () => {
    const posted = (await postConsent(stack.consentd, choice(Object.fromEntries(CONSENT.map((id) => [id, true]))))).json();
    const res = await stack.consentd.request(`/v1/sites/demo/consents/${posted.visitor}`, {
        method: 'DELETE',
        headers: browser(),
    });
    assert.equal(res.status, 200, res.text);
    const withdrawn = res.json();
    assert.notEqual(withdrawn.consent_id, posted.consent_id);
    assert.equal(withdrawn.action, 'withdrawal');
    assert.equal(withdrawn.control, 'withdraw', 'a browser DELETE: the withdraw control');
    for (const p of site.purposes) assert.equal(withdrawn.decisions[p.id], p.legal_basis === 'necessary', p.id);
    const { payload } = await verifyProof(stack.consentd, withdrawn.proof);
    assert.equal(payload.jti, withdrawn.consent_id);
    const now = (await stack.consentd.request(`/v1/sites/demo/consents/${posted.visitor}`, { headers: browser() })).json();
    assert.equal(now.consent_id, withdrawn.consent_id);
});

test('stale_policy_version_is_409_with_the_current_version', async () => {
    const res = await postConsent(stack.consentd, choice({}, { policy_version: '1999-01-01' }));
    assert.equal(res.status, 409, res.text);
    const body = res.json();
    assert.equal(body.error.code, 'policy_version_mismatch');
    assert.equal(body.error.current_policy_version, site.policy_version);
});

test('server_with_the_api_key_may_record_other_sources', async () => {
    const res = await postConsent(stack.consentd, choice({ [CONSENT[0]]: true }, { source: 'call_center' }), server());
    assert.equal(res.status, 201, res.text);
    assert.equal(res.json().source, 'call_center');
    assert.equal(res.headers['access-control-allow-origin'], undefined);
});

test('state_history_and_log_ttls_follow_the_site_settings', async () => {
    const visitor = 'visitor-ttl-000001';
    await postConsent(stack.consentd, choice({}, { visitor }));
    const keys = (await allKeys(stack.redis)).filter((k) => k.includes(visitor));
    assert.ok(keys.length >= 2, `keys of the visitor: ${keys}`);
    const lifetime = (site.choice_lifetime_days ?? 182) * DAY_MS;
    const retention = (site.log_retention_days ?? 1825) * DAY_MS;
    let sawState = false;
    for (const key of keys) {
        const ttl = await stack.redis.command('PTTL', key);
        assert.ok(ttl > 0, `${key} has no TTL`);
        if (/:w[md]:/.test(key)) {
            // The visitor's write counters: a minute, a day (rate_limit.visitor_writes_*).
            assert.ok(ttl <= (key.includes(':wm:') ? 60000 : DAY_MS), `${key}: TTL ${ttl}`);
            continue;
        }
        if (Math.abs(ttl - lifetime) < 60000) sawState = true;
        else assert.ok(Math.abs(ttl - retention) < 60000, `${key}: TTL ${ttl} is neither lifetime nor retention`);
    }
    assert.ok(sawState, 'no key expires with the choice lifetime');
    const logs = (await allKeys(stack.redis)).filter((k) => k.startsWith('cd:{demo:') && k.endsWith(':log'));
    assert.ok(logs.length >= 1, 'no consent log stream');
    for (const key of logs) assert.ok((await stack.redis.command('PTTL', key)) > 0, `${key} has no TTL`);
});

test('every_key_one_consent_writes_is_in_one_cluster_slot', async () => {
    await stack.redis.command('FLUSHALL');
    const res = await postConsent(stack.consentd, choice({ [CONSENT[0]]: true }));
    assert.equal(res.status, 201, res.text);
    const keys = (await allKeys(stack.redis)).filter((k) => k.includes('{demo:'));
    assert.ok(keys.length >= 3, `keys written: ${keys}`);
    const slots = new Set(keys.map(keySlot));
    assert.equal(slots.size, 1, `keys in several slots: ${keys}`);
});

test('cors_preflight_answers_the_sites_origins_only', async () => {
    const ok = await stack.consentd.request('/v1/sites/demo/consents', {
        method: 'OPTIONS',
        headers: { origin: 'http://localhost:8080', 'access-control-request-method': 'POST' },
    });
    assert.equal(ok.status, 204, ok.text);
    assert.equal(ok.headers['access-control-allow-origin'], 'http://localhost:8080');
    assert.match(ok.headers['access-control-allow-methods'], /POST/);
    assert.match(ok.headers['access-control-allow-headers'], /content-type/);
    const foreign = await stack.consentd.request('/v1/sites/demo/consents', {
        method: 'OPTIONS',
        headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    assert.equal(foreign.status, 403, foreign.text);
    assert.equal(foreign.json().error.code, 'origin_not_allowed');
    assert.equal(foreign.headers['access-control-allow-origin'], undefined);
});

test('sec_gpc_refuses_gpc_purposes_left_out_even_on_legitimate_interest', async () => {
    const decisions = { [CONSENT[0]]: true };
    const withGpc = await postConsent(stack.consentd, choice(decisions), browser({ 'sec-gpc': '1' }), 'gpcsite');
    assert.equal(withGpc.status, 201, withGpc.text);
    for (const id of LEGIT) assert.equal(withGpc.json().decisions[id], false, `${id} with Sec-GPC`);
    const without = await postConsent(stack.consentd, choice(decisions), browser(), 'gpcsite');
    for (const id of LEGIT) assert.equal(without.json().decisions[id], true, `${id} without Sec-GPC`);
    // An explicit grant by the visitor still counts.
    const granted = await postConsent(stack.consentd, choice({ [LEGIT[0]]: true }), browser({ 'sec-gpc': '1' }), 'gpcsite');
    assert.equal(granted.json().decisions[LEGIT[0]], true);
});
