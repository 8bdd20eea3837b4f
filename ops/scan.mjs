#!/usr/bin/env node
// ops/scan.mjs - consentd-scan: does this site really wait for consent?
// Visits the given pages (and same-site links, to --depth and --max-pages)
// in Debian's Chromium, driven by playwright-core from web/node_modules
// (`cd web && npm ci`; never a downloaded browser), each state in a fresh
// profile: before any choice, after "refuse all", after "accept all" (both
// clicked on the real banner, in its shadow root) and after a withdrawal
// (consentd.show(), every switch off, save). In each state it records the
// cookies (name, domain, expiry, first- or third-party, set by an HTTP
// response or by a script, and which URL), the localStorage, sessionStorage
// and IndexedDB keys, and every third-party request (host, resource type).
//
// Judgement (docs/scanner.md): against the site's purposes, read from
// --site-file or else from the settings inlined in the banner.js the page
// loads (public; a read-only API key does not exist yet). Violations:
// anything not declared by a necessary purpose before a choice, after the
// refusal or after the withdrawal (written again since), a request to a
// known tracker host then; a missing banner; a refuse button missing from
// the first layer, smaller than accept or not beside it. Undeclared: seen
// after acceptance, declared by no purpose (with a proposed purpose from the
// Open Cookie Database, ops/scan/). Leftover: set before the withdrawal and
// still there. Stale: declared, never seen. Notice: another site's request
// before a choice or after a refusal, unknown to the database.
//
// Threads and ownership: one node process, one Chromium it launches and
// closes; each state is its own browser context (profile), closed after it.
// The scanner only reads the site: its clicks record real choices in
// consentd (a scan adds four visitors' choices to the site's statistics).
//
// Output: report.json and report.html (self-contained) in --out; exit 0
// when clean, 1 on a violation (or an undeclared cookie with
// --fail-on-undeclared), 2 on a usage or run error. --propose FILE writes the
// declarations it would add: a JSON Patch (RFC 6902) of the site file.
// --post URL (the site's /v1/sites/<site>/scans) sends consentd a summary
// of the report (scanSummary: verdict, counts, the first findings) with the
// site's API key (--key, else $CONSENTD_API_KEY); the dashboard shows the
// newest. A summary consentd refuses, or cannot be reached for, exits 2.
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.dirname(HERE);
const USAGE = `usage: node ops/scan.mjs [options] URL...
  --site-file FILE        judge against this site file (default: the settings of the banner.js the page loads)
  --depth N               follow same-site links this deep (default 1)
  --max-pages N           visit at most N pages (default 10)
  --out DIR               write report.json and report.html there (default scan-report)
  --propose FILE          write the declarations to add, a JSON Patch of the site file
  --fail-on-undeclared    exit 1 on an undeclared cookie or storage key too
  --chromium PATH         the browser (default $CHROMIUM or /usr/bin/chromium)
  --browser-arg ARG       one more Chromium flag (repeatable), e.g. --host-resolver-rules=...
  --settle-ms N           wait after each page's load (default 800)
  --post URL              send the summary to consentd: https://HOST/v1/sites/SITE/scans
  --key KEY               the site's API key for --post (default $CONSENTD_API_KEY)`;

export const STATES = ['before', 'refused', 'accepted', 'withdrawn'];
const STATE_TITLES = {
    before: 'Before any choice',
    refused: 'After “refuse all”',
    accepted: 'After “accept all”',
    withdrawn: 'After a withdrawal',
};
const OWN_COOKIE = 'consentd'; // the choice cookie (web/banner/choice.js)
const OWN_STORAGE = 'consentd'; // the visitor id in sessionStorage (web/banner/main.js)

// ---- arguments ------------------------------------------------------------------

export function parseArgs(argv, env = process.env) {
    const o = { urls: [], depth: 1, maxPages: 10, out: 'scan-report', browserArgs: [], settleMs: 800, failOnUndeclared: false };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const value = () => {
            if (i + 1 >= argv.length) throw new Error(`${a}: needs a value`);
            return argv[++i];
        };
        const int = () => {
            const v = value();
            if (!/^\d+$/.test(v)) throw new Error(`${a}: must be a whole number, not ${JSON.stringify(v)}`);
            return Number(v);
        };
        if (a === '--site-file') o.siteFile = value();
        else if (a === '--depth') o.depth = int();
        else if (a === '--max-pages') o.maxPages = Math.max(1, int());
        else if (a === '--out') o.out = value();
        else if (a === '--propose') o.propose = value();
        else if (a === '--fail-on-undeclared') o.failOnUndeclared = true;
        else if (a === '--chromium') o.chromium = value();
        else if (a === '--browser-arg') o.browserArgs.push(value());
        else if (a === '--settle-ms') o.settleMs = int();
        else if (a === '--post') o.post = value();
        else if (a === '--key') o.key = value();
        else if (a === '-h' || a === '--help') o.help = true;
        else if (a.startsWith('-')) throw new Error(`${a}: unknown option`);
        else {
            let u;
            try {
                u = new URL(a);
            } catch {
                throw new Error(`${a}: not a URL`);
            }
            if (!/^https?:$/.test(u.protocol)) throw new Error(`${a}: not an http(s) URL`);
            o.urls.push(u.href);
        }
    }
    if (!o.help && !o.urls.length) throw new Error('no URL given');
    if (o.post !== undefined) {
        let u;
        try {
            u = new URL(o.post);
        } catch {
            throw new Error(`--post: not a URL: ${o.post}`);
        }
        if (!/^https?:$/.test(u.protocol) || !/^\/v1\/sites\/[^/]+\/scans$/.test(u.pathname))
            throw new Error(`--post: must be http(s)://HOST/v1/sites/SITE/scans, not ${o.post}`);
        o.key = o.key ?? env.CONSENTD_API_KEY;
        if (!o.key) throw new Error('--post: needs --key KEY or $CONSENTD_API_KEY');
    } else if (o.key !== undefined) throw new Error('--key: only with --post');
    return o;
}

