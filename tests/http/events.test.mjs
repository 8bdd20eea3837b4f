// POST /v1/sites/{site}/events and the acceptance counters: every accepted
// event and every recorded consent is counted exactly once per dimension,
// in the hour and day hashes of the documented layout, with the site's
// retention as TTL and one cluster slot per site; every bad input gets its
// JSON error and counts nothing.
import assert from 'node:assert/strict';
import path from 'node:path';
import { after, before } from 'node:test';
import {
    Proc,
    delay,
    freeClusterPort,
    makeTempDir,
    metricSum,
    redisCommand,
    shippedSite,
    shippedSites,
    siteLike,
    startStack,
    test,
    waitFor,
} from './lib/harness.mjs';
import { DEMO_KEY, DEMO_ORIGIN, OTHER_KEY, browser, postConsent, server, sha256hex } from './lib/consent.mjs';
import {
    AFTER_FLUSH_MS,
    Expected,
    counterKeys,
    dayStamp,
    expectCounts,
    hourStamp,
    postEvent,
    uniqueVisitors,
} from './lib/counters.mjs';

const HOUR_MS = 3600 * 1000;
const DAY_MS = 24 * HOUR_MS;
const RETENTION_DAYS = 3;

/* ab: the demo site with two variants and a short stats retention. Each
 * test counts into its own site, so their counts never mix. */
function abSite(id) {
    const s = siteLike(id);
    s.variants = [
        { id: 'a', weight: 50 },
        { id: 'b', weight: 50, layout: 'box' },
    ];
    s.stats_retention_days = RETENTION_DAYS;
    return s;
}

const SITES = ['ab', 'consents', 'quiet', 'ttl', 'slots'];
let stack;
before(async () => {
    const sites = { ...shippedSites() };
    for (const id of SITES) sites[`${id}.json`] = abSite(id);
    const novar = siteLike('novar');
    delete novar.variants;
    sites['novar.json'] = novar;
    const other = siteLike('other');
    other.api_key_sha256 = sha256hex(OTHER_KEY);
    sites['other.json'] = other;
    stack = await startStack({ sites });
});
after(async () => {
    await stack?.stop();
});

test('events_are_answered_204_and_counted_exactly_once_per_dimension', async () => {
    const { consentd, redis } = stack;
    const want = new Expected(abSite('ab'));
    const events = [
        { type: 'shown', lang: 'fr', variant: 'a', visitor: 'visitor-events-01' },
        { type: 'shown', lang: 'en', variant: 'b', visitor: 'visitor-events-02' },
        { type: 'shown', variant: 'b', visitor: 'visitor-events-03', policy_version: '2026-11-01' },
        { type: 'shown' },
        { type: 'dismissed', lang: 'fr', variant: 'a', visitor: 'visitor-events-01' },
        { type: 'panel_opened', lang: 'en', variant: 'b', visitor: 'visitor-events-02' },
        { type: 'panel_opened', lang: 'fr', visitor: 'visitor-events-04', variant: null },
    ];
    for (const [i, ev] of events.entries()) {
        // Both media types a banner uses (sendBeacon sends text/plain), and the site's key.
        const headers =
            i % 3 === 0
                ? browser({ 'content-type': 'text/plain;charset=UTF-8' })
                : i % 3 === 1
                  ? browser()
                  : server();
        const res = await postEvent(consentd, ev, headers, 'ab');
        assert.equal(res.status, 204, `${JSON.stringify(ev)}: ${res.text}`);
        assert.equal(res.body.length, 0);
        if (headers.origin) assert.equal(res.headers['access-control-allow-origin'], DEMO_ORIGIN);
        want.event(ev);
    }
    assert.equal(want.fields['all|shown'], 4);
    await expectCounts(redis, 'ab', want.fields);
    assert.equal(await uniqueVisitors(redis, 'ab'), 4, 'distinct visitor ids of the day');
    const samples = await consentd.metrics();
    assert.ok(metricSum(samples, 'consentd_stats_flushes_total') >= 1);
    assert.equal(metricSum(samples, 'consentd_stats_flush_failures_total'), 0);
    assert.equal(metricSum(samples, 'consentd_http_requests_total', { route: 'events_post', status: '204' }), events.length);
});

