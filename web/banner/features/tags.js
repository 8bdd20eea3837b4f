// tags.js - the consent signals of the non-Google tags a site declares
// ("tags" in the site file; cfg.tg: {tag: [purposes]}). A tag is granted
// when every purpose listed for it is. Sent at load, then at every change:
//
// - Microsoft UET consent mode: uetq.push('consent', 'default',
//   {ad_storage: 'denied'}) first, then 'update' with the choice (at load too
//   when a stored choice grants it).
// - Microsoft Clarity, consent API v2 (learn.microsoft.com/clarity,
//   "Clarity consent API v2", which replaces the older clarity('consent')):
//   clarity('consentv2', {ad_Storage, analytics_Storage}); analytics from
//   microsoft_clarity's purposes, ads from microsoft_uet's (denied without
//   UET). Queued through Clarity's own stub, made here as its snippet makes
//   it (its snippet keeps an existing one) when it is not there yet.
// - Meta pixel: fbq('consent', 'revoke' | 'grant'). Meta's snippet does
//   nothing when fbq exists, so no stub is made here: when fbq is not there
//   yet, the assignment of window.fbq is watched, and the current state goes
//   first into the new stub's queue (before the snippet's 'init').
/* global CONSENTD_FEATURES */
CONSENTD_FEATURES.push(({ cfg }) => {
    const w = window;
    const tags = cfg.tg;
    let first = 1;
    let pixel;
    const meta = () => w.fbq('consent', pixel ? 'grant' : 'revoke');
    if (tags.meta_pixel && !w.fbq) {
        Object.defineProperty(w, 'fbq', {
            configurable: true,
            set(f) {
                let sent;
                delete w.fbq;
                w.fbq = f;
                Object.defineProperty(f, 'queue', {
                    configurable: true,
                    set(q) {
                        delete f.queue;
                        f.queue = q;
                        meta();
                        sent = 1;
                    },
                });
                // Not Meta's snippet (no queue set in the same task): at once after it.
                queueMicrotask(() => sent || meta());
            },
        });
    }
    w.consentd.onChange((d) => {
        const granted = (tag) => !!tags[tag]?.every((id) => d[id]);
        const ads = granted('microsoft_uet');
        const state = (g) => (g ? 'granted' : 'denied');
        if (tags.microsoft_uet) {
            const uetq = (w.uetq = w.uetq || []);
            if (first) uetq.push('consent', 'default', { ad_storage: 'denied' });
            if (!first || ads) uetq.push('consent', 'update', { ad_storage: state(ads) });
        }
        if (tags.microsoft_clarity) {
            w.clarity =
                w.clarity ||
                function () {
                    (w.clarity.q = w.clarity.q || []).push(arguments);
                };
            w.clarity('consentv2', { ad_Storage: state(ads), analytics_Storage: state(granted('microsoft_clarity')) });
        }
        if (tags.meta_pixel) {
            pixel = granted('meta_pixel');
            if (w.fbq) meta();
        }
        first = 0;
    });
});
