// GET /openapi.json: the whole HTTP API as an OpenAPI 3.1 document
// (docs/openapi.json, embedded at build time), held true three ways:
//  - an OpenAPI validator we did not write (@seriousme/openapi-schema-validator,
//    pinned in tests/package-lock.json) accepts it;
//  - it and the router's table (src/server/router.c, parsed here) name the
//    same routes, methods, listeners, callers and bodies: nothing missing,
//    nothing invented;
//  - live answers of a real consentd on a real Redis have a documented
//    status and content type, and their bodies validate against the
//    documented schemas (ajv's JSON Schema 2020-12 validator, which the
//    OpenAPI validator brings).
// And the document itself is served as the dashboard's files are: gzip and
// brotli precompressed, strong ETags, 304.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { after, before } from 'node:test';
import { Validator } from '@seriousme/openapi-schema-validator';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import { Consentd, SOURCE_DIR, freePort, request, shippedSite, startStack, test, waitFor } from './lib/harness.mjs';
import { browser, postConsent, server } from './lib/consent.mjs';
import { routerTable as routes } from './lib/routes.mjs';

const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'];
const SOURCE = JSON.parse(fs.readFileSync(path.join(SOURCE_DIR, 'docs', 'openapi.json'), 'utf8'));
const DEMO = shippedSite('demo');

/* The router's table with methods as the document spells them. */
const routerTable = () => routes().map((r) => ({ ...r, method: r.method.toLowerCase() }));

/* Follow a local $ref ("#/components/..."). */
function deref(doc, obj) {
    while (obj && obj.$ref) obj = obj.$ref.slice(2).split('/').reduce((o, k) => o[k.replaceAll('~1', '/').replaceAll('~0', '~')], doc);
    return obj;
}

function operations(doc) {
    const out = [];
    for (const [p, item] of Object.entries(doc.paths)) for (const m of HTTP_METHODS) if (item[m]) out.push({ path: p, method: m, op: item[m], item });
    return out;
}

/* A schema of the document as a standalone 2020-12 schema: the document's
 * components.schemas come along as $defs. */
const ajv = new Ajv2020({ allErrors: true, strict: true, strictTypes: false, strictRequired: false });
addFormats(ajv);
const compiled = new Map();
function validatorFor(schema) {
    const key = JSON.stringify(schema);
    if (!compiled.has(key)) {
        const local = (s) => JSON.parse(JSON.stringify(s).replaceAll('"#/components/schemas/', '"#/$defs/'));
        compiled.set(key, ajv.compile({ ...local(schema), $defs: local(SOURCE.components.schemas) }));
    }
    return compiled.get(key);
}

/* An answer checked against the document: its status is documented for
 * this path and method, its content type is one documented for that status
 * (none for a bodiless answer), and a JSON body validates against the
 * documented schema. Returns the parsed body (or the text). */
function assertDocumented(res, docPath, method) {
    const op = SOURCE.paths[docPath]?.[method];
    assert.ok(op, `${method} ${docPath} is not in the document`);
    const response = deref(SOURCE, op.responses[String(res.status)]);
    assert.ok(response, `${method.toUpperCase()} ${docPath} answered ${res.status}, which the document does not list: ${res.text}`);
    const content = response.content || {};
    if (res.body.length === 0) {
        assert.deepEqual(Object.keys(content), [], `${res.status} of ${method} ${docPath}: no body, but the document says ${Object.keys(content)}`);
        return null;
    }
    const type = res.headers['content-type'];
    assert.ok(content[type], `${res.status} of ${method} ${docPath}: content type ${type} is not one of ${Object.keys(content).join(', ')}`);
    const lineSchema = content[type]['x-line-schema'];
    if (lineSchema) {
        const validate = validatorFor(lineSchema);
        const lines = res.text.split('\n').filter((l) => l !== '');
        for (const line of lines) assert.ok(validate(JSON.parse(line)), `a line of ${method} ${docPath} does not match its schema: ${ajv.errorsText(validate.errors)}\n${line}`);
        return lines.map((l) => JSON.parse(l));
    }
    if (!/json/.test(type)) return res.text;
    const body = res.json();
    const validate = validatorFor(content[type].schema);
    assert.ok(validate(body), `${res.status} of ${method} ${docPath} does not match its schema: ${ajv.errorsText(validate.errors)}\n${res.text}`);
    return body;
}

