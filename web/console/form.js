// form.js - the editor's form, bound to the site document being edited: the
// site's origins, cookie domain, languages and policy version; each purpose
// (id, legal basis, trackers, retention, recipients, declared cookies and
// storage keys, Consent Mode types, GPC, its texts in every language side by
// side); the
// variants and their weights; the banner's own strings per language and
// variant beside the default ones (web/banner/texts.json, bundled at build
// time). Every control names the document's field it edits in
// data-field, as the server's errors name it ("purposes[2].legal_basis"),
// so that errors.js can put a message beside it. onChange() is called after
// each edit of the document.
import TEXTS from '../banner/texts.json';
import { $, field, h } from './dom.js';

export const LEGAL_BASES = ['consent', 'legitimate_interest', 'necessary'];
export const CONSENT_MODE_TYPES = [
    'ad_storage',
    'ad_user_data',
    'ad_personalization',
    'analytics_storage',
    'functionality_storage',
    'personalization_storage',
    'security_storage',
];
export const LAYOUTS = ['bar', 'box'];
// The banner's own strings (the features' "name.key" ones are left to the JSON view).
export const BANNER_KEYS = Object.keys(TEXTS.en).filter((k) => !k.includes('.'));

// The banner's default strings for a site language: its own, its primary
// language's ("pt-BR": "pt"), else English (web/README.md, Languages).
export const defaultTexts = (lang) => TEXTS[lang] || TEXTS[String(lang).split('-')[0]] || TEXTS.en;

const lines = (text) =>
    text
        .split('\n')
        .map((s) => s.trim())
        .filter(Boolean);

export class SiteForm {
    constructor(onChange) {
        this.doc = null;
        this.onChange = onChange;
        this.bindGeneral();
        $('#add-purpose').addEventListener('click', () => this.addPurpose());
        $('#add-variant').addEventListener('click', () => this.addVariant());
        $('#texts-lang').addEventListener('change', () => this.renderTexts());
        $('#texts-variant').addEventListener('change', () => this.renderTexts());
    }

    changed(rerender) {
        if (rerender) this.render();
        this.onChange();
    }

    languages() {
        return Array.isArray(this.doc?.languages) ? this.doc.languages.filter((l) => typeof l == 'string') : [];
    }

    // ---- the site's own fields ----
    bindGeneral() {
        const bind = (id, read, write) => {
            const el = $(id);
            el.addEventListener('input', () => {
                write(el.value);
                this.changed(false);
                if (id == '#f-languages') this.renderLanguages();
            });
            el._read = read;
        };
        bind(
            '#f-languages',
            (d) => (Array.isArray(d.languages) ? d.languages.join(', ') : ''),
            (v) =>
                (this.doc.languages = v
                    .split(',')
                    .map((s) => s.trim())
                    .filter(Boolean)),
        );
        bind(
            '#f-policy',
            (d) => d.policy_version ?? '',
            (v) => (this.doc.policy_version = v),
        );
        bind(
            '#f-origins',
            (d) => (Array.isArray(d.origins) ? d.origins.join('\n') : ''),
            (v) => (this.doc.origins = lines(v)),
        );
        bind(
            '#f-cookie-domain',
            (d) => d.cookie_domain ?? '',
            (v) => (this.doc.cookie_domain = v.trim() ? v.trim() : null),
        );
        bind(
            '#f-lifetime',
            (d) => d.choice_lifetime_days ?? '',
            (v) => {
                if (v === '') delete this.doc.choice_lifetime_days;
                else this.doc.choice_lifetime_days = Number(v);
            },
        );
    }

