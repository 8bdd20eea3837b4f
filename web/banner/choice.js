// choice.js - the visitor's choice: kept in a first-party cookie that the
// site's server can read too, and recorded by consentd (retried while the
// API is down: the choice applies at once either way).
//
// Cookie "consentd", URI-encoded JSON:
//   v  visitor id (made by the banner, or by consentd for older cookies)
//   pv policy version the choice was made on
//   d  {purpose: true|false}
//   e  expiry, seconds since the epoch (the proof's exp once recorded)
//   p  the signed proof (compact JWS), once recorded
//   q  1 while consentd has not recorded it yet
//   b  while not recorded: the banner version it was made on (cfg.bv),
//      which consentd records with it even if a later banner posts it
//   h  while not recorded: how it was made, {control, action, gpc} as sent:
//      the control used (accept_all, reject_all, custom, dismiss), the action
//      (withdrawal when it refused a consent the last choice gave) and
//      navigator.globalPrivacyControl
// It expires with the choice (the site's lifetime, never beyond 13 months).

const MAX_DAYS = 395;
const RETRY_MS = 2000; // doubled after each failed try
const RETRIES = 6;

export function choiceRead() {
    const m = document.cookie.match(/(?:^|; )consentd=([^;]*)/);
    try {
        return m && JSON.parse(decodeURIComponent(m[1]));
    } catch {}
}

function choiceWrite(cfg, c) {
    const domain = cfg.domain && ('.' + location.hostname).endsWith('.' + cfg.domain);
    const age = c ? Math.min(c.e - Date.now() / 1000, MAX_DAYS * 86400) | 0 : 0;
    document.cookie =
        `consentd=${c ? encodeURIComponent(JSON.stringify(c)) : ''};path=/;max-age=${age};samesite=lax` +
        (domain ? ';domain=' + cfg.domain : '') +
        (location.protocol == 'https:' ? ';secure' : '');
}

// Remember decisions now, then record them with consentd. about: the
// visitor id, the language and the banner variant.
export function choiceSave(cfg, post, about, d, h) {
    const c = { v: about.visitor, pv: cfg.pv, d, e: Date.now() / 1000 + cfg.days * 86400, q: 1, b: cfg.bv, h };
    choiceWrite(cfg, c);
    choiceSend(cfg, post, about, c);
    return c;
}

// Post a pending choice; the cookie is rewritten with the proof once recorded.
// The body is built once, from `about` as it is at the choice (a feature's
// member too: the TCF choice), and the retries send that same body.
export async function choiceSend(cfg, post, about, c, tries = 0) {
    try {
        // source: banner, the default.
        const r = await post(
            'consents',
            (about = {
                ...about,
                visitor: c.v,
                decisions: c.d,
                policy_version: c.pv,
                banner_version: c.b,
                ...c.h,
            }),
        );
        if (choiceRead()?.e != c.e) return; // a newer choice replaced this one
        if (r.status == 201) {
            const j = await r.json();
            return choiceWrite(cfg, { v: j.visitor, pv: j.policy_version, d: c.d, e: Date.parse(j.expires_at) / 1000, p: j.proof });
        }
        // Made on an older policy: ask again on the next page.
        if (r.status == 409) return choiceWrite(cfg);
        if (r.status < 500 && r.status != 429) return;
    } catch {}
    if (++tries < RETRIES) setTimeout(() => choiceSend(cfg, post, about, c, tries), RETRY_MS << tries);
}
