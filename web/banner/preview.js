// preview.js - run before a console preview's banner, and before no other
// (src/banner_build.c prepends it in banner_build_preview only; served
// banners never carry it). The console shows a preview in
// <iframe sandbox="allow-scripts">: an opaque origin, where reading
// document.cookie or the storages throws. There the banner sees none and
// keeps nothing (a preview records nothing: docs/sites.md), instead of
// stopping at its first read of the choice cookie.
try {
    document.cookie;
} catch {
    Object.defineProperty(document, 'cookie', { get: () => '', set() {} });
}
for (const name of ['localStorage', 'sessionStorage']) {
    try {
        window[name];
    } catch {
        const kept = new Map();
        Object.defineProperty(window, name, {
            value: {
                getItem: (k) => (kept.has(k) ? kept.get(k) : null),
                setItem: (k, v) => kept.set(k, String(v)),
                removeItem: (k) => kept.delete(k),
                key: (i) => [...kept.keys()][i] ?? null,
                get length() {
                    return kept.size;
                },
            },
        });
    }
}
