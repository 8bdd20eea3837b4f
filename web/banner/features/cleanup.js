// cleanup.js - the "cleanup" feature (issue 20, item 1): each time the
// decisions apply (at load, after every choice), for every purpose not
// granted (refused, withdrawn, not yet asked), delete what its trackers left
// on the device, as the site file declares it per purpose
// (src/banner_build.c inlines this only for a site that declares some):
//   ck [[name] or [name, domain]]: cookies, '*' standing for any characters,
//      matched against the names document.cookie shows. Each one is deleted
//      (written again, expired, path /) on its declared domain, else on the
//      page's host (host-only) and on every parent domain down to two labels:
//      that always reaches the registrable domain (example.com, example.co.uk)
//      without a public suffix list; browsers ignore the writes on a public
//      suffix (co.uk).
//   st [key]: localStorage and sessionStorage keys, '*' as above.
// A released script cannot be un-run: when a purpose granted in this page is
// withdrawn and one of its held scripts ran here, the page is reloaded once
// consentd has recorded the choice (at most 3 s later), unless the site
// says "rl": false.
/* global CONSENTD_FEATURES */
CONSENTD_FEATURES.push(({ cfg }) => {
    const pattern = (names) =>
        new RegExp(`^(${names.map((n) => n.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')).join('|')})$`);
    const host = location.hostname;
    const parents = host.split('.').flatMap((_, i, labels) => (i < labels.length - 1 ? ['domain=' + labels.slice(i).join('.')] : []));
    let was = {};
    window.consentd.onChange((d) => {
        let reload;
        for (const p of cfg.p) {
            if (d[p.id]) continue;
            reload ||= was[p.id] && cfg.rl !== false && document.querySelector(`script[data-consent~="${p.id}"]:not([type="text/plain"])`);
            for (const [name, domain] of p.ck || []) {
                const re = pattern([name]);
                for (const c of document.cookie.split('; ')) {
                    const n = c.split('=')[0];
                    if (re.test(n))
                        for (const at of domain ? ['domain=' + domain] : ['', ...parents]) document.cookie = `${n}=;path=/;max-age=0;${at}`;
                }
            }
            const st = p.st && pattern(p.st);
            for (const s of st ? ['localStorage', 'sessionStorage'] : []) {
                try {
                    for (const key of Object.keys(window[s])) if (st.test(key)) window[s].removeItem(key);
                } catch {
                    // storage blocked: nothing of ours to delete there
                }
            }
        }
        was = d;
        // Reload once consentd has recorded the choice (its cookie loses "q"),
        // or after 3 s: a reload in between would post it again.
        const since = Date.now();
        const wait = () =>
            document.cookie.includes('%22q%22%3A1') && Date.now() - since < 3000 ? setTimeout(wait, 100) : location.reload();
        if (reload) wait();
    });
});
