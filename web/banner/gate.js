// gate.js - scripts and iframes held back until their purpose is granted:
// <script type="text/plain" data-consent="analytics" src=...>, the same
// inline, and <iframe data-consent="ads" data-src=...>. data-consent may
// name several purposes: all of them must be granted. They run in document
// order: an external script is loaded before the next one starts.

const HELD = 'script[type="text/plain"][data-consent],iframe[data-consent][data-src]';
let queue = Promise.resolve();

async function release(granted) {
    for (const held of document.querySelectorAll(HELD)) {
        if (!held.dataset.consent.split(' ').every(granted)) continue;
        if (held.tagName == 'IFRAME') {
            held.src = held.dataset.src;
            held.removeAttribute('data-src');
            continue;
        }
        // A fresh element: a script whose type changes in place never runs.
        const script = document.createElement('script');
        for (const { name, value } of held.attributes) name != 'type' && script.setAttribute(name, value);
        script.nonce = held.nonce; // hidden from getAttribute under a CSP
        script.text = held.text;
        const loaded = script.src && new Promise((done) => (script.onload = script.onerror = done));
        held.replaceWith(script);
        await loaded;
    }
}

// Release what granted(purpose) allows; calls are queued so that order holds.
export const gate = (granted) => (queue = queue.then(() => release(granted)));