// ---- the tracker database (Open Cookie Database, ops/scan/README.md) ------------

/* RFC 4180 rows: quoted fields may hold commas, quotes ("") and newlines. */
export function parseCsv(text) {
    const rows = [];
    let row = [],
        field = '',
        quoted = false;
    for (let i = 0; i < text.length; i++) {
        const c = text[i];
        if (quoted) {
            if (c === '"' && text[i + 1] === '"') ((field += '"'), i++);
            else if (c === '"') quoted = false;
            else field += c;
        } else if (c === '"') quoted = true;
        else if (c === ',') (row.push(field), (field = ''));
        else if (c === '\n' || c === '\r') {
            if (c === '\r' && text[i + 1] === '\n') i++;
            (row.push(field), rows.push(row), (row = []), (field = ''));
        } else field += c;
    }
    if (field || row.length) (row.push(field), rows.push(row));
    return rows;
}

export function loadTrackers(file = path.join(HERE, 'scan', 'open-cookie-database.csv')) {
    const [head, ...rows] = parseCsv(fs.readFileSync(file, 'utf8'));
    const col = (name) => head.indexOf(name);
    const [platform, category, key, domain, controller, wildcard] = [
        'Platform',
        'Category',
        'Cookie / Data Key name',
        'Domain',
        'Data Controller',
        'Wildcard match',
    ].map(col);
    const exact = new Map(),
        prefixes = [],
        hosts = [];
    for (const r of rows) {
        if (r.length < head.length) continue;
        const entry = { vendor: r[platform], controller: r[controller], category: r[category] };
        const name = r[key].trim();
        if (name) {
            if (r[wildcard] === '1') prefixes.push([name, entry]);
            else if (!exact.has(name)) exact.set(name, entry);
        }
        for (const d of r[domain].split(/[\s,]+/)) {
            const host = d.replace(/^\*?\./, '').toLowerCase();
            if (/^[a-z0-9.-]+\.[a-z]+$/.test(host) && !host.startsWith('(')) hosts.push([host, entry]);
        }
    }
    prefixes.sort((a, b) => b[0].length - a[0].length);
    return {
        byName(name) {
            return exact.get(name) || prefixes.find(([p]) => name.startsWith(p))?.[1] || null;
        },
        byHost(host) {
            const h = host.toLowerCase();
            return hosts.find(([d]) => h === d || h.endsWith('.' + d))?.[1] || null;
        },
    };
}

// ---- the site's purposes -------------------------------------------------------

/* Purposes from a site file: [{id, basis, cookies: [{name, domain}], storage: [key], cm}]. */
export function purposesFromSite(site) {
    return (site.purposes || []).map((p) => ({
        id: p.id,
        basis: p.legal_basis,
        cookies: (p.cookies || []).map((c) => ({ name: c.name, domain: c.domain || null })),
        storage: p.storage || [],
        cm: p.consent_mode || [],
    }));
}

/* Purposes from a banner.js body: the settings object after the last "})(" (src/banner_build.c).
 * Declared cookies ("ck") and storage keys ("st") are there only when the site declares some. */
export function purposesFromBanner(text) {
    const at = text.lastIndexOf('})(');
    const cfg = JSON.parse(text.slice(at + 3, text.lastIndexOf(')')));
    return {
        cfg,
        purposes: cfg.p.map((p) => ({
            id: p.id,
            basis: p.b,
            cookies: (p.ck || []).map(([name, domain]) => ({ name, domain: domain || null })),
            storage: p.st || [],
            cm: p.cm || [],
        })),
    };
}

/* A declared name, with its trailing-* wildcard (docs/configuration.md). */
const nameMatches = (pattern, name) => (pattern.endsWith('*') ? name.startsWith(pattern.slice(0, -1)) : pattern === name);
const domainMatches = (declared, domain) =>
    !declared || domain.replace(/^\./, '') === declared || domain.replace(/^\./, '').endsWith('.' + declared);

export function declaredBy(purposes, kind, name, domain = '') {
    return purposes.filter((p) =>
        kind === 'cookie'
            ? p.cookies.some((c) => nameMatches(c.name, name) && domainMatches(c.domain, domain))
            : p.storage.some((k) => nameMatches(k, name)),
    );
}

/* The purpose a tracker of category most likely belongs to: by Consent Mode type, then by id. */
export function proposePurpose(purposes, category) {
    const by = {
        Analytics: [['analytics_storage'], /audience|analytic|statist|measure/],
        Marketing: [['ad_storage', 'ad_user_data', 'ad_personalization'], /advert|marketing|ads|pub/],
        Personalization: [['personalization_storage'], /personal/],
        Functional: [['functionality_storage'], /necessary|functional/],
        Necessary: [['functionality_storage', 'security_storage'], /necessary/],
        Security: [['security_storage'], /necessary|security/],
    }[category];
    if (!by) return null;
    const [cms, re] = by;
    const hit = purposes.find((p) => p.cm.some((t) => cms.includes(t))) || purposes.find((p) => re.test(p.id));
    return hit ? hit.id : null;
}