    // The whole form from this.doc (after a load, a reload, the JSON view).
    // A field being typed in keeps what is typed, unless all: a document
    // loaded from the server replaces everything, the field with the focus
    // too (else "Reload theirs" could show ours in it).
    render(doc = this.doc, { all = false } = {}) {
        this.doc = doc;
        for (const id of ['#f-languages', '#f-policy', '#f-origins', '#f-cookie-domain', '#f-lifetime']) {
            const el = $(id);
            if (all || document.activeElement !== el) el.value = el._read(doc);
        }
        this.renderPurposes();
        this.renderVariants();
        this.renderLanguages();
    }

    // ---- purposes ----
    renderPurposes() {
        const list = Array.isArray(this.doc.purposes) ? this.doc.purposes : [];
        $('#purposes').replaceChildren(...list.map((p, i) => this.purpose(p, i)));
    }

    addPurpose() {
        if (!Array.isArray(this.doc.purposes)) this.doc.purposes = [];
        const texts = {};
        for (const l of this.languages()) texts[l] = { name: '', description: '' };
        this.doc.purposes.push({
            id: `purpose_${this.doc.purposes.length + 1}`,
            legal_basis: 'consent',
            retention_days: 395,
            recipients: [],
            texts,
        });
        this.changed(true);
        $('#purposes').lastElementChild?.querySelector('input')?.focus();
    }

    purpose(p, i) {
        const at = `purposes[${i}]`;
        const set = (k, v, rerender = false) => {
            if (v === undefined) delete p[k];
            else p[k] = v;
            this.changed(rerender);
        };
        const input = (k, attrs = {}) =>
            h('input', {
                dataset: { field: `${at}.${k}` },
                value: p[k] ?? '',
                spellcheck: 'false',
                ...attrs,
                oninput: (e) =>
                    set(k, attrs.type == 'number' ? (e.target.value === '' ? undefined : Number(e.target.value)) : e.target.value),
            });
        const basis = h(
            'select',
            { dataset: { field: `${at}.legal_basis` }, onchange: (e) => set('legal_basis', e.target.value) },
            ...LEGAL_BASES.map((b) => h('option', { value: b }, b.replace('_', ' '))),
        );
        basis.value = p.legal_basis ?? '';
        const trackers = h('input', {
            type: 'checkbox',
            dataset: { field: `${at}.trackers` },
            checked: p.trackers !== false,
            onchange: (e) => set('trackers', e.target.checked),
        });
        const gpc = h('input', {
            type: 'checkbox',
            dataset: { field: `${at}.gpc` },
            checked: p.gpc === true,
            onchange: (e) => set('gpc', e.target.checked ? true : undefined),
        });
        const recipients = h('textarea', {
            rows: 2,
            dataset: { field: `${at}.recipients` },
            value: (p.recipients || []).join('\n'),
            oninput: (e) => set('recipients', lines(e.target.value)),
        });
        // Cookies: "name" or "name domain" a line; the domain kept when given.
        const cookies = h('textarea', {
            rows: 2,
            spellcheck: 'false',
            dataset: { field: `${at}.cookies` },
            value: (p.cookies || []).map((c) => (c.domain ? `${c.name} ${c.domain}` : c.name)).join('\n'),
            oninput: (e) => {
                const list = lines(e.target.value).map((l) => {
                    const [name, domain] = l.split(/\s+/);
                    return domain ? { name, domain } : { name };
                });
                set('cookies', list.length ? list : undefined);
            },
        });
        const storage = h('textarea', {
            rows: 2,
            spellcheck: 'false',
            dataset: { field: `${at}.storage` },
            value: (p.storage || []).join('\n'),
            oninput: (e) => set('storage', lines(e.target.value).length ? lines(e.target.value) : undefined),
        });
        const modes = new Set(Array.isArray(p.consent_mode) ? p.consent_mode : []);
        const modeBoxes = CONSENT_MODE_TYPES.map((t) =>
            h(
                'label',
                { class: 'check' },
                h('input', {
                    type: 'checkbox',
                    checked: modes.has(t),
                    onchange: (e) => {
                        if (e.target.checked) modes.add(t);
                        else modes.delete(t);
                        set('consent_mode', modes.size ? CONSENT_MODE_TYPES.filter((x) => modes.has(x)) : undefined);
                    },
                }),
                ` ${t}`,
            ),
        );
        const langs = this.languages();
        if (!p.texts || typeof p.texts != 'object') p.texts = {};
        const textRows = langs.map((l) => {
            const t = p.texts[l] || {};
            const upd = (k) => (e) => {
                p.texts[l] = t; // made at the first edit, not by showing the field
                t[k] = e.target.value;
                this.changed(false);
            };
            return h(
                'div',
                { class: 'lang-col', lang: l },
                h('p', { class: 'lang-tag' }, l),
                field(
                    `Name (${l})`,
                    h('input', { dataset: { field: `${at}.texts.${l}.name` }, value: t.name ?? '', oninput: upd('name') }),
                ),
                field(
                    `Description (${l})`,
                    h('textarea', {
                        rows: 3,
                        dataset: { field: `${at}.texts.${l}.description` },
                        value: t.description ?? '',
                        oninput: upd('description'),
                    }),
                ),
            );
        });
        const title = h('legend', {}, `Purpose ${i + 1}: `, h('code', {}, p.id || '(no id)'));
        return h(
            'fieldset',
            { class: 'purpose', dataset: { index: String(i) } },
            title,
            h(
                'div',
                { class: 'grid' },
                field('Id', input('id', { maxlength: 64 })),
                field('Legal basis', basis),
                field('Retention (days)', input('retention_days', { type: 'number', min: 1 })),
                h(
                    'div',
                    { class: 'field checks' },
                    h('label', { class: 'check' }, trackers, ' uses trackers (cookies, storage, pixels)'),
                    h('label', { class: 'check' }, gpc, ' refused under Global Privacy Control'),
                ),
                field('Recipients', recipients, { hint: 'one a line' }),
                field('Cookies it sets', cookies, { hint: 'one a line: name, or name and domain; * matches any run' }),
                field('Storage keys it sets', storage, { hint: 'localStorage and sessionStorage, one a line' }),
            ),
            h(
                'fieldset',
                { class: 'modes', dataset: { field: `${at}.consent_mode` } },
                h('legend', {}, 'Google Consent Mode types it grants'),
                ...modeBoxes,
            ),
            h('div', { class: 'langs' }, ...textRows),
            h(
                'button',
                {
                    type: 'button',
                    class: 'secondary',
                    onclick: () => {
                        this.doc.purposes.splice(i, 1);
                        this.changed(true);
                        $('#add-purpose').focus();
                    },
                },
                `Remove purpose ${p.id || i + 1}`,
            ),
        );
    }

