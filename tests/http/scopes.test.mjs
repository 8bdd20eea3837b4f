// Scoped API keys (issue 22, item 2): every route of the router table (read
// from src/server/router.c, so that a new route cannot be forgotten, nor
// added without a declared scope) against every scope. A key of only one
// scope may call a route iff that scope is the route's; public routes need
// none; the site's owner key (api_key_sha256 of the site file) may call every
// route; the operator key (config admin.operator_key_sha256) the routes of
// keys:admin, site:write and site:publish on every site; a deleted key none,
// at once on the node that deleted it and within AUTH_CACHE_MS (2 s) on a
// second node on the same Redis. The routes' scopes are those of
// docs/openapi.json and of docs/api.md. And the keys API itself: the secret shown once, only
// its SHA-256 in Redis, names unique, a key grants only what it holds, and
// every error as JSON.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before } from 'node:test';
import { Consentd, SOURCE_DIR, delay, makeConsentdDir, runConsentd, shippedSites, siteLike, startStack, test } from './lib/harness.mjs';
import { DEMO_KEY, OTHER_KEY, sha256hex } from './lib/consent.mjs';
import { routerTable } from './lib/routes.mjs';

/* Every scope (src/apikey.c): a route declaring another one fails here. */
const SCOPES = ['stats:read', 'rights', 'consent:server', 'scans:write', 'site:write', 'site:publish', 'keys:admin'];
const OPERATOR_SCOPES = ['keys:admin', 'site:write', 'site:publish'];
const OPERATOR_KEY = 'operator-key-for-the-tests-0001';
const AUTH_CACHE_MS = 2000;
const VISITOR = 'scope-visitor-0001';
const OPENAPI = JSON.parse(fs.readFileSync(path.join(SOURCE_DIR, 'docs', 'openapi.json'), 'utf8'));

const config = { admin: { operator_key_sha256: sha256hex(OPERATOR_KEY) }, rate_limit: { exempt_loopback: true } };
let stack, second;
const keys = {}; /* scope -> secret of a key with that scope only */

const bearer = (key, extra = {}) => ({ authorization: `Bearer ${key}`, ...extra });
const json = { 'content-type': 'application/json' };

function createKey(consentd, key, name, scopes, site = 'demo') {
    return consentd.request(`/v1/sites/${site}/keys`, { method: 'POST', headers: bearer(key, json), body: JSON.stringify({ name, scopes }) });
}

before(async () => {
    const other = siteLike('other');
    other.api_key_sha256 = sha256hex(OTHER_KEY);
    stack = await startStack({ config, sites: { ...shippedSites(), 'other.json': other } });
    second = await Consentd.start({ redis: stack.redis, config, sites: { ...shippedSites(), 'other.json': other } });
    for (const scope of SCOPES) {
        const res = await createKey(stack.consentd, DEMO_KEY, `only-${scope.replace(':', '-')}`, [scope]);
        assert.equal(res.status, 201, res.text);
        keys[scope] = res.json().key;
    }
});
after(async () => {
    await second?.stop();
    await stack?.stop();
});

function target(route, site = 'demo') {
    return route.pattern
        .replace('{site}', site)
        .replace('{visitor}', VISITOR)
        .replace('{file}', 'index.html')
        .replace('{hash}', 'a'.repeat(64))
        .replace('{name}', 'no-such-key')
        .replace('{version}', '1')
        .replace('{id}', 'A'.repeat(24));
}

let made = 0;
function bodyFor(route) {
    if (route.name === 'consent_post') return JSON.stringify({ visitor: VISITOR, decisions: { audience: false }, policy_version: 'x', lang: 'fr' });
    if (route.name === 'events_post') return JSON.stringify({ type: 'dismissed', visitor: VISITOR });
    if (route.name === 'identify_post') return JSON.stringify({ token: 'not.a.token', visitor: VISITOR });
    if (route.name === 'keys_post') return JSON.stringify({ name: `made-${++made}`, scopes: ['keys:admin'] });
    if (route.name === 'scans_post') return '{}';
    return undefined;
}

function call(route, headers, consentd = stack.consentd) {
    const body = bodyFor(route);
    return consentd.request(target(route), { method: route.method, headers: { ...headers, ...(body ? json : {}) }, body });
}

/* Refused for want of a scope: 403 insufficient_scope naming the route's
 * scopes, any one of which would do (the header: space-separated, RFC 6750). */
