// Sites created, listed and deleted by the operator (issue 22, item 2;
// src/api/sites.h): two consentd nodes on one Redis (and on a 3-master Redis
// Cluster: http_cluster_sites_admin, the announcement reaching every node).
// A site created through node A is known on A at once and on B within a
// second: its draft, versions, diff, check, previews and publish answer on
// both, nothing is served until the first publish, then B serves it within a
// second. Deleted through A, neither node serves it within a second (banner.js
// and consents 404), but nothing that is evidence goes: its versions, keys,
// consents and log stay and the rights routes answer; a publish brings it
// back. The list comes a page at a time (limit, cursor) and finds sites by
// part of their id (q). Every error: 401, 403, 404, 409, 400, 413, 415, 422,
// 503.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { Consentd, TEST_ON_CLUSTER, delay, siteLike, startRedis, test } from './lib/harness.mjs';
import { DEMO_KEY, allKeys, sha256hex } from './lib/consent.mjs';

const OPERATOR_KEY = 'operator-key-for-the-tests-0001';
const ORIGIN = 'https://shop.example';
const config = { admin: { operator_key_sha256: sha256hex(OPERATOR_KEY) }, rate_limit: { exempt_loopback: true } };
const op = (extra = {}) => ({ authorization: `Bearer ${OPERATOR_KEY}`, 'content-type': 'application/json', ...extra });

let redis, a, b;
before(async () => {
    redis = await startRedis();
    a = await Consentd.start({ redis, config });
    b = await Consentd.start({ redis, config });
});
after(async () => {
    try {
        await a?.stop();
        await b?.stop();
    } finally {
        await redis?.stop();
    }
});

