// The console's check and preview (issue 22, item 3; src/api/site_preview.h):
// POST draft/check validates exactly as PUT draft and stores nothing; POST
// previews keeps an unsaved document 15 minutes under the site's tag and
// answers an unguessable id; the public GET previews/{id}/banner.js is the
// real banner built from it, forced to one language and one variant, never
// cached; an expired or unknown id is 404 unknown_preview. A preview records
// nothing: the banner's own URLs beside the preview are no routes, and the
// sandboxed frame's Origin (null) is refused by the consent and events
// routes. The built JS runs (node:vm, with a small DOM of its own).
import assert from 'node:assert/strict';
import vm from 'node:vm';
import { after, before } from 'node:test';
import { shippedSite, startStack, test } from './lib/harness.mjs';
import { DEMO_KEY, server } from './lib/consent.mjs';

let stack, statsKey;
before(async () => {
    stack = await startStack({ config: { rate_limit: { exempt_loopback: true } } });
    const res = await stack.consentd.request('/v1/sites/demo/keys', {
        method: 'POST',
        headers: server(DEMO_KEY, { 'content-type': 'application/json' }),
        body: JSON.stringify({ name: 'stats-only', scopes: ['stats:read'] }),
    });
    assert.equal(res.status, 201, res.text);
    statsKey = res.json().key;
});
after(async () => {
    await stack?.stop();
});

const post = (target, body, headers = server(DEMO_KEY, { 'content-type': 'application/json' })) =>
    stack.consentd.request(`/v1/sites/demo${target}`, { method: 'POST', headers, body: typeof body === 'string' ? body : JSON.stringify(body) });
const get = (target, headers = {}) => stack.consentd.request(target, { headers });

function unsaved() {
    const doc = shippedSite('demo');
    doc.purposes[1].texts.en.name = 'Unsaved audience EN';
    doc.purposes[1].texts.fr.name = 'Audience non enregistrée FR';
    doc.variants[1].texts.en.title = 'Variant B unsaved title';
    return doc;
}

async function draftRevision() {
    const res = await stack.consentd.request('/v1/sites/demo/draft', { headers: server() });
    assert.equal(res.status, 200, res.text);
    return res.json().revision;
}

test('check_a_valid_document_is_200_ok_and_stores_nothing', async () => {
    const res = await post('/draft/check', unsaved());
    assert.equal(res.status, 200, res.text);
    assert.deepEqual(res.json(), { ok: true });
    assert.equal(res.headers['cache-control'], 'no-store');
    const wrapped = await post('/draft/check', { site: unsaved() });
    assert.equal(wrapped.status, 200, 'the body PUT draft takes is accepted too');
    assert.equal(await draftRevision(), 0, 'no draft was written');
    const keys = await stack.redis.command('KEYS', 'cd:{demo:site}:*');
    assert.deepEqual(keys, [], `nothing under the site's tag: ${keys}`);
});

test('check_an_invalid_document_is_422_with_the_draft_message_and_field', async () => {
    const bad = unsaved();
    bad.purposes[2].legal_basis = 'because_we_can';
    const res = await post('/draft/check', bad);
    assert.equal(res.status, 422, res.text);
    const e = res.json().error;
    assert.equal(e.code, 'invalid_site');
    assert.equal(e.message, 'site demo draft: purposes[2].legal_basis: must be one of consent, legitimate_interest, necessary');
    assert.deepEqual(e.errors, [{ field: 'purposes[2].legal_basis', reason: 'must be one of consent, legitimate_interest, necessary' }]);
    const typo = unsaved();
    typo.variants[1].texts.en.titel = 'Typo';
    const t = await post('/draft/check', typo);
    assert.equal(t.status, 422, t.text);
    assert.equal(t.json().error.errors[0].field, 'variants[1].texts.en.titel', 'what the banner build refuses too');
    const other = unsaved();
    other.id = 'other';
    const wrongId = await post('/draft/check', other);
    assert.deepEqual(wrongId.json().error.errors, [{ field: 'id', reason: 'must be the site\'s id ("demo")' }]);
});

