#!/usr/bin/env node
// ops/import-counts.mjs - load a history of acceptance counts into Redis, from
// a CSV in the stats API's own format (GET /v1/sites/{site}/stats?by=day
// &format=csv), for a site that moves to consentd from another CMP, or for a
// demo with a year of history (ops/demo-data.mjs --days 365 uses it).
//
//   node ops/import-counts.mjs --site demo history.csv
//   node ops/import-counts.mjs --site demo --replace history.csv
//   node ops/import-counts.mjs --site demo --redis redis://default:PASSWORD@127.0.0.1:6379 history.csv
//   node ops/import-counts.mjs --help
//
// Why a script of the operator, not an API: the public API never lets anyone
// backdate a statistic. This writes the counter keys directly, with the
// operator's Redis user (ops/redis-users.acl: "default"; consentd's own user
// cannot write outside its functions' needs), in the key layout of
// docs/data.md:
//   - each row (a UTC day) becomes the day hash cd:{<site>:stats}:d:<YYYYMMDD>
//     with the dimension "all": shown, dismissed, panel_opened, decisions,
//     accept_all, reject_all, custom, withdrawn, g.<purpose>/r.<purpose>, and
//     s.banner|decisions = interaction_rate x shown (the banner's own
//     decisions, the numerator of the interaction rate);
//   - unique_visitors becomes a day HyperLogLog of that many made-up ids
//     ("import:<day>:<n>"): the day's figure is right (within the
//     HyperLogLog's 1%), but a range's union counts the visitors of two
//     imported days as different people (the CSV cannot say who came back):
//     over imported days, unique visitors are an upper bound;
//   - both expire at the end of the day + --retention-days (the site's
//     stats_retention_days, default 400); an older row is skipped (it would
//     expire at once);
//   - the week and month rollups of the imported days, and the packed rows
//     of those days, weeks and months (pd:, pw:, pm:) are deleted: the next
//     query that needs one builds it again from the days.
// Languages, sources, variants and hours are not in the CSV: imported days
// have none of them (their breakdowns show 0, by hour shows nothing).
//
// Safe by default: a day that already has counts is refused (all of them are
// named, nothing is written) unless --replace, which replaces those days.
// Every row is checked before anything is written; errors name the line and
// the column. With a Redis Cluster (redis+cluster://host:port), the site's
// counter keys share one slot: the script follows -MOVED to its master.
// Exit code 0 when every row was written, 1 on a Redis error, 2 on bad
// arguments or a bad file.
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const USAGE = `usage: node ops/import-counts.mjs --site ID [options] FILE.csv

  --site ID             the site whose counts these are
  --redis URL           redis://[user:password@]host:port or redis+cluster://...; default:
                        $REDIS_URL, else the Redis of ops/run.sh (var/redis.port) as the
                        operator (var/redis-admin.password)
  --retention-days N    the site's stats_retention_days (default 400)
  --replace             replace days that already have counts (default: refuse them)
  --quiet               no summary`;

export const METRICS = ['shown', 'dismissed', 'panel_opened', 'decisions', 'accept_all', 'reject_all', 'custom', 'withdrawn'];
const HEAD = ['start', ...METRICS, 'unique_visitors', 'interaction_rate', 'accept_all_share', 'reject_all_share', 'custom_share'];
const DAY_MS = 86400000;
const MAX_UNIQUE_PER_DAY = 10000000;

export class ImportError extends Error {
    constructor(message, code = 2) {
        super(message);
        this.code = code;
    }
}

// ---- the CSV ---------------------------------------------------------------------

/* The rows of a stats CSV by day: [{day: 'YYYY-MM-DD', ms, counts: {field: n},
 * unique}], checked. The "total" row is skipped. */
