// Sites in Redis, over HTTP (issue 22, item 1): the draft with its revision
// (the last writer loses with 409 and the current revision), validation by
// site.c with the site file's messages as {field, reason} (422), versions
// (who, when, message), one version, the diff of two, publish and roll back,
// and the policy bump rule both ways. Also on a Redis Cluster
// (http_cluster_site_config).
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { Consentd, shippedSite, startRedis, test } from './lib/harness.mjs';
import { OTHER_KEY, server } from './lib/consent.mjs';

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

const call = (method, target, body, headers = server()) =>
    consentd.request(`/v1/sites/demo${target}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
const demo = () => shippedSite('demo');

let revision = 0;
test('no_draft_yet_is_revision_0', async () => {
    const res = await call('GET', '/draft');
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json().revision, 0);
    assert.equal(res.json().site, null);
    assert.equal(res.headers.etag, '"0"');
});

test('a_draft_needs_the_revision_it_edits_428', async () => {
    const res = await call('PUT', '/draft', demo());
    assert.equal(res.status, 428, res.text);
    assert.equal(res.json().error.code, 'revision_required');
});

test('a_draft_put_with_if_match_0_is_revision_1_and_is_read_back_canonical', async () => {
    const res = await call('PUT', '/draft', demo(), server(undefined, { 'if-match': '"0"' }));
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json().revision, 1);
    revision = 1;
    const again = await call('PUT', '/draft', demo(), server(undefined, { 'if-match': '"0"' }));
    assert.equal(again.status, 200, 'the same write sent again (a retry) is answered, not refused');
    assert.equal(again.json().revision, 1);
    const got = await call('GET', '/draft');
    assert.equal(got.json().revision, 1);
    assert.deepEqual(got.json().site, demo());
    assert.equal(got.json().who, 'owner');
});

test('concurrent_edits_the_last_writer_loses_with_409_and_the_current_revision', async () => {
    const a = demo();
    a.purposes[1].texts.en.name = 'Audience (A)';
    const b = demo();
    b.purposes[1].texts.en.name = 'Audience (B)';
    const first = await call('PUT', '/draft', { revision, site: a });
    assert.equal(first.status, 200, first.text);
    const second = await call('PUT', '/draft', { revision, site: b });
    assert.equal(second.status, 409, second.text);
    assert.equal(second.json().error.code, 'conflict');
    assert.equal(second.json().error.revision, revision + 1);
    revision += 1;
    const got = await call('GET', '/draft');
    assert.equal(got.json().site.purposes[1].texts.en.name, 'Audience (A)');
});

test('an_invalid_draft_is_422_with_the_site_file_message_as_field_and_reason', async () => {
    const bad = demo();
    bad.purposes[2].legal_basis = 'because_we_can';
    const res = await call('PUT', '/draft', { revision, site: bad });
    assert.equal(res.status, 422, res.text);
    const e = res.json().error;
    assert.equal(e.code, 'invalid_site');
    assert.equal(e.message, `site demo draft ${revision + 1}: purposes[2].legal_basis: must be one of consent, legitimate_interest, necessary`);
    assert.deepEqual(e.errors, [{ field: 'purposes[2].legal_basis', reason: 'must be one of consent, legitimate_interest, necessary' }]);
    const other = demo();
    other.id = 'other';
    const wrongId = await call('PUT', '/draft', { revision, site: other });
    assert.equal(wrongId.status, 422);
    assert.deepEqual(wrongId.json().error.errors, [{ field: 'id', reason: 'must be the site\'s id ("demo")' }]);
    const got = await call('GET', '/draft');
    assert.equal(got.json().revision, revision, 'nothing stored');
});

test('a_draft_the_banner_build_would_refuse_is_422_too', async () => {
    const bad = demo();
    bad.variants[1].texts.en.titel = 'Typo';
    const res = await call('PUT', '/draft', { revision, site: bad });
    assert.equal(res.status, 422, res.text);
    const e = res.json().error;
    assert.match(e.message, new RegExp(`^site demo draft ${revision + 1}: variants\\[1\\]\\.texts\\.en\\.titel: is not one of the banner's texts`));
    assert.equal(e.errors[0].field, 'variants[1].texts.en.titel');
    assert.match(e.errors[0].reason, /^is not one of the banner's texts/);
});

test('the_draft_routes_refuse_a_bad_key_and_another_sites_key', async () => {
    const bad = await call('GET', '/draft', undefined, server('nope'));
    assert.equal(bad.status, 401);
    const other = await call('GET', '/versions', undefined, server(OTHER_KEY));
    assert.ok([401, 403].includes(other.status), other.text);
    const none = await consentd.request('/v1/sites/nosuchsite/draft', { headers: server() });
    assert.equal(none.status, 404);
});

let v1, v2;
test('a_version_from_the_draft_then_no_new_version_for_the_same_document', async () => {
    const res = await call('POST', '/versions', { message: 'first', revision });
    assert.equal(res.status, 201, res.text);
    v1 = res.json().version;
    assert.equal(v1, 1);
    const again = await call('POST', '/versions', { message: 'again' });
    assert.equal(again.status, 200, again.text);
    assert.equal(again.json().version, v1);
    assert.equal(again.json().created, false);
    const stale = await call('POST', '/versions', { message: 'stale', revision: revision - 1 });
    assert.equal(stale.status, 409);
});

