// The Google Tag Manager Community Template (web/gtm/template.tpl): its
// sections are what the gallery reads (JSON where JSON is due), its
// sandboxed code runs here against a harness of the documented sandbox APIs
// (setDefaultConsentState, updateConsentState, gtagSet, injectScript,
// callInWindow, setInWindow, encodeUriComponent, makeNumber, getType,
// logToConsole), each call checked against the template's own permissions,
// and in this order: the defaults per region, the settings, then the
// banner, then the visitor's choice. The template's own tests (its
// ___TESTS___ section) run on the same harness. Then in Chromium, with the
// real banner from consentd: the template's defaults are the only ones (the
// banner leaves them to it), and a choice reaches updateConsentState.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import vm from 'node:vm';
import { after, before } from 'node:test';
import { SOURCE_DIR, test, waitFor } from '../http/lib/harness.mjs';
import { banner, newPage, servedConfig, site, startBannerStack, waitOpen } from './lib/browser.mjs';

const TEMPLATE = fs.readFileSync(path.join(SOURCE_DIR, 'web', 'gtm', 'template.tpl'), 'utf8');
const TYPES = ['ad_storage', 'analytics_storage', 'ad_user_data', 'ad_personalization', 'functionality_storage', 'personalization_storage', 'security_storage'];

/* The template's sections, by name. */
function sections(text) {
    const out = {};
    const re = /^___([A-Z_]+)___\n/gm;
    const marks = [...text.matchAll(re)];
    marks.forEach((m, i) => {
        out[m[1]] = text.slice(m.index + m[0].length, i + 1 < marks.length ? marks[i + 1].index : text.length).trim();
    });
    return out;
}
const S = sections(TEMPLATE);

/* The permissions, as {publicId: params (plain values)}. */
function permissions() {
    const plain = (v) => {
        if (v.type === 1) return v.string;
        if (v.type === 8) return v.boolean;
        if (v.type === 2) return v.listItem.map(plain);
        if (v.type === 3) return Object.fromEntries(v.mapKey.map((k, i) => [plain(k), plain(v.mapValue[i])]));
        throw new Error(`permission value type ${v.type}`);
    };
    const out = {};
    for (const p of JSON.parse(S.WEB_PERMISSIONS)) out[p.instance.key.publicId] = Object.fromEntries((p.instance.param || []).map((x) => [x.key, plain(x.value)]));
    return out;
}

/* GTM's getType. */
function getType(v) {
    if (v === null) return 'null';
    if (Array.isArray(v)) return 'array';
    return typeof v;
}

/*
 * The sandbox: the APIs the template requires, recording every call in
 * calls (in order) and refusing what its permissions do not allow, as
 * Tag Manager does. win: the window the globals are read from; inject(url,
 * onSuccess, onFailure): what loading a script does.
 */