export function parseStatsCsv(text, file = 'the CSV') {
    const lines = text.split(/\r?\n/).filter((l, i, all) => l !== '' || i < all.length - 1);
    if (lines.length === 0) throw new ImportError(`${file}: empty`);
    const header = lines[0].split(',');
    for (let i = 0; i < HEAD.length; i++) {
        if (header[i] !== HEAD[i]) {
            throw new ImportError(
                `${file}:1: column ${i + 1} is "${header[i] ?? ''}", the stats CSV has "${HEAD[i]}" there (export it with GET /v1/sites/{site}/stats?by=day&format=csv)`,
            );
        }
    }
    const purposes = [];
    for (let i = HEAD.length; i < header.length; i += 3) {
        const m = /^(.+)_granted$/.exec(header[i] || '');
        if (!m || header[i + 1] !== `${m[1]}_refused` || header[i + 2] !== `${m[1]}_acceptance_rate`) {
            throw new ImportError(`${file}:1: column ${i + 1}: expected <purpose>_granted, <purpose>_refused, <purpose>_acceptance_rate`);
        }
        if (!/^[A-Za-z0-9_.-]{1,64}$/.test(m[1])) throw new ImportError(`${file}:1: column ${i + 1}: "${m[1]}" is not a purpose id`);
        purposes.push(m[1]);
    }
    const rows = [];
    const seen = new Set();
    for (let n = 1; n < lines.length; n++) {
        const cells = lines[n].split(',');
        const where = `${file}:${n + 1}`;
        if (cells[0] === 'total') continue;
        if (cells.length !== header.length) throw new ImportError(`${where}: ${cells.length} columns, the header has ${header.length}`);
        const m = /^(\d{4}-\d{2}-\d{2})T00:00:00Z$/.exec(cells[0]);
        const ms = m ? Date.parse(`${m[1]}T00:00:00Z`) : NaN;
        if (!m || Number.isNaN(ms) || new Date(ms).toISOString().slice(0, 10) !== m[1]) {
            throw new ImportError(`${where}: start "${cells[0]}" is not a UTC day (YYYY-MM-DDT00:00:00Z): import a CSV by day`);
        }
        if (seen.has(m[1])) throw new ImportError(`${where}: the day ${m[1]} is there twice`);
        seen.add(m[1]);
        const count = (i) => {
            const v = cells[i];
            if (!/^\d{1,15}$/.test(v)) throw new ImportError(`${where}: column ${i + 1} (${header[i]}): "${v}" is not a count`);
            return Number(v);
        };
        const counts = {};
        METRICS.forEach((metric, k) => {
            const v = count(k + 1);
            if (v > 0) counts[`all|${metric}`] = v;
        });
        const unique = cells[9] === '' ? 0 : count(9);
        if (unique > MAX_UNIQUE_PER_DAY) throw new ImportError(`${where}: unique_visitors: at most ${MAX_UNIQUE_PER_DAY} a day`);
        const rate = cells[10] === '' ? 0 : Number(cells[10]);
        if (!(rate >= 0 && rate <= 1)) throw new ImportError(`${where}: interaction_rate: "${cells[10]}" is not a fraction`);
        const banner = Math.round(rate * (counts['all|shown'] || 0));
        if (banner > 0) counts['s.banner|decisions'] = banner;
        purposes.forEach((p, k) => {
            const g = count(HEAD.length + 3 * k),
                r = count(HEAD.length + 3 * k + 1);
            if (g > 0) counts[`all|g.${p}`] = g;
            if (r > 0) counts[`all|r.${p}`] = r;
        });
        rows.push({ day: m[1], ms, counts, unique });
    }
    // A CSV by week or by month has rows at midnight too: each row would be
    // taken for one day. Days in a history follow each other (gaps aside).
    const sorted = rows.map((r) => r.ms).sort((a, b) => a - b);
    if (sorted.length >= 2 && !sorted.some((ms, i) => i > 0 && ms - sorted[i - 1] === DAY_MS)) {
        throw new ImportError(`${file}: no two rows are consecutive days: is this a CSV by week or by month? Export it by day (by=day)`);
    }
    return { purposes, rows };
}

// ---- Redis ----------------------------------------------------------------------

/* A minimal RESP client: one connection, commands in order. */
class Conn {
    constructor(host, port) {
        this.host = host;
        this.port = port;
        this.buf = Buffer.alloc(0);
        this.waiting = [];
    }

    open() {
        return new Promise((resolve, reject) => {
            this.sock = net.connect({ host: this.host, port: this.port }, resolve);
            this.sock.once('error', reject);
            this.sock.on('data', (d) => {
                this.buf = Buffer.concat([this.buf, d]);
                for (;;) {
                    const r = parse(this.buf, 0);
                    if (!r) break;
                    this.buf = this.buf.subarray(r.end);
                    const w = this.waiting.shift();
                    if (w) w(r.value);
                }
            });
            this.sock.on('close', () => {
                for (const w of this.waiting.splice(0)) w(new Error(`Redis ${this.host}:${this.port} closed the connection`));
            });
        });
    }

