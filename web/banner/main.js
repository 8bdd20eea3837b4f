// main.js - the banner's entry point. consentd serves this bundle wrapped
// as (CONSENTD_CONFIG => { ... })({site settings and texts}): see
// src/banner.c for the settings' shape. It sets the Consent Mode default
// before anything else, restores the visitor's choice from the cookie (or
// asks), releases held scripts, and exposes window.consentd.
import { choiceRead, choiceSave, choiceSend } from './choice.js';
import { gate } from './gate.js';
import { consentModeDefault, publish } from './signals.js';
import { uiCreate } from './ui.js';

consentModeDefault();

/* global CONSENTD_CONFIG, CONSENTD_CSS */
const cfg = CONSENTD_CONFIG;
const script = document.currentScript || {};
const base = new URL('.', script.src || location.href).href;
const gpc = navigator.globalPrivacyControl == true;
// Language: the script's lang, the page's, the browser's, else the site's first.
const lang =
    [script.lang, document.documentElement.lang, ...navigator.languages]
        .map((l) => (l || '').toLowerCase().split('-')[0])
        .find((l) => cfg.langs.includes(l)) || cfg.langs[0];

const post = (path, body) =>
    fetch(base + path, {
        method: 'POST',
        keepalive: true,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
    });
// Impressions for the acceptance rates: best effort, never retried.
const beacon = (type) => post('events', { type, lang, policy_version: cfg.pv }).catch(() => {});

// Before a choice: necessary and legitimate interest on (unless GPC objects
// for that purpose), consent off.
const byDefault = () => {
    const d = {};
    for (const p of cfg.p) d[p.id] = p.b == 'necessary' || (p.b == 'legitimate_interest' && !(gpc && p.gpc));
    return d;
};
let choice = choiceRead();
if (choice && choice.pv != cfg.pv) choice = null;
let decisions = { ...byDefault(), ...(choice && choice.d) };
const listeners = [];
let ui;

function apply() {
    publish(cfg.p, decisions);
    gate((id) => decisions[id]);
    for (const fn of listeners) fn({ ...decisions });
}

function decide(pick, event) {
    const d = {};
    for (const p of cfg.p) d[p.id] = p.b == 'necessary' || !!pick(p);
    decisions = d;
    choice = choiceSave(cfg, post, lang, choice, d);
    if (event) beacon(event);
    ui.close();
    apply();
}

const ready = (fn) => (document.readyState == 'loading' ? document.addEventListener('DOMContentLoaded', fn) : fn());

window.consentd = {
    get: (id) => decisions[id] == true,
    getAll: () => ({ ...decisions }),
    onChange: (fn) => listeners.push(fn),
    show: () => ready(() => ui.open(1)),
};

apply();
ready(() => {
    ui = uiCreate(cfg, lang, script.nonce, CONSENTD_CSS, gpc, {
        // Accept all leaves out what GPC objects to: the panel can still switch it on.
        accept: () => decide((p) => !(gpc && p.gpc)),
        refuse: () => decide(() => 0),
        // Silence refuses what needs consent; legitimate interest stays as it was.
        close: () => decide((p) => p.b != 'consent' && decisions[p.id], 'dismissed'),
        save: (d) => decide((p) => d[p.id]),
        current: (id) => decisions[id],
        shown: beacon,
    });
    if (!choice) ui.open();
    else if (choice.q) choiceSend(cfg, post, lang, choice);
    gate((id) => decisions[id]); // what the parser added since
});