// ---- hosts -----------------------------------------------------------------------

/* The site of a host (an approximation of the registrable domain: the last two
 * labels, three under a two-letter country code's "co."/"com." etc.; no public
 * suffix list). IP addresses are their own site. */
export function siteOf(host) {
    const h = host.replace(/^\./, '').toLowerCase();
    if (/^[\d.]+$/.test(h) || h.includes(':')) return h;
    const labels = h.split('.');
    const n = labels.length >= 3 && labels.at(-1).length === 2 && /^(co|com|org|net|ac|gov|edu)$/.test(labels.at(-2)) ? 3 : 2;
    return labels.slice(-n).join('.');
}

// ---- the browser -----------------------------------------------------------------

/* Runs in every page before its scripts: notes each document.cookie write
 * with the URL of the script that made it (from a stack trace). */
function cookieWatch() {
    const d = Object.getOwnPropertyDescriptor(Document.prototype, 'cookie');
    Object.defineProperty(Document.prototype, 'cookie', {
        configurable: true,
        enumerable: d.enumerable,
        get() {
            return d.get.call(this);
        },
        set(v) {
            try {
                const urls = (new Error().stack || '').match(/https?:\/\/[^\s)]+/g) || [];
                const script = urls.map((u) => u.replace(/:\d+:\d+$/, '').replace(/:\d+$/, ''))[0] || location.href;
                window.__consentdScanCookie?.(String(v), script);
            } catch {
                /* never break the page */
            }
            d.set.call(this, v);
        },
    });
}

const cookieName = (line) => line.split(';')[0].split('=')[0].trim();
/* A write that deletes (expires at once) is no write. */
const deletes = (line) =>
    /;\s*max-age\s*=\s*(0|-)/i.test(line) ||
    (/;\s*expires\s*=\s*([^;]+)/i.test(line) && Date.parse(line.match(/;\s*expires\s*=\s*([^;]+)/i)[1]) <= Date.now());

class Recorder {
    constructor(state, firstSite) {
        this.state = state;
        this.firstSite = firstSite;
        this.setters = new Map(); // cookie name -> {by: 'http'|'script', url}
        this.requests = new Map(); // host|type -> {host, type, count, url, page}
        this.storage = { localStorage: new Set(), sessionStorage: new Set(), indexedDB: new Set() };
        this.pages = [];
        this.cookies = new Map(); // name|domain -> the cookie as last seen: every one seen in the state
        this.written = new Map(); // name -> the cookie as written (by HTTP or script) since mark()
    }

    /* From now on: the writes before a click belong to the state before it. */
    mark() {
        this.written.clear();
    }

    /* A write of a cookie (a Set-Cookie line or a document.cookie string) by url, on host. */
    write(line, by, url, host) {
        const name = cookieName(line);
        if (!name || deletes(line)) return;
        const attr = (a) => line.match(new RegExp(`;\\s*${a}\\s*=\\s*([^;]*)`, 'i'))?.[1].trim();
        const maxAge = attr('max-age'),
            expires = attr('expires');
        const at = maxAge ? Date.now() + Number(maxAge) * 1000 : expires ? Date.parse(expires) : NaN;
        this.setters.set(name, { by, url });
        this.written.set(name, { name, domain: attr('domain') || host, expires: at / 1000 || -1, httpOnly: /;\s*httponly/i.test(line) });
    }

    async attach(context) {
        await context.exposeBinding('__consentdScanCookie', (src, line, url) => {
            let host = '';
            try {
                host = new URL(src.frame.url()).hostname;
            } catch {
                /* no frame */
            }
            this.write(line, 'script', url, host);
        });
        await context.addInitScript(cookieWatch);
        context.on('request', (req) => {
            let u;
            try {
                u = new URL(req.url());
            } catch {
                return;
            }
            if (!/^https?:$/.test(u.protocol) || siteOf(u.hostname) === this.firstSite) return;
            const k = `${u.hostname}|${req.resourceType()}`;
            const r = this.requests.get(k) || { host: u.hostname, type: req.resourceType(), count: 0, url: req.url() };
            r.count++;
            this.requests.set(k, r);
        });
        context.on('response', async (res) => {
            try {
                for (const h of await res.headersArray()) {
                    if (h.name.toLowerCase() === 'set-cookie') {
                        for (const line of h.value.split('\n')) this.write(line, 'http', res.url(), new URL(res.url()).hostname);
                    }
                }
            } catch {
                /* the response went away */
            }
        });
    }

    async snapshot(page) {
        const s = await page
            .evaluate(async () => {
                const keys = (st) => {
                    try {
                        return Object.keys(st);
                    } catch {
                        return [];
                    }
                };
                let dbs = [];
                try {
                    dbs = (await indexedDB.databases()).map((d) => d.name);
                } catch {
                    /* none */
                }
                return { localStorage: keys(localStorage), sessionStorage: keys(sessionStorage), indexedDB: dbs };
            })
            .catch(() => ({ localStorage: [], sessionStorage: [], indexedDB: [] }));
        for (const k of Object.keys(this.storage)) for (const n of s[k]) this.storage[k].add(n);
        for (const c of await page.context().cookies()) this.cookies.set(`${c.name}|${c.domain}`, c);
    }

