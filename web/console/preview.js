// preview.js - the preview frame's own script (web/console/preview.html).
// The console frames this page with sandbox="allow-scripts" and no
// allow-same-origin: an opaque origin, where document.cookie,
// localStorage and sessionStorage throw. The preview banner brings its own
// in-memory cookie jar and storages (web/banner/preview.js, which consentd
// puts before a preview's banner, and before no served one); this script
// adds the banner script named by its query:
//   ?src=/v1/sites/<site>/previews/<id>/banner.js&lang=fr&variant=b
// src must be a path of this origin under /v1/sites/ (a preview banner):
// anything else is refused, so the frame cannot be made to run another
// script (script-src 'self' would refuse it too).

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
