// preview.js - run before a console preview's banner, and before no other
// (src/banner_build.c prepends it in banner_build_preview only; served
// banners never carry it). The console shows a preview in
// <iframe sandbox="allow-scripts">: an opaque origin, where reading
// document.cookie or the storages throws. There the banner gets a cookie
// jar and storages kept in memory (forgotten with the frame: a choice made
// in the preview holds while the frame lives, as on a site), and what it
// would send beside its own script (the preview's consents, events,
// identify) is answered here, 204, without a request: a preview records
// nothing and sends nothing (docs/sites.md). The banner itself is the
// served one, byte for byte.
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

const works = (get) => {
    try {
        get();
        return true;
    } catch {
        return false;
    }
};

if (!works(() => document.cookie)) installCookieJar();
for (const name of ['localStorage', 'sessionStorage'])
    if (!works(() => window[name])) Object.defineProperty(window, name, { configurable: true, value: memoryStorage() });

// What the banner posts beside its script goes to the preview's own URLs
// (no routes: consentd would answer 404, and refuse the frame's Origin:
// null anyway): answered here.
const beside = new URL('.', document.currentScript?.src || location.href).href;
const send = window.fetch;
window.fetch = (target, init) =>
    String(init?.method).toUpperCase() == 'POST' && String(target?.url || target).startsWith(beside)
        ? Promise.resolve(new Response(null, { status: 204 }))
        : send.call(window, target, init);