    async result(context) {
        for (const c of await context.cookies()) this.cookies.set(`${c.name}|${c.domain}`, c);
        // Written but gone (deleted, by the banner's clean-up say) before any look: still set.
        const names = new Set([...this.cookies.values()].map((c) => c.name));
        const gone = [...this.written.values()].filter((c) => !names.has(c.name)).map((c) => ({ ...c, deleted: true }));
        const cookies = [...this.cookies.values(), ...gone].map((c) => {
            const set = this.setters.get(c.name);
            return {
                name: c.name,
                domain: c.domain,
                expires: c.expires > 0 ? new Date(c.expires * 1000).toISOString() : 'session',
                party: siteOf(c.domain) === this.firstSite ? 'first' : 'third',
                by: set ? set.by : 'unknown',
                url: set ? set.url : null,
                httpOnly: c.httpOnly,
                written: this.written.has(c.name),
                ...(c.deleted ? { deleted: true } : {}),
            };
        });
        return {
            cookies,
            storage: Object.fromEntries(Object.entries(this.storage).map(([k, v]) => [k, [...v].sort()])),
            requests: [...this.requests.values()].sort((a, b) => a.host.localeCompare(b.host) || a.type.localeCompare(b.type)),
            pages: this.pages,
        };
    }
}

/* The banner's buttons, found by their texts in any language the banner has. */
function buttonTexts(cfg) {
    const all = { accept: new Set(), refuse: new Set(), save: new Set() };
    const add = (ui) => {
        for (const k of Object.keys(all)) if (ui?.[k]) all[k].add(ui[k].trim());
    };
    for (const ui of Object.values(JSON.parse(fs.readFileSync(path.join(ROOT, 'web', 'banner', 'texts.json'), 'utf8')))) add(ui);
    for (const ui of Object.values(cfg?.ui || {})) add(ui);
    return Object.fromEntries(Object.entries(all).map(([k, v]) => [k, [...v]]));
}

/* Where the banner's first layer is: {shown, accept, refuse: {visible, w, h, parent}} */
async function bannerLayout(page, texts, timeoutMs) {
    const shown = await page
        .waitForFunction(() => !!document.querySelector('consentd-ui')?.shadowRoot?.querySelector('dialog[open]'), null, {
            timeout: timeoutMs,
        })
        .then(() => true)
        .catch(() => false);
    if (!shown) return { shown: false };
    return page.evaluate((texts) => {
        const dialog = document.querySelector('consentd-ui').shadowRoot.querySelector('dialog[open]');
        const find = (names) => {
            const b = [...dialog.querySelectorAll('button')].find((el) => names.includes(el.textContent.trim()));
            if (!b) return null;
            const r = b.getBoundingClientRect();
            const st = getComputedStyle(b);
            const visible = r.width > 0 && r.height > 0 && st.visibility !== 'hidden' && st.display !== 'none' && !b.closest('[hidden]');
            b.dataset.scan = names === texts.accept ? 'accept' : 'refuse';
            return {
                visible,
                w: Math.round(r.width),
                h: Math.round(r.height),
                text: b.textContent.trim(),
                parentIsSame: null,
                parent: b.parentElement,
            };
        };
        const accept = find(texts.accept);
        const refuse = find(texts.refuse);
        const same = !!(accept && refuse && accept.parent === refuse.parent);
        for (const b of [accept, refuse]) if (b) ((b.parentIsSame = same), delete b.parent);
        return { shown: true, accept, refuse };
    }, texts);
}

const clickScan = (page, which) => page.locator(`consentd-ui dialog [data-scan="${which}"]`).click({ timeout: 5000 });

async function waitChoice(page) {
    await page
        .waitForFunction(
            () => {
                const m = document.cookie.match(/(?:^|; )consentd=([^;]*)/);
                if (!m) return false;
                try {
                    const c = JSON.parse(decodeURIComponent(m[1]));
                    return !!c.p && !c.q;
                } catch {
                    return true;
                }
            },
            null,
            { timeout: 10000 },
        )
        .catch(() => {});
}

async function settle(page, ms) {
    await page.waitForLoadState('networkidle', { timeout: 5000 }).catch(() => {});
    await page.waitForTimeout(ms);
}

async function visit(page, url, rec, o) {
    try {
        await page.goto(url, { waitUntil: 'load', timeout: 30000 });
        await settle(page, o.settleMs);
        rec.pages.push(url);
    } catch (e) {
        rec.pages.push(url);
        (rec.errors ||= []).push(`${url}: ${e.message.split('\n')[0]}`);
    }
}

async function links(page, firstSite) {
    const hrefs = await page.evaluate(() => [...document.querySelectorAll('a[href]')].map((a) => a.href)).catch(() => []);
    return hrefs
        .map((h) => {
            try {
                const u = new URL(h);
                u.hash = '';
                return u;
            } catch {
                return null;
            }
        })
        .filter((u) => u && /^https?:$/.test(u.protocol) && siteOf(u.hostname) === firstSite)
        .map((u) => u.href);
}

async function screenshot(page) {
    const png = await page.screenshot({ type: 'png' }).catch(() => null);
    return png ? `data:image/png;base64,${png.toString('base64')}` : null;
}

