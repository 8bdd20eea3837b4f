// ops/verify-log.mjs - the checks of ops/verify-log.sh: an independent
// verifier of a consentd consent log (no consentd code; Node's own crypto).
//
// Usage: node ops/verify-log.mjs LOG.ndjson CHECKPOINTS JWKS.json SITE
//   LOG.ndjson   GET /v1/sites/SITE/log, every page, one entry per line
//   CHECKPOINTS  GET /v1/sites/SITE/log/checkpoints, every page, one page per line
//   JWKS.json    GET /.well-known/jwks.json
// Prints one line per problem, naming partition, n and id, then a summary.
// Exits 0 when the log and the checkpoints verify, 1 when not, 2 on bad input.
//
// The definitions (docs/data.md, "The tamper-evident log"):
//   leaf = SHA-256(0x00 || raw)  (raw: the entry's canonical encoding)
//   h_0  = SHA-256(0x02 || "consentd log v1" || 0x00 || site || 0x00 || p)
//   h_k  = SHA-256(0x01 || h_{k-1} || leaf_k)
//   root = SHA-256(0x03 || for each head: u32be(p) || u64be(n) || h)
// A checkpoint is a JWS (EdDSA) whose payload names the previous checkpoint
// (prev: SHA-256 hex of its JWS) and the head (p, n, id, h) of every partition.
import crypto from 'node:crypto';
import fs from 'node:fs';

const sha256 = (...parts) => {
    const h = crypto.createHash('sha256');
    for (const p of parts) h.update(p);
    return h.digest();
};
const b64url = (s) => Buffer.from(s, 'base64url');

function usage(why) {
    process.stderr.write(`verify-log: ${why}\nUsage: node ops/verify-log.mjs LOG.ndjson CHECKPOINTS JWKS.json SITE\n`);
    process.exit(2);
}

/* The checkpoint's signature against the JWKS: its payload, or null. */
function verifiedPayload(jws, keys) {
    const parts = String(jws).split('.');
    try {
        const header = JSON.parse(b64url(parts[0]).toString('utf8'));
        const key = keys.get(header.kid);
        if (parts.length !== 3 || header.alg !== 'EdDSA' || !key) return null;
        if (!crypto.verify(null, Buffer.from(`${parts[0]}.${parts[1]}`), key, b64url(parts[2]))) return null;
        return JSON.parse(b64url(parts[1]).toString('utf8'));
    } catch {
        return null;
    }
}

function jwksKeys(file) {
    const keys = new Map();
    for (const jwk of JSON.parse(fs.readFileSync(file, 'utf8')).keys ?? []) {
        if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519' && jwk.kid) keys.set(jwk.kid, crypto.createPublicKey({ key: jwk, format: 'jwk' }));
    }
    return keys;
}

const startOf = (site, p) =>
    sha256(Buffer.from([2]), Buffer.from('consentd log v1'), Buffer.from([0]), Buffer.from(site), Buffer.from([0]), Buffer.from(String(p)));

/* --inclusion PROOF.json JWKS.json SITE: one entry (GET .../log/inclusion)
 * under its checkpoint: recompute the partition's head from the entry's raw
 * bytes, the chain value before it and the leaves after it. */