test('publish_of_the_first_version_and_its_list_with_who_when_message', async () => {
    const res = await call('POST', `/versions/${v1}/publish`);
    assert.equal(res.status, 200, res.text);
    assert.equal(res.json().published, v1);
    assert.equal(res.json().policy_bumped, false);
    const list = await call('GET', '/versions');
    assert.equal(list.status, 200, list.text);
    const body = list.json();
    assert.equal(body.published, v1);
    assert.equal(body.versions.length, 1);
    assert.equal(body.versions[0].message, 'first');
    assert.equal(body.versions[0].who, 'owner');
    assert.ok(Math.abs(body.versions[0].at - Date.now()) < 60000);
    const one = await call('GET', `/versions/${v1}`);
    assert.equal(one.json().published, true);
    assert.equal(one.json().site.purposes[1].texts.en.name, 'Audience (A)');
    assert.equal((await call('GET', '/versions/9')).status, 404);
    assert.equal((await call('GET', '/versions/x')).status, 400);
});

test('a_typo_fix_published_without_bump_keeps_the_policy_version', async () => {
    const d = demo();
    d.purposes[1].texts.en.name = 'Audience measurement';
    const put = await call('PUT', '/draft', { revision, site: d });
    assert.equal(put.status, 200, put.text);
    revision = put.json().revision;
    const ver = await call('POST', '/versions', { message: 'typo in English' });
    v2 = ver.json().version;
    assert.equal(v2, 2);
    const diff = await call('GET', `/diff?from=${v1}&to=${v2}`);
    assert.equal(diff.status, 200, diff.text);
    assert.deepEqual(diff.json(), {
        added: [],
        removed: [],
        changed: [{ path: 'purposes[1].texts.en.name', from: 'Audience (A)', to: 'Audience measurement' }],
        from: v1,
        to: v2,
    });
    const pub = await call('POST', `/versions/${v2}/publish`, { bump_policy: false });
    assert.equal(pub.status, 200, pub.text);
    assert.equal(pub.json().policy_changed, true);
    assert.equal(pub.json().policy_bumped, false);
    assert.equal(pub.json().published, v2);
    const got = await call('GET', '/versions/published');
    assert.equal(got.json().site.policy_version, demo().policy_version);
});

test('a_changed_recipient_published_bumps_the_policy_version_in_a_new_version', async () => {
    const d = demo();
    d.purposes[1].texts.en.name = 'Audience measurement';
    d.purposes[1].recipients = [...d.purposes[1].recipients, 'New Partner SA'];
    revision = (await call('PUT', '/draft', { revision, site: d })).json().revision;
    const v3 = (await call('POST', '/versions', { message: 'new recipient' })).json().version;
    const pub = await call('POST', `/versions/${v3}/publish`);
    assert.equal(pub.status, 200, pub.text);
    assert.equal(pub.json().policy_changed, true);
    assert.equal(pub.json().policy_bumped, true);
    assert.equal(pub.json().published, v3 + 1, 'the bumped copy is a version of its own');
    const got = (await call('GET', '/versions/published')).json();
    assert.equal(got.site.policy_version, `${demo().policy_version}+v${v3}`);
    assert.equal(got.parent, v3);
    assert.match(got.message, /policy_version bumped/);
});

test('roll_back_publishes_an_older_version_whose_own_policy_version_differs', async () => {
    const before = (await call('GET', '/versions/published')).json();
    const pub = await call('POST', `/versions/${v1}/publish`);
    assert.equal(pub.status, 200, pub.text);
    assert.equal(pub.json().published, v1, 'the old version itself');
    assert.equal(pub.json().policy_changed, true);
    assert.equal(pub.json().policy_bumped, false, 'its policy_version already differs from the published one');
    const got = (await call('GET', '/versions/published')).json();
    assert.equal(got.version, v1);
    assert.notEqual(got.site.policy_version, before.site.policy_version, 'visitors of the bumped version are asked again');
    assert.equal(got.site.purposes[1].texts.en.name, 'Audience (A)');
    assert.equal((await call('POST', '/versions/99/publish')).status, 404);
});

test('bump_policy_true_bumps_even_without_a_policy_change', async () => {
    const pub = await call('POST', `/versions/${v2}/publish`, { bump_policy: true });
    assert.equal(pub.status, 200, pub.text);
    assert.equal(pub.json().policy_bumped, true);
    const got = (await call('GET', '/versions/published')).json();
    assert.equal(got.site.policy_version, `${demo().policy_version}+v${v2}`);
});

test('the_published_site_is_served_by_this_node_within_a_second', async () => {
    const got = (await call('GET', '/versions/published')).json();
    const deadline = Date.now() + 1000;
    let pv;
    while (Date.now() < deadline) {
        const js = await consentd.request('/v1/sites/demo/banner.js');
        pv = /"pv":"([^"]*)"/.exec(js.text)?.[1];
        if (pv === got.site.policy_version) break;
        await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(pv, got.site.policy_version);
});

test('a_site_write_key_edits_and_is_named_in_the_version_but_cannot_publish', async () => {
    const made = await consentd.request('/v1/sites/demo/keys', { method: 'POST', headers: server(), body: JSON.stringify({ name: 'marketing', scopes: ['site:write'] }) });
    assert.equal(made.status, 201, made.text);
    const marketing = server(made.json().key);
    const draft = (await call('GET', '/draft', undefined, marketing)).json();
    const d = draft.site;
    d.purposes[1].texts.fr.name = 'Mesure d’audience (marketing)';
    const put = await call('PUT', '/draft', { revision: draft.revision, site: d }, marketing);
    assert.equal(put.status, 200, put.text);
    const ver = await call('POST', '/versions', { message: 'by marketing' }, marketing);
    assert.equal(ver.status, 201, ver.text);
    const got = (await call('GET', `/versions/${ver.json().version}`, undefined, marketing)).json();
    assert.equal(got.who, 'key:marketing');
    const pub = await call('POST', `/versions/${ver.json().version}/publish`, undefined, marketing);
    assert.equal(pub.status, 403, pub.text);
    assert.equal(pub.json().error.code, 'insufficient_scope');
});
