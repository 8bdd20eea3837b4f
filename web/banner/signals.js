// signals.js - what tag managers listen to: Google Consent Mode v2 (the
// "default" with everything denied first, then an "update" per change,
// mapped from the site's purposes), a dataLayer event and a DOM event.

const TYPES = [
    'ad_storage',
    'analytics_storage',
    'ad_user_data',
    'ad_personalization',
    'functionality_storage',
    'personalization_storage',
    'security_storage',
];
// How long Google tags wait for our "update" before firing on the default.
const WAIT_FOR_UPDATE_MS = 500;

const dataLayer = () => (window.dataLayer = window.dataLayer || []);

// The page's gtag when it has one (it may be a tag manager's stub), else
// what gtag.js itself does: push the arguments object on the dataLayer.
function gtag() {
    typeof window.gtag == 'function' ? window.gtag(...arguments) : dataLayer().push(arguments);
}

export function consentModeDefault() {
    const denied = {};
    for (const type of TYPES) denied[type] = 'denied';
    gtag('consent', 'default', { ...denied, wait_for_update: WAIT_FOR_UPDATE_MS });
}

// A Consent Mode type is granted when every purpose mapped onto it is.
export function consentModeState(purposes, decisions) {
    const granted = {};
    for (const p of purposes) for (const type of p.cm || []) granted[type] = granted[type] !== false && decisions[p.id];
    const update = {};
    for (const type in granted) update[type] = granted[type] ? 'granted' : 'denied';
    return update;
}

export function publish(purposes, decisions) {
    gtag('consent', 'update', consentModeState(purposes, decisions));
    dataLayer().push({ event: 'consentd_change', consentd: { ...decisions } });
    document.dispatchEvent(new CustomEvent('consentd:change', { detail: { ...decisions } }));
}