    // ---- variants ----
    renderVariants() {
        const list = Array.isArray(this.doc.variants) ? this.doc.variants : [];
        $('#variants').replaceChildren(
            ...list.map((v, i) => {
                const at = `variants[${i}]`;
                const set = (k, val) => {
                    v[k] = val;
                    this.changed(false);
                    if (k == 'id') this.renderLanguages();
                };
                const layout = h(
                    'select',
                    { dataset: { field: `${at}.layout` }, onchange: (e) => set('layout', e.target.value) },
                    ...LAYOUTS.map((l) => h('option', { value: l }, l)),
                );
                layout.value = v.layout ?? 'bar';
                return h(
                    'div',
                    { class: 'grid variant' },
                    field(
                        `Variant ${i + 1} id`,
                        h('input', {
                            dataset: { field: `${at}.id` },
                            value: v.id ?? '',
                            spellcheck: 'false',
                            oninput: (e) => set('id', e.target.value),
                        }),
                    ),
                    field(
                        'Weight',
                        h('input', {
                            type: 'number',
                            min: 0,
                            dataset: { field: `${at}.weight` },
                            value: v.weight ?? '',
                            oninput: (e) => set('weight', Number(e.target.value)),
                        }),
                    ),
                    field('Layout', layout),
                    h(
                        'div',
                        { class: 'field actions' },
                        h(
                            'button',
                            {
                                type: 'button',
                                class: 'secondary',
                                onclick: () => {
                                    this.doc.variants.splice(i, 1);
                                    if (!this.doc.variants.length) delete this.doc.variants;
                                    this.changed(true);
                                    $('#add-variant').focus();
                                },
                            },
                            `Remove variant ${v.id || i + 1}`,
                        ),
                    ),
                );
            }),
        );
    }