/* One state in a fresh profile. Returns {result, layout?, screenshot, notes}. The
 * cookies and keys of a state are all those seen after each page of it (and after
 * the choice): one that a page deletes later was still set. */
async function runState(browser, state, pages, o, texts) {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    const rec = new Recorder(state, siteOf(new URL(pages[0]).hostname));
    await rec.attach(context);
    const page = await context.newPage();
    const out = { notes: [] };
    try {
        if (state === 'before') {
            for (const url of pages) (await visit(page, url, rec, o), await rec.snapshot(page));
            await page.goto(pages[0], { waitUntil: 'load' }).catch(() => {});
            out.layout = await bannerLayout(page, texts, 5000);
            out.screenshot = await screenshot(page);
        } else {
            await visit(page, pages[0], rec, o);
            const layout = await bannerLayout(page, texts, 5000);
            const which = state === 'refused' ? 'refuse' : 'accept';
            if (!layout.shown || !layout[which]?.visible) {
                out.notes.push(`the banner's “${which}” button could not be clicked: state not reached`);
                out.unreached = true;
            } else {
                rec.mark();
                await clickScan(page, which);
                await waitChoice(page);
                await settle(page, o.settleMs);
                if (state === 'withdrawn') (rec.mark(), await withdraw(page, texts, o, out));
                else out.screenshot = await screenshot(page);
                await rec.snapshot(page);
                for (const url of pages) (await visit(page, url, rec, o), await rec.snapshot(page));
                out.decisions = await page.evaluate(() => window.consentd?.getAll?.() ?? null).catch(() => null);
            }
        }
        out.result = await rec.result(context);
        if (rec.errors) out.notes.push(...rec.errors);
    } finally {
        await context.close();
    }
    return out;
}

/* consentd.show(), every switch that can be off off, save. */
async function withdraw(page, texts, o, out) {
    try {
        await page.evaluate(() => window.consentd.show());
        const dialog = page.locator('consentd-ui dialog[open]');
        await dialog.waitFor({ timeout: 5000 });
        for (const sw of await dialog.getByRole('switch').all()) if ((await sw.isEnabled()) && (await sw.isChecked())) await sw.click();
        out.screenshot = await screenshot(page);
        const before = await page.evaluate(() => document.cookie.match(/(?:^|; )consentd=([^;]*)/)?.[1]);
        await dialog
            .getByRole('button', { name: new RegExp(`^(${texts.save.map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|')})$`) })
            .click();
        await page
            .waitForFunction((b) => document.cookie.match(/(?:^|; )consentd=([^;]*)/)?.[1] !== b, before, { timeout: 10000 })
            .catch(() => {});
        await waitChoice(page);
        await settle(page, o.settleMs);
    } catch (e) {
        out.notes.push(`the withdrawal could not be made: ${e.message.split('\n')[0]}`);
        out.unreached = true;
    }
}

// ---- judgement ---------------------------------------------------------------------