test('consents_are_counted_by_kind_purpose_language_source_and_variant_once_redis_has_them', async () => {
    const { consentd, redis } = stack;
    const site = abSite('consents');
    const want = new Expected(site);
    const pv = site.policy_version;
    const ids = site.purposes.filter((p) => p.legal_basis !== 'necessary').map((p) => p.id);
    const all = Object.fromEntries(ids.map((id) => [id, true]));
    const none = Object.fromEntries(ids.map((id) => [id, false]));
    const choices = [
        [{ decisions: all, policy_version: pv, lang: 'fr', variant: 'a', visitor: 'visitor-consent-01' }, browser()],
        [{ decisions: none, policy_version: pv, lang: 'en', variant: 'b' }, browser()],
        [{ decisions: { [ids[0]]: true }, policy_version: pv, lang: 'fr', variant: 'b' }, browser()],
        [{ decisions: {}, policy_version: pv, lang: 'en' }, browser()],
        [{ decisions: none, policy_version: pv, lang: 'fr', source: 'call_center' }, server()],
        [{ decisions: all, policy_version: pv, lang: 'en', source: 'form' }, server()],
    ];
    for (const [body, headers] of choices) {
        const res = await postConsent(consentd, body, headers, 'consents');
        assert.equal(res.status, 201, res.text);
        want.consent(res.json());
    }
    // A withdrawal from the banner and one from the site's server.
    for (const headers of [{ origin: DEMO_ORIGIN }, { authorization: `Bearer ${DEMO_KEY}` }]) {
        const res = await consentd.request('/v1/sites/consents/consents/visitor-consent-01?lang=en', {
            method: 'DELETE',
            headers,
        });
        assert.equal(res.status, 200, res.text);
        want.withdrawal(res.json());
    }
    // Refused writes count nothing: a stale policy (409), an unknown purpose (400).
    assert.equal((await postConsent(consentd, { decisions: all, policy_version: 'old', lang: 'fr' }, browser(), 'consents')).status, 409);
    assert.equal((await postConsent(consentd, { decisions: { nope: true }, policy_version: pv, lang: 'fr' }, browser(), 'consents')).status, 400);

    assert.equal(want.fields['all|decisions'], 6);
    assert.equal(want.fields['all|accept_all'], 2);
    assert.equal(want.fields['all|reject_all'], 3, 'none granted; and {}: what needs consent refused, legitimate interest kept');
    assert.equal(want.fields['all|custom'], 1, 'one purpose granted');
    assert.equal(want.fields['all|withdrawn'], 2);
    assert.equal(want.fields['s.api|withdrawn'], 1);
    await expectCounts(redis, 'consents', want.fields);
    assert.equal(await uniqueVisitors(redis, 'consents'), 6, 'six visitors (one consented and withdrew twice)');
});

