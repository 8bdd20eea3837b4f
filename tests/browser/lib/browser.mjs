// tests/browser/lib/browser.mjs - the real things for the banner tests:
// redis-server + consentd (tests/http/lib/harness.mjs), a tiny loopback page
// server whose origin the test site declares, and Debian's Chromium driven
// by playwright-core (from web/node_modules, never a downloaded browser).
//
// Environment: as the HTTP tests, plus CHROMIUM (default /usr/bin/chromium).
import crypto from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Consentd, Redis, SOURCE_DIR, deepMerge, freePort, shippedSite, waitFor } from '../../http/lib/harness.mjs';

const require = createRequire(path.join(SOURCE_DIR, 'web', 'package.json'));
const { chromium } = require('playwright-core');
export const AXE_PATH = require.resolve('axe-core/axe.min.js');
export const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
export const SCREENSHOT_DIR = path.join(SOURCE_DIR, 'tests', 'browser', 'screenshots');
export const DEMO_KEY = 'demo-key-change-me';

export const site = shippedSite('demo');
const byBasis = (basis) => site.purposes.filter((p) => p.legal_basis === basis).map((p) => p.id);
export const CONSENT = byBasis('consent');
export const LEGIT = byBasis('legitimate_interest');
export const NECESSARY = byBasis('necessary');

// ---- banner variants -----------------------------------------------------------

/* The variant consentd's rule gives a visitor (written here again from the
 * spec, not taken from the banner): FNV-1a 32 of the id's UTF-8 bytes modulo
 * the sum of the weights, walked in declared order. */
export function variantOf(visitor, variants = site.variants || []) {
    let h = 2166136261;
    for (const byte of Buffer.from(visitor, 'utf8')) h = Math.imul(h ^ byte, 16777619) >>> 0;
    let r = h % variants.reduce((sum, v) => sum + v.weight, 0);
    for (const v of variants) {
        if (r < v.weight) return v.id;
        r -= v.weight;
    }
    return undefined;
}

/* A visitor id, as the banner makes them, that the rule assigns to variant. */
export function visitorFor(variant, variants = site.variants || []) {
    for (;;) {
        const id = crypto.randomBytes(16).toString('base64url');
        if (variantOf(id, variants) === variant) return id;
    }
}

// ---- the page server ---------------------------------------------------------

/* Serves what a test puts in it: pages.set('/x.html', {body, headers, delayMs}).
 * Every request is noted in pages.requests (path, method, at). */
export class PageServer {
    static async start() {
        const s = new PageServer();
        await new Promise((resolve) => s.server.listen(0, '127.0.0.1', resolve));
        s.port = s.server.address().port;
        return s;
    }

    constructor() {
        this.files = new Map();
        this.requests = [];
        this.server = http.createServer((req, res) => {
            const url = new URL(req.url, 'http://x');
            this.requests.push({ path: url.pathname, method: req.method, at: Date.now() });
            const file = this.files.get(url.pathname);
            if (!file) {
                res.writeHead(404, { 'content-type': 'text/plain' });
                res.end('not found');
                return;
            }
            const type = url.pathname.endsWith('.js') ? 'application/javascript' : 'text/html; charset=utf-8';
            setTimeout(() => {
                res.writeHead(200, { 'content-type': type, 'cache-control': 'no-store', ...file.headers });
                res.end(file.body);
            }, file.delayMs || 0);
        });
    }

    get origin() {
        return `http://127.0.0.1:${this.port}`;
    }

    set(pathname, file) {
        this.files.set(pathname, typeof file === 'string' ? { body: file } : file);
        return `${this.origin}${pathname}`;
    }

    requested(pathname) {
        return this.requests.filter((r) => r.path === pathname);
    }

    stop() {
        this.server.closeAllConnections();
        return new Promise((resolve) => this.server.close(resolve));
    }
}

// ---- the stack ---------------------------------------------------------------

/* The demo site as the browser tests use it: the shipped one, whose origins
 * also declare the page server's and consentd's own (for /demo/). */
export function testSite(origins, over = {}) {
    return deepMerge({ ...site, origins: [...new Set([...(site.origins || []), ...origins])] }, over);
}

/* redis-server, consentd (on a port known before it starts, so that the
 * site can declare its origin), the page server and Chromium. siteOver:
 * merged over the test site (or a function of the page server that returns
 * it); browserArgs: more Chromium flags; config: merged over consentd's
 * configuration (e.g. tcf.gvl_dir). The test file stops it in its
 * after() hook. */
export async function startBannerStack({ siteOver = {}, browserArgs = [], config = {} } = {}) {
    if (!fs.existsSync(CHROMIUM)) {
        throw new Error(`Chromium not found at ${CHROMIUM}: apt-get install chromium (ops/test.sh installs it), or set CHROMIUM`);
    }
    const pages = await PageServer.start();
    const redis = await Redis.start();
    const consentd = new Consentd({ redis, config });
    consentd.port = await freePort();
    const over = typeof siteOver === 'function' ? siteOver(pages) : siteOver;
    consentd.sites = { 'demo.json': testSite([pages.origin, `http://127.0.0.1:${consentd.port}`], over) };
    const browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
            '--disable-background-networking', '--disable-component-update', '--disable-sync', ...browserArgs],
    });
    const stack = {
        pages,
        redis,
        consentd,
        browser,
        bannerUrl: `http://127.0.0.1:${consentd.port}/v1/sites/demo/banner.js`,
        async stop() {
            await browser.close().catch(() => {});
            await pages.stop();
            try {
                await consentd.stop();
            } finally {
                await redis.stop();
            }
        },
    };
    try {
        await consentd.start();
    } catch (error) {
        await stack.stop().catch(() => {});
        throw error;
    }
    return stack;
}