function assertMissingScope(res, scopes, what) {
    assert.equal(res.status, 403, `${what}: ${res.status} ${res.text}`);
    assert.equal(res.json().error.code, 'insufficient_scope', what);
    for (const scope of scopes) assert.ok(res.json().error.message.includes(scope), `${what}: the message names ${scope}: ${res.text}`);
    if (scopes.length > 1) assert.match(res.json().error.message, / or /, `${what}: either scope: ${res.text}`);
    const header = /error="insufficient_scope", scope="([^"]*)"/.exec(res.headers['www-authenticate']);
    assert.ok(header, `${what}: WWW-Authenticate ${res.headers['www-authenticate']}`);
    assert.deepEqual(header[1].split(' ').sort(), [...scopes].sort(), `${what}: the header's scopes`);
}

/* A route with a scope whose path names no site (creating one), or
 * declared AUTH_OPERATOR (deleting one): only the operator key may call it
 * (auth.h). */
const siteless = (route) => route.scope !== null && (!route.pattern.includes('{site}') || route.operator);

function assertUnauthorized(res, what) {
    assert.equal(res.status, 401, `${what}: ${res.status} ${res.text}`);
    assert.equal(res.json().error.code, 'unauthorized', what);
}

/* Let through: whatever the route then says (400 for a body, 404 for no
 * such visitor...), it is not a refusal of the caller. */
function assertAllowed(res, what) {
    assert.ok(res.status !== 401 && res.status !== 403 && res.status < 500, `${what}: ${res.status} ${res.text}`);
}

test('every_route_declares_a_known_scope_and_the_document_says_the_same', () => {
    for (const route of routerTable()) {
        if (route.scope !== null) assert.ok(SCOPES.includes(route.scope), `${route.name}: unknown scope ${route.scope}`);
        const docPath = route.pattern.replace('{hash}', '{hash}');
        const op = OPENAPI.paths[docPath]?.[route.method.toLowerCase()];
        assert.ok(op, `${route.method} ${route.pattern} is not in docs/openapi.json`);
        const security = op.security ?? OPENAPI.security ?? [];
        /* one requirement object per scope: any one of them suffices */
        const apiKeys = security.filter((s) => 'apiKey' in s).map((s) => s.apiKey);
        if (route.scope === null) {
            assert.deepEqual(apiKeys, [], `${route.name}: public in the router, a key in the document`);
        } else {
            assert.deepEqual(apiKeys, route.scopes.map((s) => [s]), `${route.name}: the document's scopes for apiKey`);
            assert.equal(security.some((s) => 'browserOrigin' in s), route.browser, `${route.name}: browser callers`);
        }
    }
});

test('docs_api_md_lists_every_route_with_its_scope', () => {
    const text = fs.readFileSync(path.join(SOURCE_DIR, 'docs', 'api.md'), 'utf8');
    const section = text.slice(text.indexOf('## Keys and scopes'));
    /* a cell: "public: no key", or "`a`" or "`a` or `b`", then maybe "(...)" */
    const rows = new Map(
        [...section.matchAll(/^\| `([A-Z]+ \/[^`]*)` \| (public: no key|`[a-z:]+`(?: or `[a-z:]+`)*( \(or a browser)?[^|]*) \|$/gm)].map((m) => [
            m[1],
            { scopes: [...m[2].split('(')[0].matchAll(/`([a-z:]+)`/g)].map((s) => s[1]), browser: !!m[3], operator: /the operator key only/.test(m[2]) },
        ]),
    );
    for (const route of routerTable()) {
        const row = rows.get(`${route.method} ${route.pattern}`);
        assert.ok(row, `docs/api.md, Keys and scopes: no row for ${route.method} ${route.pattern}`);
        assert.deepEqual(row, { scopes: route.scopes, browser: route.browser, operator: route.operator || (route.scope !== null && !route.pattern.includes('{site}')) }, `docs/api.md: the scopes of ${route.method} ${route.pattern}`);
    }
    assert.equal(rows.size, routerTable().length, 'docs/api.md lists a route the router does not have');
});

test('a_key_of_one_scope_may_call_a_route_iff_the_scope_is_the_routes', async () => {
    let checked = 0;
    for (const route of routerTable()) {
        for (const scope of SCOPES) {
            const what = `${route.method} ${target(route)} with a key of only ${scope}`;
            const res = await call(route, bearer(keys[scope]));
            if (siteless(route)) assertUnauthorized(res, `${what} (the operator's alone)`);
            else if (route.scope === null || route.scopes.includes(scope)) assertAllowed(res, what);
            else assertMissingScope(res, route.scopes, what);
            checked++;
        }
    }
    assert.equal(checked, routerTable().length * SCOPES.length);
});