function sandbox({ win = {}, inject = (url, ok) => ok(), perms = permissions(), mocks = {} } = {}) {
    const calls = [];
    const record = (name, args) => calls.push([name, ...JSON.parse(JSON.stringify(args, (k, v) => (typeof v === 'function' ? '[function]' : v)))]);
    const consentTypes = Object.fromEntries(perms.access_consent.consentTypes.map((t) => [t.consentType, t]));
    const globals = Object.fromEntries(perms.access_globals.keys.map((k) => [k.key, k]));
    const deny = (what) => {
        throw new Error(`permission denied: ${what}`);
    };
    const consent = (name) => (state) => {
        for (const k of Object.keys(state)) if (k !== 'region' && k !== 'wait_for_update' && !consentTypes[k]?.write) deny(`${name} ${k}`);
        record(name, [state]);
    };
    const urlAllowed = (url) =>
        perms.inject_script.urls.some((pattern) => new RegExp(`^${pattern.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replaceAll('*', '.*')}$`).test(url));
    const apis = {
        setDefaultConsentState: consent('setDefaultConsentState'),
        updateConsentState: consent('updateConsentState'),
        gtagSet: (o) => {
            for (const k of Object.keys(o)) if (!perms.write_data_layer.keyPatterns.includes(k)) deny(`gtagSet ${k}`);
            record('gtagSet', [o]);
        },
        injectScript: (url, onSuccess, onFailure, cacheToken) => {
            if (!urlAllowed(url)) deny(`injectScript ${url}`);
            record('injectScript', [url, cacheToken]);
            inject(url, onSuccess, onFailure);
        },
        callInWindow: (key, ...args) => {
            if (!globals[key]?.execute) deny(`callInWindow ${key}`);
            record('callInWindow', [key, ...args]);
            const parts = key.split('.');
            const fn = parts.reduce((o, p) => (o == null ? undefined : o[p]), win);
            return typeof fn === 'function' ? fn.apply(parts.slice(0, -1).reduce((o, p) => o[p], win), args) : undefined;
        },
        setInWindow: (key, value, override) => {
            if (!globals[key]?.write) deny(`setInWindow ${key}`);
            record('setInWindow', [key, value, override]);
            if (override || !(key in win)) win[key] = value;
            return true;
        },
        encodeUriComponent: (s) => encodeURIComponent(s),
        makeNumber: (v) => Number(v),
        getType,
        logToConsole: (...args) => {
            if (perms.logging.environments !== 'debug' && perms.logging.environments !== 'all') deny('logToConsole');
            record('logToConsole', args);
        },
    };
    for (const [name, impl] of Object.entries(mocks)) {
        const real = apis[name];
        apis[name] = (...args) => {
            if (real && !['injectScript', 'callInWindow'].includes(name)) return real(...args);
            record(name, args);
            return impl(...args);
        };
    }
    const require = (name) => {
        if (!(name in apis)) throw new Error(`the sandbox has no API ${name}`);
        return apis[name];
    };
    const run = (data) => {
        const d = { ...data, gtmOnSuccess: () => calls.push(['gtmOnSuccess']), gtmOnFailure: () => calls.push(['gtmOnFailure']) };
        vm.runInNewContext(S.SANDBOXED_JS_FOR_WEB_TEMPLATE, { require, data: d });
    };
    return { calls, run, win };
}

const DATA = {
    consentdUrl: 'https://consent.example.com',
    siteId: 'shop',
    waitForUpdate: '500',
    adsDataRedaction: true,
    urlPassthrough: true,
    defaults: [
        { region: 'FR,DE, IT', ...Object.fromEntries(TYPES.map((t) => [t, t === 'security_storage' ? 'granted' : 'denied'])) },
        { region: '', ...Object.fromEntries(TYPES.map((t) => [t, 'granted'])) },
    ],
};

test('the_sections_are_what_the_gallery_reads', () => {
    for (const name of ['TERMS_OF_SERVICE', 'INFO', 'TEMPLATE_PARAMETERS', 'SANDBOXED_JS_FOR_WEB_TEMPLATE', 'WEB_PERMISSIONS', 'TESTS', 'NOTES']) {
        assert.ok(S[name], `section ___${name}___`);
    }
    const info = JSON.parse(S.INFO);
    assert.equal(info.type, 'TAG');
    assert.deepEqual(info.containerContexts, ['WEB']);
    const params = JSON.parse(S.TEMPLATE_PARAMETERS).map((p) => p.name);
    assert.deepEqual(params, ['consentdUrl', 'siteId', 'defaults', 'waitForUpdate', 'adsDataRedaction', 'urlPassthrough']);
    const perms = permissions();
    assert.deepEqual(Object.keys(perms).sort(), ['access_consent', 'access_globals', 'inject_script', 'logging', 'write_data_layer']);
    assert.deepEqual(perms.access_consent.consentTypes.map((t) => t.consentType).sort(), [...TYPES].sort());
    // Every API the code requires is one the sandbox documents.
    const required = [...S.SANDBOXED_JS_FOR_WEB_TEMPLATE.matchAll(/require\('([A-Za-z]+)'\)/g)].map((m) => m[1]).sort();
    assert.deepEqual(required, ['callInWindow', 'encodeUriComponent', 'getType', 'gtagSet', 'injectScript', 'logToConsole', 'makeNumber', 'setDefaultConsentState', 'setInWindow', 'updateConsentState']);
});

