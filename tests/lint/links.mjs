// tests/lint/links.mjs - the documentation's own links, checked (ctest
// lint_docs, through tests/lint/lint.sh docs): every relative link of every
// Markdown file of the repository (README.md, docs/, bench/, web/, ops/,
// tests/; not node_modules nor build trees) must name a file or directory
// that exists, and a "#fragment" must name a heading of the Markdown file it
// points to (GitHub's anchors: lower case, punctuation dropped, spaces as
// "-", "-1", "-2", ... for repeated headings) or an explicit
// <a id="..."> / <a name="..."> there. Links to other sites are not
// followed: the tests never use the network.
//
// Prints one line per broken link, "FILE:LINE: TARGET: REASON", and exits 1
// when there is one. Node's standard library only.
import fs from 'node:fs';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..', '..');

function markdownFiles(dir, out = []) {
    for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
        if (entry.name.startsWith('.') || entry.name === 'node_modules' || /^build/.test(entry.name) || entry.name === 'var') continue;
        const full = path.join(dir, entry.name);
        if (entry.isDirectory()) markdownFiles(full, out);
        else if (entry.name.endsWith('.md')) out.push(full);
    }
    return out;
}

/* The lines of a Markdown text, those inside fenced code blocks as "" (a
 * link or a heading in an example is not one of the page). */
function unfenced(text) {
    let fence = null;
    return text.split('\n').map((line) => {
        const open = /^\s*(```+|~~~+)/.exec(line);
        if (fence) {
            if (open && open[1][0] === fence[0] && open[1].length >= fence.length) fence = null;
            return '';
        }
        if (open) {
            fence = open[1];
            return '';
        }
        return line;
    });
}

/* ... and without inline code spans either. */
const proseLines = (text) => unfenced(text).map((line) => line.replace(/`+[^`]*`+/g, ''));

/* GitHub's anchor of a heading's text. */
function slug(heading) {
    return heading
        .replace(/<[^>]+>/g, '')
        .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
        .trim()
        .toLowerCase()
        .replace(/[^\p{L}\p{N}\- _]/gu, '')
        .replace(/ /g, '-');
}

const anchorsOf = new Map();
function anchors(file) {
    if (anchorsOf.has(file)) return anchorsOf.get(file);
    const set = new Set();
    const seen = new Map();
    for (const line of unfenced(fs.readFileSync(file, 'utf8'))) {
        const h = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
        if (h) {
            const base = slug(h[1].replace(/`/g, ''));
            const n = seen.get(base) ?? 0;
            seen.set(base, n + 1);
            set.add(n === 0 ? base : `${base}-${n}`);
        }
        for (const m of line.matchAll(/<a\s+(?:id|name)="([^"]+)"/g)) set.add(m[1]);
    }
    anchorsOf.set(file, set);
    return set;
}

const problems = [];
let links = 0;
for (const file of markdownFiles(root).sort()) {
    const rel = path.relative(root, file);
    proseLines(fs.readFileSync(file, 'utf8')).forEach((line, i) => {
        // [text](target "title") and [text]: target (reference definitions).
        const targets = [
            ...[...line.matchAll(/\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)].map((m) => m[1]),
            ...[...line.matchAll(/^\s*\[[^\]]+\]:\s*(\S+)/g)].map((m) => m[1]),
        ];
        for (const target of targets) {
            if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
            links++;
            const hash = target.indexOf('#');
            const pathPart = decodeURIComponent(hash < 0 ? target : target.slice(0, hash));
            const fragment = hash < 0 ? null : decodeURIComponent(target.slice(hash + 1));
            const dest = pathPart === '' ? file : path.resolve(path.dirname(file), pathPart);
            const where = `${rel}:${i + 1}: ${target}`;
            if (!dest.startsWith(root + path.sep) && dest !== root) {
                problems.push(`${where}: outside the repository`);
                continue;
            }
            if (!fs.existsSync(dest)) {
                problems.push(`${where}: no such file or directory`);
                continue;
            }
            if (fragment !== null && dest.endsWith('.md') && !anchors(dest).has(fragment))
                problems.push(`${where}: no heading "#${fragment}" in ${path.relative(root, dest)}`);
        }
    });
}

for (const p of problems) console.log(p);
console.log(`links: ${links} relative links checked, ${problems.length} broken`);
process.exit(problems.length > 0 ? 1 : 0);
