// ui.js - the dialog: a first layer (what, who, how long, rights, contact;
// accept, refuse and customise at the same level; continue without
// accepting), a panel with one switch per purpose, and the persistent
// "cookie settings" control. It lives in a shadow root so that the page's
// CSS and ours never meet; its styles are a constructable stylesheet, which
// a strict Content-Security-Policy allows.

// An element: h('button', {onclick, class}, ...children). Shared with the features.
export const h = (tag, attrs, ...kids) => {
    const el = document.createElement(tag);
    for (const k in attrs) k.startsWith('on') ? (el[k] = attrs[k]) : el.setAttribute(k, attrs[k]);
    el.append(...kids);
    return el;
};
export const fill = (text, vars) => text.replace(/{(\w+)}/g, (_, k) => vars[k]);

// on: {accept, refuse, close, save(pick: purpose -> its switch is on), current(purpose),
// beacon(event)};
// lang: the texts' language; layout: "box" (a centred box) or else a bar.
export function uiCreate(cfg, lang, layout, nonce, css, gpc, on) {
    const t = cfg.ui[lang];
    const text = (p) => p.t[lang] || p.t[cfg.langs[0]];
    const host = h('consentd-ui', {});
    const root = host.attachShadow({ mode: 'open' });
    if (root.adoptedStyleSheets) {
        const sheet = new CSSStyleSheet();
        sheet.replaceSync(css);
        root.adoptedStyleSheets = [sheet];
    } else root.append(h('style', { nonce }, css));

    const contact = /^\w+:/.test(cfg.contact) ? cfg.contact : 'mailto:' + cfg.contact;
    const switches = {};
    const items = cfg.p.map((p) => {
        const [name, description] = text(p);
        const input = (switches[p.id] = h('input', { type: 'checkbox', role: 'switch' }));
        input.disabled = p.b == 'necessary';
        return h(
            'li',
            {},
            h('label', {}, name, input),
            h('small', {}, description),
            h('small', {}, `${t[p.b]} · ${fill(t.kept, { n: p.days })}` + (p.to.length ? ` · ${t.to}${p.to.join(', ')}` : '')),
        );
    });
    const panel = h('div', { hidden: '' }, h('h3', { tabindex: -1 }, t.panel), gpc ? h('p', {}, t.gpc) : '', h('ul', {}, ...items));
    const more = h('button', { onclick: () => (panel.hidden ? openPanel() : on.save((p) => switches[p.id].checked)) }, t.custom);
    const dialog = h(
        'dialog',
        { 'aria-modal': 'true', 'aria-labelledby': 'ct', 'aria-describedby': 'cd', lang, tabindex: -1, class: layout },
        h('button', { class: 'x', onclick: on.close }, t.close + ' →'),
        h('h2', { id: 'ct' }, t.title),
        h(
            'div',
            { id: 'cd' },
            h(
                'p',
                {},
                fill(t.intro, {
                    ctl: cfg.ctl,
                    purposes: cfg.p.map((p) => text(p)[0]).join(', '),
                    to: [...new Set(cfg.p.flatMap((p) => p.to))].join(', ') || '-',
                    months: Math.round(cfg.days / 30.44),
                }),
            ),
            h(
                'p',
                {},
                t.rights + ' ',
                h('a', { href: contact }, cfg.contact),
                ...(cfg.policy ? ['. ', h('a', { href: cfg.policy }, t.policy)] : []),
            ),
        ),
        panel,
        h('div', { class: 'b' }, h('button', { onclick: on.accept }, t.accept), h('button', { onclick: on.refuse }, t.refuse), more),
    );
    const manage = h('button', { class: 'm', lang, onclick: () => open(1) }, t.manage);

    // Escape is "continue without accepting"; Tab stays inside while open.
    dialog.oncancel = (e) => {
        e.preventDefault();
        on.close();
    };
    dialog.onkeydown = (e) => {
        if (e.key != 'Tab') return;
        const stops = [...dialog.querySelectorAll('a,button,input:enabled')].filter((el) => el.getClientRects().length);
        const edge = e.shiftKey ? stops[0] : stops[stops.length - 1];
        if (root.activeElement == edge || (e.shiftKey && root.activeElement == dialog)) {
            e.preventDefault();
            (e.shiftKey ? stops[stops.length - 1] : stops[0]).focus();
        }
    };

    function openPanel() {
        for (const p of cfg.p) switches[p.id].checked = on.current(p.id);
        panel.hidden = false;
        more.textContent = t.save;
        panel.firstChild.focus();
        on.beacon('panel_opened');
    }
    function open(withPanel) {
        manage.hidden = true;
        if (!dialog.open) {
            dialog.showModal();
            dialog.focus();
        }
        if (withPanel) openPanel();
    }
    function close() {
        panel.hidden = true;
        more.textContent = t.custom;
        dialog.close();
        manage.hidden = false;
    }
    root.append(manage, dialog);
    document.body.append(host);
    return { open, close };
}
