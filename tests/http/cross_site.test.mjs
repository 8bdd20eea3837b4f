// No route reveals another site's data. Two sites share one consentd and
// one Redis, with data under the same visitor id in both. Every route of the
// router table (read from src/server/router.c, so that a new route cannot be
// forgotten) is called for one site with the other site's API key, with no
// key and no Origin, with a bad key, from the other site's Origin, and (on
// server routes) from the site's own Origin; the answers must be the right
// refusal, carry no CORS grant for a foreign Origin, contain none of either
// site's records, and change nothing in Redis. With the right key, each
// site's answers hold its own records only.
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { delay, shippedSites, siteLike, startStack, test } from './lib/harness.mjs';
import { DEMO_KEY, DEMO_ORIGIN, OTHER_KEY, allKeys, sha256hex } from './lib/consent.mjs';
import { routerTable as routeTable } from './lib/routes.mjs';

const OTHER_ORIGIN = 'https://other.example';
const SHARED = 'shared-visitor-0001';
const BAD_KEY = 'not-a-key-of-any-site-000';
/* Counters are flushed to Redis every second: wait longer before comparing. */
const FLUSH_WAIT_MS = 2500;

/* How each route may be called. A route missing here fails the test. */
const ACCESS = {
    healthz: 'public',
    metrics: 'public',
    banner_js: 'public',
    consentd_defaults_js: 'public',
    tcf_stub_js: 'public',
    jwks: 'public',
    demo: 'public',
    dashboard: 'public',
    dashboard_file: 'public',
    console: 'public',
    console_file: 'public',
    openapi: 'public', /* the API's description */
    consent_post: 'browser', /* the site's origins or its API key */
    consent_get: 'browser',
    consent_delete: 'browser',
    events_post: 'browser',
    identify_post: 'browser', /* the site's origins or its API key (and a token its server signed) */
    consents_export: 'server', /* the site's API key only */
    visitor_get: 'server',
    visitor_delete: 'server',
    stats_get: 'server',
    scans_post: 'server', /* a scan summary (issue 23, item 4) */
    scans_latest: 'server',
    banner_versions: 'server',
    banner_version_get: 'server',
    banner_versions_public: 'public', /* hashes and dates of the banners served */
    log_export: 'server', /* the raw consent log */
    log_checkpoints: 'public', /* signed hashes: publishing them is the point */
    log_inclusion: 'server',
    /* the site's configuration in Redis (issue 22, item 1): the site's API key
     * until item 2's scopes (site:write, site:publish) */
    site_draft_get: 'server',
    site_draft_put: 'server',
    site_versions: 'server',
    site_version_post: 'server',
    site_version_get: 'server',
    site_diff: 'server',
    site_publish: 'server',
    sites_list: 'operator', /* the operator's (issue 22, item 2): no site's key */
    sites_post: 'operator',
    site_delete: 'operator',
    site_draft_check: 'server', /* the console (issue 22, item 3): site:write */
    site_preview_post: 'server',
    site_preview_banner: 'public', /* a preview's id is its secret */
    keys_post: 'server', /* a site's keys (issue 22, item 2): keys:admin */
    keys_list: 'server',
    keys_delete: 'server',
};

const sites = {
    demo: { key: DEMO_KEY, origin: DEMO_ORIGIN, secrets: [] },
    other: { key: OTHER_KEY, origin: OTHER_ORIGIN, secrets: [] },
};
let stack, policy;

before(async () => {
    const other = siteLike('other');
    other.api_key_sha256 = sha256hex(OTHER_KEY);
    other.origins = [OTHER_ORIGIN];
    policy = other.policy_version;
    stack = await startStack({ sites: { ...shippedSites(), 'other.json': other } });
    // The same visitor at both sites, plus one of each site's own.
    for (const [id, s] of Object.entries(sites)) {
        for (const visitor of [SHARED, SHARED, `${id}-only-visitor`]) {
            const res = await stack.consentd.request(`/v1/sites/${id}/consents`, {
                method: 'POST',
                headers: { origin: s.origin, 'content-type': 'application/json' },
                body: JSON.stringify({ visitor, decisions: { audience: true }, policy_version: policy, lang: 'fr' }),
            });
            assert.equal(res.status, 201, res.text);
            s.secrets.push(res.json().consent_id, res.json().proof);
        }
        s.secrets.push(`${id}-only-visitor`);
        const ev = await stack.consentd.request(`/v1/sites/${id}/events`, {
            method: 'POST',
            headers: { origin: s.origin, 'content-type': 'application/json' },
            body: JSON.stringify({ type: 'shown', visitor: `${id}-only-visitor` }),
        });
        assert.equal(ev.status, 204, ev.text);
    }
});
after(() => stack?.stop());