test('defaults_per_region_then_the_settings_then_the_banner_then_the_choice_in_that_order', () => {
    let listener;
    const win = { consentd: { consentMode: () => ({ ad_storage: 'granted', analytics_storage: 'denied', other: 'x' }), onChange: (fn) => (listener = fn) } };
    const sb = sandbox({ win });
    sb.run(DATA);
    const names = sb.calls.map((c) => c[0]);
    assert.deepEqual(names, [
        'setDefaultConsentState', 'setDefaultConsentState', 'gtagSet', 'setInWindow', 'injectScript',
        'callInWindow', 'updateConsentState', 'callInWindow', 'gtmOnSuccess',
    ]);
    assert.deepEqual(sb.calls[0][1], { ...DATA.defaults[0], region: ['FR', 'DE', 'IT'], wait_for_update: 500 });
    const general = { ...DATA.defaults[1], wait_for_update: 500 };
    delete general.region;
    assert.deepEqual(sb.calls[1][1], general);
    assert.deepEqual(sb.calls[2][1], { ads_data_redaction: true, url_passthrough: true });
    assert.deepEqual(sb.calls[3].slice(1), ['consentd_gtm', true, true]);
    assert.equal(sb.win.consentd_gtm, true);
    assert.deepEqual(sb.calls[4].slice(1), ['https://consent.example.com/v1/sites/shop/banner.js', 'consentd-banner']);
    assert.deepEqual(sb.calls[6][1], { ad_storage: 'granted', analytics_storage: 'denied' }, 'only Consent Mode types, as the banner says');
    // A change later: the listener the template gave the banner updates again.
    win.consentd.consentMode = () => ({ ad_storage: 'denied', analytics_storage: 'denied' });
    listener({});
    assert.deepEqual(sb.calls.at(-1), ['updateConsentState', { ad_storage: 'denied', analytics_storage: 'denied' }]);
});

test('what_the_permissions_do_not_allow_is_refused_as_tag_manager_would', () => {
    const perms = permissions();
    perms.inject_script.urls = ['https://elsewhere.example/*'];
    assert.throws(() => sandbox({ perms }).run(DATA), /permission denied: injectScript https:\/\/consent\.example\.com/);
    const noWrite = permissions();
    noWrite.access_consent.consentTypes = noWrite.access_consent.consentTypes.filter((t) => t.consentType !== 'ad_storage');
    assert.throws(() => sandbox({ perms: noWrite }).run(DATA), /permission denied: setDefaultConsentState ad_storage/);
});

/* The template's ___TESTS___ section: its setup and scenarios (the YAML
 * subset the gallery uses: "- name:", "code: |-" blocks, "setup: |-"). */
function scenarios() {
    const text = S.TESTS;
    const setup = /^setup: \|-\n((?: {2}.*\n?)*)/m.exec(text)[1].replace(/^ {2}/gm, '');
    const out = [];
    for (const m of text.matchAll(/^- name: (.*)\n {2}code: \|-\n((?: {4}.*\n?)*)/gm)) out.push({ name: m[1], code: m[2].replace(/^ {4}/gm, '') });
    return { setup, scenarios: out };
}

test('the_templates_own_tests_pass_on_the_harness', () => {
    const { setup, scenarios: list } = scenarios();
    assert.equal(list.length, 3);
    for (const sc of list) {
        const mocks = {};
        let sb;
        const api = {
            mock: (name, impl) => (mocks[name] = impl),
            runCode: (data) => {
                sb = sandbox({
                    mocks,
                    inject: (url, ok, fail) => (mocks.injectScript ? mocks.injectScript(url, ok, fail) : ok()),
                    win: {},
                });
                sb.run(data);
            },
            assertApi: (name) => {
                const made = () => sb.calls.filter((c) => c[0] === name);
                return {
                    wasCalled: () => assert.ok(made().length > 0, `${sc.name}: ${name} was not called`),
                    wasNotCalled: () => assert.equal(made().length, 0, `${sc.name}: ${name} was called`),
                    wasCalledWith: (...args) =>
                        assert.ok(
                            made().some((c) => isDeepStrictEqual(c.slice(1), JSON.parse(JSON.stringify(args)))),
                            `${sc.name}: ${name} with ${JSON.stringify(args)}; calls: ${JSON.stringify(made())}`,
                        ),
                };
            },
            assertThat: (x) => ({ isEqualTo: (y) => assert.deepEqual(x, y, sc.name) }),
        };
        vm.runInNewContext(`${setup}\n${sc.code}`, api);
    }
});