    send(args) {
        const parts = [`*${args.length}\r\n`];
        for (const a of args) {
            const s = String(a);
            parts.push(`$${Buffer.byteLength(s)}\r\n${s}\r\n`);
        }
        return new Promise((resolve) => {
            this.waiting.push(resolve);
            this.sock.write(parts.join(''));
        });
    }

    close() {
        this.sock?.destroy();
    }
}

class RedisReplyError extends Error {}

function parse(buf, at) {
    const nl = buf.indexOf('\r\n', at);
    if (nl < 0) return null;
    const type = String.fromCharCode(buf[at]);
    const line = buf.toString('utf8', at + 1, nl);
    if (type === '+') return { value: line, end: nl + 2 };
    if (type === '-') return { value: new RedisReplyError(line), end: nl + 2 };
    if (type === ':') return { value: Number(line), end: nl + 2 };
    if (type === '$') {
        const len = Number(line);
        if (len < 0) return { value: null, end: nl + 2 };
        if (buf.length < nl + 2 + len + 2) return null;
        return { value: buf.toString('utf8', nl + 2, nl + 2 + len), end: nl + 2 + len + 2 };
    }
    if (type === '*') {
        const n = Number(line);
        const out = [];
        let end = nl + 2;
        for (let i = 0; i < n; i++) {
            const r = parse(buf, end);
            if (!r) return null;
            out.push(r.value);
            end = r.end;
        }
        return { value: out, end };
    }
    throw new Error(`unexpected Redis reply: ${line}`);
}

/* The Redis of ops/run.sh, as the operator. */
export function defaultRedisUrl(root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')) {
    if (process.env.REDIS_URL) return process.env.REDIS_URL;
    const read = (f) => {
        try {
            return fs.readFileSync(path.join(root, 'var', f), 'utf8').trim();
        } catch {
            return '';
        }
    };
    const port = read('redis.port') || '6379';
    const password = read('redis-admin.password');
    return `redis://${password ? `default:${encodeURIComponent(password)}@` : ''}127.0.0.1:${port}`;
}

/* A client for the node that serves tag (all of a site's counter keys). */
async function connect(url, tag) {
    let u;
    try {
        u = new URL(url.replace(/^redis\+cluster:/, 'redis:'));
    } catch {
        throw new ImportError(`--redis: not a URL: ${url}`);
    }
    if (u.protocol !== 'redis:') throw new ImportError(`--redis: redis:// or redis+cluster:// only: ${url}`);
    const auth = u.password ? [decodeURIComponent(u.username || 'default'), decodeURIComponent(u.password)] : null;
    let [host, port] = [u.hostname.replace(/^\[|\]$/g, ''), Number(u.port || 6379)];
    for (let hop = 0; hop < 5; hop++) {
        const c = new Conn(host, port);
        try {
            await c.open();
        } catch (error) {
            throw new ImportError(`Redis ${host}:${port}: ${error.message}`, 1);
        }
        const call = async (...args) => {
            const v = await c.send(args);
            if (v instanceof Error) throw new ImportError(`Redis: ${args[0]}: ${v.message}`, 1);
            return v;
        };
        if (auth) await call('AUTH', ...auth);
        // A cluster node answers -MOVED for a slot it does not serve: ask it
        // where the tag lives, with a read of a key of that slot.
        const probe = await c.send(['EXISTS', `cd:{${tag}}:probe`]);
        const moved = probe instanceof Error ? /^MOVED \d+ (.+):(\d+)$/.exec(probe.message) : null;
        if (!moved) {
            if (probe instanceof Error) throw new ImportError(`Redis: ${probe.message}`, 1);
            return { call, close: () => c.close() };
        }
        c.close();
        [host, port] = [moved[1], Number(moved[2])];
    }
    throw new ImportError('Redis: too many redirections', 1);
}

const stamp = (ms) => new Date(ms).toISOString().slice(0, 10).replaceAll('-', '');
/* The Monday of the ISO week of the day at ms, and the first of its month. */
const mondayOf = (ms) => ms - ((new Date(ms).getUTCDay() + 6) % 7) * DAY_MS;