let stack, operatorPort, served;
before(async () => {
    operatorPort = await freePort();
    stack = await startStack({
        config: { metrics: { listen: { address: '127.0.0.1', port: operatorPort } }, log: { checkpoint_seconds: 1 } },
    });
    const res = await stack.consentd.request('/openapi.json');
    assert.equal(res.status, 200, res.text);
    served = res.json();
});
after(async () => {
    await stack?.stop();
});

// ---- 1. the document is valid OpenAPI 3.1 -------------------------------------

test('openapi_served_document_is_valid_openapi_3_1_by_an_outside_validator', async () => {
    const validator = new Validator();
    const result = await validator.validate(served);
    assert.equal(result.valid, true, JSON.stringify(result.errors, null, 1));
    assert.equal(validator.version, '3.1');
    assert.equal(served.openapi, '3.1.0');
    // The validator is not a rubber stamp: a broken copy fails.
    const broken = structuredClone(served);
    broken.paths['/healthz'].get.responses = { 200: { content: {} } }; /* a response needs a description */
    assert.equal((await new Validator().validate(broken)).valid, false);
});

test('openapi_served_document_is_docs_openapi_json', () => {
    assert.deepEqual(served, SOURCE);
});

test('openapi_every_schema_of_the_document_compiles_as_json_schema_2020_12', () => {
    for (const name of Object.keys(SOURCE.components.schemas)) validatorFor({ $ref: `#/components/schemas/${name}` });
    for (const { path: p, method, op } of operations(SOURCE)) {
        for (const [status, r] of Object.entries(op.responses)) {
            for (const [type, media] of Object.entries(deref(SOURCE, r).content || {})) {
                assert.ok(media.schema, `${method} ${p} ${status} ${type}: no schema`);
                validatorFor(media.schema);
            }
        }
    }
});

// ---- 2. the document and the router name the same routes ------------------------

test('openapi_every_routed_path_and_method_is_documented_and_nothing_else', () => {
    const routes = routerTable();
    assert.ok(routes.length >= 22, `only ${routes.length} routes read from router.c`);
    const documented = new Set(operations(SOURCE).map((o) => `${o.method} ${o.path}`));
    const routed = new Set();
    for (const r of routes) {
        routed.add(`${r.method} ${r.pattern}`);
        assert.ok(documented.has(`${r.method} ${r.pattern}`), `router.c routes ${r.method.toUpperCase()} ${r.pattern} (${r.name}): missing from docs/openapi.json`);
    }
    // OPTIONS is the CORS preflight of the paths with a browser route.
    const corsPaths = new Set(routes.filter((r) => r.cors).map((r) => r.pattern));
    for (const p of corsPaths) routed.add(`options ${p}`);
    for (const op of documented) assert.ok(routed.has(op), `docs/openapi.json documents ${op}, which router.c does not route`);
    assert.equal(documented.size, routed.size);
});