for (const route of ['/draft/check', '/previews']) {
    test(`${route.slice(1).replace('/', '_')}_errors_401_403_404_413_400_415`, async () => {
        const bad = await post(route, unsaved(), server('nope', { 'content-type': 'application/json' }));
        assert.equal(bad.status, 401, bad.text);
        const scope = await post(route, unsaved(), server(statsKey, { 'content-type': 'application/json' }));
        assert.equal(scope.status, 403, scope.text);
        assert.equal(scope.json().error.code, 'insufficient_scope');
        assert.match(scope.json().error.message, /site:write/);
        const none = await stack.consentd.request(`/v1/sites/nosuchsite${route}`, {
            method: 'POST',
            headers: server(DEMO_KEY, { 'content-type': 'application/json' }),
            body: JSON.stringify(unsaved()),
        });
        assert.equal(none.status, 404, none.text);
        assert.equal(none.json().error.code, 'site_not_found');
        const huge = await post(route, { ...unsaved(), padding: 'x'.repeat(300 * 1024) });
        assert.equal(huge.status, 413, huge.text);
        const malformed = await post(route, '{"id": "demo",');
        assert.equal(malformed.status, 400, malformed.text);
        assert.equal(malformed.json().error.code, 'malformed_json');
        const text = await post(route, unsaved(), server(DEMO_KEY, { 'content-type': 'text/plain' }));
        assert.equal(text.status, 415, text.text);
        const noTexts = unsaved();
        noTexts.purposes[1].texts = {};
        const invalid = await post(route, noTexts);
        assert.equal(invalid.status, 422, invalid.text);
        assert.equal(invalid.json().error.code, 'invalid_site');
        assert.match(invalid.json().error.errors[0].field, /^purposes\[1\]\.texts/);
        assert.ok(invalid.json().error.message.startsWith('site demo draft: purposes[1].texts'), invalid.text);
    });
}

let preview;
test('a_preview_is_201_with_an_unguessable_id_kept_15_minutes_under_the_sites_tag', async () => {
    const res = await post('/previews', unsaved());
    assert.equal(res.status, 201, res.text);
    preview = res.json();
    assert.match(preview.id, /^[A-Za-z0-9_-]{24}$/, '144 bits, base64url');
    assert.equal(preview.expires_in, 900);
    assert.equal(preview.banner_url, `/v1/sites/demo/previews/${preview.id}/banner.js`);
    const ttl = Number(await stack.redis.command('PTTL', `cd:{demo:site}:preview:${preview.id}`));
    assert.ok(ttl > 890000 && ttl <= 900000, `PTTL ${ttl}`);
    const again = await post('/previews', unsaved());
    assert.notEqual(again.json().id, preview.id, 'a new id each time');
    assert.equal(await draftRevision(), 0, 'a preview is no draft');
});

test('the_preview_banner_is_the_unsaved_document_in_the_forced_language', async () => {
    const en = await get(`${preview.banner_url}?lang=en`);
    assert.equal(en.status, 200, en.text);
    assert.match(en.headers['content-type'], /^application\/javascript/);
    assert.equal(en.headers['cache-control'], 'no-store');
    assert.equal(en.headers['x-content-type-options'], 'nosniff');
    assert.equal(en.headers['content-encoding'], undefined, 'not compressed');
    assert.ok(en.text.includes('Unsaved audience EN'), 'the unsaved English text');
    assert.ok(!en.text.includes('Audience non enregistrée FR'), 'not the French one');
    assert.ok(en.text.includes('"langs":["en"]'), 'English only: the browser cannot pick another');
    const fr = await get(`${preview.banner_url}?lang=fr`);
    assert.ok(fr.text.includes('Audience non enregistrée FR'));
    assert.ok(!fr.text.includes('Unsaved audience EN'));
    const byDefault = await get(preview.banner_url);
    assert.ok(byDefault.text.includes('"langs":["fr"]'), 'the site\'s default language');
    const unknown = await get(`${preview.banner_url}?lang=de`);
    assert.ok(unknown.text.includes('"langs":["fr"]'), 'a language the site has not: the default');
    /* the published banner is built the same way: the same core */
    const served = await get('/v1/sites/demo/banner.js');
    const core = (t) => t.slice(t.indexOf('((CONSENTD_CONFIG'), t.lastIndexOf('})('));
    assert.equal(core(en.text), core(served.text), 'the same features and core as the served banner');
    assert.ok(!served.text.includes('defineProperty(document,"cookie"'), 'the preview\'s shim is not in served banners');
    const shim = en.text.indexOf('defineProperty(document,"cookie"');
    assert.ok(shim >= 0 && shim < en.text.indexOf('((CONSENTD_CONFIG'), `the preview runs web/banner/preview.js first: ${en.text.slice(0, 60)}`);
});

