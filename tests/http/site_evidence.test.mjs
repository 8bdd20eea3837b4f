// The change log is evidence (issue 22, item 5): every proof names the site
// version that produced it (claims sv, the published version in Redis, and
// sd, the SHA-256 of that version's canonical document; a site served from a
// file names only sd, the hash of the file canonicalised, which is the
// version its import makes), verified with jose (a JOSE library we did not
// write); the consent answer, GET .../consents/{visitor}, the access request
// (with the address of the version: what it said) and the audit export show
// it; and the version a proof names is still readable, with no expiry, after
// newer versions are published. Also on a 3-master Redis Cluster
// (http_cluster_site_evidence).
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { Consentd, delay, shippedSite, startRedis, test } from './lib/harness.mjs';
import { browser, postConsent, server, sha256hex, verifyProof } from './lib/consent.mjs';

let redis, consentd;
before(async () => {
    redis = await startRedis();
    consentd = await Consentd.start({ redis });
});
after(async () => {
    try {
        await consentd?.stop();
    } finally {
        await redis?.stop();
    }
});

const site = shippedSite('demo');
const CONSENT = site.purposes.filter((p) => p.legal_basis === 'consent').map((p) => p.id);
const all = (value) => Object.fromEntries(CONSENT.map((id) => [id, value]));
let serial = 0;
const newVisitor = (tag) => `sv-${tag}-${process.pid}-${serial++}`.slice(0, 64);

const call = (method, target, body) =>
    consentd.request(`/v1/sites/demo${target}`, { method, headers: server(), body: body === undefined ? undefined : JSON.stringify(body) });

async function consent(visitor, policyVersion = site.policy_version) {
    const res = await postConsent(consentd, { visitor, decisions: all(true), policy_version: policyVersion, lang: 'en' }, browser());
    assert.equal(res.status, 201, res.text);
    const { payload } = await verifyProof(consentd, res.json().proof);
    return { answer: res.json(), payload };
}

/* The bytes Redis holds for version n of demo (its canonical document). */
const versionBytes = (n) => redis.command('HGET', `cd:{demo:site}:v:${n}`, 'json');

let draftRevision = 0;
/* Draft, version, publish of demo with this English name of purpose 1; the
 * version made. Waits until the node serves it. */
async function publish(title) {
    const doc = shippedSite('demo');
    doc.purposes[1].texts.en.name = title;
    const put = await call('PUT', '/draft', { revision: draftRevision, site: doc });
    assert.equal(put.status, 200, put.text);
    draftRevision = put.json().revision;
    const ver = await call('POST', '/versions', { message: title });
    assert.equal(ver.status, 201, ver.text);
    const n = ver.json().version;
    const pub = await call('POST', `/versions/${n}/publish`, { bump_policy: false });
    assert.equal(pub.status, 200, pub.text);
    assert.equal(pub.json().published, n, pub.text);
    const start = Date.now();
    for (;;) {
        const js = await consentd.request('/v1/sites/demo/banner.js');
        if (js.status === 200 && js.text.includes(title)) break;
        if (Date.now() - start > 3000) assert.fail(`version ${n} not served within 3 s`);
        await delay(20);
    }
    return n;
}

let fileSd;
test('a_proof_of_a_site_from_a_file_names_the_file_canonical_sha256_and_no_version', async () => {
    const { answer, payload } = await consent(newVisitor('file'));
    assert.equal(payload.sv, undefined, 'a file has no Redis version');
    assert.match(payload.sd, /^[0-9a-f]{64}$/);
    assert.equal(answer.site_version, undefined);
    assert.equal(answer.site_sha256, payload.sd);
    fileSd = payload.sd;
});

test('the_file_proof_names_what_its_import_stores_the_canonical_document', async () => {
    /* The same document made a version (the draft is stored canonical): its
     * stored bytes hash to the sd of the proof given on the file. */
    const put = await call('PUT', '/draft', { revision: draftRevision, site: shippedSite('demo') });
    assert.equal(put.status, 200, put.text);
    draftRevision = put.json().revision;
    const ver = await call('POST', '/versions', { message: 'the file as it is' });
    assert.equal(ver.status, 201, ver.text);
    assert.equal(sha256hex(await versionBytes(ver.json().version)), fileSd);
});