/* A digest of every key but the banner archive: serving banner.js (a
 * public route) records that the version was served, by design. */
async function recordsDigest(redis) {
    const out = [];
    for (const key of await allKeys(redis)) {
        if (key.includes(':banners}') || key.includes(':bz}')) continue;
        out.push(`${key}=${await redis.command('DEBUG', 'DIGEST-VALUE', key)}`);
    }
    return out.join('\n');
}

function target(route, site) {
    return route.pattern
        .replace('{site}', site)
        .replace('{visitor}', SHARED)
        .replace('{file}', 'index.html')
        .replace('{hash}', 'a'.repeat(64))
        .replace('{version}', '1')
        .replace('{name}', 'some-key')
        .replace('{id}', 'A'.repeat(24));
}

function bodyFor(route) {
    if (route.name === 'consent_post')
        return JSON.stringify({ visitor: SHARED, decisions: { audience: false }, policy_version: policy, lang: 'fr' });
    if (route.name === 'events_post') return JSON.stringify({ type: 'dismissed', visitor: SHARED });
    if (route.name === 'identify_post') return JSON.stringify({ token: 'not.a.token', visitor: SHARED });
    if (route.name === 'site_draft_put') return JSON.stringify({ revision: 0, site: { id: 'x' } });
    if (route.name === 'site_version_post' || route.name === 'site_publish') return '{}';
    return undefined;
}

function assertNoSecrets(res, what, secrets) {
    for (const s of secrets) assert.ok(!res.text.includes(s), `${what}: the answer contains ${s.slice(0, 40)}`);
}

test('every_route_of_the_router_is_classified', () => {
    const unknown = routeTable().filter((r) => !(r.name in ACCESS));
    assert.deepEqual(unknown.map((r) => r.name), [], 'add the new routes to ACCESS in tests/http/cross_site.test.mjs');
});