test('every_bad_event_is_refused_with_its_json_error_and_counts_nothing', async () => {
    const { consentd, redis } = stack;
    const json = browser();
    const cases = [
        ['malformed JSON', '{"type":', json, 400, 'malformed_json'],
        ['not an object', '["shown"]', json, 400, 'malformed_json'],
        ['duplicate key', '{"type":"shown","type":"shown"}', json, 400, 'malformed_json'],
        ['empty body', '', json, 400, 'malformed_json'],
        ['unknown field', { type: 'shown', colour: 'red' }, json, 400, 'invalid_field'],
        ['type of wrong type', { type: 1 }, json, 400, 'invalid_field'],
        ['lang of wrong type', { type: 'shown', lang: ['fr'] }, json, 400, 'invalid_field'],
        ['policy_version too long', { type: 'shown', policy_version: 'x'.repeat(65) }, json, 400, 'invalid_field'],
        ['missing type', { lang: 'fr' }, json, 400, 'missing_field'],
        ['unknown type', { type: 'clicked' }, json, 400, 'unknown_event_type'],
        ['unknown language', { type: 'shown', lang: 'de' }, json, 400, 'unknown_language'],
        ['unknown variant', { type: 'shown', variant: 'c' }, json, 400, 'unknown_variant'],
        ['visitor too short', { type: 'shown', visitor: 'short' }, json, 400, 'invalid_visitor'],
        ['visitor with a space', { type: 'shown', visitor: 'visitor 0001' }, json, 400, 'invalid_visitor'],
        ['foreign origin', { type: 'shown' }, browser({ origin: 'https://evil.example' }), 403, 'origin_not_allowed'],
        ['no origin, no key', { type: 'shown' }, { 'content-type': 'application/json' }, 401, 'unauthorized'],
        ['a wrong key', { type: 'shown' }, server('not-a-key'), 401, 'unauthorized'],
        ["another site's key", { type: 'shown' }, server(OTHER_KEY), 403, 'forbidden'],
        ['media type', { type: 'shown' }, browser({ 'content-type': 'text/html' }), 415, 'unsupported_media_type'],
        ['no media type', { type: 'shown' }, { origin: DEMO_ORIGIN }, 415, 'unsupported_media_type'],
        ['body over 1 KB', { type: 'shown', policy_version: 'v', pad: 'x'.repeat(1024) }, json, 413, 'payload_too_large'],
    ];
    for (const [what, body, headers, status, code] of cases) {
        const res = await postEvent(consentd, body, headers, 'quiet');
        assert.equal(res.status, status, `${what}: ${res.text}`);
        assert.equal(res.json().error.code, code, what);
        assert.ok(res.json().error.message, what);
    }
    // A site that declares no variant: any variant is unknown there.
    const noVariants = await postEvent(consentd, { type: 'shown', variant: 'a' }, json, 'novar');
    assert.equal(noVariants.status, 400);
    assert.equal(noVariants.json().error.code, 'unknown_variant');
    const unknownSite = await postEvent(consentd, { type: 'shown' }, json, 'nosuchsite');
    assert.equal(unknownSite.status, 404);
    assert.equal(unknownSite.json().error.code, 'site_not_found');
    const get = await consentd.request('/v1/sites/quiet/events', { headers: { origin: DEMO_ORIGIN } });
    assert.equal(get.status, 405);
    // The preflight of a banner that posts application/json.
    const pre = await consentd.request('/v1/sites/quiet/events', {
        method: 'OPTIONS',
        headers: { origin: DEMO_ORIGIN, 'access-control-request-method': 'POST' },
    });
    assert.equal(pre.status, 204);
    assert.match(pre.headers['access-control-allow-methods'], /POST/);

    await delay(AFTER_FLUSH_MS);
    assert.deepEqual(await counterKeys(redis, 'quiet'), [], 'nothing counted for refused events');
    // The control: one good event does show up there.
    assert.equal((await postEvent(consentd, { type: 'dismissed' }, json, 'quiet')).status, 204);
    await expectCounts(redis, 'quiet', { 'all|dismissed': 1, 's.banner|dismissed': 1, 'd.desktop|dismissed': 1, 'b.other|dismissed': 1 });
});