test('the_owner_key_may_call_every_route_and_the_operator_key_the_configuration_ones', async () => {
    for (const route of routerTable()) {
        const what = `${route.method} ${target(route)}`;
        if (siteless(route)) assertUnauthorized(await call(route, bearer(DEMO_KEY)), `${what} with a site's owner key`);
        else assertAllowed(await call(route, bearer(DEMO_KEY)), `${what} with the owner key`);
        const res = await call(route, bearer(OPERATOR_KEY));
        if (route.scope === null || route.scopes.some((s) => OPERATOR_SCOPES.includes(s))) assertAllowed(res, `${what} with the operator key`);
        else assertMissingScope(res, route.scopes, `${what} with the operator key`);
    }
});

test('without_a_key_only_public_routes_and_the_sites_browsers_get_through', async () => {
    for (const route of routerTable()) {
        const res = await call(route, {});
        const what = `${route.method} ${target(route)} without a key`;
        if (route.scope === null) assertAllowed(res, what);
        else assertUnauthorized(res, what);
    }
});

test('a_deleted_key_fails_at_once_on_its_node_and_within_the_cache_bound_on_another', async () => {
    const res = await createKey(stack.consentd, DEMO_KEY, 'to-revoke', SCOPES);
    assert.equal(res.status, 201, res.text);
    const key = res.json().key;
    const stats = '/v1/sites/demo/stats?from=2026-01-01&to=2026-01-02';
    /* Both nodes (and, with two workers each, likely both threads) read it. */
    for (let i = 0; i < 4; i++) {
        assert.equal((await stack.consentd.request(stats, { headers: bearer(key) })).status, 200);
        assert.equal((await second.request(stats, { headers: bearer(key) })).status, 200);
    }
    const deleteSentAt = Date.now();
    const del = await stack.consentd.request('/v1/sites/demo/keys/to-revoke', { method: 'DELETE', headers: bearer(DEMO_KEY) });
    assert.equal(del.status, 204, del.text);
    for (let i = 0; i < 4; i++) {
        const now = await stack.consentd.request(stats, { headers: bearer(key) });
        assert.equal(now.status, 401, `the deleting node, at once: ${now.text}`);
    }
    /* The other node: no request sent later than AUTH_CACHE_MS after the
     * DELETE was sent may be let through (measured at sending, so that a
     * slow machine's latency does not count). */
    let lastAcceptedAt = null,
        refusedAt = null;
    while (refusedAt === null && Date.now() - deleteSentAt < AUTH_CACHE_MS + 10000) {
        const sentAt = Date.now();
        const r = await second.request(stats, { headers: bearer(key) });
        if (r.status === 401) refusedAt = sentAt;
        else {
            assert.equal(r.status, 200, r.text);
            lastAcceptedAt = sentAt;
            await delay(50);
        }
    }
    assert.ok(refusedAt !== null, 'the second node never refused the deleted key');
    const accepted = lastAcceptedAt === null ? 0 : lastAcceptedAt - deleteSentAt;
    assert.ok(accepted <= AUTH_CACHE_MS, `the second node let the deleted key through ${accepted} ms after the DELETE (bound ${AUTH_CACHE_MS})`);
    /* One worker refusing says nothing of the node's other workers, whose
     * caches may hold the key until the bound: every route once it has passed. */
    await delay(Math.max(0, deleteSentAt + AUTH_CACHE_MS + 100 - Date.now()));
    for (const route of routerTable().filter((r) => r.scope !== null)) {
        for (const node of [stack.consentd, second]) {
            const r = await call(route, bearer(key), node);
            assert.equal(r.status, 401, `${route.method} ${target(route)} with a deleted key: ${r.status} ${r.text}`);
        }
    }
});

