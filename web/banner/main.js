// main.js - the banner's entry point. consentd serves this bundle wrapped
// as (CONSENTD_CONFIG => { ... })({site settings and texts}): see
// src/banner_build.c for the settings' shape. It sets the Consent Mode default
// before anything else, restores the visitor's choice from the cookie (or
// asks, in the visitor's banner variant), releases held scripts and iframes
// (those in the HTML and those added later), sends the impression events,
// and exposes window.consentd.
//
// FEATURES. What only some sites use (web/banner/features/: clean-up of
// trackers' cookies, embed placeholders, ...) is built apart and inlined by
// consentd before this bundle only for the sites that declare it: each one
// pushes a function on CONSENTD_FEATURES (the wrapper's array), called once
// here with the kernel `k` below.
import { choiceRead, choiceSave, choiceSend } from './choice.js';
import { gate } from './gate.js';
import { consentModeState, gtag, publish } from './signals.js';
import { uiCreate } from './ui.js';

/* global CONSENTD_CONFIG, CONSENTD_CSS, CONSENTD_FEATURES */
const cfg = CONSENTD_CONFIG;
// The site's Consent Mode default: the gtag() calls consentd computed from
// the site file (src/banner_build.c, banner_consent_defaults: every type
// denied, per region what the site says, its wait_for_update, its "set"s).
// Unless set already, by consentd-defaults.js or by the Google Tag Manager
// template (web/gtm/template.tpl), which both set window.consentd_gtm: ours
// would override theirs.
window.consentd_gtm || cfg.cmd.map((c) => gtag(...c));
const script = document.currentScript || {};
const base = new URL('.', script.src || location.href).href;
const gpc = navigator.globalPrivacyControl == true;
// Language: the script's lang, the page's, the browser's, else the site's
// first. Each tag as written ("pt-BR", the case site files and browsers use)
// if the site has it, else its primary language ("pt").
const lang =
    [script.lang, document.documentElement.lang, ...navigator.languages]
        .flatMap((l = '') => [l, l.split('-')[0]])
        .find((l) => cfg.langs.includes(l)) || cfg.langs[0];

// A string body goes as text/plain, which consentd reads as JSON: a page on
// another origin than consentd's sends it without a CORS preflight.
const post = (path, body) => fetch(base + path, { method: 'POST', keepalive: true, body: JSON.stringify(body) });