/* Rewrite the test site (deep-merged over what it is now) and reload consentd. */
export async function updateSite(stack, over) {
    const next = deepMerge(stack.consentd.sites['demo.json'], over);
    stack.consentd.sites['demo.json'] = next;
    stack.consentd.writeSite('demo.json', next);
    stack.consentd.signal('SIGHUP');
    await waitFor(async () => (await stack.consentd.request('/v1/sites/demo/banner.js')).text.includes(JSON.stringify(next.policy_version)), {
        timeoutMs: 10000,
        message: 'the reloaded banner',
    });
}

// ---- pages -------------------------------------------------------------------

/* A page of the page server embedding the banner. */
export function bannerPage(stack, { lang = 'fr', head = '', body = '', scriptAttrs = '' } = {}) {
    return `<!doctype html>
<html lang="${lang}">
<head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Test page</title>
${head}
<script src="${stack.bannerUrl}" async ${scriptAttrs}></script>
</head>
<body><main><h1>Test page</h1><p id="content">Page content.</p>${body}</main></body>
</html>`;
}

/* A fresh context (no cookie, no cache) and page; page errors and CSP
 * violations are collected in page.problems. variant: the banner variant
 * the visitor gets (the page starts with a visitor id in sessionStorage
 * that the rule assigns to it), else the banner makes a random id. */
export async function newPage(stack, { viewport = { width: 1280, height: 800 }, locale = 'fr-FR', init, storageState, variant } = {}) {
    const context = await stack.browser.newContext({ viewport, locale, storageState });
    if (init) await context.addInitScript(init);
    if (variant) {
        const visitor = visitorFor(variant, stack.consentd.sites['demo.json'].variants);
        await context.addInitScript((id) => sessionStorage.setItem('consentd', id), visitor);
        context.visitor = visitor;
    }
    await context.addInitScript(() => {
        window.__violations = [];
        document.addEventListener('securitypolicyviolation', (e) => window.__violations.push(`${e.violatedDirective} ${e.blockedURI}`));
    });
    const page = await context.newPage();
    page.problems = [];
    page.on('pageerror', (e) => page.problems.push(`pageerror: ${e.message}`));
    return page;
}

/* Locators inside the banner's (open) shadow root. */
export const banner = {
    dialog: (page) => page.locator('consentd-ui dialog'),
    button: (page, name) => page.locator('consentd-ui dialog').getByRole('button', { name, exact: true }),
    manage: (page) => page.locator('consentd-ui button.m'),
    switchOf: (page, purposeName) => page.locator('consentd-ui dialog').getByRole('switch', { name: purposeName }),
};

export async function waitOpen(page) {
    await page.locator('consentd-ui dialog[open]').waitFor({ state: 'visible', timeout: 10000 });
}

export async function isOpen(page) {
    return page.evaluate(() => !!document.querySelector('consentd-ui')?.shadowRoot.querySelector('dialog')?.open);
}

/* The "consentd" cookie, parsed, or null. */
export async function choiceCookie(page) {
    const cookies = await page.context().cookies();
    const c = cookies.find((k) => k.name === 'consentd');
    return c ? { ...JSON.parse(decodeURIComponent(c.value)), cookie: c } : null;
}

/* Wait until consentd has recorded the choice (the cookie carries the proof). */
export function waitRecorded(page, { timeoutMs = 10000 } = {}) {
    return waitFor(async () => {
        const c = await choiceCookie(page);
        return c && c.p && !c.q ? c : null;
    }, { timeoutMs, message: 'the choice to be recorded (cookie with a proof)' });
}

/* The settings object inlined in a banner.js body. */
export function servedConfig(text) {
    const at = text.lastIndexOf('})(');
    return JSON.parse(text.slice(at + 3, text.lastIndexOf(');')));
}

/* Purpose name in lang, as the banner shows it. */
export function purposeName(id, lang = 'fr') {
    const p = site.purposes.find((x) => x.id === id);
    const texts = p.texts;
    if (Array.isArray(texts)) return (texts.find((t) => t.lang === lang) || texts[0]).name;
    return (texts[lang] || Object.values(texts)[0]).name;
}

/* Keep a screenshot (options: page.screenshot()'s, e.g. fullPage): in the
 * build's output always; under tests/browser/screenshots/ when it is new
 * there or CONSENTD_UPDATE_SCREENSHOTS=1. */
export async function screenshot(page, name, options = {}) {
    const png = await page.screenshot(options);
    const ref = path.join(SCREENSHOT_DIR, `${name}.png`);
    if (!fs.existsSync(ref) || process.env.CONSENTD_UPDATE_SCREENSHOTS === '1') fs.writeFileSync(ref, png);
    return png;
}