export function judge({ states, bannerHost, layout, purposes, trackers, configSource }) {
    const findings = [];
    const necessary = purposes.filter((p) => p.basis === 'necessary');
    const necessaryIds = new Set(necessary.map((p) => p.id));
    const add = (f) => findings.push(f);
    const known = (name, host) => (name ? trackers.byName(name) : null) || (host ? trackers.byHost(host) : null);

    if (!layout?.shown) {
        add({
            level: 'violation',
            state: 'before',
            kind: 'banner',
            name: 'banner',
            reason: 'no consentd banner appeared on the first page',
        });
    } else if (!layout.refuse) {
        add({
            level: 'violation',
            state: 'before',
            kind: 'banner',
            name: 'refuse',
            reason: 'the banner has no “refuse all” button in its first layer',
        });
    } else {
        const a = layout.accept,
            r = layout.refuse;
        if (!r.visible)
            add({
                level: 'violation',
                state: 'before',
                kind: 'banner',
                name: 'refuse',
                reason: 'the “refuse all” button is not visible in the first layer',
            });
        else if (a && (r.w * r.h < 0.8 * a.w * a.h || !r.parentIsSame)) {
            add({
                level: 'violation',
                state: 'before',
                kind: 'banner',
                name: 'refuse',
                reason: `“refuse all” is harder to reach than “accept all” (${r.w}×${r.h} px against ${a.w}×${a.h} px${r.parentIsSame ? '' : ', not beside it'})`,
            });
        }
    }
    if (configSource.startsWith('none')) {
        add({
            level: 'violation',
            state: 'before',
            kind: 'config',
            name: 'purposes',
            reason: `no purposes (${configSource}; no banner.js on the page and no --site-file?): nothing is declared, so nothing but consentd’s own is allowed`,
        });
    }

    const seen = { cookie: new Set(), storage: new Set() };
    for (const [state, s] of Object.entries(states)) {
        if (!s?.result) continue;
        const strict = state !== 'accepted';
        for (const c of s.result.cookies) {
            seen.cookie.add(`${c.name}|${c.domain}`);
            if (c.name === OWN_COOKIE) continue;
            const by = declaredBy(purposes, 'cookie', c.name, c.domain);
            const t = known(c.name, c.domain.replace(/^\./, ''));
            const where = { state, kind: 'cookie', name: c.name, domain: c.domain, by: c.by, url: c.url, tracker: t };
            if (state === 'withdrawn' && !c.written && !by.some((p) => necessaryIds.has(p.id))) {
                // Set before the withdrawal, never written since: still on the device.
                add({
                    level: 'leftover',
                    ...where,
                    reason: `set before the withdrawal and still there${by.length ? '' : ': declare it, and the banner deletes it'}`,
                });
            } else if (strict && !by.some((p) => necessaryIds.has(p.id))) {
                add({
                    level: 'violation',
                    ...where,
                    reason: `${by.length ? `declared for ${by.map((p) => p.id).join(', ')}, not necessary` : 'not declared by a necessary purpose'}: set ${STATE_TITLES[state].toLowerCase()}${c.deleted ? ' (deleted later)' : ''}`,
                });
            } else if (!strict && !by.length) {
                add({ level: 'undeclared', ...where, reason: 'declared by no purpose', propose: proposePurpose(purposes, t?.category) });
            }
        }
        for (const [area, keys] of Object.entries(s.result.storage)) {
            for (const k of keys) {
                seen.storage.add(k);
                if (area === 'sessionStorage' && k === OWN_STORAGE) continue;
                const by = declaredBy(purposes, 'storage', k);
                const t = known(k);
                const where = { state, kind: area, name: k, tracker: t };
                if (strict && !by.some((p) => necessaryIds.has(p.id)))
                    add({
                        level: 'violation',
                        ...where,
                        reason: `not declared by a necessary purpose: present ${STATE_TITLES[state].toLowerCase()}`,
                    });
                else if (!strict && !by.length)
                    add({
                        level: 'undeclared',
                        ...where,
                        reason: 'declared by no purpose',
                        propose: proposePurpose(purposes, t?.category),
                    });
            }
        }
        for (const r of s.result.requests) {
            if (r.host === bannerHost) continue;
            const t = known(null, r.host);
            if (strict && t && !['Functional', 'Necessary', 'Security'].includes(t.category)) {
                add({
                    level: 'violation',
                    state,
                    kind: 'request',
                    name: r.host,
                    type: r.type,
                    url: r.url,
                    tracker: t,
                    reason: `request to a known ${t.category.toLowerCase()} host (${t.vendor}) ${STATE_TITLES[state].toLowerCase()}`,
                });
            } else if (strict) {
                add({
                    level: 'notice',
                    state,
                    kind: 'request',
                    name: r.host,
                    type: r.type,
                    url: r.url,
                    tracker: t,
                    reason: `third-party request ${STATE_TITLES[state].toLowerCase()}: check that it sets and reads nothing`,
                });
            }
        }
    }
    for (const p of purposes) {
        for (const c of p.cookies) {
            if (![...seen.cookie].some((k) => nameMatches(c.name, k.split('|')[0]) && domainMatches(c.domain, k.split('|')[1]))) {
                add({
                    level: 'stale',
                    state: 'accepted',
                    kind: 'cookie',
                    name: c.name,
                    domain: c.domain,
                    reason: `declared by ${p.id}, never seen`,
                });
            }
        }
        for (const k of p.storage) {
            if (![...seen.storage].some((n) => nameMatches(k, n)))
                add({ level: 'stale', state: 'accepted', kind: 'storage', name: k, reason: `declared by ${p.id}, never seen` });
        }
    }
    const order = { violation: 0, undeclared: 1, leftover: 2, stale: 3, notice: 4 };
    findings.sort((a, b) => order[a.level] - order[b.level] || STATES.indexOf(a.state) - STATES.indexOf(b.state));
    return findings;
}

/* JSON Patch (RFC 6902) adding each undeclared cookie and storage key to its proposed purpose. */
export function proposal(findings, purposes) {
    const add = new Map();
    for (const f of findings) {
        if (f.level !== 'undeclared' || !f.propose) continue;
        const i = purposes.findIndex((p) => p.id === f.propose);
        const e = add.get(i) || { cookies: [], storage: [] };
        if (f.kind === 'cookie' && !e.cookies.some((c) => c.name === f.name)) e.cookies.push({ name: f.name });
        else if (f.kind !== 'cookie' && !e.storage.includes(f.name)) e.storage.push(f.name);
        add.set(i, e);
    }
    const ops = [];
    for (const [i, e] of [...add.entries()].sort((a, b) => a[0] - b[0])) {
        for (const field of ['cookies', 'storage']) {
            if (!e[field].length) continue;
            if (purposes[i][field].length) for (const v of e[field]) ops.push({ op: 'add', path: `/purposes/${i}/${field}/-`, value: v });
            else ops.push({ op: 'add', path: `/purposes/${i}/${field}`, value: e[field] });
        }
    }
    return ops;
}

// ---- the HTML report ---------------------------------------------------------------

const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]);