if (process.argv[2] === '--inclusion') {
    const [proofFile, jwksFile, site] = process.argv.slice(3);
    if (!site) usage('--inclusion needs PROOF.json JWKS.json SITE');
    const proof = JSON.parse(fs.readFileSync(proofFile, 'utf8'));
    const fail = (why) => {
        process.stdout.write(`verify-log: FAILED: entry ${proof.id} of partition ${proof.partition}: ${why}\n`);
        process.exit(1);
    };
    const payload = verifiedPayload(proof.checkpoint?.jws, jwksKeys(jwksFile));
    if (!payload || payload.typ !== 'consentd-log-checkpoint' || payload.site !== site)
        fail('the checkpoint does not verify with the JWKS');
    const head = payload.heads.find((h) => h.p === proof.partition);
    if (!head) fail('the checkpoint has no head for its partition');
    const raw = b64url(proof.raw);
    if (decodeRaw(raw).id !== proof.id) fail('its raw bytes name another id');
    let h = proof.prev ? Buffer.from(proof.prev.h, 'hex') : proof.n === 1 ? startOf(site, proof.partition) : null;
    if (!h) fail('no chain value before it (the partition starts later than n 1)');
    h = sha256(Buffer.from([1]), h, sha256(Buffer.from([0]), raw));
    for (const f of proof.following) h = sha256(Buffer.from([1]), h, Buffer.from(f.leaf, 'hex'));
    const lastId = proof.following.length > 0 ? proof.following.at(-1).id : proof.id;
    if (h.toString('hex') !== head.h || lastId !== head.id)
        fail(`it does not lead to the head signed in checkpoint ${proof.checkpoint.id}`);
    process.stdout.write(
        `verify-log: OK: entry ${proof.id} (partition ${proof.partition}, n ${proof.n}) is in the log under checkpoint ${proof.checkpoint.id} (signed ${new Date(payload.ts).toISOString()})\n`,
    );
    process.exit(0);
}

const [logFile, checkpointsFile, jwksFile, site] = process.argv.slice(2);
if (!site) usage('four arguments are needed');

const problems = [];
const notes = [];
const problem = (text) => problems.push(text);

// ---- the raw entries --------------------------------------------------------

/* The canonical encoding: u32be(len) id, then u32be(len) bytes for each
 * field and value in stored order. */
function decodeRaw(raw) {
    let at = 0;
    const next = () => {
        if (at + 4 > raw.length) throw new Error('truncated');
        const len = raw.readUInt32BE(at);
        if (at + 4 + len > raw.length) throw new Error('truncated');
        const v = raw.subarray(at + 4, at + 4 + len);
        at += 4 + len;
        return v;
    };
    const id = next().toString('latin1');
    const fields = {};
    while (at < raw.length) {
        const name = next().toString('latin1');
        fields[name] = next();
    }
    return { id, fields };
}

const partitions = new Map(); /* p -> [entry] in export order */
let entryCount = 0;
const lines = fs
    .readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((l) => l.trim() !== '');
for (const [i, line] of lines.entries()) {
    let e;
    try {
        e = JSON.parse(line);
    } catch {
        usage(`${logFile}: line ${i + 1}: not JSON`);
    }
    const raw = b64url(e.raw ?? '');
    let decoded;
    try {
        decoded = decodeRaw(raw);
    } catch {
        problem(`altered: partition ${e.p}, id ${e.id}: its raw bytes are not a log entry`);
        continue;
    }
    if (decoded.id !== e.id) problem(`altered: partition ${e.p}, id ${e.id}: its raw bytes name id ${decoded.id}`);
    const nField = decoded.fields.n ? Number(decoded.fields.n.toString('latin1')) : null;
    const entry = { p: e.p, id: decoded.id, n: nField, leaf: sha256(Buffer.from([0]), raw), h: e.h ?? null };
    if (!partitions.has(e.p)) partitions.set(e.p, []);
    partitions.get(e.p).push(entry);
    entryCount++;
}

// ---- the checkpoints ----------------------------------------------------------

const jwks = JSON.parse(fs.readFileSync(jwksFile, 'utf8'));
const keys = new Map();
for (const jwk of jwks.keys ?? []) {
    if (jwk.kty === 'OKP' && jwk.crv === 'Ed25519' && jwk.kid) keys.set(jwk.kid, crypto.createPublicKey({ key: jwk, format: 'jwk' }));
}

const checkpoints = [];
for (const line of fs.readFileSync(checkpointsFile, 'utf8').split('\n')) {
    if (line.trim() === '') continue;
    let page;
    try {
        page = JSON.parse(line);
    } catch {
        usage(`${checkpointsFile}: a page is not JSON`);
    }
    for (const c of page.checkpoints ?? []) checkpoints.push(c);
}

