// errors.js - the server's field errors shown where they belong. A 422
// invalid_site names each field as the site file's errors do
// ("purposes[2].legal_basis", "variants[1].texts.en.title"): the message goes
// under the control whose data-field is that path, or the nearest one
// above it ("purposes[1].cookies[0].name" -> "purposes[1].cookies"), with
// aria-invalid and aria-describedby; a field without a control is listed at
// the top instead (#problems). markInvalid and clearInvalid do the marking
// for any form (keys.js's too).
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

// The server's message about field, as a note that an element can be
// described by (markInvalid).
export const serverNote = (id, field, text) => h('p', { class: 'field-error server', id, dataset: { for: field } }, text);

// Show note about el: aria-invalid on each of invalid (el itself by
// default), el described by the note, which goes after `after` when given,
// else at the end of el's .field, else right after el.
export function markInvalid(el, note, { invalid = [el], after = null } = {}) {
    for (const c of invalid) c.setAttribute('aria-invalid', 'true');
    el.setAttribute('aria-describedby', [el.getAttribute('aria-describedby'), note.id].filter(Boolean).join(' '));
    const holder = after ? null : el.closest('.field');
    if (after) after.after(note);
    else if (holder) holder.append(note);
    else el.after(note);
}

// Every server note in container gone, with what markInvalid set for it
// (other descriptions stay).
export function clearInvalid(container) {
    const notes = [...container.querySelectorAll('.field-error.server')];
    const ids = new Set(notes.map((p) => p.id));
    for (const el of container.querySelectorAll('[aria-describedby]')) {
        const keep = el
            .getAttribute('aria-describedby')
            .split(' ')
            .filter((id) => id && !ids.has(id));
        if (keep.length) el.setAttribute('aria-describedby', keep.join(' '));
        else el.removeAttribute('aria-describedby');
    }
    for (const el of container.querySelectorAll('[aria-invalid="true"]')) el.removeAttribute('aria-invalid');
    for (const p of notes) p.remove();
}

export function clearErrors(form) {
    clearInvalid(form);
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
        const text = el.dataset.field === e.field ? e.reason : `${e.field}: ${e.reason}`;
        markInvalid(el, serverNote(`err-${++n}`, e.field, text));
    }
    if (loose.length) {
        $('#problems-list').replaceChildren(
            ...loose.map((e) => h('li', {}, e.field ? h('code', {}, e.field) : null, e.field ? ': ' : '', e.reason)),
        );
        $('#problems').hidden = false;
    }
}