test('openapi_listener_callers_bodies_rate_limits_and_path_parameters_match_the_router', () => {
    for (const r of routerTable()) {
        const item = SOURCE.paths[r.pattern];
        const op = item[r.method];
        const where = `${r.method.toUpperCase()} ${r.pattern}`;
        assert.equal(op['x-consentd-listener'], r.where, `${where}: listener`);
        const schemes = (op.security ?? SOURCE.security ?? []).flatMap((s) => Object.keys(s));
        assert.equal(schemes.includes('browserOrigin'), r.cors, `${where}: a browser (Origin) caller iff the route answers CORS`);
        assert.equal(!!op.requestBody, r.maxBody !== '0', `${where}: a request body iff the route takes one`);
        assert.equal(!!op.responses['429'], r.limited, `${where}: a 429 iff the route is rate limited`);
        const declared = [...(item.parameters || []), ...(op.parameters || [])].map((p) => deref(SOURCE, p)).filter((p) => p.in === 'path');
        const inPattern = [...r.pattern.matchAll(/\{(\w+)\}/g)].map((m) => m[1]);
        assert.deepEqual(declared.map((p) => p.name).sort(), [...inPattern].sort(), `${where}: path parameters`);
    }
    // Every OPTIONS is a preflight on a browser route's path.
    for (const { path: p, method, op } of operations(SOURCE)) if (method === 'options') assert.ok(op.responses['204'], `OPTIONS ${p}: 204`);
});

// ---- 3. live answers match the document ------------------------------------------

test('openapi_live_consent_record_read_withdraw_and_access_match_their_schemas', async () => {
    const { consentd } = stack;
    const res = await postConsent(consentd, { decisions: { audience: true }, policy_version: DEMO.policy_version, lang: 'fr', control: 'custom' });
    assert.equal(res.status, 201, res.text);
    const rec = assertDocumented(res, '/v1/sites/{site}/consents', 'post');
    const one = `/v1/sites/demo/consents/${rec.visitor}`;
    const got = assertDocumented(await consentd.request(one, { headers: server() }), '/v1/sites/{site}/consents/{visitor}', 'get');
    assert.equal(got.consent_id, rec.consent_id);
    const access = assertDocumented(await consentd.request(`/v1/sites/demo/visitors/${rec.visitor}`, { headers: server() }), '/v1/sites/{site}/visitors/{visitor}', 'get');
    assert.equal(access.history.length, 1);
    const withdrawn = assertDocumented(await consentd.request(one, { method: 'DELETE', headers: browser() }), '/v1/sites/{site}/consents/{visitor}', 'delete');
    assert.equal(withdrawn.action, 'withdrawal');
    const jwks = assertDocumented(await consentd.request('/.well-known/jwks.json'), '/.well-known/jwks.json', 'get');
    assert.ok(jwks.keys.length >= 1);
});