const signed = []; /* the payloads whose signature verified, in order */
let previous = null;
for (const c of checkpoints) {
    const parts = String(c.jws).split('.');
    let header, payload;
    try {
        header = JSON.parse(b64url(parts[0]).toString('utf8'));
        payload = JSON.parse(b64url(parts[1]).toString('utf8'));
    } catch {
        problem(`checkpoint ${c.id}: not a JWS`);
        continue;
    }
    const key = keys.get(header.kid);
    if (parts.length !== 3 || header.alg !== 'EdDSA' || !key) {
        problem(`checkpoint ${c.id}: no key ${header.kid} in the JWKS, or not EdDSA`);
        continue;
    }
    if (!crypto.verify(null, Buffer.from(`${parts[0]}.${parts[1]}`), key, b64url(parts[2]))) {
        problem(`checkpoint ${c.id}: bad signature`);
        continue;
    }
    if (payload.typ !== 'consentd-log-checkpoint' || payload.site !== site) {
        problem(`checkpoint ${c.id}: not a checkpoint of site ${site}`);
        continue;
    }
    // root over the heads, as the checkpointer computes it
    const buf = [Buffer.from([3])];
    for (const h of payload.heads) {
        const b = Buffer.alloc(12);
        b.writeUInt32BE(h.p, 0);
        b.writeBigUInt64BE(BigInt(h.n), 4);
        buf.push(b, Buffer.from(h.h, 'hex'));
    }
    if (sha256(...buf).toString('hex') !== payload.root) problem(`checkpoint ${c.id}: its root does not match its heads`);
    if (previous) {
        const want = sha256(Buffer.from(previous.jws)).toString('hex');
        if (payload.prev !== want) {
            problem(`fork: checkpoint ${c.id} does not follow checkpoint ${previous.id} (prev ${payload.prev}, expected ${want})`);
        }
        const before = new Map(previous.payload.heads.map((h) => [h.p, h]));
        for (const h of payload.heads) {
            const b = before.get(h.p);
            if (b && h.n < b.n) problem(`fork: checkpoint ${c.id} goes back in partition ${h.p} (n ${b.n} -> ${h.n})`);
        }
    } else if (payload.prev !== null) {
        notes.push(`the first checkpoint (${c.id}) follows older ones no longer kept (retention)`);
    }
    previous = { id: c.id, jws: c.jws, payload };
    signed.push({ id: c.id, payload });
}

// ---- the chains -----------------------------------------------------------------

/* The pure recomputation of each partition: n -> {h, id}. */
const computed = new Map();
let notCovered = 0;
const lastHead = new Map(); /* p -> the last signed checkpoint's head */
for (const cp of signed) for (const h of cp.payload.heads) lastHead.set(h.p, h);