test('a_key_is_shown_once_kept_as_its_sha256_and_listed_without_secrets', async () => {
    const res = await createKey(stack.consentd, OPERATOR_KEY, 'dashboard', ['stats:read']);
    assert.equal(res.status, 201, res.text);
    assert.equal(res.headers['cache-control'], 'no-store');
    const made = res.json();
    assert.match(made.key, /^cd_[A-Za-z0-9_-]{43}$/);
    assert.deepEqual(made.scopes, ['stats:read']);
    assert.equal(made.name, 'dashboard');
    assert.equal(made.created_by, 'operator');
    assert.ok(Math.abs(Date.parse(made.created_at) - Date.now()) < 60000, made.created_at);
    /* Redis holds the SHA-256 of the secret, never the secret. */
    const hash = await stack.redis.command('HGETALL', 'cd:{demo:keys}:k');
    const fields = hash.filter((_, i) => i % 2 === 0);
    assert.ok(fields.includes(sha256hex(made.key)), 'the field is the SHA-256 of the secret');
    assert.ok(!JSON.stringify(hash).includes(made.key), 'the secret is not in Redis');
    const list = await stack.consentd.request('/v1/sites/demo/keys', { headers: bearer(keys['keys:admin']) });
    assert.equal(list.status, 200, list.text);
    const names = list.json().keys.map((k) => k.name);
    for (const scope of SCOPES) assert.ok(names.includes(`only-${scope.replace(':', '-')}`), names.join());
    assert.ok(!list.text.includes('cd_'), 'no secret in the list');
    const listed = list.json().keys.find((k) => k.name === 'dashboard');
    assert.deepEqual(listed, { name: 'dashboard', scopes: ['stats:read'], created_at: made.created_at, created_by: 'operator' });
    /* A key made by a key says which. */
    const byKey = await createKey(stack.consentd, keys['keys:admin'], 'made-by-admin-key', ['keys:admin']);
    assert.equal(byKey.status, 201, byKey.text);
    assert.equal(byKey.json().created_by, 'key:only-keys-admin');
    /* The new key works with its scope at once, on both nodes. */
    for (const node of [stack.consentd, second]) {
        const s = await node.request('/v1/sites/demo/stats?from=2026-01-01&to=2026-01-02', { headers: bearer(made.key) });
        assert.equal(s.status, 200, s.text);
    }
});

test('the_keys_api_answers_every_error_as_json', async () => {
    const cases = [
        ['a name taken', DEMO_KEY, 'demo', { name: 'only-rights', scopes: ['rights'] }, 409, 'key_exists'],
        ['a bad name', DEMO_KEY, 'demo', { name: 'Bad Name', scopes: ['rights'] }, 400, 'invalid_field'],
        ['no scope', DEMO_KEY, 'demo', { name: 'empty', scopes: [] }, 400, 'invalid_field'],
        ['an unknown scope', DEMO_KEY, 'demo', { name: 'unknown', scopes: ['stats:write'] }, 400, 'invalid_field'],
        ['a scope twice', DEMO_KEY, 'demo', { name: 'twice', scopes: ['rights', 'rights'] }, 400, 'invalid_field'],
        ['an unknown field', DEMO_KEY, 'demo', { name: 'extra', scopes: ['rights'], secret: 'x' }, 400, 'invalid_field'],
        ['a scope the caller lacks', keys['keys:admin'], 'demo', { name: 'escalate', scopes: ['rights'] }, 403, 'insufficient_scope'],
        ['a key without keys:admin', keys['stats:read'], 'demo', { name: 'nope', scopes: ['stats:read'] }, 403, 'insufficient_scope'],
        ['a bad key', 'cd_' + 'x'.repeat(43), 'demo', { name: 'nope', scopes: ['stats:read'] }, 401, 'unauthorized'],
        ['no key', null, 'demo', { name: 'nope', scopes: ['stats:read'] }, 401, 'unauthorized'],
        ['another site\'s owner key', OTHER_KEY, 'demo', { name: 'nope', scopes: ['stats:read'] }, 403, 'forbidden'],
        ['a key of another site', keys['keys:admin'], 'other', { name: 'nope', scopes: ['stats:read'] }, 401, 'unauthorized'],
        ['an unknown site', DEMO_KEY, 'no-such-site', { name: 'nope', scopes: ['stats:read'] }, 404, 'site_not_found'],
    ];
    for (const [what, key, site, body, status, code] of cases) {
        const res = await stack.consentd.request(`/v1/sites/${site}/keys`, { method: 'POST', headers: { ...(key ? bearer(key) : {}), ...json }, body: JSON.stringify(body) });
        assert.equal(res.status, status, `${what}: ${res.text}`);
        assert.equal(res.json().error.code, code, what);
    }
    const notJson = await stack.consentd.request('/v1/sites/demo/keys', { method: 'POST', headers: bearer(DEMO_KEY, { 'content-type': 'text/plain' }), body: '{}' });
    assert.equal(notJson.status, 415, notJson.text);
    const gone = await stack.consentd.request('/v1/sites/demo/keys/no-such-key', { method: 'DELETE', headers: bearer(DEMO_KEY) });
    assert.equal(gone.status, 404, gone.text);
    assert.equal(gone.json().error.code, 'key_not_found');
    /* The operator key manages every site's keys. */
    const onOther = await createKey(stack.consentd, OPERATOR_KEY, 'dpo', ['rights'], 'other');
    assert.equal(onOther.status, 201, onOther.text);
    const otherVisitor = await stack.consentd.request(`/v1/sites/other/visitors/${VISITOR}`, { headers: bearer(onOther.json().key) });
    assert.ok(otherVisitor.status === 200 || otherVisitor.status === 404, otherVisitor.text);
    const crossed = await stack.consentd.request(`/v1/sites/demo/visitors/${VISITOR}`, { headers: bearer(onOther.json().key) });
    assert.equal(crossed.status, 401, `a key of site other on site demo: ${crossed.text}`);
});