test('the_preview_banner_is_forced_to_the_variant_asked_or_to_none', async () => {
    const b = await get(`${preview.banner_url}?lang=en&variant=b`);
    assert.equal(b.status, 200, b.text);
    assert.ok(b.text.includes('Variant B unsaved title'));
    const settings = JSON.parse(b.text.slice(b.text.lastIndexOf('})(') + 3, b.text.lastIndexOf(');')));
    assert.deepEqual(settings.vs.map((v) => v.id), ['b'], 'variant b only');
    const none = await get(`${preview.banner_url}?lang=en`);
    const s2 = JSON.parse(none.text.slice(none.text.lastIndexOf('})(') + 3, none.text.lastIndexOf(');')));
    assert.equal(s2.vs, undefined, 'no variant asked: the banner\'s own texts');
    assert.ok(!none.text.includes('Variant B unsaved title'));
    const undeclared = await get(`${preview.banner_url}?lang=en&variant=zzz`);
    assert.equal(undeclared.status, 200);
    assert.ok(!undeclared.text.includes('Variant B unsaved title'));
});

/* A DOM just large enough for the banner to build its dialog: elements with
 * children, attributes, text, events, styles; what it appends is kept. */
function tinyDom(scriptSrc) {
    const texts = [];
    const make = (tag) => {
        const el = {
            tagName: String(tag).toUpperCase(),
            children: [],
            childNodes: [],
            style: { setProperty() {}, removeProperty() {} },
            dataset: {},
            attributes: {},
            classList: { add() {}, remove() {}, toggle() {}, contains: () => false },
            setAttribute(k, v) {
                this.attributes[k] = String(v);
            },
            getAttribute(k) {
                return this.attributes[k] ?? null;
            },
            removeAttribute(k) {
                delete this.attributes[k];
            },
            hasAttribute(k) {
                return k in this.attributes;
            },
            append(...nodes) {
                for (const n of nodes) {
                    if (typeof n === 'string') texts.push(n);
                    else this.children.push(n);
                }
            },
            appendChild(n) {
                this.append(n);
                return n;
            },
            prepend(...nodes) {
                this.append(...nodes);
            },
            insertBefore(n) {
                this.append(n);
                return n;
            },
            replaceChildren(...nodes) {
                this.append(...nodes);
            },
            remove() {},
            addEventListener() {},
            removeEventListener() {},
            querySelector: () => null,
            querySelectorAll: () => [],
            focus() {},
            closest: () => null,
            contains: () => false,
            showModal() {},
            show() {},
            close() {},
            getBoundingClientRect: () => ({ top: 0, left: 0, width: 0, height: 0 }),
            getClientRects: () => [],
            replaceWith() {},
            attachShadow() {
                return make('shadow');
            },
            set textContent(t) {
                texts.push(String(t));
            },
            get textContent() {
                return '';
            },
            set innerHTML(t) {
                texts.push(String(t));
            },
            set innerText(t) {
                texts.push(String(t));
            },
        };
        return el;
    };
    const documentElement = make('html');
    documentElement.lang = '';
    const body = make('body'),
        head = make('head');
    const document = {
        currentScript: { src: scriptSrc, lang: '', nonce: '', getAttribute: () => null, dataset: {} },
        documentElement,
        body,
        head,
        readyState: 'complete',
        cookie: '',
        createElement: make,
        createElementNS: (_ns, tag) => make(tag),
        createTextNode: (t) => {
            texts.push(String(t));
            return make('#text');
        },
        createDocumentFragment: () => make('#fragment'),
        getElementById: () => null,
        querySelector: () => null,
        querySelectorAll: () => [],
        addEventListener() {},
        removeEventListener() {},
        dispatchEvent() {
            return true;
        },
        activeElement: body,
    };
    return { document, texts };
}

