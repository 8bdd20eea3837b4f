// preview.js - the preview frame's own script (web/console/preview.html).
// The console frames this page with sandbox="allow-scripts" and no
// allow-same-origin: an opaque origin, where document.cookie,
// localStorage and sessionStorage throw. So before the banner loads, this
// script gives the page an in-memory cookie jar and storage (forgotten with
// the frame), then adds the banner script named by its query:
//   ?src=/v1/sites/<site>/previews/<id>/banner.js&lang=fr&variant=b
// src must be a path of this origin under /v1/sites/ (a preview banner):
// anything else is refused, so the frame cannot be made to run another
// script (script-src 'self' would refuse it too).

const memoryStorage = () => {
    const items = new Map();
    return {
        get length() {
            return items.size;
        },
        key: (i) => [...items.keys()][i] ?? null,
        getItem: (k) => (items.has(String(k)) ? items.get(String(k)) : null),
        setItem: (k, v) => void items.set(String(k), String(v)),
        removeItem: (k) => void items.delete(String(k)),
        clear: () => items.clear(),
    };
};

// document.cookie as the banner uses it: "name=value; attributes" sets (an
// expired date or Max-Age=0 deletes), reading gives "a=1; b=2".
function installCookieJar() {
    const jar = new Map();
    Object.defineProperty(document, 'cookie', {
        configurable: true,
        get: () => [...jar].map(([k, v]) => `${k}=${v}`).join('; '),
        set: (text) => {
            const [pair, ...attrs] = String(text).split(';');
            const eq = pair.indexOf('=');
            if (eq < 1) return;
            const name = pair.slice(0, eq).trim();
            const expired = attrs.some((a) => {
                const [k, v = ''] = a.split('=');
                const key = k.trim().toLowerCase();
                return (key == 'max-age' && Number(v) <= 0) || (key == 'expires' && Date.parse(v) < Date.now());
            });
            if (expired) jar.delete(name);
            else jar.set(name, pair.slice(eq + 1).trim());
        },
    });
}

function works(get) {
    try {
        get();
        return true;
    } catch {
        return false;
    }
}

if (!works(() => document.cookie)) installCookieJar();
for (const name of ['localStorage', 'sessionStorage'])
    if (!works(() => window[name])) Object.defineProperty(window, name, { configurable: true, value: memoryStorage() });

// The banner opens as a modal dialog and focuses it, as it must on a site.
// Here that would take the focus from the console's field being edited
// each time the preview is rebuilt: when this frame did not have the focus,
// it tells the console, which gives the focus back (web/console/main.js).
// Once the visitor clicks into the frame, it has the focus, and the banner
// behaves as on a site.
for (const [proto, name] of [
    [HTMLDialogElement.prototype, 'showModal'],
    [HTMLElement.prototype, 'focus'],
]) {
    const original = proto[name];
    proto[name] = function (...args) {
        const had = document.hasFocus();
        const result = original.apply(this, args);
        if (!had) parent.postMessage({ consentdPreview: 'focus-taken' }, '*');
        return result;
    };
}

const query = new URLSearchParams(location.search);
const src = query.get('src') || '';
if (/^\/v1\/sites\/[A-Za-z0-9_-]+\/[^?#]*banner\.js$/.test(src) && !src.includes('..')) {
    const url = new URL(src, location.href);
    for (const k of ['lang', 'variant']) if (query.get(k)) url.searchParams.set(k, query.get(k));
    const lang = query.get('lang');
    if (lang) document.documentElement.lang = lang;
    const script = document.createElement('script');
    script.src = url.pathname + url.search;
    if (lang) script.lang = lang;
    script.addEventListener('load', () => (document.documentElement.dataset.banner = 'loaded'));
    script.addEventListener('error', () => (document.documentElement.dataset.banner = 'failed'));
    document.head.append(script);
} else {
    document.documentElement.dataset.banner = 'none';
}