test('openapi_live_audit_routes_versions_export_log_inclusion_and_erasure_match', async () => {
    const { consentd } = stack;
    const key = { headers: server() };
    const banner = await consentd.request('/v1/sites/demo/banner.js');
    const bv = banner.text.match(/"bv":"([0-9a-f]{64})"/)[1];
    const res = await postConsent(consentd, { decisions: { audience: true }, policy_version: DEMO.policy_version, lang: 'en', control: 'custom', banner_version: bv });
    const rec = assertDocumented(res, '/v1/sites/{site}/consents', 'post');
    const access = assertDocumented(await consentd.request(`/v1/sites/demo/visitors/${rec.visitor}`, key), '/v1/sites/{site}/visitors/{visitor}', 'get');
    assert.match(access.history[0].banner_version_url, new RegExp(`/v1/sites/demo/banner-versions/${bv}$`));
    const logId = access.history[0].log_id;
    // The banner versions, by key and public; one version's bytes; a bad and an unknown hash.
    const versions = '/v1/sites/{site}/banner-versions';
    const listed = await waitFor(async () => {
        const body = assertDocumented(await consentd.request('/v1/sites/demo/banner-versions', key), versions, 'get');
        return body.versions.some((v) => v.hash === bv) && body;
    });
    assert.equal(listed.site, 'demo');
    assert.equal(assertDocumented(await consentd.request(`/v1/sites/demo/banner-versions/${bv}`, key), `${versions}/{hash}`, 'get'), banner.text);
    assert.equal(assertDocumented(await consentd.request('/v1/sites/demo/banner-versions/ABC', key), `${versions}/{hash}`, 'get').error.code, 'invalid_banner_version');
    assert.equal(assertDocumented(await consentd.request(`/v1/sites/demo/banner-versions/${'0'.repeat(64)}`, key), `${versions}/{hash}`, 'get').error.code, 'banner_version_not_found');
    // The audit export and the raw log: every line matches its schema.
    const exported = assertDocumented(await consentd.request('/v1/sites/demo/consents?limit=1000', key), '/v1/sites/{site}/consents', 'get');
    assert.ok(exported.some((e) => e.log_id === logId));
    assert.equal(assertDocumented(await consentd.request('/v1/sites/demo/consents?limit=0', key), '/v1/sites/{site}/consents', 'get').error.code, 'invalid_limit');
    assert.equal(assertDocumented(await consentd.request('/v1/sites/demo/consents?from=yesterday', key), '/v1/sites/{site}/consents', 'get').error.code, 'invalid_range');
    const raw = assertDocumented(await consentd.request('/v1/sites/demo/log?limit=1000', key), '/v1/sites/{site}/log', 'get');
    assert.ok(raw.length >= 1);
    // Checkpoints (every second here) and the inclusion proof of the consent above.
    const checkpoints = await waitFor(async () => {
        const body = assertDocumented(await consentd.request('/v1/sites/demo/log/checkpoints'), '/v1/sites/{site}/log/checkpoints', 'get');
        return body.checkpoints.length >= 1 && body;
    });
    assert.equal(checkpoints.site, 'demo');
    const inclusion = '/v1/sites/{site}/log/inclusion';
    const proof = await waitFor(
        async () => {
            const r = await consentd.request(`/v1/sites/demo/log/inclusion?visitor=${rec.visitor}&id=${logId}`, key);
            const body = assertDocumented(r, inclusion, 'get');
            return r.status === 200 && body;
        },
        { timeoutMs: 10000, message: 'a checkpoint covering the consent' },
    );
    assert.equal(proof.id, logId);
    assert.equal(assertDocumented(await consentd.request(`/v1/sites/demo/log/inclusion?id=${logId}`, key), inclusion, 'get').error.code, 'invalid_partition');
    assert.equal(assertDocumented(await consentd.request(`/v1/sites/demo/log/inclusion?partition=1`, key), inclusion, 'get').error.code, 'invalid_id');
    // Erasure, then the export shows the entry as erased.
    const erased = assertDocumented(await consentd.request(`/v1/sites/demo/visitors/${rec.visitor}`, { method: 'DELETE', ...key }), '/v1/sites/{site}/visitors/{visitor}', 'delete');
    assert.equal(erased.erased, true);
    const later = assertDocumented(await consentd.request('/v1/sites/demo/consents?limit=1000', key), '/v1/sites/{site}/consents', 'get');
    assert.deepEqual(Object.keys(later.find((e) => e.log_id === logId)).sort(), ['erased', 'log_id', 'logged_at']);
});