// Before a choice: necessary and legitimate interest on (unless GPC objects
// for that purpose), consent off.
const byDefault = () => {
    const d = {};
    for (const p of cfg.p) d[p.id] = p.b == 'necessary' || (p.b == 'legitimate_interest' && !(gpc && p.gpc));
    return d;
};
const newVisitor = () =>
    btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))))
        .slice(0, 22)
        .replace(/\+/g, '-')
        .replace(/\//g, '_');
let choice = choiceRead();
// The visitor id: the cookie's once there is a choice; before that, 128
// random bits (base64url) made here and kept in sessionStorage only: no
// identifier stays on the device before the visitor answers.
let visitor;
try {
    visitor = choice?.v || (sessionStorage.consentd = sessionStorage.consentd || newVisitor());
} catch {
    visitor = choice?.v || newVisitor(); // no sessionStorage: this page only
}
// Its banner variant, as consentd's site_variant_assign(): FNV-1a 32 of the
// id (ASCII) modulo the sum of the weights, walked in declared order.
const vs = cfg.vs || [];
let h = 2166136261;
for (const c of visitor) h = Math.imul(h ^ c.charCodeAt(), 16777619);
let r = (h >>> 0) % vs.reduce((sum, v) => sum + v.w, 0);
const variant = vs.find((v) => (r -= v.w) < 0) || { l: 'bar' };
Object.assign(cfg.ui[lang], variant.t?.[lang]);
// Sent with the choice and with every event.
const about = { lang, variant: variant.id, visitor };
// Impressions for the acceptance rates: best effort, never retried.
const beacon = (type) => post('events', { type, ...about, policy_version: cfg.pv }).catch(() => {});
if (choice?.pv != cfg.pv) choice = null;
let decisions = { ...byDefault(), ...choice?.d };
const listeners = [];
// When the banner appeared to ask a visitor without a valid choice (at
// load): the first decision reports how long it took (ttd, ms); any later
// one, and a feature's, sends NaN (JSON null), which consentd ignores.
let ui, settle, asked;
const ready = new Promise((done) => (settle = done));

// Release what the decisions allow: after each change, and each time the
// page changes (held elements may have been added). A promise.
const release = () => gate((id) => decisions[id]);

function apply() {
    publish(cfg.p, decisions);
    release();
    for (const fn of listeners) fn({ ...decisions });
    if (choice) settle({ ...decisions });
}

// control: how the visitor chose (recorded with the proof, with the GPC
// signal the browser reports: consentd also reads Sec-GPC). Refusing a
// purpose that needs consent and that the last choice granted is a
// withdrawal (GDPR art. 7(3)), recorded and counted as the API's DELETE is.
function decide(pick, control, event) {
    const d = {};
    for (const p of cfg.p) d[p.id] = p.b == 'necessary' || !!pick(p);
    const action = cfg.p.some((p) => p.b == 'consent' && choice?.d[p.id] && !d[p.id]) ? 'withdrawal' : 'consent';
    decisions = d;
    choice = choiceSave(cfg, post, about, d, { control, action, gpc, ttd: Date.now() - asked });
    asked = {}; // Date.now() - {} is NaN
    if (event) beacon(event);
    ui?.close();
    apply();
}

const loaded = (fn) => (document.readyState == 'loading' ? document.addEventListener('DOMContentLoaded', fn) : fn());

window.consentd = {
    get: (id) => decisions[id] == true,
    getAll: () => ({ ...decisions }),
    onChange: (fn) => listeners.push(fn),
    off: (fn) => listeners.splice(listeners.indexOf(fn) >>> 0, 1),
    // Resolves with the decisions once the visitor's choice is known.
    ready,
    // Release what was added since (a client-side route change, say): the
    // observer below does it already; this resolves once it is done.
    apply: release,
    // The Consent Mode v2 state of the choice (what the "update" says).
    consentMode: () => consentModeState(cfg.p, decisions),
    show: () => loaded(() => ui.open(1)),
};

// What a feature gets: the settings, the visitor's language (its texts are
// cfg.ui[lang]), what the banner sends with every event and choice (about),
// and decide(pick(purpose), control) as the banner's buttons do. It follows the decisions with window.consentd.onChange, called at once
// with the first ones. It runs inside this script: document.currentScript
// (its nonce) is the banner's.
// A feature's decision reports no time to decide.
// about: what the banner sends with every event and choice, for a feature
// to add to (pages.js: the page group; tcf.js: the TCF choice, for the one
// POST that records it). A feature that brings its own dialog (tcf.js) sets
// cfg.UI: called as uiCreate is, in its place.
for (const feature of CONSENTD_FEATURES) feature({ cfg, lang, about, decide: (pick, control) => ((asked = {}), decide(pick, control)) });
apply();
// Held elements added later (single-page apps, tag managers) are released
// as soon as they are in the page if their purposes are granted: a
// querySelectorAll per batch of changes.
new MutationObserver(release).observe(document, { childList: true, subtree: true });
loaded(() => {
    ui = (cfg.UI || uiCreate)(cfg, lang, variant.l, script.nonce, CONSENTD_CSS, gpc, {
        // Accept all leaves out what GPC objects to: the panel can still switch it on.
        accept: () => decide((p) => !(gpc && p.gpc), 'accept_all'),
        refuse: () => decide(() => 0, 'reject_all'),
        // Silence refuses what needs consent; legitimate interest stays as it was.
        close: () => decide((p) => p.b != 'consent' && decisions[p.id], 'dismiss', 'dismissed'),
        save: (pick) => decide(pick, 'custom'),
        current: (id) => decisions[id],
        beacon,
    });
    // "shown": the banner asks a visitor who has no valid choice.
    if (!choice) {
        asked = Date.now();
        ui.open();
        beacon('shown');
    } else if (choice.q) choiceSend(cfg, post, about, choice);
});