for (const [p, entries] of [...partitions.entries()].sort((a, b) => a[0] - b[0])) {
    const byN = new Map();
    const ns = new Set(entries.map((e) => e.n).filter((n) => n !== null));
    const head = lastHead.get(p);
    const idLE = (a, b) => {
        const [am, as] = a.split('-').map(BigInt);
        const [bm, bs] = b.split('-').map(BigInt);
        return am < bm || (am === bm && as <= bs);
    };
    let prev = null;
    let prevN = 0;
    let pure = null; /* strictly from the content, never resynchronised */
    let started = false;
    for (const [i, e] of entries.entries()) {
        const laterChained = entries.slice(i + 1).some((x) => x.h !== null);
        const covered = head && idLE(e.id, head.id);
        if (e.h === null && (laterChained || covered)) {
            problem(
                `inserted: partition ${p}, id ${e.id}${e.n !== null ? `, n ${e.n}` : ''}: not in the chain, yet before chained entries`,
            );
            continue;
        }
        const n = e.n ?? prevN + 1;
        if (!started) {
            started = true;
            if (n === 1) {
                prev = sha256(
                    Buffer.from([2]),
                    Buffer.from('consentd log v1'),
                    Buffer.from([0]),
                    Buffer.from(site),
                    Buffer.from([0]),
                    Buffer.from(String(p)),
                );
                pure = prev;
            } else if (e.h !== null) {
                notes.push(
                    `partition ${p} starts at n ${n} (id ${e.id}): older entries left with the retention; its chain value is the anchor`,
                );
                prev = Buffer.from(e.h, 'hex');
                pure = prev;
                prevN = n;
                byN.set(n, { h: e.h, id: e.id });
                continue;
            } else {
                notes.push(`partition ${p} starts at n ${n} (id ${e.id}) and is not chained yet`);
                prevN = n;
                continue;
            }
        }
        let orderProblem = false;
        if (n > prevN + 1) {
            const gap = [];
            for (let k = prevN + 1; k < n; k++) if (!ns.has(k)) gap.push(k);
            if (gap.length > 0) problem(`missing: partition ${p}, n ${gap.join(', ')} (before id ${e.id})`);
            if (gap.length < n - prevN - 1) {
                problem(`reordered: partition ${p}, n ${n} (id ${e.id}) comes before n ${prevN + 1}`);
                orderProblem = true;
            }
        } else if (n <= prevN) {
            problem(`reordered: partition ${p}, n ${n} (id ${e.id}) comes after n ${prevN}`);
            orderProblem = true;
        }
        if (prev !== null) {
            const h = sha256(Buffer.from([1]), prev, e.leaf);
            pure = sha256(Buffer.from([1]), pure, e.leaf);
            if (e.h !== null && h.toString('hex') !== e.h) {
                if (!orderProblem) problem(`altered: partition ${p}, n ${n}, id ${e.id}: its content does not match its chain value`);
                prev = Buffer.from(e.h, 'hex'); /* go on from the stored value */
            } else {
                prev = h;
            }
            byN.set(n, { h: pure.toString('hex'), id: e.id });
        }
        prevN = Math.max(prevN, n);
        if (!covered) notCovered++;
    }
    computed.set(p, { byN, lastN: prevN });
}

// ---- every checkpoint against the log ------------------------------------------------

for (const cp of signed) {
    for (const h of cp.payload.heads) {
        const part = computed.get(h.p);
        const at = part?.byN.get(h.n);
        if (!part || part.lastN < h.n) {
            problem(
                `missing: partition ${h.p}: checkpoint ${cp.id} covers n ${h.n} (id ${h.id}), the log ends at n ${part ? part.lastN : 0}`,
            );
        } else if (at && at.h !== h.h) {
            problem(`checkpoint ${cp.id} does not match the log: partition ${h.p}, n ${h.n}, id ${h.id}`);
        } else if (at && at.id !== h.id) {
            problem(`checkpoint ${cp.id} does not match the log: partition ${h.p}, n ${h.n} is id ${at.id}, the checkpoint says ${h.id}`);
        }
    }
}

for (const n of notes) process.stdout.write(`verify-log: note: ${n}\n`);
for (const p of problems) process.stdout.write(`verify-log: PROBLEM: ${p}\n`);
if (problems.length > 0) {
    process.stdout.write(
        `verify-log: FAILED: ${problems.length} problem(s) in ${entryCount} entries and ${checkpoints.length} checkpoints\n`,
    );
    process.exit(1);
}
const last = signed.at(-1);
process.stdout.write(
    `verify-log: OK: ${entryCount} entries in ${partitions.size} partitions, ${signed.length} checkpoints` +
        (last ? ` (the last, ${last.id}, covers ${last.payload.size} entries)` : '') +
        (notCovered > 0 ? `; ${notCovered} newer entries not yet covered by a checkpoint` : '') +
        '\n',
);