test('an_operator_key_that_is_no_sha256_stops_the_start_naming_the_field', () => {
    const layout = makeConsentdDir({ config: { admin: { operator_key_sha256: 'not-hex' } } });
    const r = runConsentd(['--check-config', '--config', layout.configPath]);
    assert.equal(r.status, 1, r.stderr);
    assert.match(r.stderr, /admin\.operator_key_sha256: must be the SHA-256 of the operator key, 64 hex digits, or null/);
});

/* A route may take more than one scope (slice 3 of the console): GET
 * versions/{version} takes site:write or rights, so that the DPO's rights
 * key follows the site_version_url an access request gives. */
test('the_dpos_rights_key_follows_the_site_version_url_of_an_access_request', async () => {
    const site = JSON.parse(shippedSites()['demo.json']);
    const put = await stack.consentd.request('/v1/sites/demo/draft', { method: 'PUT', headers: bearer(DEMO_KEY, { ...json, 'if-match': '"0"' }), body: JSON.stringify(site) });
    assert.equal(put.status, 200, put.text);
    const version = await stack.consentd.request('/v1/sites/demo/versions', { method: 'POST', headers: bearer(DEMO_KEY, json), body: '{}' });
    assert.ok([200, 201].includes(version.status), version.text);
    const v = version.json().version;
    const pub = await stack.consentd.request(`/v1/sites/demo/versions/${v}/publish`, { method: 'POST', headers: bearer(DEMO_KEY, json), body: '{}' });
    assert.equal(pub.status, 200, pub.text);
    const visitor = 'scope-visitor-dpo-0001';
    let consent;
    for (let i = 0; i < 100; i++) {
        /* the node serves the published version within a second */
        consent = await stack.consentd.request('/v1/sites/demo/consents', {
            method: 'POST',
            headers: bearer(keys['consent:server'], json),
            body: JSON.stringify({ visitor, decisions: { audience: true }, policy_version: site.policy_version, lang: 'fr' }),
        });
        assert.equal(consent.status, 201, consent.text);
        const access = await stack.consentd.request(`/v1/sites/demo/visitors/${visitor}`, { headers: bearer(keys.rights) });
        assert.equal(access.status, 200, access.text);
        const url = access.json().history[0].site_version_url;
        if (url !== undefined) {
            const target = new URL(url, 'http://localhost').pathname;
            assert.equal(target, `/v1/sites/demo/versions/${v}`);
            const read = await stack.consentd.request(target, { headers: bearer(keys.rights) });
            assert.equal(read.status, 200, `the rights key reads the version: ${read.text}`);
            assert.deepEqual(read.json().site.purposes.map((p) => p.id), site.purposes.map((p) => p.id));
            const writer = await stack.consentd.request(target, { headers: bearer(keys['site:write']) });
            assert.equal(writer.status, 200, 'site:write still does');
            const stats = await stack.consentd.request(target, { headers: bearer(keys['stats:read']) });
            assertMissingScope(stats, ['site:write', 'rights'], 'a stats:read key');
            assert.match(stats.json().error.message, /lacks the scope (rights or site:write|site:write or rights)/);
            /* the other routes of the configuration stay site:write only */
            const list = await stack.consentd.request('/v1/sites/demo/versions', { headers: bearer(keys.rights) });
            assertMissingScope(list, ['site:write'], 'the version list with a rights key');
            return;
        }
        await delay(20);
    }
    assert.fail('no record named the published site version');
});