/* Write rows (parseStatsCsv's) for site. Returns {written, skipped}. */
export async function importCounts({ site, rows, redisUrl, retentionDays = 400, replace = false, now = Date.now() }) {
    if (!/^[A-Za-z0-9_-]{1,64}$/.test(site || '')) throw new ImportError('--site: a site id');
    if (!Number.isInteger(retentionDays) || retentionDays < 1) throw new ImportError('--retention-days: a whole number of days');
    const tag = `${site}:stats`;
    const key = (kind, s) => `cd:{${tag}}:${kind}:${s}`;
    const keep = [];
    const skipped = [];
    for (const r of rows) {
        const expireAt = r.ms + DAY_MS + retentionDays * DAY_MS;
        if (expireAt <= now) skipped.push(r.day);
        else if (r.ms > now) throw new ImportError(`the day ${r.day} is in the future`);
        else keep.push({ ...r, expireAt });
    }
    const redis = await connect(redisUrl, tag);
    try {
        const taken = [];
        for (const r of keep) if ((await redis.call('EXISTS', key('d', stamp(r.ms)), key('u', stamp(r.ms)))) > 0) taken.push(r.day);
        if (taken.length && !replace) {
            throw new ImportError(`these days already have counts (nothing was written; --replace replaces them): ${taken.join(', ')}`);
        }
        const rollups = new Set();
        for (const r of keep) {
            const d = stamp(r.ms);
            await redis.call('DEL', key('d', d), key('u', d), key('pd', d));
            const fields = Object.entries(r.counts).flat();
            if (fields.length) await redis.call('HSET', key('d', d), ...fields);
            for (let i = 0; i < r.unique; i += 1000) {
                const ids = [];
                for (let k = i; k < Math.min(r.unique, i + 1000); k++) ids.push(`import:${r.day}:${k}`);
                await redis.call('PFADD', key('u', d), ...ids);
            }
            for (const k of [key('d', d), key('u', d)]) await redis.call('PEXPIREAT', k, String(r.expireAt));
            const monday = stamp(mondayOf(r.ms));
            rollups
                .add(key('w', monday))
                .add(key('uw', monday))
                .add(key('pw', monday))
                .add(key('m', d.slice(0, 6)))
                .add(key('um', d.slice(0, 6)))
                .add(key('pm', d.slice(0, 6)));
        }
        if (rollups.size) await redis.call('DEL', ...rollups);
        return { written: keep.map((r) => r.day), skipped, replaced: taken };
    } finally {
        redis.close();
    }
}

// ---- the command ------------------------------------------------------------------

async function main(argv) {
    const opts = { site: null, redis: null, retentionDays: 400, replace: false, quiet: false, file: null };
    for (let i = 0; i < argv.length; i++) {
        const a = argv[i];
        const value = () => {
            if (i + 1 >= argv.length) throw new ImportError(`${a} needs a value\n${USAGE}`);
            return argv[++i];
        };
        if (a === '--help' || a === '-h') {
            process.stdout.write(`${USAGE}\n`);
            return 0;
        } else if (a === '--site') opts.site = value();
        else if (a === '--redis') opts.redis = value();
        else if (a === '--retention-days') opts.retentionDays = Number(value());
        else if (a === '--replace') opts.replace = true;
        else if (a === '--quiet') opts.quiet = true;
        else if (!a.startsWith('-') && opts.file === null) opts.file = a;
        else throw new ImportError(`unknown argument: ${a}\n${USAGE}`);
    }
    if (!opts.site || !opts.file) throw new ImportError(USAGE);
    let text;
    try {
        text = fs.readFileSync(opts.file, 'utf8');
    } catch (error) {
        throw new ImportError(`${opts.file}: ${error.message}`);
    }
    const { rows } = parseStatsCsv(text, opts.file);
    const res = await importCounts({
        site: opts.site,
        rows,
        redisUrl: opts.redis || defaultRedisUrl(),
        retentionDays: opts.retentionDays,
        replace: opts.replace,
    });
    if (!opts.quiet) {
        process.stdout.write(
            `import-counts: ${res.written.length} days written for site ${opts.site}` +
                (res.written.length ? ` (${res.written[0]} to ${res.written.at(-1)})` : '') +
                (res.replaced.length ? `, ${res.replaced.length} of them replaced` : '') +
                (res.skipped.length ? `; ${res.skipped.length} skipped, older than the retention` : '') +
                '\n',
        );
    }
    return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
    main(process.argv.slice(2)).then(
        (code) => process.exit(code),
        (error) => {
            process.stderr.write(`import-counts: ${error.message}\n`);
            process.exit(error instanceof ImportError ? error.code : 1);
        },
    );
}