const create = (node, body, headers = op()) => node.request('/v1/sites', { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
const list = async (node) => {
    const res = await node.request('/v1/sites', { headers: op() });
    assert.equal(res.status, 200, res.text);
    return res.json().sites;
};

/* Poll until fn() is true; the ms it took, or fail after ms. */
async function within(ms, what, fn) {
    const start = Date.now();
    for (;;) {
        if (await fn()) return Date.now() - start;
        if (Date.now() - start > ms) assert.fail(`${what}: not within ${ms} ms`);
        await delay(20);
    }
}

test('the_list_has_the_directory_sites_as_file_sources', async () => {
    const sites = await list(a);
    assert.deepEqual(sites.find((s) => s.id === 'demo'), { id: 'demo', published: null, draft_revision: 0, source: 'file', served: true });
    assert.deepEqual(sites.map((s) => s.id), [...sites.map((s) => s.id)].sort(), 'sorted by id');
});

test('the_list_comes_a_page_at_a_time_and_finds_sites_by_part_of_their_id', async () => {
    const ids = ['page-c', 'page-a', 'page-e', 'page-b', 'page-d'];
    for (const id of ids) assert.equal((await create(a, { id, origins: [`https://${id}.example`] })).status, 201);
    const get = (query) => a.request(`/v1/sites?${query}`, { headers: op() });
    const seen = [];
    let cursor = '',
        pages = 0;
    for (;;) {
        const res = await get(`q=page-&limit=2${cursor ? `&cursor=${cursor}` : ''}`);
        assert.equal(res.status, 200, res.text);
        const page = res.json();
        assert.equal(page.total, 5, 'total: every page of q');
        assert.ok(page.sites.length <= 2);
        seen.push(...page.sites.map((s) => s.id));
        pages++;
        if (page.next_cursor == null) break;
        assert.equal(page.next_cursor, page.sites.at(-1).id, "the next page starts after this one's last");
        cursor = page.next_cursor;
    }
    assert.equal(pages, 3);
    assert.deepEqual(seen, [...ids].sort(), 'every site once, in id order');
    // Part of an id, anywhere in it; the sites of the sites directory too.
    assert.deepEqual((await get('q=ge-b')).json(), { sites: [(await list(a)).find((s) => s.id === 'page-b')], total: 1, next_cursor: null });
    assert.deepEqual((await get('q=emo')).json().sites.map((s) => s.id), ['demo']);
    assert.deepEqual((await get('q=nothing-like-it')).json(), { sites: [], total: 0, next_cursor: null });
    // The last page: what follows the cursor; a cursor past every id: nothing.
    assert.deepEqual((await get('q=page-&cursor=page-d')).json().sites.map((s) => s.id), ['page-e']);
    assert.deepEqual((await get('cursor=zzzz')).json().sites, []);
    const all = (await get('')).json();
    assert.equal(all.total, all.sites.length, 'under 100 sites: one page');
    assert.equal(all.next_cursor, null);
    // Errors: 400 with the parameter named, before anything is read.
    for (const [query, code] of [
        ['limit=0', 'invalid_limit'],
        ['limit=1001', 'invalid_limit'],
        ['limit=ten', 'invalid_limit'],
        ['q=Page', 'invalid_q'],
        ['q=page%2D', 'invalid_q'],
        [`q=${'a'.repeat(65)}`, 'invalid_q'],
        ['cursor=page.a', 'invalid_cursor'],
    ]) {
        const res = await get(query);
        assert.equal(res.status, 400, `${query}: ${res.text}`);
        assert.equal(res.json().error.code, code, query);
    }
    for (const id of ids) assert.equal((await a.request(`/v1/sites/${id}`, { method: 'DELETE', headers: op() })).status, 200);
});

test('create_a_starter_site_known_on_both_nodes_and_served_by_none', async () => {
    const res = await create(a, { id: 'shop', origins: [ORIGIN] });
    assert.equal(res.status, 201, res.text);
    assert.deepEqual(res.json(), { id: 'shop', version: 1, draft_revision: 1 });
    /* on A at once: the answer waits until A knows it */
    const draft = await a.request('/v1/sites/shop/draft', { headers: op() });
    assert.equal(draft.status, 200, draft.text);
    assert.equal(draft.json().revision, 1);
    const doc = draft.json().site;
    assert.deepEqual(doc.origins, [ORIGIN]);
    assert.deepEqual(doc.purposes.map((p) => [p.id, p.legal_basis]), [['necessary', 'necessary'], ['audience', 'consent']]);
    assert.equal(doc.controller.contact, 'privacy@shop.example');
    const took = await within(1000, 'B knows the new site', async () => (await b.request('/v1/sites/shop/draft', { headers: op() })).status === 200);
    console.log(`# created site known on node B after ${took} ms`);
    for (const node of [a, b]) {
        const banner = await node.request('/v1/sites/shop/banner.js');
        assert.equal(banner.status, 404, 'not served before its first publish');
        assert.equal(banner.json().error.code, 'site_not_found');
        const consent = await node.request('/v1/sites/shop/consents', { method: 'POST', headers: { origin: ORIGIN, 'content-type': 'application/json' }, body: JSON.stringify({ visitor: 'shopvisitor0000000000001', decisions: { audience: true }, policy_version: '1', lang: 'en' }) });
        assert.equal(consent.status, 404, consent.text);
        const versions = await node.request('/v1/sites/shop/versions', { headers: op() });
        assert.equal(versions.status, 200, versions.text);
        assert.equal(versions.json().last, 1);
        assert.equal(versions.json().published, 0);
        const shop = (await list(node)).find((s) => s.id === 'shop');
        assert.deepEqual(shop, { id: 'shop', published: null, draft_revision: 1, source: 'redis', served: false });
    }
});

test('an_unpublished_site_takes_drafts_checks_previews_diffs_and_publishes_then_b_serves_it', async () => {
    const doc = (await (await b.request('/v1/sites/shop/draft', { headers: op() })).json()).site;
    doc.purposes[1].texts.en.name = 'Shop audience';
    const check = await b.request('/v1/sites/shop/draft/check', { method: 'POST', headers: op(), body: JSON.stringify(doc) });
    assert.equal(check.status, 200, check.text);
    const preview = await b.request('/v1/sites/shop/previews', { method: 'POST', headers: op(), body: JSON.stringify(doc) });
    assert.equal(preview.status, 201, preview.text);
    const js = await a.request(preview.json().banner_url);
    assert.equal(js.status, 200, 'any node serves the preview');
    assert.ok(js.text.includes('Shop audience'));
    const put = await b.request('/v1/sites/shop/draft', { method: 'PUT', headers: op(), body: JSON.stringify({ revision: 1, site: doc }) });
    assert.equal(put.status, 200, put.text);
    const v2 = await b.request('/v1/sites/shop/versions', { method: 'POST', headers: op(), body: JSON.stringify({ message: 'named' }) });
    assert.equal(v2.status, 201, v2.text);
    assert.equal(v2.json().version, 2);
    const diff = await a.request('/v1/sites/shop/diff?from=1&to=2', { headers: op() });
    assert.equal(diff.status, 200, diff.text);
    assert.deepEqual(diff.json().changed.map((c) => c.path), ['purposes[1].texts.en.name']);
    const pub = await a.request('/v1/sites/shop/versions/2/publish', { method: 'POST', headers: op(), body: '{}' });
    assert.equal(pub.status, 200, pub.text);
    const took = await within(1000, 'B serves the first publish', async () => {
        const res = await b.request('/v1/sites/shop/banner.js');
        return res.status === 200 && res.text.includes('Shop audience');
    });
    console.log(`# first publish served by node B after ${took} ms`);
    const shop = (await list(b)).find((s) => s.id === 'shop');
    assert.deepEqual(shop, { id: 'shop', published: 2, draft_revision: 2, source: 'redis', served: true });
});

let rightsKey, visitor;
test('delete_stops_serving_on_every_node_within_a_second_and_keeps_the_evidence', async () => {
    /* evidence first: a key of the site and a consent */
    const key = await a.request('/v1/sites/shop/keys', { method: 'POST', headers: op(), body: JSON.stringify({ name: 'dpo', scopes: ['rights'] }) });
    assert.equal(key.status, 201, key.text);
    rightsKey = key.json().key;
    const consent = await b.request('/v1/sites/shop/consents', {
        method: 'POST',
        headers: { origin: ORIGIN, 'content-type': 'application/json' },
        body: JSON.stringify({ visitor: 'shopvisitor0000000000001', decisions: { audience: true }, policy_version: '1', lang: 'en' }),
    });
    assert.equal(consent.status, 201, consent.text);
    visitor = consent.json().visitor;
    const keysBefore = (await allKeys(redis)).filter((k) => k.startsWith('cd:{shop:'));

    const del = await a.request('/v1/sites/shop', { method: 'DELETE', headers: op() });
    assert.equal(del.status, 200, del.text);
    assert.deepEqual(del.json(), { id: 'shop', deleted: true });
    assert.equal((await a.request('/v1/sites/shop/banner.js')).status, 404, 'A at once');
    const took = await within(1000, 'B stops serving', async () => (await b.request('/v1/sites/shop/banner.js')).status === 404);
    console.log(`# deleted site no longer served by node B after ${took} ms`);
    for (const node of [a, b]) {
        const res = await node.request('/v1/sites/shop/banner.js');
        assert.equal(res.json().error.code, 'site_not_found');
        const c = await node.request('/v1/sites/shop/consents', { method: 'POST', headers: { origin: ORIGIN, 'content-type': 'application/json' }, body: JSON.stringify({ visitor, decisions: { audience: false }, policy_version: '1', lang: 'en' }) });
        assert.equal(c.status, 404, c.text);
        assert.equal(c.json().error.code, 'site_not_found');
        /* the evidence answers: access request, export, versions, keys */
        const access = await node.request(`/v1/sites/shop/visitors/${visitor}`, { headers: { authorization: `Bearer ${rightsKey}` } });
        assert.equal(access.status, 200, access.text);
        assert.equal(access.json().history.length, 1);
        const exported = await node.request('/v1/sites/shop/consents', { headers: { authorization: `Bearer ${rightsKey}` } });
        assert.equal(exported.status, 200, exported.text);
        const versions = await node.request('/v1/sites/shop/versions', { headers: op() });
        assert.equal(versions.json().last, 2);
        const keys = await node.request('/v1/sites/shop/keys', { headers: op() });
        assert.deepEqual(keys.json().keys.map((k) => k.name), ['dpo']);
        const shop = (await list(node)).find((s) => s.id === 'shop');
        assert.deepEqual(shop, { id: 'shop', published: null, draft_revision: 2, source: 'redis', served: false });
    }
    const keysAfter = (await allKeys(redis)).filter((k) => k.startsWith('cd:{shop:'));
    assert.ok(keysBefore.length > 5, `the site's keys: ${keysBefore}`);
    for (const k of keysBefore) assert.ok(keysAfter.includes(k), `${k} was deleted`);
});

test('publishing_again_brings_a_deleted_site_back', async () => {
    const pub = await b.request('/v1/sites/shop/versions/2/publish', { method: 'POST', headers: op(), body: '{}' });
    assert.equal(pub.status, 200, pub.text);
    await within(1000, 'A serves it again', async () => (await a.request('/v1/sites/shop/banner.js')).status === 200);
    await within(1000, 'B serves it again', async () => (await b.request('/v1/sites/shop/banner.js')).status === 200);
});

test('create_with_a_document_validates_it_and_stores_it_as_version_1', async () => {
    const doc = siteLike('blog');
    doc.origins = ['https://blog.example'];
    const res = await create(b, { id: 'blog', site: doc });
    assert.equal(res.status, 201, res.text);
    const v1 = await a.request('/v1/sites/blog/versions/1', { headers: op() });
    await within(1000, 'A knows blog', async () => (await a.request('/v1/sites/blog/versions/1', { headers: op() })).status === 200);
    assert.ok([200, 404].includes(v1.status));
    const got = await a.request('/v1/sites/blog/versions/1', { headers: op() });
    assert.deepEqual(got.json().site.origins, ['https://blog.example']);
    assert.equal(got.json().who, 'operator');
    assert.equal(got.json().published, false);
});

test('create_errors_409_400_422_415_413_and_the_operator_key_alone', async () => {
    const taken = await create(a, { id: 'shop', origins: [ORIGIN] });
    assert.equal(taken.status, 409, taken.text);
    assert.equal(taken.json().error.code, 'site_exists');
    const file = await create(a, { id: 'demo', origins: [ORIGIN] });
    assert.equal(file.status, 409, 'a site of the directory');
    assert.equal(file.json().error.code, 'site_exists');
    /* taken in Redis though this node does not know it yet */
    await redis.command('HSET', 'cd:{ghost:site}:head', 'last', '1');
    const ghost = await create(a, { id: 'ghost', origins: [ORIGIN] });
    assert.equal(ghost.status, 409, ghost.text);
    for (const id of ['Shop', '-x', '', 'a'.repeat(65), 'a/b', 7]) {
        const bad = await create(a, { id, origins: [ORIGIN] });
        assert.equal(bad.status, 400, `${id}: ${bad.text}`);
        assert.equal(bad.json().error.code, 'invalid_field');
    }
    const noOrigin = await create(a, { id: 'nowhere' });
    assert.equal(noOrigin.status, 422, noOrigin.text);
    assert.deepEqual(noOrigin.json().error.errors, [{ field: 'origins', reason: 'must not be empty' }]);
    assert.match(noOrigin.json().error.message, /^site nowhere draft 1: origins: must not be empty$/);
    const doc = siteLike('wrong');
    const wrongId = await create(a, { id: 'other-id', site: doc });
    assert.equal(wrongId.status, 422, wrongId.text);
    assert.equal(wrongId.json().error.errors[0].field, 'id');
    const badBasis = siteLike('badbasis');
    badBasis.purposes[2].legal_basis = 'because';
    const invalid = await create(a, { id: 'badbasis', site: badBasis });
    assert.equal(invalid.status, 422);
    assert.deepEqual(invalid.json().error.errors, [{ field: 'purposes[2].legal_basis', reason: 'must be one of consent, legitimate_interest, necessary' }]);
    assert.equal((await a.request('/v1/sites/nowhere/draft', { headers: op() })).status, 404, 'nothing created');
    assert.equal((await create(a, '{"id": ', op())).status, 400);
    assert.equal((await create(a, { id: 'x1', origins: [ORIGIN] }, op({ 'content-type': 'text/plain' }))).status, 415);
    assert.equal((await create(a, { id: 'x2', site: { ...siteLike('x2'), pad: 'x'.repeat(300 * 1024) } })).status, 413);
    /* the operator key alone: the owner key of a site, a bad key, none */
    const owner = await create(a, { id: 'x3', origins: [ORIGIN] }, { authorization: `Bearer ${DEMO_KEY}`, 'content-type': 'application/json' });
    assert.equal(owner.status, 401, owner.text);
    assert.equal((await create(a, { id: 'x3', origins: [ORIGIN] }, { 'content-type': 'application/json' })).status, 401);
    assert.equal((await a.request('/v1/sites', { headers: { authorization: `Bearer ${DEMO_KEY}` } })).status, 401);
    assert.equal((await a.request('/v1/sites', { headers: { authorization: 'Bearer nope' } })).status, 401);
});

test('delete_errors_site_from_file_409_unknown_404_and_the_operator_key_alone', async () => {
    const file = await a.request('/v1/sites/demo', { method: 'DELETE', headers: op() });
    assert.equal(file.status, 409, file.text);
    assert.equal(file.json().error.code, 'site_from_file');
    assert.equal((await a.request('/v1/sites/demo/banner.js')).status, 200, 'still served');
    const unknown = await a.request('/v1/sites/nosuchsite', { method: 'DELETE', headers: op() });
    assert.equal(unknown.status, 404, unknown.text);
    assert.equal(unknown.json().error.code, 'site_not_found');
    const owner = await a.request('/v1/sites/demo', { method: 'DELETE', headers: { authorization: `Bearer ${DEMO_KEY}` } });
    assert.equal(owner.status, 401, 'the site\'s owner key may not delete it');
    const rights = await a.request('/v1/sites/shop', { method: 'DELETE', headers: { authorization: `Bearer ${rightsKey}` } });
    assert.equal(rights.status, 401, rights.text);
    assert.equal((await a.request('/v1/sites/shop/banner.js')).status, 200, 'still served');
});

test('redis_down_the_site_routes_answer_503', { skip: TEST_ON_CLUSTER && 'a cluster is not paused as one Redis' }, async () => {
    redis.pause();
    try {
        assert.equal((await a.request('/v1/sites', { headers: op() })).status, 503);
        assert.equal((await create(a, { id: 'later', origins: [ORIGIN] })).status, 503);
        assert.equal((await a.request('/v1/sites/shop', { method: 'DELETE', headers: op() })).status, 503);
    } finally {
        redis.resume();
    }
    assert.equal((await a.request('/v1/sites/shop/banner.js')).status, 200, 'not deleted');
    await delay(100);
});
