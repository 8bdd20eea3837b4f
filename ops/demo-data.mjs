#!/usr/bin/env node
// ops/demo-data.mjs - realistic banner traffic for a site (the demo site by
// default), sent through consentd's public HTTP API only, so that the
// dashboard (/dashboard) has something to show on a first run.
//
//   node ops/demo-data.mjs                          1000 visitors to http://localhost:8080, now
//   node ops/demo-data.mjs http://127.0.0.1:8081    another consentd
//   node ops/demo-data.mjs --visitors 300 --over 2h spread 300 visitors over two hours
//   node ops/demo-data.mjs --days 365               and a year of history before today
//   node ops/demo-data.mjs --help
//
// What a visitor does, as the real banner does it (web/banner/):
//   1. the banner loads: a "shown" event with the visitor id (128 random
//      bits, base64url), the language and the banner variant, which is
//      assigned as the banner assigns it (FNV-1a 32 of the id modulo the sum
//      of the variants' weights, read from the site's banner.js);
//   2. then one of: "Tout accepter" (a consent with every purpose granted),
//      "Tout refuser" (every non-necessary purpose refused), "Personnaliser"
//      (a "panel_opened" event, then a consent with some purposes granted),
//      "Continuer sans accepter" (a consent refusing the consent purposes,
//      then a "dismissed" event), or nothing at all (left the page);
//   3. a few withdraw their consent later (DELETE).
// Every call carries the Origin of the site (a page of the site), like the
// banner's. The mix is about 60% accept all, 25% refuse all, 15% custom
// among the visitors who choose; variant b (when the site has one) gets a
// little less "accept all" and a little more "refuse all", so that the
// variant comparison has a difference to show.
//
// Honest about time: consentd counts an event or a consent in the UTC hour
// and day in which it receives it, and the public API has no way to say
// "this happened last week" (rightly: nobody may backdate statistics). So
// this script cannot make several past days appear: everything it sends
// lands in the current hour and day. Run it once and the dashboard shows
// today (one bar, one point per purpose, the variant comparison over it);
// spread the visitors over hours with --over to fill the by-hour view as it
// runs; run it again on later days to build a history.
//
// --days N: a history, for demos. The N - 1 days before today get made-up
// daily figures (a weekly rhythm, slow growth, the same mix of choices),
// written with ops/import-counts.mjs straight into Redis as the operator
// (--redis URL; default: $REDIS_URL, else the Redis of ops/run.sh with
// var/redis-admin.password): the backfill path of the operator, never the
// public API. Days that already have counts are left as they are. Then
// today's visitors are sent through the API as without --days.
//
// Bounded: at most 100000 visitors, --over at most 24 h, each request times
// out after 10 s; loopback servers only unless --allow-remote (this is
// synthetic traffic: never point it at a site whose figures matter).
// Progress on stderr; the summary on stdout (--json: as JSON, for scripts).
// Exit code 0 when every answer was the expected one, 1 otherwise (the first
// unexpected answer stops the run and is printed), 2 on bad arguments.
import crypto from 'node:crypto';
import { defaultRedisUrl, importCounts } from './import-counts.mjs';
import http from 'node:http';
import https from 'node:https';

const MAX_VISITORS = 100000;
const MAX_OVER_S = 24 * 3600;
const MAX_DAYS = 1096;
const REQUEST_TIMEOUT_MS = 10000;
const RATE_LIMIT_RETRIES = 5;
const USAGE = `usage: node ops/demo-data.mjs [URL] [options]

  URL                 the consentd to send to (default http://localhost:8080)
  --site ID           the site (default demo)
  --visitors N        how many visitors (default 1000, at most ${MAX_VISITORS})
  --over DURATION     spread them evenly over DURATION (e.g. 90s, 30m, 2h; at most 24h);
                      default: as fast as --concurrency allows
  --concurrency N     requests in flight (default 8)
  --origin ORIGIN     the Origin sent (default: URL's origin; it must be one of the site's origins)
  --allow-remote      allow a server that is not on this machine (loopback)
  --days N            also N - 1 days of made-up history before today (at most ${MAX_DAYS}),
                      written into Redis as the operator (see --redis)
  --redis URL         for --days: the Redis (default: $REDIS_URL, else ops/run.sh's, as the operator)
  --json              print the summary as JSON
  --quiet             no progress line`;