test('openapi_live_errors_have_the_documented_status_code_and_shape', async () => {
    const { consentd } = stack;
    const consents = '/v1/sites/{site}/consents';
    // 400: an unknown field; the code is one the document lists for this route.
    let body = assertDocumented(await postConsent(consentd, { decisions: {}, policy_version: DEMO.policy_version, lang: 'fr', colour: 'blue' }), consents, 'post');
    assert.equal(body.error.code, 'invalid_field');
    // 409 carries the current policy version.
    body = assertDocumented(await postConsent(consentd, { decisions: {}, policy_version: 'stale', lang: 'fr' }), consents, 'post');
    assert.equal(body.error.current_policy_version, DEMO.policy_version);
    // 401 (no Origin, no key), 403 (a foreign Origin), 415, 404 unknown site.
    assert.equal(assertDocumented(await postConsent(consentd, {}, { 'content-type': 'application/json' }), consents, 'post').error.code, 'unauthorized');
    assert.equal(assertDocumented(await postConsent(consentd, {}, browser({ origin: 'https://evil.example' })), consents, 'post').error.code, 'origin_not_allowed');
    assert.equal(assertDocumented(await postConsent(consentd, '{}', browser({ 'content-type': 'application/xml' })), consents, 'post').error.code, 'unsupported_media_type');
    assert.equal(assertDocumented(await postConsent(consentd, {}, browser(), 'nosuchsite'), consents, 'post').error.code, 'site_not_found');
    // 413: more than the route's bound.
    const big = JSON.stringify({ decisions: {}, policy_version: 'x'.repeat(5000), lang: 'fr' });
    assert.equal(assertDocumented(await postConsent(consentd, big), consents, 'post').error.code, 'payload_too_large');
    // 404 consent_not_found, 400 invalid_visitor.
    const one = '/v1/sites/{site}/consents/{visitor}';
    assert.equal(assertDocumented(await consentd.request('/v1/sites/demo/consents/nobody-here-0000', { headers: server() }), one, 'get').error.code, 'consent_not_found');
    assert.equal(assertDocumented(await consentd.request('/v1/sites/demo/consents/short', { headers: server() }), one, 'get').error.code, 'invalid_visitor');
    // A browser on a server-only route: 401.
    assert.equal(assertDocumented(await consentd.request('/v1/sites/demo/stats', { headers: browser() }), '/v1/sites/{site}/stats', 'get').error.code, 'unauthorized');
    // The schema is not a rubber stamp: an undocumented code fails it.
    const res = await postConsent(consentd, { decisions: {}, policy_version: DEMO.policy_version, lang: 'fr', colour: 'blue' });
    const forged = { ...res, body: Buffer.from(res.text.replace('invalid_field', 'made_up_code')), json: () => JSON.parse(res.text.replace('invalid_field', 'made_up_code')) };
    assert.throws(() => assertDocumented(forged, consents, 'post'), /does not match its schema/);
});

test('openapi_live_events_answer_204_and_refusals_400', async () => {
    const { consentd } = stack;
    const events = '/v1/sites/{site}/events';
    const post = (body, headers = browser()) => consentd.request('/v1/sites/demo/events', { method: 'POST', headers, body: JSON.stringify(body) });
    assertDocumented(await post({ type: 'shown', lang: 'fr', visitor: 'abcdefgh12345678' }), events, 'post');
    assertDocumented(await post({ type: 'shown' }, browser({ 'content-type': 'text/plain' })), events, 'post');
    assert.equal(assertDocumented(await post({ type: 'clicked' }), events, 'post').error.code, 'unknown_event_type');
    assert.equal(assertDocumented(await post({ lang: 'fr' }), events, 'post').error.code, 'missing_field');
    const pre = await consentd.request('/v1/sites/demo/events', { method: 'OPTIONS', headers: { origin: browser().origin, 'access-control-request-method': 'POST' } });
    assertDocumented(pre, events, 'options');
    assert.equal(pre.status, 204);
});

test('openapi_live_stats_json_csv_and_parameter_errors_match', async () => {
    const { consentd } = stack;
    const stats = '/v1/sites/{site}/stats';
    // The events posted above reach Redis with the next flush (at least once a second).
    const json = await waitFor(
        async () => {
            const body = assertDocumented(await consentd.request('/v1/sites/demo/stats?by=day', { headers: server() }), stats, 'get');
            return body.total.shown >= 2 && body.total.decisions >= 1 && body;
        },
        { message: 'the events and the consent posted above in the stats' },
    );
    assert.equal(json.buckets.length, 30);
    assert.equal(json.total.by_language.fr.decisions >= 1, true);
    const hours = assertDocumented(await consentd.request('/v1/sites/demo/stats?by=hour&from=2026-01-01&to=2026-01-01', { headers: server() }), stats, 'get');
    assert.equal(hours.buckets.length, 24);
    const csv = await consentd.request('/v1/sites/demo/stats?format=csv', { headers: server() });
    assert.match(assertDocumented(csv, stats, 'get'), /^start,shown,/);
    for (const [query, code] of [
        ['by=year', 'invalid_parameter'],
        ['from=2026-02-30', 'invalid_range'],
        ['variant=zz', 'unknown_variant'],
        ['purpose=necessary', 'unknown_purpose'],
    ])
        assert.equal(assertDocumented(await consentd.request(`/v1/sites/demo/stats?${query}`, { headers: server() }), stats, 'get').error.code, code, query);
});