test('no_route_answers_another_sites_key_a_foreign_origin_or_no_credentials_with_data', async (t) => {
    await delay(FLUSH_WAIT_MS);
    const digest = await recordsDigest(stack.redis);
    const allSecrets = [...sites.demo.secrets, ...sites.other.secrets];
    const covered = new Set();
    let calls = 0;
    for (const route of routeTable()) {
        const access = ACCESS[route.name];
        const pairs = route.pattern.includes('{site}') ? [['demo', 'other'], ['other', 'demo']] : [['demo', 'other']];
        for (const [victim, attacker] of pairs) {
            const url = target(route, victim);
            const body = bodyFor(route);
            const json = body ? { 'content-type': 'application/json' } : {};
            /* the operator's routes: any key but the operator's is a 401;
             * a foreign Origin without a key, on a route of a site, a 403 */
            const foreign = route.pattern.includes('{site}') ? [403, 'origin_not_allowed'] : [401, 'unauthorized'];
            const cases = [
                ['the other site\'s key', { authorization: `Bearer ${sites[attacker].key}`, ...json }, { browser: [403, 'forbidden'], server: [403, 'forbidden'], operator: [401, 'unauthorized'] }],
                ['no key and no origin', { ...json }, { browser: [401, 'unauthorized'], server: [401, 'unauthorized'], operator: [401, 'unauthorized'] }],
                ['a bad key', { authorization: `Bearer ${BAD_KEY}`, ...json }, { browser: [401, 'unauthorized'], server: [401, 'unauthorized'], operator: [401, 'unauthorized'] }],
                ['the other site\'s origin', { origin: sites[attacker].origin, ...json }, { browser: [403, 'origin_not_allowed'], server: [403, 'origin_not_allowed'], operator: foreign }],
                ['the site\'s own origin', { origin: sites[victim].origin, ...json }, { server: [401, 'unauthorized'], operator: [401, 'unauthorized'] }],
            ];
            for (const [who, headers, want] of cases) {
                if (access !== 'public' && !want[access]) continue; /* a legitimate caller */
                const what = `${route.method} ${url} with ${who}`;
                const res = await stack.consentd.request(url, { method: route.method, headers, body });
                calls++;
                if (access === 'public') {
                    assert.ok(res.status < 500, `${what}: ${res.status}`);
                } else if (want[access]) {
                    assert.equal(res.status, want[access][0], `${what}: ${res.status} ${res.text}`);
                    assert.equal(res.json().error.code, want[access][1], what);
                    assertNoSecrets(res, what, allSecrets);
                    covered.add(route.name);
                }
                if (headers.origin && headers.origin !== sites[victim].origin)
                    assert.notEqual(res.headers['access-control-allow-origin'], headers.origin, `${what}: CORS grant for a foreign origin`);
                // Public routes hold no record, whoever asks.
                if (access === 'public') assertNoSecrets(res, what, allSecrets);
            }
            if (route.cors) {
                const pre = await stack.consentd.request(url, {
                    method: 'OPTIONS',
                    headers: { origin: sites[attacker].origin, 'access-control-request-method': route.method },
                });
                calls++;
                assert.equal(pre.status, 403, `preflight of ${url} from ${sites[attacker].origin}: ${pre.status}`);
                assert.equal(pre.headers['access-control-allow-origin'], undefined);
            }
        }
    }
    await delay(FLUSH_WAIT_MS);
    assert.equal(await recordsDigest(stack.redis), digest, 'a refused request changed Redis');
    t.diagnostic(`FIGURES ${JSON.stringify({ fault: 'cross-site matrix', calls, routes: routeTable().map((r) => `${r.name}:${ACCESS[r.name]}`), refused_routes: [...covered] })}`);
});

test('with_its_own_key_each_site_sees_its_own_records_only', async () => {
    for (const [id, s] of Object.entries(sites)) {
        const foreign = sites[id === 'demo' ? 'other' : 'demo'].secrets;
        const server = { authorization: `Bearer ${s.key}` };
        const access = await stack.consentd.request(`/v1/sites/${id}/visitors/${SHARED}`, { headers: server });
        assert.equal(access.status, 200, access.text);
        assert.equal(access.json().history.length, 2, `${id}: history of the shared visitor`);
        assertNoSecrets(access, `${id}: access request`, foreign);
        assert.ok(s.secrets.some((x) => access.text.includes(x)), `${id}: its own records are missing`);
        const exported = await stack.consentd.request(`/v1/sites/${id}/consents?limit=1000`, { headers: server });
        assert.equal(exported.status, 200, exported.text);
        assert.equal(exported.text.trim().split('\n').length, 3, `${id}: the export holds its 3 consents`);
        assertNoSecrets(exported, `${id}: export`, foreign);
        const stats = await stack.consentd.request(`/v1/sites/${id}/stats`, { headers: server });
        assert.equal(stats.status, 200, stats.text);
        assert.equal(stats.json().total.decisions, 3, `${id}: the stats count the site's 3 consents only`);
        assert.equal(stats.json().total.shown, 1, `${id}: the stats count the site's 1 event only`);
        const current = await stack.consentd.request(`/v1/sites/${id}/consents/${SHARED}`, { headers: { origin: s.origin } });
        assert.equal(current.status, 200, current.text);
        assert.equal(current.json().consent_id, s.secrets[2], `${id}: the current choice is the site's last one`);
        const other = await stack.consentd.request(`/v1/sites/${id}/visitors/${id === 'demo' ? 'other' : 'demo'}-only-visitor`, { headers: server });
        assert.equal(other.status, 200, other.text);
        assert.deepEqual([other.json().current, other.json().history], [null, []], `${id}: sees the other site's visitor`);
    }
});
