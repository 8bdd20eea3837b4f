// embed.js - click-to-load placeholders for held iframes (issue 20, item 2),
// inlined only in the banner of a site that declares "embeds" (site file).
//
// In front of each <iframe data-consent="PURPOSE" data-src="URL"> whose
// purposes are not all granted, a <consentd-embed> of the iframe's size
// (its width and height attributes, else its box) takes its place while the
// iframe is hidden: it names the provider (the site's "embeds" list, else
// the host of data-src) and the purpose in the visitor's language, and has
// two buttons. "Load this content" loads this iframe only, this once, and
// records nothing. "Always allow PURPOSE" records a choice as the banner's
// panel does (control "custom", the other purposes as they are), which
// releases every iframe of that purpose. When the purposes are granted, by
// any means, the placeholder goes and the iframe shows. Iframes added later
// get theirs too. Its own shadow root holds it, styled by a constructable
// stylesheet (a <style> with the banner's nonce where there is none): the
// page's CSS does not reach in, and ours does not leak out.
/* global CONSENTD_FEATURES, CONSENTD_FEATURE_CSS */
import { fill, h } from '../ui.js';
CONSENTD_FEATURES.push(({ cfg, lang, decide }) => {
    const t = cfg.ui[lang];
    const api = window.consentd;
    const nonce = document.currentScript?.nonce;
    // iframe -> its placeholder, while it is held.
    const held = new Map();
    let sheet;

    // A width or height attribute as CSS ("560" is pixels), else the box's.
    const size = (frame, name, px) => {
        const a = frame.getAttribute(name);
        return a ? (/^\d+$/.test(a) ? a + 'px' : a) : px ? px + 'px' : '';
    };

    function place(frame, ids) {
        // Not a URL, or one without a host: named as written (and never a
        // throw into the banner's listeners).
        let host = frame.dataset.src;
        try {
            host = new URL(host, location.href).hostname || host;
        } catch {
            // as written
        }
        const provider = cfg.em.find(([name]) => host == name || host.endsWith('.' + name))?.[1] || host;
        const purpose = ids
            .map((id) => {
                const p = cfg.p.find((q) => q.id == id);
                return p ? (p.t[lang] || p.t[cfg.langs[0]])[0] : id;
            })
            .join(', ');
        const el = h('consentd-embed', {});
        const root = el.attachShadow({ mode: 'open' });
        if (root.adoptedStyleSheets) {
            if (!sheet) (sheet = new CSSStyleSheet()).replaceSync(CONSENTD_FEATURE_CSS);
            root.adoptedStyleSheets = [sheet];
        } else root.append(h('style', { nonce }, CONSENTD_FEATURE_CSS));
        const box = h(
            'div',
            { role: 'group', 'aria-label': frame.title || provider, lang },
            h('p', {}, fill(t['embed.text'], { provider, purpose })),
            h('button', { onclick: () => show(frame, 1) }, t['embed.load']),
            h(
                'button',
                {
                    onclick: () => {
                        decide((p) => api.get(p.id) || ids.includes(p.id), 'custom');
                        frame.focus();
                    },
                },
                fill(t['embed.always'], { purpose }),
            ),
        );
        box.style.width = size(frame, 'width', frame.offsetWidth);
        box.style.height = size(frame, 'height', frame.offsetHeight);
        root.append(box);
        frame.before(el);
        frame.hidden = true;
        held.set(frame, el);
    }

    // The iframe back in its place; load: now, this once (nothing recorded).
    function show(frame, load) {
        held.get(frame).remove();
        held.delete(frame);
        frame.hidden = false;
        if (load) {
            frame.src = frame.dataset.src;
            frame.removeAttribute('data-src');
            frame.focus();
        }
    }

    // After every change of the decisions, and of the page.
    function scan() {
        for (const frame of held.keys()) if (!frame.isConnected || frame.dataset.consent.split(' ').every(api.get)) show(frame);
        for (const frame of document.querySelectorAll('iframe[data-consent][data-src]')) {
            const ids = frame.dataset.consent.split(' ');
            if (!held.has(frame) && !ids.every(api.get)) place(frame, ids);
        }
    }
    api.onChange(scan);
    new MutationObserver(scan).observe(document, { childList: true, subtree: true });
});