// ---- arguments ---------------------------------------------------------------

function fail(message, code = 1) {
    process.stderr.write(`demo-data: ${message}\n`);
    process.exit(code);
}

function parseDuration(text) {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text);
    if (!m) return NaN;
    return Number(m[1]) * { ms: 0.001, s: 1, m: 60, h: 3600 }[m[2] || 's'];
}

function parseArgs(argv) {
    const opts = {
        url: 'http://localhost:8080',
        site: 'demo',
        visitors: 1000,
        over: 0,
        concurrency: 8,
        origin: null,
        allowRemote: false,
        json: false,
        quiet: false,
        days: 1,
        redis: null,
    };
    const value = (i, name) => {
        if (i + 1 >= argv.length) fail(`${name} needs a value\n${USAGE}`, 2);
        return argv[i + 1];
    };
    let urlGiven = false;
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        if (a == '--help' || a == '-h') {
            process.stdout.write(`${USAGE}\n`);
            process.exit(0);
        } else if (a == '--site') opts.site = value(i++, a);
        else if (a == '--visitors') opts.visitors = Number(value(i++, a));
        else if (a == '--over') opts.over = parseDuration(value(i++, a));
        else if (a == '--concurrency') opts.concurrency = Number(value(i++, a));
        else if (a == '--origin') opts.origin = value(i++, a);
        else if (a == '--allow-remote') opts.allowRemote = true;
        else if (a == '--days') opts.days = Number(value(i++, a));
        else if (a == '--redis') opts.redis = value(i++, a);
        else if (a == '--json') opts.json = true;
        else if (a == '--quiet') opts.quiet = true;
        else if (!a.startsWith('-') && !urlGiven) {
            opts.url = a;
            urlGiven = true;
        } else fail(`unknown argument: ${a}\n${USAGE}`, 2);
    }
    if (!Number.isInteger(opts.visitors) || opts.visitors < 1 || opts.visitors > MAX_VISITORS)
        fail(`--visitors: a whole number from 1 to ${MAX_VISITORS}`, 2);
    if (!(opts.over >= 0 && opts.over <= MAX_OVER_S)) fail('--over: a duration such as 90s, 30m or 2h, at most 24h', 2);
    if (!Number.isInteger(opts.concurrency) || opts.concurrency < 1 || opts.concurrency > 64)
        fail('--concurrency: a whole number from 1 to 64', 2);
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(opts.site)) fail('--site: a site id', 2);
    if (!Number.isInteger(opts.days) || opts.days < 1 || opts.days > MAX_DAYS) fail(`--days: a whole number from 1 to ${MAX_DAYS}`, 2);
    let url;
    try {
        url = new URL(opts.url);
    } catch {
        fail(`not a URL: ${opts.url}`, 2);
    }
    if (!['http:', 'https:'].includes(url.protocol)) fail(`not an http(s) URL: ${opts.url}`, 2);
    const host = url.hostname.replace(/^\[|\]$/g, '');
    const loopback = host == 'localhost' || /^127\.\d+\.\d+\.\d+$/.test(host) || host == '::1';
    if (!loopback && !opts.allowRemote) {
        fail(`${url.host} is not this machine: this script sends synthetic traffic; pass --allow-remote if you really mean it`, 2);
    }
    opts.base = url;
    opts.origin = opts.origin || url.origin;
    return opts;
}

// ---- HTTP ----------------------------------------------------------------------

let agent;

class Unexpected extends Error {}