test('counter_keys_expire_stats_retention_days_after_the_end_of_their_hour_or_day', async () => {
    const { consentd, redis } = stack;
    const t0 = Date.now();
    const res = await postEvent(consentd, { type: 'shown', visitor: 'visitor-ttl-0001' }, browser(), 'ttl');
    assert.equal(res.status, 204);
    let batches = [];
    const keys = await waitFor(async () => {
        const all = await counterKeys(redis, 'ttl');
        batches = all.filter((key) => key.split(':').at(-2) === 'b');
        const k = all.filter((key) => key.split(':').at(-2) !== 'b');
        return k.length === 3 && batches.length > 0 ? k : null;
    }, { message: 'the three counter keys of site ttl, and the flushing thread\'s batches' });
    // The numbers of the batches applied, per sender: an hour after its last.
    for (const key of batches) {
        assert.match(key, /^cd:\{ttl:stats\}:b:[0-9a-f]{16}$/);
        assert.equal(await redis.command('TYPE', key), 'zset');
        const pttl = Number(await redis.command('PTTL', key));
        assert.ok(pttl > 3600000 - 60000 && pttl <= 3600000, `${key}: PTTL ${pttl}`);
    }
    const t1 = Date.now();
    const retention = RETENTION_DAYS * DAY_MS;
    for (const key of keys) {
        const kind = key.split(':').at(-2);
        const stamp = key.split(':').at(-1);
        // The key names the hour or day the event fell in.
        assert.ok(
            kind === 'h' ? [hourStamp(t0), hourStamp(t1)].includes(stamp) : [dayStamp(t0), dayStamp(t1)].includes(stamp),
            `${key}: stamp of ${new Date(t0).toISOString()}`,
        );
        const y = Number(stamp.slice(0, 4)), mo = Number(stamp.slice(4, 6)) - 1, d = Number(stamp.slice(6, 8));
        const end = kind === 'h' ? Date.UTC(y, mo, d, Number(stamp.slice(8, 10))) + HOUR_MS : Date.UTC(y, mo, d) + DAY_MS;
        const expireAt = end + retention;
        const pttl = Number(await redis.command('PTTL', key));
        const now = Date.now();
        assert.ok(Math.abs(now + pttl - expireAt) < 5000, `${key}: expires at ${new Date(now + pttl).toISOString()}, expected ${new Date(expireAt).toISOString()}`);
    }
    assert.equal(await redis.command('TYPE', keys.find((k) => k.includes(':u:'))), 'string', 'a HyperLogLog');
    assert.equal(await redis.command('TYPE', keys.find((k) => k.includes(':h:'))), 'hash');
});

test('every_counter_key_of_a_site_hashes_to_one_cluster_slot', async () => {
    const { consentd, redis } = stack;
    await postEvent(consentd, { type: 'shown', visitor: 'visitor-slot-0001' }, browser(), 'slots');
    const site = shippedSite('demo');
    const res = await postConsent(consentd, { decisions: {}, policy_version: site.policy_version, lang: 'fr' }, browser(), 'slots');
    assert.equal(res.status, 201);
    const keys = await waitFor(async () => {
        const k = await counterKeys(redis, 'slots');
        return k.filter((key) => key.split(':').at(-2) !== 'b').length === 3 && k.length > 3 ? k : null;
    }, { message: 'the counter keys of site slots (hour, day, visitors, and the batches of each flushing thread)' });
    // Ask a cluster-enabled redis-server (it computes slots without any slot
    // assigned). Its bus port (+10000) must be free and below the ephemeral
    // range too: freePort() gave one above it, taken once by a source port.
    const port = await freeClusterPort();
    const dir = makeTempDir('redis-cluster');
    // prettier-ignore
    const proc = new Proc('redis-server (cluster)', 'redis-server', ['--port', String(port), '--bind', '127.0.0.1',
        '--cluster-enabled', 'yes', '--cluster-config-file', path.join(dir, 'nodes.conf'), '--save', '',
        '--appendonly', 'no', '--dir', dir, '--logfile', '']);
    try {
        await waitFor(() => redisCommand(port, ['PING']), { timeoutMs: 10000, message: 'the cluster redis-server' });
        const slots = new Set();
        for (const key of keys) slots.add(await redisCommand(port, ['CLUSTER', 'KEYSLOT', key]));
        assert.equal(slots.size, 1, `slots of ${keys.join(', ')}: ${[...slots]}`);
        assert.deepEqual([...slots], [await redisCommand(port, ['CLUSTER', 'KEYSLOT', '{slots:stats}'])]);
    } finally {
        await proc.stop({ signal: 'SIGKILL' });
    }
});