test('the_preview_banner_runs_and_shows_the_forced_texts_and_sends_nothing', async () => {
    const url = `http://127.0.0.1:${stack.consentd.port}${preview.banner_url}`;
    const res = await get(`${preview.banner_url}?lang=en`);
    const { document, texts } = tinyDom(url);
    const fetched = [];
    const storage = { getItem: () => null, setItem() {}, removeItem() {} };
    const window = {
        document,
        location: { href: 'about:srcdoc', hostname: '', protocol: 'about:', pathname: '/' },
        navigator: { languages: ['de-DE'], language: 'de-DE', globalPrivacyControl: false, sendBeacon: () => true },
        localStorage: storage,
        sessionStorage: storage,
        crypto: globalThis.crypto,
        addEventListener() {},
        removeEventListener() {},
        dispatchEvent() {},
        matchMedia: () => ({ matches: false, addEventListener() {} }),
        requestAnimationFrame: (f) => setTimeout(f, 0),
        setTimeout,
        clearTimeout,
        queueMicrotask,
        btoa,
        atob,
        URL,
        URLSearchParams,
        Response,
        Promise,
        JSON,
        Math,
        Date,
        CustomEvent: class CustomEvent {
            constructor(type, init) {
                this.type = type;
                this.detail = init?.detail;
            }
        },
        Event: class Event {
            constructor(type) {
                this.type = type;
            }
        },
        MutationObserver: class {
            observe() {}
            disconnect() {}
        },
        fetch: (target, init) => {
            fetched.push(String(target));
            return Promise.resolve({ ok: false, status: 404, json: async () => ({}) });
        },
        dataLayer: [],
    };
    window.window = window;
    window.self = window;
    window.globalThis = window;
    const context = vm.createContext(window);
    vm.runInContext(res.text, context, { filename: 'preview-banner.js', timeout: 2000 });
    await new Promise((r) => setTimeout(r, 50));
    assert.ok(window.consentd, 'the banner defined window.consentd');
    assert.ok(texts.some((t) => t.includes('Unsaved audience EN')), `the dialog shows the unsaved English text: ${texts.slice(0, 20)}`);
    assert.ok(!texts.some((t) => t.includes('Audience non enregistrée FR')), 'not the French one, though the page and the browser ask for neither');
    // Its "shown" event, sent beside its script at load: answered by
    // web/banner/preview.js, and nothing goes out.
    assert.deepEqual(fetched, [], 'the preview sends nothing');
});

test('a_preview_records_nothing_its_urls_are_no_routes_and_origin_null_is_refused', async () => {
    const before = await stack.redis.command('DBSIZE');
    const choice = JSON.stringify({ visitor: 'previewvisitor0000000001', decisions: { audience: true }, policy_version: shippedSite('demo').policy_version, lang: 'en' });
    const beside = await stack.consentd.request(`/v1/sites/demo/previews/${preview.id}/consents`, { method: 'POST', headers: { origin: 'null', 'content-type': 'text/plain' }, body: choice });
    assert.equal(beside.status, 404, beside.text);
    const events = await stack.consentd.request(`/v1/sites/demo/previews/${preview.id}/events`, { method: 'POST', headers: { origin: 'null' }, body: '{"type":"shown"}' });
    assert.equal(events.status, 404, events.text);
    const real = await stack.consentd.request('/v1/sites/demo/consents', { method: 'POST', headers: { origin: 'null', 'content-type': 'text/plain' }, body: choice });
    assert.equal(real.status, 403, real.text);
    assert.equal(real.json().error.code, 'origin_not_allowed');
    const ev = await stack.consentd.request('/v1/sites/demo/events', { method: 'POST', headers: { origin: 'null', 'content-type': 'text/plain' }, body: JSON.stringify({ type: 'shown', visitor: 'previewvisitor0000000001' }) });
    assert.equal(ev.status, 403, ev.text);
    assert.equal(await stack.redis.command('DBSIZE'), before, 'nothing was written');
});

test('an_expired_or_unknown_preview_is_404_unknown_preview', async () => {
    const res = await post('/previews', unsaved());
    const { id, banner_url } = res.json();
    assert.equal((await get(banner_url)).status, 200);
    await stack.redis.command('PEXPIRE', `cd:{demo:site}:preview:${id}`, '1');
    await new Promise((r) => setTimeout(r, 20));
    const gone = await get(banner_url);
    assert.equal(gone.status, 404, gone.text);
    assert.equal(gone.json().error.code, 'unknown_preview');
    const unknown = await get(`/v1/sites/demo/previews/${'A'.repeat(24)}/banner.js`);
    assert.equal(unknown.json().error.code, 'unknown_preview');
    const short = await get('/v1/sites/demo/previews/abc/banner.js');
    assert.equal(short.status, 404);
    assert.equal(short.json().error.code, 'unknown_preview');
    const otherSite = await get(`/v1/sites/nosuchsite/previews/${id}/banner.js`);
    assert.equal(otherSite.status, 404);
});

test('redis_down_the_preview_routes_answer_503_and_check_still_answers', async () => {
    stack.redis.pause();
    try {
        const made = await post('/previews', unsaved());
        assert.equal(made.status, 503, made.text);
        const read = await get(preview.banner_url);
        assert.equal(read.status, 503, read.text);
        const check = await post('/draft/check', unsaved());
        assert.equal(check.status, 200, 'check stores nothing: it needs no Redis');
    } finally {
        stack.redis.resume();
    }
});