    addVariant() {
        if (!Array.isArray(this.doc.variants)) this.doc.variants = [];
        const ids = new Set(this.doc.variants.map((v) => v.id));
        let n = this.doc.variants.length;
        let id;
        do id = String.fromCharCode(97 + (n++ % 26)) + (n > 26 ? n : '');
        while (ids.has(id));
        this.doc.variants.push({ id, weight: 50, layout: 'bar' });
        this.changed(true);
    }

    // ---- language and variant selectors, the banner's strings ----
    renderLanguages() {
        const fill = (sel, values, label) => {
            const el = $(sel);
            const current = el.value;
            el.replaceChildren(...values.map((v) => h('option', { value: v }, label(v))));
            if (values.includes(current)) el.value = current;
        };
        const langs = this.languages();
        const variants = (this.doc.variants || []).map((v) => v.id).filter((v) => typeof v == 'string' && v);
        fill('#texts-lang', langs, (l) => l);
        fill('#texts-variant', variants, (v) => `variant ${v}`);
        fill('#preview-lang', langs, (l) => l);
        fill('#preview-variant', variants.length ? variants : [''], (v) => (v ? `variant ${v}` : 'no variant'));
        $('#preview-variant').disabled = !variants.length;
        this.renderTexts();
    }

    renderTexts() {
        const lang = $('#texts-lang').value;
        const vid = $('#texts-variant').value;
        const vi = (this.doc.variants || []).findIndex((v) => v.id === vid);
        const note = $('#texts-note');
        if (!lang) {
            $('#texts').replaceChildren();
            note.hidden = false;
            note.textContent = 'The site has no language yet.';
            return;
        }
        const defaults = defaultTexts(lang);
        note.hidden = vi >= 0;
        note.textContent =
            'The banner shows these defaults. To change a string, add a variant (a site with one variant of weight 100 changes them for every visitor).';
        const variant = vi >= 0 ? this.doc.variants[vi] : null;
        const rows = BANNER_KEYS.map((key) => {
            const own = variant?.texts?.[lang]?.[key];
            let control = null;
            if (variant) {
                control = h('textarea', {
                    rows: defaults[key].length > 80 ? 3 : 1,
                    dataset: { field: `variants[${vi}].texts.${lang}.${key}` },
                    value: own ?? '',
                    placeholder: 'the default',
                    lang,
                    oninput: (e) => {
                        const texts = (variant.texts = variant.texts || {});
                        const t = (texts[lang] = texts[lang] || {});
                        if (e.target.value === '') delete t[key];
                        else t[key] = e.target.value;
                        if (!Object.keys(t).length) delete texts[lang];
                        if (!Object.keys(texts).length) delete variant.texts;
                        this.changed(false);
                    },
                });
                control.id = `text-${key}`;
            }
            return h(
                'div',
                { class: 'text-row' },
                h('p', { class: 'text-key' }, variant ? h('label', { for: control.id }, key) : key),
                h('p', { class: 'text-default', lang }, defaults[key]),
                control,
            );
        });
        const head = h(
            'div',
            { class: 'text-row text-head', 'aria-hidden': 'true' },
            h('p', {}, 'string'),
            h('p', {}, `default (${lang})`),
            variant ? h('p', {}, `variant ${variant.id}`) : null,
        );
        $('#texts').replaceChildren(head, ...rows);
    }
}