test('openapi_live_site_configuration_draft_versions_diff_publish_and_their_errors_match', async () => {
    const c = stack.consentd;
    const key = server();
    const call = (method, target, body, headers = key) =>
        c.request(`/v1/sites/demo${target}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    assertDocumented(await call('GET', '/draft'), '/v1/sites/{site}/draft', 'get');
    const site = structuredClone(DEMO);
    assertDocumented(await call('PUT', '/draft', site), '/v1/sites/{site}/draft', 'put'); /* 428 */
    assertDocumented(await call('PUT', '/draft', { revision: 0, site: { ...site, id: 'x' } }), '/v1/sites/{site}/draft', 'put'); /* 422 */
    assert.equal(assertDocumented(await call('PUT', '/draft', { revision: 0, site }), '/v1/sites/{site}/draft', 'put').revision, 1);
    assertDocumented(await call('PUT', '/draft', { revision: 0, site }), '/v1/sites/{site}/draft', 'put'); /* 409 */
    assertDocumented(await call('GET', '/draft'), '/v1/sites/{site}/draft', 'get');
    const made = assertDocumented(await call('POST', '/versions', { message: 'openapi' }), '/v1/sites/{site}/versions', 'post');
    assertDocumented(await call('POST', '/versions', { message: 'again' }), '/v1/sites/{site}/versions', 'post'); /* 200 unchanged */
    site.purposes[1].recipients = [...site.purposes[1].recipients, 'Someone'];
    assertDocumented(await call('PUT', '/draft', { revision: 1, site }), '/v1/sites/{site}/draft', 'put');
    const second = assertDocumented(await call('POST', '/versions', { revision: 2 }), '/v1/sites/{site}/versions', 'post');
    assertDocumented(await call('GET', '/versions'), '/v1/sites/{site}/versions', 'get');
    assertDocumented(await call('GET', `/versions/${made.version}`), '/v1/sites/{site}/versions/{version}', 'get');
    assertDocumented(await call('GET', '/versions/99'), '/v1/sites/{site}/versions/{version}', 'get'); /* 404 */
    assertDocumented(await call('GET', `/diff?from=${made.version}&to=${second.version}`), '/v1/sites/{site}/diff', 'get');
    assertDocumented(await call('GET', '/diff?from=1'), '/v1/sites/{site}/diff', 'get'); /* 400 */
    assertDocumented(await call('POST', `/versions/${made.version}/publish`), '/v1/sites/{site}/versions/{version}/publish', 'post');
    const bumped = assertDocumented(await call('POST', `/versions/${second.version}/publish`), '/v1/sites/{site}/versions/{version}/publish', 'post');
    assert.equal(bumped.policy_bumped, true);
    assertDocumented(await call('POST', '/versions/99/publish'), '/v1/sites/{site}/versions/{version}/publish', 'post'); /* 404 */
    assertDocumented(await call('POST', '/versions/1/publish', { bump_policy: 'yes' }), '/v1/sites/{site}/versions/{version}/publish', 'post'); /* 400 */
});

test('openapi_live_public_routes_and_listeners_match', async () => {
    const { consentd } = stack;
    assertDocumented(await consentd.request('/healthz'), '/healthz', 'get');
    assertDocumented(await request(operatorPort, '/healthz'), '/healthz', 'get');
    assertDocumented(await request(operatorPort, '/metrics'), '/metrics', 'get');
    assertDocumented(await consentd.request('/v1/sites/demo/banner.js'), '/v1/sites/{site}/banner.js', 'get');
    assertDocumented(await consentd.request('/v1/sites/nosuchsite/banner.js'), '/v1/sites/{site}/banner.js', 'get');
    assertDocumented(await consentd.request('/v1/sites/demo/log/checkpoints'), '/v1/sites/{site}/log/checkpoints', 'get');
    assertDocumented(await consentd.request('/v1/sites/demo/banner-versions.json'), '/v1/sites/{site}/banner-versions.json', 'get');
    assertDocumented(await consentd.request('/dashboard/nothing.js'), '/dashboard/{file}', 'get');
    assertDocumented(await consentd.request('/console/nothing.js'), '/console/{file}', 'get');
    // x-consentd-listener: what one listener serves is a 404 on the other.
    for (const { path: p, method, op } of operations(SOURCE)) {
        if (method !== 'get' || p.includes('{')) continue;
        const where = op['x-consentd-listener'];
        const pub = await consentd.request(p);
        const ops = await request(operatorPort, p);
        assert.equal(pub.status === 404, where === 'operator', `${p} on the public listener: ${pub.status}`);
        assert.equal(ops.status === 404, where === 'public', `${p} on the operator listener: ${ops.status}`);
    }
});

// ---- 4. serving the document -----------------------------------------------------

test('openapi_json_is_served_precompressed_with_strong_etags_and_304', async () => {
    const { consentd } = stack;
    const plain = await consentd.request('/openapi.json');
    assert.equal(plain.status, 200);
    assert.equal(plain.headers['content-type'], 'application/json');
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(plain.headers['cache-control'], 'public, max-age=300');
    assert.equal(plain.headers['access-control-allow-origin'], '*');
    assert.match(plain.headers.vary, /accept-encoding/);
    assert.match(plain.headers.etag, /^"[0-9a-f]{32}"$/);
    assertDocumented(plain, '/openapi.json', 'get');
    const etags = new Set([plain.headers.etag]);
    for (const [coding, decode] of [
        ['gzip', zlib.gunzipSync],
        ['br', zlib.brotliDecompressSync],
    ]) {
        const res = await consentd.request('/openapi.json', { headers: { 'accept-encoding': coding } });
        assert.equal(res.status, 200);
        assert.equal(res.headers['content-encoding'], coding);
        assert.ok(res.body.length < plain.body.length / 3, `${coding}: ${res.body.length} of ${plain.body.length} bytes`);
        assert.deepEqual(decode(res.body), plain.body);
        etags.add(res.headers.etag);
        const again = await consentd.request('/openapi.json', { headers: { 'accept-encoding': coding, 'if-none-match': res.headers.etag } });
        assert.equal(again.status, 304);
        assert.equal(again.body.length, 0);
        assert.equal(again.headers.etag, res.headers.etag);
    }
    assert.equal(etags.size, 3, 'one strong ETag per encoding');
    const notModified = await consentd.request('/openapi.json', { headers: { 'if-none-match': plain.headers.etag } });
    assert.equal(notModified.status, 304);
    const stale = await consentd.request('/openapi.json', { headers: { 'if-none-match': '"not-this-one"' } });
    assert.equal(stale.status, 200);
    const head = await consentd.request('/openapi.json', { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.equal(head.headers['content-length'], String(plain.body.length));
    const post = await consentd.request('/openapi.json', { method: 'POST' });
    assert.equal(post.status, 405);
    assert.equal(post.headers.allow, 'GET, HEAD');
});

test('openapi_json_answers_without_redis', async () => {
    // From memory: a Redis outage does not touch it (the stack of this
    // suite keeps its Redis; this one never had one).
    const alone = await Consentd.start({ redisUrl: 'redis://127.0.0.1:1' });
    try {
        const res = await alone.request('/openapi.json');
        assert.equal(res.status, 200);
        assert.deepEqual(res.json(), SOURCE);
    } finally {
        await alone.stop();
    }
});

