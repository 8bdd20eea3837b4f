// signals.js - what tag managers listen to: Google Consent Mode v2 (the
// site's "default" first, then an "update" per change,
// mapped from the site's purposes), a dataLayer event and a DOM event.

const dataLayer = () => (window.dataLayer = window.dataLayer || []);

// The page's gtag when it has one (it may be a tag manager's stub), else
// what gtag.js itself does: push the arguments object on the dataLayer.
export function gtag() {
    typeof window.gtag == 'function' ? window.gtag(...arguments) : dataLayer().push(arguments);
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