function table(caption, head, rows) {
    if (!rows.length) return `<p>${esc(caption)}: none.</p>`;
    return `<table><caption>${esc(caption)}</caption><thead><tr>${head.map((h) => `<th scope="col">${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows
        .map((r) => `<tr>${r.map((c) => `<td${/:\/\//.test(c) ? ' class="u"' : ''}>${esc(c)}</td>`).join('')}</tr>`)
        .join('')}</tbody></table>`;
}

export function htmlReport(report) {
    const levels = ['violation', 'undeclared', 'leftover', 'stale', 'notice'];
    const count = (l) => report.findings.filter((f) => f.level === l).length;
    const verdict = report.verdict === 'pass' ? 'Pass' : 'Fail';
    const findings = table(
        'Findings, violations first',
        ['Level', 'State', 'Kind', 'Name', 'Where', 'Reason', 'Known as', 'Proposed purpose'],
        report.findings.map((f) => [
            f.level,
            STATE_TITLES[f.state] || f.state,
            f.kind,
            f.name,
            [f.domain, f.url].filter(Boolean).join(' '),
            f.reason,
            f.tracker ? `${f.tracker.vendor} (${f.tracker.category})` : '',
            f.propose || '',
        ]),
    );
    const states = STATES.filter((s) => report.states[s])
        .map((s) => {
            const st = report.states[s];
            const r = st.result || { cookies: [], storage: {}, requests: [] };
            const shot = st.screenshot
                ? `<figure><img src="${st.screenshot}" alt="The page ${esc(STATE_TITLES[s].toLowerCase())}" width="640"><figcaption>${esc(STATE_TITLES[s])}</figcaption></figure>`
                : '';
            const storage = Object.entries(r.storage || {}).flatMap(([area, keys]) => keys.map((k) => [area, k]));
            return `<section aria-labelledby="s-${s}"><h2 id="s-${s}">${esc(STATE_TITLES[s])}</h2>${st.notes?.length ? `<ul>${st.notes.map((n) => `<li>${esc(n)}</li>`).join('')}</ul>` : ''}${shot}
${table(
    `Cookies, ${STATE_TITLES[s].toLowerCase()}`,
    ['Name', 'Domain', 'Expires', 'Party', 'Set by', 'URL'],
    r.cookies.map((c) => [c.name, c.domain, c.expires, c.party, c.by + (c.deleted ? ', deleted later' : ''), c.url || '']),
)}
${table(`Storage, ${STATE_TITLES[s].toLowerCase()}`, ['Area', 'Key'], storage)}
${table(
    `Third-party requests, ${STATE_TITLES[s].toLowerCase()}`,
    ['Host', 'Type', 'Count', 'First URL'],
    r.requests.map((q) => [q.host, q.type, q.count, q.url]),
)}</section>`;
        })
        .join('\n');
    return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>consentd scan: ${esc(verdict)}, ${esc(report.pages[0])}</title>
<style>
body{font:15px/1.5 system-ui,sans-serif;color:#111;background:#fff;margin:0 auto;max-width:80rem;padding:1rem}
table{border-collapse:collapse;margin:1rem 0;width:100%}caption{text-align:left;font-weight:600}
th,td{border:1px solid #767676;padding:.25rem .5rem;text-align:left;vertical-align:top}td.u{overflow-wrap:anywhere}
th{background:#f0f0f0}.fail{color:#a40000}.pass{color:#0a5c0a}img{border:1px solid #767676;max-width:100%;height:auto}
</style></head>
<body><main><h1>consentd scan: <span class="${verdict.toLowerCase()}">${esc(verdict)}</span></h1>
<p>${esc(report.scannedAt)}; pages: ${report.pages.map(esc).join(', ')}; purposes from ${esc(report.configSource)}.</p>
<p>${levels.map((l) => `${count(l)} ${l}`).join(', ')}.</p>
${findings}
${states}
</main></body></html>
`;
}

// ---- the run -----------------------------------------------------------------------

export async function scan(o) {
    const require = createRequire(path.join(ROOT, 'web', 'package.json'));
    const { chromium } = require('playwright-core');
    const executablePath = o.chromium || process.env.CHROMIUM || '/usr/bin/chromium';
    if (!fs.existsSync(executablePath))
        throw new Error(`Chromium not found at ${executablePath}: apt-get install chromium, or --chromium PATH`);
    const browser = await chromium.launch({
        executablePath,
        args: [
            '--headless',
            '--no-sandbox',
            '--disable-gpu',
            '--no-first-run',
            '--disable-background-networking',
            '--disable-component-update',
            '--disable-sync',
            ...o.browserArgs,
        ],
    });
    try {
        const firstSite = siteOf(new URL(o.urls[0]).hostname);
        // The pages: the given ones and same-site links, breadth first, in a throw-away profile.
        const pages = [];
        let bannerSrc = null;
        const bodies = new Map(); // banner.js URL -> its body as the browser received it
        {
            const context = await browser.newContext();
            const page = await context.newPage();
            page.on('response', (res) => {
                if (/\/v1\/sites\/[^/]+\/banner\.js/.test(res.url()) && !bodies.has(res.url()))
                    bodies.set(
                        res.url(),
                        res.text().catch(() => null),
                    );
            });
            const queue = o.urls.map((u) => [u, 0]);
            const seen = new Set(o.urls);
            while (queue.length && pages.length < o.maxPages) {
                const [url, depth] = queue.shift();
                pages.push(url);
                if (depth >= o.depth && bannerSrc) continue;
                await page.goto(url, { waitUntil: 'load', timeout: 30000 }).catch(() => {});
                bannerSrc ||= await page
                    .evaluate(() => [...document.scripts].map((s) => s.src).find((s) => /\/v1\/sites\/[^/]+\/banner\.js/.test(s)) || null)
                    .catch(() => null);
                if (depth < o.depth) {
                    for (const l of await links(page, firstSite)) if (!seen.has(l)) (seen.add(l), queue.push([l, depth + 1]));
                }
            }
            await Promise.all(bodies.values());
            await context.close();
        }
        let purposes = [],
            cfg = null,
            configSource = 'none';
        if (bannerSrc) {
            // The body the browser got (the same name resolution), else one fetched here.
            const text =
                (await bodies.get(bannerSrc)) ??
                (await fetch(bannerSrc).then(
                    (r) => (r.ok ? r.text() : null),
                    () => null,
                ));
            try {
                ({ purposes, cfg } = purposesFromBanner(text));
                configSource = `${bannerSrc} (public settings)`;
            } catch {
                configSource = `none: ${bannerSrc} could not be read`;
            }
        }
        if (o.siteFile) {
            purposes = purposesFromSite(JSON.parse(fs.readFileSync(o.siteFile, 'utf8')));
            configSource = o.siteFile;
        }
        const texts = buttonTexts(cfg);
        const states = {};
        for (const s of STATES) states[s] = await runState(browser, s, pages, o, texts);
        const layout = states.before.layout;
        delete states.before.layout;
        const trackers = loadTrackers();
        const bannerHost = bannerSrc ? new URL(bannerSrc).hostname : null;
        const findings = judge({ states, bannerHost, layout, purposes, trackers, configSource });
        const failing = findings.some((f) => f.level === 'violation' || (o.failOnUndeclared && f.level === 'undeclared'));
        return {
            scanner: 'consentd-scan 1',
            scannedAt: new Date().toISOString(),
            verdict: failing ? 'fail' : 'pass',
            pages,
            banner: bannerSrc,
            configSource,
            layout,
            summary: Object.fromEntries(
                ['violation', 'undeclared', 'leftover', 'stale', 'notice'].map((l) => [l, findings.filter((f) => f.level === l).length]),
            ),
            findings,
            proposal: proposal(findings, purposes),
            states,
        };
    } finally {
        await browser.close().catch(() => {});
    }
}

// ---- the summary consentd keeps (POST /v1/sites/<site>/scans, docs/api.md) ----

export const SUMMARY_FINDINGS_MAX = 20; // consentd's bounds
const SUMMARY_LINE_MAX = 300; // bytes

/* One finding as the scanner prints it. */
export function findingLine(f) {
    return `${f.level}: ${STATE_TITLES[f.state] || f.state}: ${f.kind} ${f.name}${f.url ? ` (${f.url})` : ''}: ${f.reason}${f.propose ? `; proposed purpose: ${f.propose}` : ''}`;
}

/* A short line within consentd's bounds: no control character, <= 300 bytes of UTF-8. */
function shortLine(text) {
    let t = [...text].map((c) => (c < ' ' || c === '\u007f' ? ' ' : c)).join('');
    while (Buffer.byteLength(t, 'utf8') > SUMMARY_LINE_MAX) t = t.slice(0, -2) + '…';
    return t;
}

/* The report's summary as consentd takes it: verdict, counts per level, the
 * first findings that are not notices. */
export function scanSummary(report) {
    const n = (level) => report.summary?.[level] ?? 0;
    return {
        scanned_at: report.scannedAt,
        verdict: report.verdict,
        scanner: report.scanner,
        pages: report.pages.length,
        violations: n('violation'),
        undeclared: n('undeclared'),
        leftover: n('leftover'),
        stale: n('stale'),
        notices: n('notice'),
        findings: report.findings
            .filter((f) => f.level !== 'notice')
            .slice(0, SUMMARY_FINDINGS_MAX)
            .map((f) => shortLine(findingLine(f))),
    };
}

/* POST it; the summary as consentd stored it, or an Error saying why not. */
export async function postSummary(url, key, summary) {
    const res = await fetch(url, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify(summary),
    });
    const text = await res.text();
    if (res.status !== 201) throw new Error(`${url}: ${res.status} ${text.slice(0, 300)}`);
    return JSON.parse(text);
}

async function main() {
    let o;
    try {
        o = parseArgs(process.argv.slice(2));
    } catch (e) {
        console.error(`consentd-scan: ${e.message}\n${USAGE}`);
        return 2;
    }
    if (o.help) {
        console.log(USAGE);
        return 0;
    }
    const report = await scan(o);
    fs.mkdirSync(o.out, { recursive: true });
    fs.writeFileSync(path.join(o.out, 'report.json'), JSON.stringify(report, null, 2) + '\n');
    fs.writeFileSync(path.join(o.out, 'report.html'), htmlReport(report));
    if (o.propose) fs.writeFileSync(o.propose, JSON.stringify(report.proposal, null, 2) + '\n');
    for (const f of report.findings.filter((x) => x.level !== 'notice')) console.log(findingLine(f));
    console.log(
        `consentd-scan: ${report.verdict} (${Object.entries(report.summary)
            .map(([k, v]) => `${v} ${k}`)
            .join(', ')}); report in ${path.join(o.out, 'report.html')}`,
    );
    if (o.post) {
        try {
            const stored = await postSummary(o.post, o.key, scanSummary(report));
            console.log(`consentd-scan: summary stored in consentd (${stored.received_at})`);
        } catch (e) {
            console.error(`consentd-scan: --post: ${e.message}`);
            return 2;
        }
    }
    return report.verdict === 'pass' ? 0 : 1;
}

if (process.argv[1] && fs.realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
    main().then(
        (code) => process.exit(code),
        (e) => {
            console.error(`consentd-scan: ${e.stack || e.message}`);
            process.exit(2);
        },
    );
}