function send(opts, method, path, body, extra = {}) {
    const url = new URL(path, opts.base);
    const lib = url.protocol == 'https:' ? https : http;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const headers = { origin: opts.origin, 'user-agent': 'consentd-demo-data', ...extra };
    if (payload !== undefined) headers['content-type'] = 'application/json';
    return new Promise((resolve, reject) => {
        const req = lib.request(url, { method, headers, agent }, (res) => {
            const chunks = [];
            res.on('data', (c) => chunks.push(c));
            res.on('end', () => resolve({ status: res.statusCode, headers: res.headers, text: Buffer.concat(chunks).toString('utf8') }));
            res.on('error', reject);
        });
        req.setTimeout(REQUEST_TIMEOUT_MS, () => req.destroy(new Error(`no answer within ${REQUEST_TIMEOUT_MS / 1000} s`)));
        req.on('error', reject);
        req.end(payload);
    });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// One call that must answer `want`; 429 waits Retry-After and tries again.
async function expect(opts, want, method, path, body, headers) {
    for (let attempt = 0; ; attempt++) {
        let res;
        try {
            res = await send(opts, method, path, body, headers);
        } catch (e) {
            throw new Unexpected(`${method} ${path}: ${e.message} (is consentd running at ${opts.base.origin}?)`);
        }
        if (res.status == want) return res;
        if (res.status == 429 && attempt < RATE_LIMIT_RETRIES) {
            await sleep(1000 * Math.min(10, Number(res.headers['retry-after']) || 1));
            continue;
        }
        let hint = '';
        if (res.status == 403)
            hint = `\n  the site does not accept the Origin ${opts.origin}: pass --origin with one of its origins (ops/sites/${opts.site}.json)`;
        if (res.status == 404) hint = `\n  is there a site "${opts.site}" on this server, and does it have this route?`;
        if (res.status == 503) hint = '\n  consentd cannot reach Redis: start it (ops/run.sh does) and run this again';
        throw new Unexpected(`${method} ${path} answered ${res.status}, expected ${want}: ${res.text.slice(0, 300)}${hint}`);
    }
}

// ---- the site, as its banner.js tells it --------------------------------------

// banner.js is ((CONSENTD_CONFIG,CONSENTD_FEATURES=[])=>{...})({settings}); its settings are public:
// purposes and legal bases, languages, policy version, variants and weights.
async function siteSettings(opts) {
    const res = await expect(opts, 200, 'GET', `/v1/sites/${opts.site}/banner.js`);
    const text = res.text;
    const at = text.lastIndexOf('})(');
    try {
        return JSON.parse(text.slice(at + 3, text.lastIndexOf(');')));
    } catch {
        throw new Unexpected('cannot read the settings inlined in banner.js: is this consentd?');
    }
}

// ---- visitors ------------------------------------------------------------------

const visitorId = () => crypto.randomBytes(16).toString('base64url');

// The banner's assignment (web/banner/main.js, site_variant_assign()).
function assignVariant(variants, visitor) {
    if (!variants.length) return null;
    let h = 2166136261;
    for (const byte of Buffer.from(visitor, 'utf8')) h = Math.imul(h ^ byte, 16777619) >>> 0;
    let r = h % variants.reduce((sum, v) => sum + v.w, 0);
    for (const v of variants) {
        if ((r -= v.w) < 0) return v.id;
    }
    return variants[variants.length - 1].id;
}

// What visitors do, per variant: shares of the visitors shown the banner.
const BEHAVIOUR = {
    a: { leave: 0.1, accept: 0.54, refuse: 0.2, dismiss: 0.025, custom: 0.135 },
    b: { leave: 0.12, accept: 0.46, refuse: 0.25, dismiss: 0.025, custom: 0.145 },
};
const WITHDRAW_SHARE = 0.01; // of the visitors who chose

// The browsers visitors come with (consentd reads the device class and the
// browser family from these headers: src/useragent.h), and their shares.
const DEVICES = [
    [
        0.3,
        {
            'user-agent':
                'Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36',
            'sec-ch-ua-mobile': '?1',
        },
    ],
    [
        0.2,
        {
            'user-agent':
                'Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
        },
    ],
    [
        0.05,
        {
            'user-agent':
                'Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S911B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/24.0 Chrome/117.0.0.0 Mobile Safari/537.36',
        },
    ],
    [
        0.05,
        {
            'user-agent':
                'Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1',
        },
    ],
    [
        0.22,
        {
            'user-agent': 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36',
            'sec-ch-ua-mobile': '?0',
        },
    ],
    [
        0.08,
        {
            'user-agent':
                'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.51',
            'sec-ch-ua-mobile': '?0',
        },
    ],
    [0.06, { 'user-agent': 'Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0' }],
    [
        0.04,
        {
            'user-agent':
                'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Safari/605.1.15',
        },
    ],
];

// Time to decide (ms from the banner appearing to the choice): log-normal,
// its median per action and variant; refusing on variant b takes longer, as
// on a banner that makes refusing harder (the asymmetry the dashboard shows).
const DECIDE_MEDIAN_MS = {
    a: { accept: 2400, refuse: 3200, custom: 18000, dismiss: 4500 },
    b: { accept: 2600, refuse: 9500, custom: 21000, dismiss: 6000 },
};
const DECIDE_SPREAD = 0.7; // sigma of the log
const CONTROLS = { accept: 'accept_all', refuse: 'reject_all', custom: 'custom', dismiss: 'dismiss' };

function gaussian() {
    return Math.sqrt(-2 * Math.log(1 - Math.random())) * Math.cos(2 * Math.PI * Math.random());
}

function decideMs(action, variant) {
    const median = DECIDE_MEDIAN_MS[variant == 'b' ? 'b' : 'a'][action];
    return Math.min(3600000, Math.round(median * Math.exp(DECIDE_SPREAD * gaussian())));
}

function pick(weights) {
    let r = Math.random() * Object.values(weights).reduce((a, b) => a + b, 0);
    for (const [k, w] of Object.entries(weights)) {
        if ((r -= w) < 0) return k;
    }
    return Object.keys(weights)[0];
}

// The decisions each button sends (web/banner/main.js, without GPC).
function decisionsFor(action, purposes) {
    const d = {};
    for (const p of purposes) {
        if (p.b == 'necessary') d[p.id] = true;
        else if (action == 'accept') d[p.id] = true;
        else if (action == 'refuse') d[p.id] = false;
        else if (action == 'dismiss') d[p.id] = p.b == 'legitimate_interest';
        else d[p.id] = Math.random() < (p.b == 'legitimate_interest' ? 0.8 : 0.45);
    }
    return d;
}

// How consentd counts a recorded choice (docs/api.md, acceptance statistics: accept_all / reject_all /
// custom, judged on the purposes that need consent, or on the others when
// the site has none).
function categoryOf(decisions, purposes) {
    const consent = purposes.filter((p) => p.b == 'consent');
    const counted = (consent.length ? consent : purposes.filter((p) => p.b != 'necessary')).map((p) => decisions[p.id]);
    if (counted.every((g) => g === true)) return 'accept_all';
    if (counted.every((g) => g === false)) return 'reject_all';
    return 'custom';
}

function emptyTally(purposes) {
    const t = {
        visitors: 0,
        shown: 0,
        dismissed: 0,
        panel_opened: 0,
        decisions: 0,
        accept_all: 0,
        reject_all: 0,
        custom: 0,
        withdrawn: 0,
        purposes: {},
    };
    for (const p of purposes) if (p.b != 'necessary') t.purposes[p.id] = { granted: 0, refused: 0 };
    return t;
}

function count(tallies, key, variant, n = 1) {
    tallies.all[key] += n;
    if (variant) tallies.variants[variant][key] += n;
}

async function visit(opts, cfg, tallies) {
    const visitor = visitorId();
    const variant = assignVariant(cfg.vs || [], visitor);
    const langs = cfg.langs;
    const lang = Math.random() < 0.7 || langs.length == 1 ? langs[0] : langs[1 + Math.floor(Math.random() * (langs.length - 1))];
    const about = { lang, visitor, policy_version: cfg.pv };
    if (variant) about.variant = variant;
    const events = `/v1/sites/${opts.site}/events`;
    const consents = `/v1/sites/${opts.site}/consents`;

    const ua = DEVICES[pick(Object.fromEntries(DEVICES.map(([w], i) => [i, w])))][1];
    count(tallies, 'visitors', variant);
    await expect(opts, 204, 'POST', events, { type: 'shown', ...about }, ua);
    count(tallies, 'shown', variant);
    const action = pick(BEHAVIOUR[variant == 'b' ? 'b' : 'a']);
    if (action == 'leave') return;
    if (action == 'custom' || (action == 'refuse' && Math.random() < 0.1)) {
        await expect(opts, 204, 'POST', events, { type: 'panel_opened', ...about }, ua);
        count(tallies, 'panel_opened', variant);
    }
    const body = {
        decisions: decisionsFor(action, cfg.p),
        policy_version: cfg.pv,
        lang,
        visitor,
        source: 'banner',
        control: CONTROLS[action],
        ttd: decideMs(action, variant),
    };
    if (variant) body.variant = variant;
    const res = await expect(opts, 201, 'POST', consents, body, ua);
    // Count what consentd recorded (every purpose resolved), not what was sent.
    const recorded = JSON.parse(res.text).decisions;
    count(tallies, 'decisions', variant);
    count(tallies, categoryOf(recorded, cfg.p), variant);
    for (const p of cfg.p) {
        if (p.b == 'necessary') continue;
        const key = recorded[p.id] ? 'granted' : 'refused';
        tallies.all.purposes[p.id][key]++;
        if (variant) tallies.variants[variant].purposes[p.id][key]++;
    }
    if (action == 'dismiss') {
        await expect(opts, 204, 'POST', events, { type: 'dismissed', ...about }, ua);
        count(tallies, 'dismissed', variant);
    }
    if (Math.random() < WITHDRAW_SHARE) {
        await expect(opts, 200, 'DELETE', `${consents}/${visitor}?lang=${encodeURIComponent(lang)}`, undefined, ua);
        count(tallies, 'withdrawn', null);
    }
}

// ---- the run -------------------------------------------------------------------

function share(n, d) {
    return d ? `${((100 * n) / d).toFixed(1)}%` : '-';
}

function progress(opts, tallies, started, final) {
    if (opts.quiet) return;
    const t = tallies.all;
    const s = (Date.now() - started) / 1000;
    const line =
        `demo-data: ${t.visitors}/${opts.visitors} visitors, ${t.decisions} choices ` +
        `(accept all ${share(t.accept_all, t.decisions)}, refuse all ${share(t.reject_all, t.decisions)}, custom ${share(t.custom, t.decisions)}), ` +
        `${s.toFixed(1)} s`;
    if (process.stderr.isTTY) process.stderr.write(`\r${line}\x1b[K${final ? '\n' : ''}`);
    else process.stderr.write(`${line}\n`);
}

// ---- history (--days) --------------------------------------------------------------

/* A deterministic pseudo-random number in [0, 1) for (day, salt). */
function noise(day, salt) {
    const h = crypto.createHash('sha256').update(`${day}:${salt}`).digest();
    return h.readUInt32BE(0) / 2 ** 32;
}

/* The made-up figures of one past day, in the rows of ops/import-counts.mjs. */
function historyDay(ms, i, n, purposes) {
    const day = new Date(ms).toISOString().slice(0, 10);
    const weekday = new Date(ms).getUTCDay();
    const rhythm = [0.7, 1.05, 1.1, 1.1, 1.05, 1.0, 0.75][weekday];
    const growth = 0.6 + (0.4 * (i + 1)) / n;
    const shown = Math.round(800 * rhythm * growth * (0.9 + 0.2 * noise(day, 'shown')));
    const decisions = Math.round(shown * (0.82 + 0.1 * noise(day, 'interaction')));
    const acceptAll = Math.round(decisions * (0.56 + 0.08 * noise(day, 'accept')));
    const rejectAll = Math.round((decisions - acceptAll) * (0.6 + 0.1 * noise(day, 'reject')));
    const custom = decisions - acceptAll - rejectAll;
    const counts = {
        'all|shown': shown,
        'all|dismissed': Math.round(shown * 0.04),
        'all|panel_opened': custom + Math.round(shown * 0.03),
        'all|decisions': decisions,
        'all|accept_all': acceptAll,
        'all|reject_all': rejectAll,
        'all|custom': custom,
        'all|withdrawn': Math.round(decisions * 0.01),
        's.banner|decisions': decisions,
    };
    for (const p of purposes) {
        if (p.b == 'necessary') continue;
        const g = acceptAll + Math.round(custom * (p.b == 'legitimate_interest' ? 0.8 : 0.45 + 0.1 * noise(day, p.id)));
        counts[`all|g.${p.id}`] = g;
        counts[`all|r.${p.id}`] = decisions - g;
    }
    // Segments (d.<device>, b.<browser>): the day's banner figures split
    // by the shares of DEVICES, each split summing to the day's figure.
    const segments = {};
    for (const [w, headers] of DEVICES) {
        const ua = headers['user-agent'];
        const device = /iPad|Android(?!.*Mobile)/.test(ua) ? 'tablet' : /Mobi|iPhone/.test(ua) ? 'mobile' : 'desktop';
        const browser = /Edg\//.test(ua)
            ? 'edge'
            : /SamsungBrowser/.test(ua)
              ? 'samsung'
              : /Firefox/.test(ua)
                ? 'firefox'
                : /Chrome/.test(ua)
                  ? 'chrome'
                  : 'safari';
        for (const s of [`d.${device}`, `b.${browser}`]) segments[s] = (segments[s] || 0) + w;
    }
    const split = (prefix, metric, total) => {
        const names = Object.keys(segments).filter((s) => s.startsWith(prefix));
        let left = total;
        names.forEach((s, i) => {
            const n = i == names.length - 1 ? left : Math.min(left, Math.round(total * segments[s] * (0.9 + 0.2 * noise(day, s + metric))));
            left -= n;
            if (n) counts[`${s}|${metric}`] = n;
        });
    };
    const banner = { shown, decisions, accept_all: acceptAll, reject_all: rejectAll, custom };
    for (const [metric, total] of Object.entries(banner)) for (const prefix of ['d.', 'b.']) split(prefix, metric, total);
    // Time to decide (all|t.<outcome>.<bin>): each outcome's choices spread
    // over the bins of consentd's histogram (src/counters.h) as the
    // log-normal of DECIDE_MEDIAN_MS (variant a's) would.
    const dismissed = counts['all|dismissed'];
    const outcomes = {
        accept_all: ['accept', acceptAll],
        reject_all: ['refuse', rejectAll - dismissed],
        custom: ['custom', custom],
        dismiss: ['dismiss', dismissed],
    };
    const edges = [250, 500, 1000, 2000, 4000, 8000, 16000, 32000, 64000, 128000, 256000, 3600001];
    const cdf = (ms, median) => (ms <= 0 ? 0 : 0.5 * (1 + erf(Math.log(ms / median) / (DECIDE_SPREAD * Math.SQRT2))));
    for (const [outcome, [action, n]] of Object.entries(outcomes)) {
        let left = Math.max(0, n);
        edges.forEach((hi, b) => {
            const lo = b == 0 ? 0 : edges[b - 1];
            const k =
                b == edges.length - 1
                    ? left
                    : Math.min(left, Math.round(n * (cdf(hi, DECIDE_MEDIAN_MS.a[action]) - cdf(lo, DECIDE_MEDIAN_MS.a[action]))));
            left -= k;
            if (k) counts[`all|t.${outcome}.${b}`] = k;
        });
    }
    return { day, ms, counts, unique: Math.round(shown * 0.93) };
}

/* The error function (Abramowitz and Stegun 7.1.26, |error| < 1.5e-7). */
function erf(x) {
    const s = Math.sign(x);
    const t = 1 / (1 + 0.3275911 * Math.abs(x));
    const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
    return s * y;
}

async function writeHistory(opts, cfg) {
    const today = Date.parse(`${new Date().toISOString().slice(0, 10)}T00:00:00Z`);
    const n = opts.days - 1;
    const rows = [];
    for (let i = 0; i < n; i++) rows.push(historyDay(today - (n - i) * 86400000, i, n, cfg.p));
    // Days that already have counts stay as they are: write the others.
    let res;
    try {
        res = await importCounts({ site: opts.site, rows, redisUrl: opts.redis || defaultRedisUrl() });
    } catch (e) {
        const m = /already have counts .*?: (.*)$/.exec(e.message);
        if (!m) throw e;
        const taken = new Set(m[1].split(', '));
        res = await importCounts({
            site: opts.site,
            rows: rows.filter((r) => !taken.has(r.day)),
            redisUrl: opts.redis || defaultRedisUrl(),
        });
    }
    if (!opts.quiet) process.stderr.write(`demo-data: history: ${res.written.length} past days written into Redis (import-counts)\n`);
    return res;
}

async function main() {
    const opts = parseArgs(process.argv.slice(2));
    agent = new (opts.base.protocol == 'https:' ? https : http).Agent({ keepAlive: true, maxSockets: opts.concurrency });
    const cfg = await siteSettings(opts);
    const history = opts.days > 1 ? await writeHistory(opts, cfg) : null;
    const variants = (cfg.vs || []).map((v) => v.id);
    const tallies = { all: emptyTally(cfg.p), variants: Object.fromEntries(variants.map((v) => [v, emptyTally(cfg.p)])) };
    const started = Date.now();
    const gap = opts.over > 0 ? (opts.over * 1000) / opts.visitors : 0;
    let next = 0,
        stopped = null,
        lastProgress = 0;
    const worker = async () => {
        while (!stopped && next < opts.visitors) {
            const i = next++;
            if (gap) {
                const due = started + i * gap - Date.now();
                if (due > 0) await sleep(due);
            }
            try {
                await visit(opts, cfg, tallies);
            } catch (e) {
                stopped = stopped || e;
            }
            if (Date.now() - lastProgress > (process.stderr.isTTY ? 200 : 5000)) {
                lastProgress = Date.now();
                progress(opts, tallies, started, false);
            }
        }
    };
    await Promise.all(Array.from({ length: Math.min(opts.concurrency, opts.visitors) }, worker));
    progress(opts, tallies, started, true);
    agent.destroy();
    if (stopped) {
        if (!(stopped instanceof Unexpected)) throw stopped;
        fail(`stopped: ${stopped.message}`);
    }
    const report = {
        url: opts.base.origin,
        site: opts.site,
        started_at: new Date(started).toISOString(),
        seconds: (Date.now() - started) / 1000,
        variants,
        sent: tallies.all,
        by_variant: tallies.variants,
        history_days: history ? history.written : [],
    };
    if (opts.json) {
        process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
        return;
    }
    const t = tallies.all;
    const lines = [
        `Sent ${t.visitors} visitors to ${opts.base.origin} (site ${opts.site}) in ${report.seconds.toFixed(1)} s:`,
        `  banner shown ${t.shown}, panel opened ${t.panel_opened}, dismissed ${t.dismissed}, withdrawn ${t.withdrawn}`,
        `  choices ${t.decisions}: accept all ${t.accept_all} (${share(t.accept_all, t.decisions)}), refuse all ${t.reject_all} (${share(t.reject_all, t.decisions)}), custom ${t.custom} (${share(t.custom, t.decisions)})`,
    ];
    for (const v of variants) {
        const x = tallies.variants[v];
        lines.push(`  variant ${v}: shown ${x.shown}, choices ${x.decisions}, accept all ${share(x.accept_all, x.decisions)}`);
    }
    lines.push(
        '',
        history
            ? `These visitors count in today's bucket (UTC ${report.started_at.slice(0, 10)}), the ${history.written.length} imported past days in their own.`
            : `All of it counts in today's bucket (UTC ${report.started_at.slice(0, 10)}): consentd counts what it receives when it receives it.`,
        `Open ${opts.base.origin}/dashboard?site=${opts.site} and sign in with the site's API key (the counters reach Redis within a second).`,
    );
    process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((e) => fail(e instanceof Unexpected ? `stopped: ${e.message}` : e.stack || String(e)));