// ---- in Chromium, with the real banner ----------------------------------------

let stack;
before(async () => {
    stack = await startBannerStack();
});
after(async () => {
    await stack?.stop();
});

/* A page that runs the template as Tag Manager would (its sandbox APIs on
 * the real window, gtag recording), with no banner tag of its own. */
function gtmPage(consentdUrl, data) {
    const code = S.SANDBOXED_JS_FOR_WEB_TEMPLATE;
    return `<!doctype html><html lang="fr"><head><meta charset="utf-8"><title>GTM page</title>
<script>
window.calls = [];
window.gtag = function () { calls.push(JSON.parse(JSON.stringify([...arguments]))); };
const apis = {
  setDefaultConsentState: (s) => gtag('consent', 'default', s),
  updateConsentState: (s) => gtag('consent', 'update', s),
  gtagSet: (o) => gtag('set', o),
  injectScript: (url, ok, fail) => { const s = document.createElement('script'); s.src = url; s.onload = ok; s.onerror = fail; document.head.appendChild(s); },
  callInWindow: (key, ...args) => { const parts = key.split('.'); let o = window; for (const p of parts.slice(0, -1)) o = o && o[p]; const fn = o && o[parts.at(-1)]; return typeof fn === 'function' ? fn.apply(o, args) : undefined; },
  setInWindow: (k, v) => { window[k] = v; return true; },
  encodeUriComponent: encodeURIComponent,
  makeNumber: Number,
  getType: (v) => v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v,
  logToConsole: (...a) => console.log(...a),
};
const data = Object.assign(${JSON.stringify({ ...data, consentdUrl })}, { gtmOnSuccess: () => calls.push(['gtmOnSuccess']), gtmOnFailure: () => calls.push(['gtmOnFailure']) });
(function (require, data) {
${code}
})((n) => apis[n], data);
</script></head><body><main><h1>GTM page</h1></main></body></html>`;
}

test('in_chromium_the_templates_defaults_are_the_only_ones_and_the_choice_reaches_update', async () => {
    const consentdUrl = stack.bannerUrl.replace(/\/v1\/sites\/demo\/banner\.js$/, '');
    const url = stack.pages.set('/gtm.html', gtmPage(consentdUrl, { ...DATA, siteId: 'demo' }));
    const page = await newPage(stack);
    await page.goto(url);
    await waitOpen(page);
    await waitFor(() => page.evaluate(() => calls.some((c) => c[0] === 'gtmOnSuccess')), { message: 'the tag to succeed' });
    const calls = await page.evaluate(() => calls);
    const defaults = calls.filter((c) => c[0] === 'consent' && c[1] === 'default');
    assert.equal(defaults.length, 2, `the template's two defaults, none from the banner: ${JSON.stringify(defaults)}`);
    assert.deepEqual(defaults[0][2].region, ['FR', 'DE', 'IT']);
    assert.ok(calls.findIndex((c) => c[1] === 'default') < calls.findIndex((c) => c[1] === 'update'), 'defaults before any update');
    // The visitor accepts: the template's update carries the banner's state.
    const cfg = servedConfig((await stack.consentd.request('/v1/sites/demo/banner.js')).text);
    await banner.button(page, 'Tout accepter').click();
    await waitFor(async () => {
        const updates = (await page.evaluate(() => calls)).filter((c) => c[1] === 'update');
        return updates.length > 0 && Object.values(updates.at(-1)[2]).includes('granted');
    }, { message: 'an update with the granted types' });
    const want = {};
    for (const p of cfg.p) for (const t of p.cm || []) want[t] = 'granted';
    const last = (await page.evaluate(() => calls)).filter((c) => c[1] === 'update').at(-1)[2];
    assert.deepEqual(last, want, 'every type the site maps its purposes onto, granted');
    assert.deepEqual(await page.evaluate(() => consentd.consentMode()), want);
    assert.ok(site.purposes.length > 0);
    assert.deepEqual(page.problems, []);
    await page.context().close();
});