let named;
test('a_proof_names_the_published_version_and_its_document_sha256', async () => {
    const n = await publish('Audience, version under proof');
    const visitor = newVisitor('redis');
    const { answer, payload } = await consent(visitor);
    assert.equal(payload.sv, n, 'sv: the published version');
    assert.equal(payload.sd, sha256hex(await versionBytes(n)), 'sd: the hash of that version as stored');
    assert.notEqual(payload.sd, fileSd, 'another document, another hash');
    assert.equal(answer.site_version, n);
    assert.equal(answer.site_sha256, payload.sd);
    /* GET .../consents/{visitor} */
    const got = await consentd.request(`/v1/sites/demo/consents/${visitor}`, { headers: browser() });
    assert.equal(got.status, 200, got.text);
    assert.equal(got.json().site_version, n);
    assert.equal(got.json().site_sha256, payload.sd);
    named = { n, visitor, sd: payload.sd };
});

test('versions_named_by_proofs_stay_readable_with_no_expiry_after_newer_publishes', async () => {
    const newer = await publish('Audience, a newer version');
    await publish('Audience, newer still');
    assert.ok(newer > named.n);
    /* a consent now names the newest */
    const { payload } = await consent(newVisitor('newest'));
    assert.ok(payload.sv > newer, JSON.stringify(payload));
    /* the old one is still there, byte for byte, and nothing will expire it */
    assert.equal(sha256hex(await versionBytes(named.n)), named.sd);
    assert.equal(await redis.command('TTL', `cd:{demo:site}:v:${named.n}`), -1);
    const res = await call('GET', `/versions/${named.n}`);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json().version, named.n);
});

test('a_withdrawal_names_the_site_version_too', async () => {
    const visitor = newVisitor('withdraw');
    const { payload: given } = await consent(visitor);
    const res = await consentd.request(`/v1/sites/demo/consents/${visitor}`, { method: 'DELETE', headers: browser() });
    assert.equal(res.status, 200, res.text);
    const { payload } = await verifyProof(consentd, res.json().proof);
    assert.equal(payload.act, 'withdrawal');
    assert.equal(payload.sv, given.sv);
    assert.equal(payload.sd, given.sd);
    assert.equal(res.json().site_version, given.sv);
});

test('the_access_request_links_each_record_to_what_its_site_version_said', async () => {
    const res = await consentd.request(`/v1/sites/demo/visitors/${named.visitor}`, { headers: server() });
    assert.equal(res.status, 200, res.text);
    const cur = res.json().current;
    assert.equal(cur.site_version, named.n);
    assert.equal(cur.site_sha256, named.sd);
    assert.equal(res.json().history[0].site_version, named.n);
    const url = new URL(cur.site_version_url);
    assert.equal(url.pathname, `/v1/sites/demo/versions/${named.n}`);
    /* followed with a key that may read versions: that version's purposes,
     * legal bases and recipients, as the visitor was asked under them */
    const ver = await consentd.request(url.pathname, { headers: server() });
    assert.equal(ver.status, 200, ver.text);
    const doc = ver.json().site;
    assert.equal(doc.purposes[1].texts.en.name, 'Audience, version under proof');
    assert.deepEqual(
        doc.purposes.map((p) => [p.id, p.legal_basis]),
        site.purposes.map((p) => [p.id, p.legal_basis]),
    );
});

test('the_audit_export_shows_the_site_version_of_each_entry', async () => {
    const res = await consentd.request('/v1/sites/demo/consents?limit=1000', { headers: server() });
    assert.equal(res.status, 200, res.text);
    const mine = res.text
        .split('\n')
        .filter(Boolean)
        .map((line) => JSON.parse(line))
        .filter((e) => e.visitor === named.visitor);
    assert.equal(mine.length, 1);
    assert.equal(mine[0].site_version, named.n);
    assert.equal(mine[0].site_sha256, named.sd);
});
