// tcf.js - IAB TCF v2.3 (issue 24, items 3 and 5), inlined only in the
// banner of a site with a "tcf" block. Its settings are cfg.tcf
// (src/banner_build.c, banner_settings_tcf): the CMP's id and version, the
// GVL version, the site's vendors with their declarations, the GVL's texts
// in the site's languages.
//
// THE DIALOG. It replaces the core's (cfg.UI): a first layer with what the TCF
// policies ask (the number of vendors, the purposes or the site's stacks,
// the special features, legitimate interest and the right to object, a way
// to the second layer; accept and refuse of equal weight) and a second layer
// with every purpose, special feature and vendor (its purposes, legitimate
// interests with the right to object, retention, data categories, links),
// searchable, with a switch per consent and per legitimate interest. Each
// choice goes through the core's buttons (on.accept, on.refuse, on.save),
// with the TCF choice on the core's `about` (k.about, when the core has it)
// so that the consent POST carries it as "tcf" (docs/tcf.md), and is kept in
// localStorage ("consentd-tcf") with the TC string consentd signed (read
// from the proof in the core's cookie once recorded): a reload answers
// __tcfapi at once.
//
// THE API. window.__tcfapi (CMP API v2.2: ping, getTCData,
// addEventListener, removeEventListener), answering the calls the stub
// (GET /v1/sites/{site}/tcf-stub.js) queued, the "__tcfapiLocator" iframe
// and the postMessage transport for vendors in iframes (the stub's listener
// when the stub ran, else this one). cmpStatus is "loading" until the page's
// DOM is ready, then "loaded"; calls other than ping wait until then.
// eventStatus: "tcloaded" (a choice was there), "cmpuishown" (the dialog
// asks), "useractioncomplete" (the visitor chose and consentd recorded it).
/* global CONSENTD_FEATURES, CONSENTD_FEATURE_CSS */
import { fill, h } from '../ui.js';
CONSENTD_FEATURES.push((k) => {
    const { cfg, lang } = k;
    const S = cfg.tcf;
    const t = cfg.ui[lang];
    const g = S.t[lang] || S.t[cfg.langs[0]];
    const KEY = 'consentd-tcf';
    const NO_LI = [1, 3, 4, 5, 6]; // never on legitimate interest (TCF policy)
    const uniq = (a) => [...new Set(a)].sort((x, y) => x - y);
    // What the site's vendors ask: purposes on consent, on legitimate
    // interest, special features.
    const consentPurposes = uniq([...S.v.flatMap((v) => v[2]), ...S.pc]);
    const liPurposes = uniq([...S.v.flatMap((v) => v[3]), ...S.pl]).filter((p) => !NO_LI.includes(p));
    const features = uniq(S.v.flatMap((v) => v[4]));
    const ids = S.v.map((v) => v[0]);
    const liVendors = S.v.filter((v) => v[3].length || v[5].length).map((v) => v[0]);
    const consentVendors = S.v.filter((v) => v[2].length).map((v) => v[0]);
    // A vendor declaring only special purposes has its legitimate interest
    // whatever the choice (no objection possible: consentd writes it so too).
    const spOnly = S.v.filter((v) => !v[2].length && !v[3].length && v[5].length).map((v) => v[0]);

    // The TCF choice, as the consent POST's "tcf" member takes it: every
    // consent given or none; legitimate interests not objected to (li) or
    // all objected to. As the core's buttons: "Accept all" gives all,
    // "Refuse all" refuses all (objections included), "Continue without
    // accepting" refuses consents and leaves legitimate interests as they were.
    const all = (yes, li = yes) => ({
        purposes: { consents: yes ? consentPurposes : [], legitimate_interests: li ? liPurposes : [] },
        special_features: yes ? features : [],
        vendors: { consents: yes ? consentVendors : [], legitimate_interests: li ? liVendors : [] },
        publisher: S.pc.length || S.pl.length ? { consents: yes ? S.pc : [], legitimate_interests: li ? S.pl : [] } : undefined,
    });
    const dismissed = () => {
        const c = all(0, 1);
        if (choice) {
            c.purposes.legitimate_interests = choice.purposes.legitimate_interests;
            c.vendors.legitimate_interests = choice.vendors.legitimate_interests;
            if (c.publisher) c.publisher.legitimate_interests = choice.publisher?.legitimate_interests || [];
        }
        return c;
    };
    const cookie = () => {
        try {
            return JSON.parse(decodeURIComponent(document.cookie.match(/(?:^|; )consentd=([^;]*)/)[1]));
        } catch {}
    };
    // The TC string in a proof's claims (a compact JWS), '' when none.
    const fromProof = (jws) => {
        try {
            const c = JSON.parse(atob(jws.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')));
            return c.tcf?.tc_string || c.tc_string || '';
        } catch {
            return '';
        }
    };
    let saved;
    try {
        saved = JSON.parse(localStorage[KEY]);
    } catch {}
    const c0 = cookie();
    // Valid while the core's choice is: the same policy version.
    if (!c0 || c0.pv != cfg.pv || !saved) saved = null;
    let choice = saved?.c;
    let tcString = saved?.s || (c0?.p ? fromProof(c0.p) : '');
    let status = 'loading';
    let shown = false;
    let eventStatus = choice ? 'tcloaded' : undefined;
    const listeners = new Map();
    let nextId = 0;

    const map = (list, of = list) => Object.fromEntries(of.map((id) => [id, list.includes(id)]));
    function tcData(listenerId, only) {
        // GDPR does not apply: the CMP's ids only (CMP API v2, TCData).
        if (!S.ga)
            return {
                tcfPolicyVersion: S.tp,
                cmpId: S.id,
                cmpVersion: S.cv,
                gdprApplies: false,
                eventStatus,
                cmpStatus: status,
                listenerId,
            };
        const c = choice || all(0);
        const pub = c.publisher || {};
        const vids = only || ids;
        return {
            tcString: choice ? tcString : undefined,
            tcfPolicyVersion: S.tp,
            cmpId: S.id,
            cmpVersion: S.cv,
            gdprApplies: S.ga,
            eventStatus,
            cmpStatus: status,
            listenerId,
            isServiceSpecific: true,
            useNonStandardTexts: false,
            publisherCC: S.cc,
            purposeOneTreatment: false,
            purpose: {
                consents: map(c.purposes.consents, consentPurposes),
                legitimateInterests: map(c.purposes.legitimate_interests, liPurposes),
            },
            vendor: {
                consents: map(c.vendors.consents, vids),
                legitimateInterests: map([...c.vendors.legitimate_interests, ...spOnly], vids),
            },
            specialFeatureOptins: map(c.special_features, features),
            publisher: {
                consents: map(pub.consents || [], S.pc),
                legitimateInterests: map(pub.legitimate_interests || [], S.pl),
                customPurpose: { consents: {}, legitimateInterests: {} },
                restrictions: {},
            },
        };
    }
    const emit = (e) => {
        eventStatus = e;
        for (const [id, cb] of listeners) cb(tcData(id), true);
    };
    const commands = {
        ping: (cb) =>
            cb(
                {
                    gdprApplies: S.ga,
                    cmpLoaded: status == 'loaded',
                    cmpStatus: status,
                    displayStatus: S.ga ? (shown ? 'visible' : 'hidden') : 'disabled',
                    apiVersion: '2.2',
                    cmpVersion: S.cv,
                    cmpId: S.id,
                    gvlVersion: S.vl,
                    tcfPolicyVersion: S.tp,
                },
                true,
            ),
        getTCData: (cb, only) => cb(tcData(undefined, Array.isArray(only) ? only : undefined), true),
        addEventListener: (cb) => {
            listeners.set(++nextId, cb);
            if (eventStatus) cb(tcData(nextId), true);
        },
        removeEventListener: (cb, id) => cb(listeners.delete(id), true),
    };
    const queue = [];
    const api = (command, version, cb, param) => {
        if (typeof cb != 'function') return;
        if (command == 'ping' || status == 'loaded') {
            if (version > 2 || !commands[command]) return cb(false, false);
            commands[command](cb, param);
        } else queue.push([command, version, cb, param]);
    };
    const stub = window.__tcfapi;
    if (!stub?.q) {
        // No stub: the locator and the postMessage transport are ours.
        addEventListener('message', (e) => {
            let m = e.data;
            const s = typeof m == 'string';
            try {
                m = (s ? JSON.parse(m) : m)?.__tcfapiCall;
            } catch {}
            if (m?.command)
                window.__tcfapi(
                    m.command,
                    m.version,
                    (returnValue, success) => {
                        const r = { __tcfapiReturn: { returnValue, success, callId: m.callId } };
                        e.source?.postMessage(s ? JSON.stringify(r) : r, '*');
                    },
                    m.parameter,
                );
        });
        const locate = () =>
            window.frames.__tcfapiLocator ||
            (document.body
                ? document.body.append(h('iframe', { name: '__tcfapiLocator', hidden: '', tabindex: -1, title: 'IAB TCF locator' }))
                : setTimeout(locate, 5));
        locate();
    }
    window.__tcfapi = api;
    for (const call of stub?.q || []) api(...call);
    // GDPR does not apply (the site's tcf.gdpr_applies is false): no TCF
    // dialog, no TCF choice, no TC string; __tcfapi answers gdprApplies
    // false ("tcloaded", displayStatus "disabled") once the DOM is ready,
    // and the core's own banner asks for the site's purposes.
    if (!S.ga) {
        eventStatus = 'tcloaded';
        const done = () => {
            status = 'loaded';
            for (const call of queue.splice(0)) api(...call);
        };
        if (document.readyState == 'loading') document.addEventListener('DOMContentLoaded', done);
        else done();
        return;
    }

    const save = (c) => {
        choice = c;
        tcString = '';
        try {
            localStorage[KEY] = JSON.stringify({ c, s: '' });
        } catch {}
    };
    // After a choice: the TC string once consentd recorded it (the proof in
    // the cookie), then "useractioncomplete". Not recorded within 20 s (the
    // core keeps retrying): the event goes without it. The core rewrote the
    // cookie without a proof when the choice was made (pending, q): a proof
    // seen since is this choice's.
    const recorded = (event, n = 0) => {
        const p = cookie()?.p;
        if (p) {
            tcString = fromProof(p);
            try {
                localStorage[KEY] = JSON.stringify({ c: choice, s: tcString });
            } catch {}
        } else if (n < 80) return setTimeout(recorded, 250, event, n + 1);
        if (event) emit(event);
    };
    // The core records the site's own purposes; the TCF choice travels on
    // `about` for that POST only: the core's consent POST reads `about` first
    // (and keeps the body it built for its retries), and the member goes
    // with that read, so that no other body of the core (the events) carries
    // it. docs/tcf.md.
    const carry = (c) =>
        k.about &&
        Object.defineProperty(k.about, 'tcf', {
            get() {
                delete this.tcf;
                return c;
            },
            enumerable: true,
            configurable: true,
        });
    const choose = (c, go) => {
        save(c);
        carry(c);
        go();
        if (k.about) delete k.about.tcf;
        recorded('useractioncomplete');
    };

    cfg.UI = (_cfg, _lang, _layout, nonce, css, _gpc, on) => {
        const host = h('consentd-ui', {});
        const root = host.attachShadow({ mode: 'open' });
        if (root.adoptedStyleSheets) {
            const sheet = new CSSStyleSheet();
            sheet.replaceSync(css + CONSENTD_FEATURE_CSS);
            root.adoptedStyleSheets = [sheet];
        } else root.append(h('style', { nonce }, css + CONSENTD_FEATURE_CSS));
        const name = (kind, id) => (g[kind][id] || [])[0] || '';
        const desc = (kind, id) => (g[kind][id] || [])[1] || '';
        const sw = (label, checked, attrs = {}) =>
            h(
                'label',
                { class: 'sw' },
                label,
                h('input', { type: 'checkbox', role: 'switch', ...attrs, ...(checked ? { checked: '' } : {}) }),
            );
        // First layer: the stacks the site chose, then the purposes no stack covers.
        const inStacks = S.st.flatMap((s) => s[1]);
        const listed = [
            ...S.st.map((s) => name('s', s[0])),
            ...uniq([...consentPurposes, ...liPurposes])
                .filter((p) => !inStacks.includes(p))
                .map((p) => name('p', p)),
        ];
        const first = h(
            'div',
            { id: 'cd' },
            h('p', {}, fill(t['tcf.intro'], { n: S.v.length, ctl: cfg.ctl })),
            h('h3', {}, t['tcf.purposes']),
            h('ul', { class: 'l' }, ...listed.map((n) => h('li', {}, n))),
            features.length ? h('h3', {}, t['tcf.special']) : '',
            features.length ? h('ul', { class: 'l' }, ...features.map((f) => h('li', {}, name('sf', f)))) : '',
            h(
                'p',
                {},
                t.rights + ' ',
                h('a', { href: /^\w+:/.test(cfg.contact) ? cfg.contact : 'mailto:' + cfg.contact }, cfg.contact),
                ...(cfg.policy ? ['. ', h('a', { href: cfg.policy }, t.policy)] : []),
            ),
        );
        // Second layer.
        const panel = h('div', { hidden: '', class: 'p2' });
        let inputs;
        function buildPanel() {
            // Before a choice: consents off, legitimate interests on (objectable).
            const c = choice || all(0, 1);
            inputs = { pc: {}, pl: {}, sf: {}, vc: {}, vl: {} };
            const purpose = (p) =>
                h(
                    'li',
                    {},
                    h('strong', {}, name('p', p)),
                    h('small', {}, desc('p', p)),
                    consentPurposes.includes(p) ? (inputs.pc[p] = sw(t['tcf.consent'], c.purposes.consents.includes(p))) : '',
                    liPurposes.includes(p) ? (inputs.pl[p] = sw(t['tcf.li'], c.purposes.legitimate_interests.includes(p))) : '',
                );
            const search = h('input', { type: 'search', 'aria-label': t['tcf.search'], placeholder: t['tcf.search'] });
            const vendors = S.v.map((v) => {
                const [id, vname, ps, lis, sfs, sps, fs, data, days, privacy, liUrl, storage] = v;
                const names = (kind, list) => list.map((x) => name(kind, x)).join(', ');
                const li = h(
                    'li',
                    { 'data-name': vname.toLowerCase() },
                    h(
                        'details',
                        {},
                        h('summary', {}, vname),
                        ps.length ? h('p', {}, `${t['tcf.consent']}: ${names('p', ps)}`) : '',
                        lis.length ? h('p', {}, `${t['tcf.li']}: ${names('p', lis)}`) : '',
                        sfs.length ? h('p', {}, `${t['tcf.special']}: ${names('sf', sfs)}`) : '',
                        sps.length || fs.length
                            ? h('p', {}, `${t['tcf.nochoice']}: ${[names('sp', sps), names('f', fs)].filter(Boolean).join(', ')}`)
                            : '',
                        days != null ? h('p', {}, fill(t.kept, { n: days })) : '',
                        data.length ? h('p', {}, t['tcf.data'] + names('d', data)) : '',
                        h(
                            'p',
                            {},
                            ...[
                                [privacy, t['tcf.privacy']],
                                [liUrl, t['tcf.liclaim']],
                                [storage, t['tcf.storage']],
                            ]
                                .filter(([u]) => u)
                                .flatMap(([u, label], i) => [
                                    i ? ' · ' : '',
                                    h('a', { href: u, target: '_blank', rel: 'noopener' }, label),
                                ]),
                        ),
                    ),
                    ps.length ? (inputs.vc[id] = sw(`${t['tcf.consent']}: ${vname}`, c.vendors.consents.includes(id))) : '',
                    lis.length || sps.length
                        ? (inputs.vl[id] = sw(`${t['tcf.li']}: ${vname}`, c.vendors.legitimate_interests.includes(id)))
                        : '',
                );
                return li;
            });
            search.oninput = () => {
                const q = search.value.trim().toLowerCase();
                for (const li of vendors) li.hidden = !li.dataset.name.includes(q);
            };
            panel.replaceChildren(
                h('h3', { tabindex: -1 }, t['tcf.purposes']),
                h('ul', {}, ...uniq([...consentPurposes, ...liPurposes]).map(purpose)),
                features.length ? h('h3', {}, t['tcf.special']) : '',
                h(
                    'ul',
                    {},
                    ...features.map((f) =>
                        h(
                            'li',
                            {},
                            h('strong', {}, name('sf', f)),
                            h('small', {}, desc('sf', f)),
                            (inputs.sf[f] = sw(t['tcf.consent'], c.special_features.includes(f))),
                        ),
                    ),
                ),
                h('h3', {}, fill(t['tcf.vendors'], { n: S.v.length })),
                search,
                h('ul', { class: 'v' }, ...vendors),
            );
        }
        const picked = (o) =>
            Object.entries(o)
                .filter(([, label]) => label.lastChild.checked)
                .map(([id]) => +id);
        const more = h(
            'button',
            {
                onclick: () => {
                    if (panel.hidden) return openPanel();
                    const c = {
                        purposes: { consents: picked(inputs.pc), legitimate_interests: picked(inputs.pl) },
                        special_features: picked(inputs.sf),
                        vendors: { consents: picked(inputs.vc), legitimate_interests: picked(inputs.vl) },
                        publisher: all(0).publisher && {
                            consents: S.pc.filter((p) => picked(inputs.pc).includes(p)),
                            legitimate_interests: S.pl.filter((p) => picked(inputs.pl).includes(p)),
                        },
                    };
                    // The site's own purposes: granted when any TCF consent is.
                    const any = c.purposes.consents.length > 0;
                    choose(c, () => on.save((p) => (p.b == 'consent' ? any : on.current(p.id))));
                },
            },
            t.custom,
        );
        const dialog = h(
            'dialog',
            { 'aria-modal': 'true', 'aria-labelledby': 'ct', 'aria-describedby': 'cd', lang, tabindex: -1, class: 'box tcf' },
            h('button', { class: 'x', onclick: () => choose(dismissed(), on.close) }, t.close + ' →'),
            h('h2', { id: 'ct' }, t.title),
            first,
            panel,
            h(
                'div',
                { class: 'b' },
                h('button', { onclick: () => choose(all(1), on.accept) }, t.accept),
                h('button', { onclick: () => choose(all(0), on.refuse) }, t.refuse),
                more,
            ),
        );
        const manage = h('button', { class: 'm', lang, onclick: () => open(1) }, t.manage);
        dialog.oncancel = (e) => {
            e.preventDefault();
            choose(dismissed(), on.close);
        };
        // Tab stays inside while open, as in the core's dialog.
        dialog.onkeydown = (e) => {
            if (e.key != 'Tab') return;
            const stops = [...dialog.querySelectorAll('a,button,input:enabled,summary')].filter((el) => el.getClientRects().length);
            const edge = e.shiftKey ? stops[0] : stops[stops.length - 1];
            if (root.activeElement == edge || (e.shiftKey && root.activeElement == dialog)) {
                e.preventDefault();
                (e.shiftKey ? stops[stops.length - 1] : stops[0]).focus();
            }
        };
        function openPanel() {
            buildPanel();
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
            shown = true;
            emit('cmpuishown');
        }
        function close() {
            panel.hidden = true;
            more.textContent = t.custom;
            dialog.close();
            manage.hidden = false;
            shown = false;
        }
        root.append(manage, dialog);
        document.body.append(host);
        // A choice still pending from an earlier page (consentd was not
        // reached): the core sends it again right after this returns, with
        // `about`: the TCF choice goes with it (and with the core's retries),
        // and its TC string is read once recorded.
        if (k.about && choice && cookie()?.q) {
            carry(choice);
            setTimeout(() => delete k.about.tcf);
            recorded();
        }
        status = 'loaded';
        for (const call of queue.splice(0)) api(...call);
        return { open, close };
    };
});
