// Live on every node within a second (issue 22, item 1): two consentd nodes
// on one Redis; a version published through node A is served by node B
// (banner.js) within 1 s, without SIGHUP (Redis pub/sub); after the pub/sub
// connections are killed (CLIENT KILL TYPE pubsub) the next publish still
// reaches B (the subscriber comes back and the periodic registry read is the
// fallback); the banner archive records the new banner's version. Also on a
// 3-master Redis Cluster (http_cluster_site_publish): a PUBLISH reaches the
// subscribers of every node.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { Consentd, TEST_ON_CLUSTER, delay, shippedSite, shippedSites, siteLike, startRedis, test } from './lib/harness.mjs';
import { server } from './lib/consent.mjs';

let redis, a, b;
before(async () => {
    redis = await startRedis();
    /* a second site, from the directory only: a publish of demo rebuilds
     * demo's banner alone */
    const sites = { ...shippedSites(), 'other.json': siteLike('other') };
    a = await Consentd.start({ redis, sites });
    b = await Consentd.start({ redis, sites });
});
after(async () => {
    try {
        await a?.stop();
        await b?.stop();
    } finally {
        await redis?.stop();
    }
});

let revision = 0;
/* Draft, version and publish of the demo site with this English title of
 * purpose 1, through node A; the version published. */
async function publishThroughA(title) {
    const site = shippedSite('demo');
    site.purposes[1].texts.en.name = title;
    const put = await a.request('/v1/sites/demo/draft', { method: 'PUT', headers: server(), body: JSON.stringify({ revision, site }) });
    assert.equal(put.status, 200, put.text);
    revision = put.json().revision;
    const ver = await a.request('/v1/sites/demo/versions', { method: 'POST', headers: server(), body: JSON.stringify({ message: title }) });
    assert.equal(ver.status, 201, ver.text);
    const pub = await a.request(`/v1/sites/demo/versions/${ver.json().version}/publish`, { method: 'POST', headers: server(), body: '{"bump_policy":false}' });
    assert.equal(pub.status, 200, pub.text);
    return pub.json();
}

/* Poll node's banner.js until it holds text; ms it took. */
async function servedWithin(node, text, ms) {
    const start = Date.now();
    for (;;) {
        const res = await node.request('/v1/sites/demo/banner.js');
        if (res.status === 200 && res.text.includes(text)) return Date.now() - start;
        if (Date.now() - start > ms) assert.fail(`node on port ${node.port} did not serve "${text}" within ${ms} ms`);
        await delay(20);
    }
}

async function pubsubClients() {
    const nodes = TEST_ON_CLUSTER ? redis.nodes : [redis];
    let n = 0;
    for (const node of nodes) {
        const list = await node.command('CLIENT', 'LIST', 'TYPE', 'pubsub');
        n += list.split('\n').filter((l) => l.includes('sub=1')).length;
    }
    return n;
}

test('both_nodes_subscribe', async () => {
    const deadline = Date.now() + 5000;
    while ((await pubsubClients()) < 2 && Date.now() < deadline) await delay(50);
    assert.ok((await pubsubClients()) >= 2, 'a subscriber per node');
});

test('a_publish_through_node_a_is_served_by_node_b_within_a_second', async () => {
    const took = await (async () => {
        await publishThroughA('Audience, published live');
        return servedWithin(b, 'Audience, published live', 1000);
    })();
    assert.ok(took <= 1000, `took ${took} ms`);
    await servedWithin(a, 'Audience, published live', 1000);
    assert.match(b.stderr, /sites: serving 1 published site\(s\) from Redis \(banners rebuilt: 1 of 2, sites parsed: 1\)/);
});

test('a_sighup_with_nothing_changed_rebuilds_no_banner_and_parses_no_site', async () => {
    const from = b.stderr.length;
    b.signal('SIGHUP');
    await b.waitForLog(/reloaded: 2 site\(s\) from .* \(banners rebuilt: 0, sites parsed: 0\)/, { from });
    await servedWithin(b, 'Audience, published live', 1000);
});

test('the_banner_archive_records_the_new_banner_version', async () => {
    const js = (await b.request('/v1/sites/demo/banner.js')).text;
    const bv = /"bv":"([0-9a-f]{64})"/.exec(js)[1];
    let listed = [];
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
        const res = await b.request('/v1/sites/demo/banner-versions', { headers: server() });
        listed = res.json().versions.map((v) => v.hash);
        if (listed.includes(bv)) break;
        await delay(50);
    }
    assert.ok(listed.includes(bv), 'the published banner is archived');
});

test('after_client_kill_type_pubsub_the_next_publish_still_converges', async () => {
    const nodes = TEST_ON_CLUSTER ? redis.nodes : [redis];
    for (const node of nodes) await node.command('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await publishThroughA('Audience, after the kill');
    const took = await servedWithin(b, 'Audience, after the kill', 5000);
    assert.ok(took <= 5000, `took ${took} ms`);
    assert.match(b.stderr, /the subscription to consentd:sites was lost/);
    /* and it is back: the next publish is live within a second again */
    const deadline = Date.now() + 5000;
    while ((await pubsubClients()) < 2 && Date.now() < deadline) await delay(50);
    await publishThroughA('Audience, subscribed again');
    await servedWithin(b, 'Audience, subscribed again', 1000);
});

test('a_publish_whose_message_is_lost_is_caught_by_the_registry_read_within_3_s', async () => {
    /* A version made through A, then published behind consentd's back: the
     * site's FCALL and the registry's HSET, but no PUBLISH (a lost message). */
    const site = shippedSite('demo');
    site.purposes[1].texts.en.name = 'Audience, message lost';
    const put = await a.request('/v1/sites/demo/draft', { method: 'PUT', headers: server(), body: JSON.stringify({ revision, site }) });
    revision = put.json().revision;
    const ver = (await a.request('/v1/sites/demo/versions', { method: 'POST', headers: server(), body: '{}' })).json().version;
    const published = JSON.parse(await redis.command('FCALL', 'consentd_site_publish', '1', 'cd:{demo:site}:head', String(ver), 'test', ''));
    assert.equal(published.published, ver);
    await redis.command('HSET', 'cd:{sites}:registry', 'demo', String(ver));
    const took = await servedWithin(b, 'Audience, message lost', 3500);
    assert.ok(took <= 3500, `took ${took} ms`);
});

test('a_node_started_later_serves_the_published_version_at_once', async () => {
    const c = await Consentd.start({ redis });
    try {
        const res = await c.request('/v1/sites/demo/banner.js');
        assert.ok(res.text.includes('Audience, message lost'), 'Redis wins over the file from the start');
    } finally {
        await c.stop();
    }
});
