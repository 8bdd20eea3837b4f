// errors.js - the server's field errors shown where they belong. A 422
// invalid_site names each field as the site file's errors do
// ("purposes[2].legal_basis", "variants[1].texts.en.title"): the message goes
// under the control whose data-field is that path, or the nearest one
// above it ("purposes[1].cookies[0].name" -> "purposes[1].cookies"), with
// aria-invalid and aria-describedby; a field without a control is listed at
// the top instead (#problems).
import { $, h } from './dom.js';

// "purposes[1].cookies[0].name" -> ["purposes[1].cookies[0].name", "purposes[1].cookies[0]", "purposes[1].cookies", "purposes[1]", "purposes"]
export function fieldAncestors(path) {
    const out = [];
    let p = String(path || '');
    while (p) {
        out.push(p);
        const cut = Math.max(p.lastIndexOf('.'), p.lastIndexOf('['));
        p = cut > 0 ? p.slice(0, cut) : '';
    }
    return out;
}

function controlFor(form, path) {
    const controls = [...form.querySelectorAll('[data-field]')].filter((el) => el.dataset.field !== '');
    for (const candidate of fieldAncestors(path)) {
        const el = controls.find((c) => c.dataset.field === candidate);
        if (el) return el;
    }
    return null;
}

export function clearErrors(form) {
    for (const el of form.querySelectorAll('[aria-invalid="true"]')) {
        el.removeAttribute('aria-invalid');
        const ids = (el.getAttribute('aria-describedby') || '').split(' ').filter((id) => id && !id.startsWith('err-'));
        if (ids.length) el.setAttribute('aria-describedby', ids.join(' '));
        else el.removeAttribute('aria-describedby');
    }
    for (const p of form.querySelectorAll('.field-error.server')) p.remove();
    $('#problems-list').replaceChildren();
    $('#problems').hidden = true;
}

// errors: [{field, reason}]; message: the whole message, for an error without fields.
export function showErrors(form, errors, message) {
    clearErrors(form);
    const loose = [];
    let n = 0;
    for (const e of errors.length ? errors : [{ field: '', reason: message }]) {
        const el = e.field ? controlFor(form, e.field) : null;
        if (!el) {
            loose.push(e);
            continue;
        }
        const id = `err-${++n}`;
        const text = el.dataset.field === e.field ? e.reason : `${e.field}: ${e.reason}`;
        const note = h('p', { class: 'field-error server', id, dataset: { for: e.field } }, text);
        el.setAttribute('aria-invalid', 'true');
        el.setAttribute('aria-describedby', [el.getAttribute('aria-describedby'), id].filter(Boolean).join(' '));
        const holder = el.closest('.field');
        if (holder) holder.append(note);
        else el.after(note);
    }
    if (loose.length) {
        $('#problems-list').replaceChildren(
            ...loose.map((e) => h('li', {}, e.field ? h('code', {}, e.field) : null, e.field ? ': ' : '', e.reason)),
        );
        $('#problems').hidden = false;
    }
}
