// identify.js - cross-device consent for logged-in visitors (issue 20, item
// 7), inlined only for sites whose file declares "identify".
//
// consentd.identify(token): token is what the site's server signed for its
// user (docs/identify.md). consentd links this visitor to that user and
// answers the user's latest choice when another device or browser made it
// after this visitor's own, on the current policy: it is then applied here
// as if the visitor had chosen it (recorded for this visitor, control
// "identify", and released at once), without asking. Later choices of this
// visitor become the user's (consentd keeps the link). The promise resolves
// with the choice carried over, or null; it rejects with the error code
// consentd gave (a refused token: "invalid_token_signature", ...).
/* global CONSENTD_FEATURES */
import { choiceRead } from '../choice.js';

CONSENTD_FEATURES.push(({ cfg, decide }) => {
    const base = new URL('.', document.currentScript?.src || location.href).href;
    window.consentd.identify = async (token) => {
        let visitor = choiceRead()?.v;
        try {
            visitor = visitor || sessionStorage.consentd;
        } catch {}
        // A string body: text/plain, no CORS preflight (as the banner posts).
        const r = await fetch(base + 'identify', { method: 'POST', body: JSON.stringify({ token, visitor }) });
        const j = await r.json();
        if (!r.ok) throw new Error(j.error?.code || r.status);
        const c = j.choice;
        if (!c || c.policy_version != cfg.pv) return null;
        decide((p) => c.decisions[p.id], 'identify');
        return c;
    };
});
