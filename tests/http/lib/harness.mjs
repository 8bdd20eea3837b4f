// tests/http/lib/harness.mjs - the real things for the black-box HTTP tests.
//
// Starts a real redis-server and a real consentd on free loopback ports, each
// with its own temporary directory (consentd: generated config, sites, keys),
// captures their output, and stops everything afterwards: in the tests'
// after() hooks, and again on process exit or signal, even when a test threw.
//
// Environment (ctest sets the first two, see CMakeLists.txt):
//   CONSENTD_BIN          the binary under test (else build/ or build-test/)
//   CONSENTD_SOURCE_DIR   the repository (for ops/sites/)
//   CONSENTD_TEST_PIDDIR  where to note the pids of what we start, so that
//                         ops/test.sh can stop leftovers if we are killed
//   CONSENTD_TEST_KEEP=1  keep the temporary directories (for debugging)

import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test as nodeTest } from 'node:test';
import { fileURLToPath } from 'node:url';
import { setTimeout as delay } from 'node:timers/promises';

export { delay };

export const SOURCE_DIR =
    process.env.CONSENTD_SOURCE_DIR ||
    path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/* Short timeouts so that failure paths are quick to observe. */
export const TEST_SHUTDOWN_TIMEOUT_MS = 3000;
export const TEST_REDIS_COMMAND_TIMEOUT_MS = 500;
export const TEST_REDIS_RECONNECT_MAX_MS = 500;
const START_TIMEOUT_MS = 15000;
const OUTPUT_CAP = 16 * 1024 * 1024; /* per stream; older output is dropped */
const FAILURE_TAIL_LINES = 80;

// ---- process bookkeeping -------------------------------------------------

const live = new Set(); /* Proc objects still running */
const started = []; /* every Proc, for the failure dump */
const tempDirs = new Set();

function cleanupSync() {
    for (const proc of live) proc.killSync();
    if (process.env.CONSENTD_TEST_KEEP === '1') {
        if (tempDirs.size) process.stderr.write(`kept: ${[...tempDirs].join(' ')}\n`);
        return;
    }
    for (const dir of tempDirs) fs.rmSync(dir, { recursive: true, force: true });
    tempDirs.clear();
}
process.on('exit', cleanupSync);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.on(sig, () => {
        cleanupSync();
        process.exit(128 + os.constants.signals[sig]);
    });
}

export function makeTempDir(prefix) {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `consentd-${prefix}-`));
    tempDirs.add(dir);
    return dir;
}

function notePid(pid, program) {
    const dir = process.env.CONSENTD_TEST_PIDDIR;
    if (!dir || !pid) return;
    try {
        fs.writeFileSync(path.join(dir, String(pid)), program);
    } catch {
        /* the runner's directory is gone: nothing to note */
    }
}

function forgetPid(pid) {
    const dir = process.env.CONSENTD_TEST_PIDDIR;
    if (dir && pid) fs.rmSync(path.join(dir, String(pid)), { force: true });
}

/* A child process whose stdout and stderr are kept in memory. */
export class Proc {
    constructor(name, program, args, { env = process.env, cwd } = {}) {
        this.name = name;
        this.program = program;
        this.args = args;
        this.stdout = '';
        this.stderr = '';
        this.result = null; /* {code, signal} once exited */
        this.child = spawn(program, args, { env, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
        this.pid = this.child.pid;
        live.add(this);
        started.push(this);
        notePid(this.pid, program);
        const keep = (key) => (chunk) => {
            this[key] += chunk.toString('utf8');
            if (this[key].length > OUTPUT_CAP) this[key] = this[key].slice(-OUTPUT_CAP / 2);
        };
        this.child.stdout.on('data', keep('stdout'));
        this.child.stderr.on('data', keep('stderr'));
        this.exited = new Promise((resolve) => {
            const done = (result) => {
                if (this.result) return;
                this.result = result;
                live.delete(this);
                forgetPid(this.pid);
                resolve(result);
            };
            this.child.on('error', (error) => done({ code: null, signal: null, error }));
            /* 'close', not 'exit': all output has been read by then. */
            this.child.on('close', (code, signal) => done({ code, signal }));
        });
    }

    get running() {
        return this.result === null;
    }

    signal(sig) {
        if (this.running) this.child.kill(sig);
    }

    /* {code, signal} when it exits within ms, else an error. */
    async waitExit(ms) {
        let timer;
        const timeout = new Promise((_, reject) => {
            timer = setTimeout(
                () => reject(new Error(`${this.name} (pid ${this.pid}) still running after ${ms} ms`)),
                ms,
            );
        });
        try {
            return await Promise.race([this.exited, timeout]);
        } finally {
            clearTimeout(timer);
        }
    }

    /* Send sig and wait; SIGKILL after timeoutMs. Returns {code, signal, killed}. */
    async stop({ signal = 'SIGTERM', timeoutMs = 5000 } = {}) {
        if (!this.running) return { ...this.result, killed: false };
        this.signal(signal);
        try {
            return { ...(await this.waitExit(timeoutMs)), killed: false };
        } catch {
            this.signal('SIGKILL');
            return { ...(await this.exited), killed: true };
        }
    }

    killSync() {
        try {
            this.child.kill('SIGKILL');
        } catch {
            /* already gone */
        }
    }

    /* The last lines of its output, for a failure report. */
    tail(lines = FAILURE_TAIL_LINES) {
        const out = [];
        for (const [label, text] of [['stdout', this.stdout], ['stderr', this.stderr]]) {
            if (!text) continue;
            const all = text.trimEnd().split('\n');
            out.push(`--- ${this.name} (pid ${this.pid}) ${label}, last ${Math.min(lines, all.length)} of ${all.length} lines:`);
            out.push(...all.slice(-lines));
        }
        return out.join('\n');
    }
}

/* Print what every process started so far said: called when a test fails. */
export function dumpOutput(why) {
    const parts = started.map((p) => p.tail()).filter(Boolean);
    process.stderr.write(`\n=== ${why}: output of the processes under test ===\n${parts.join('\n')}\n=== end ===\n`);
}

/* node:test's test(), printing the servers' output when the test fails. */
export function test(name, options, fn) {
    if (typeof options === 'function') [fn, options] = [options, {}];
    return nodeTest(name, options, async (t) => {
        try {
            return await fn(t);
        } catch (error) {
            dumpOutput(`test failed: ${name}`);
            throw error;
        }
    });
}

// ---- waiting and ports ---------------------------------------------------

/* Poll fn until it returns a truthy value (thrown errors count as "not yet").
 * Returns that value; throws with message (and the last error) at the deadline. */
export async function waitFor(fn, { timeoutMs = 5000, intervalMs = 25, message = 'condition' } = {}) {
    const deadline = Date.now() + timeoutMs;
    let last;
    for (;;) {
        try {
            const value = await fn();
            if (value) return value;
            last = undefined;
        } catch (error) {
            last = error;
        }
        if (Date.now() >= deadline) {
            throw new Error(`timed out after ${timeoutMs} ms waiting for ${message}${last ? `: ${last.message}` : ''}`);
        }
        await delay(intervalMs);
    }
}

/* The first port of the kernel's ephemeral range: the source ports of
 * outgoing connections (ours, consentd's, Redis's and its cluster bus) are
 * taken from it. */
const EPHEMERAL_LOW = (() => {
    try {
        return Number(fs.readFileSync('/proc/sys/net/ipv4/ip_local_port_range', 'utf8').trim().split(/\s+/)[0]) || 32768;
    } catch {
        return 32768;
    }
})();
const PORTS_FROM = 10000;
const portsGiven = new Set();

/* Whether a listener can bind port on loopback now. */
function canBind(port) {
    return new Promise((resolve) => {
        const server = net.createServer();
        server.unref();
        server.once('error', () => resolve(false));
        server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
    });
}

/*
 * A loopback port free right now, for a server a test starts, below `below`
 * and below the ephemeral range: a port of that range, free when picked,
 * can become the source port of some outgoing connection before the server
 * binds it (a test that failed that way on a busy machine). Never the same
 * twice in a process; extra: more ports that must be free too (offsets).
 */
async function freePortBelow(below, extra = []) {
    if (below - PORTS_FROM < 1000) throw new Error(`the ephemeral port range starts at ${EPHEMERAL_LOW}: the tests need ports below it`);
    for (let i = 0; i < 500; i++) {
        const port = PORTS_FROM + Math.floor(Math.random() * (below - PORTS_FROM));
        if (portsGiven.has(port) || !(await canBind(port))) continue;
        if (!(await Promise.all(extra.map((d) => canBind(port + d)))).every(Boolean)) continue;
        portsGiven.add(port);
        return port;
    }
    throw new Error(`no free loopback port in ${PORTS_FROM}-${below - 1}`);
}

export function freePort() {
    return freePortBelow(EPHEMERAL_LOW);
}

/* Resolves 'refused' when nothing listens on port, 'open' when a connection is accepted. */
export function probePort(port) {
    return new Promise((resolve) => {
        const sock = net.connect(port, '127.0.0.1');
        sock.setTimeout(2000, () => {
            sock.destroy();
            resolve('timeout');
        });
        sock.on('connect', () => {
            sock.destroy();
            resolve('open');
        });
        sock.on('error', (e) => resolve(e.code === 'ECONNREFUSED' ? 'refused' : e.code));
    });
}

// ---- HTTP ----------------------------------------------------------------

/* One HTTP/1.1 request with node:http (no decompression, no cache, the path
 * sent as given). agent: false = a fresh connection. Resolves
 * {status, headers, body (Buffer), text, json(), ms}; rejects when the
 * connection fails or the body is cut short (error.afterHeaders is then true). */
export function request(port, target, { method = 'GET', headers = {}, body, agent = false, timeoutMs = 5000, localAddress } = {}) {
    return new Promise((resolve, reject) => {
        const t0 = performance.now();
        const req = http.request({ host: '127.0.0.1', port, path: target, method, headers, agent, localAddress }, (res) => {
            const chunks = [];
            res.on('data', (c) => chunks.push(c));
            res.on('close', () => {
                if (res.complete) return;
                const error = new Error(`${method} ${target}: body cut short after status ${res.statusCode}`);
                error.afterHeaders = true;
                error.status = res.statusCode;
                reject(error);
            });
            res.on('end', () => {
                const buf = Buffer.concat(chunks);
                const text = buf.toString('utf8');
                resolve({
                    status: res.statusCode,
                    headers: res.headers,
                    body: buf,
                    text,
                    json: () => JSON.parse(text),
                    ms: performance.now() - t0,
                });
            });
        });
        req.setTimeout(timeoutMs, () => req.destroy(new Error(`${method} ${target}: no answer within ${timeoutMs} ms`)));
        req.on('error', (e) => reject(e));
        req.end(body);
    });
}

/* Write raw bytes on a fresh connection; resolve everything read until the
 * server closes or idleMs passes without data. */
export function rawExchange(port, bytes, { idleMs = 1000 } = {}) {
    return new Promise((resolve, reject) => {
        const sock = net.connect(port, '127.0.0.1');
        const chunks = [];
        const finish = () => {
            sock.destroy();
            resolve(Buffer.concat(chunks));
        };
        sock.setTimeout(idleMs, finish);
        sock.on('connect', () => sock.write(bytes));
        sock.on('data', (c) => chunks.push(c));
        sock.on('end', finish);
        sock.on('close', finish);
        sock.on('error', (e) => (chunks.length ? finish() : reject(e)));
    });
}

// ---- processes -------------------------------------------------------------

/* Resident memory of a process in KiB (VmRSS), or null when it is gone. */
export function rssKiB(pid) {
    try {
        const m = /^VmRSS:\s+(\d+) kB/m.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
        return m ? Number(m[1]) : null;
    } catch {
        return null;
    }
}

// ---- Prometheus text ------------------------------------------------------

/* [{name, labels: {k: v}, value}] from the text exposition format. */
export function parseMetrics(text) {
    const samples = [];
    for (const line of text.split('\n')) {
        if (!line || line.startsWith('#')) continue;
        const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)(?:\s+\d+)?$/.exec(line);
        if (!m) throw new Error(`not a Prometheus sample line: ${JSON.stringify(line)}`);
        const labels = {};
        for (const l of (m[2] || '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2];
        const value = m[3] === '+Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3]);
        samples.push({ name: m[1], labels, value });
    }
    return samples;
}

/* The samples named name whose labels include every pair of want. */
export function findSamples(samples, name, want = {}) {
    return samples.filter((s) => s.name === name && Object.entries(want).every(([k, v]) => s.labels[k] === v));
}

/* Sum of the matching samples (0 when none). */
export function metricSum(samples, name, want = {}) {
    return findSamples(samples, name, want).reduce((a, s) => a + s.value, 0);
}

// ---- redis-server ----------------------------------------------------------

function respEncode(args) {
    let out = `*${args.length}\r\n`;
    for (const a of args) {
        const s = String(a);
        out += `$${Buffer.byteLength(s)}\r\n${s}\r\n`;
    }
    return out;
}

/* Parse one RESP reply at buf[i]: {value, end}, or null when incomplete. */
function respParse(buf, i = 0) {
    const nl = buf.indexOf('\r\n', i);
    if (nl < 0) return null;
    const type = String.fromCharCode(buf[i]);
    const line = buf.toString('utf8', i + 1, nl);
    const next = nl + 2;
    switch (type) {
        case '+':
            return { value: line, end: next };
        case '-':
            return { value: new RedisError(line), end: next };
        case ':':
            return { value: Number(line), end: next };
        case '$': {
            const len = Number(line);
            if (len < 0) return { value: null, end: next };
            if (buf.length < next + len + 2) return null;
            return { value: buf.toString('utf8', next, next + len), end: next + len + 2 };
        }
        case '*': {
            const n = Number(line);
            if (n < 0) return { value: null, end: next };
            const items = [];
            let at = next;
            for (let k = 0; k < n; k++) {
                const r = respParse(buf, at);
                if (!r) return null;
                items.push(r.value);
                at = r.end;
            }
            return { value: items, end: at };
        }
        default:
            throw new Error(`bad RESP reply type ${JSON.stringify(type)}`);
    }
}

export class RedisError extends Error {}

/* Send one command on a fresh connection; resolves its reply (a Redis error
 * reply rejects with RedisError). auth: [user, password] sends AUTH first on
 * the same connection (its failure rejects). */
export function redisCommand(port, args, { timeoutMs = 5000, auth } = {}) {
    return new Promise((resolve, reject) => {
        const sock = net.connect(port, '127.0.0.1');
        let buf = Buffer.alloc(0);
        let skip = auth ? 1 : 0; /* replies before the one we want */
        sock.setTimeout(timeoutMs, () => sock.destroy(new Error(`redis ${args[0]}: no reply within ${timeoutMs} ms`)));
        sock.on('connect', () => sock.write((auth ? respEncode(['AUTH', ...auth]) : '') + respEncode(args)));
        sock.on('data', (chunk) => {
            buf = Buffer.concat([buf, chunk]);
            for (;;) {
                const r = respParse(buf);
                if (!r) return;
                buf = buf.subarray(r.end);
                if (skip > 0) {
                    skip--;
                    if (r.value instanceof RedisError) {
                        sock.destroy();
                        reject(r.value);
                        return;
                    }
                    continue;
                }
                sock.destroy();
                if (r.value instanceof RedisError) reject(r.value);
                else resolve(r.value);
                return;
            }
        });
        sock.on('error', reject);
        sock.on('close', () => reject(new Error(`redis ${args[0]}: connection closed without a reply`)));
    });
}

/* A throw-away redis-server: no persistence, DEBUG allowed (DEBUG SLEEP makes
 * Redis slow on purpose). args: more redis-server options, after ours (a
 * later option wins: ['--appendonly', 'yes', '--appendfsync', 'always']).
 * auth: [user, password] for the harness' own commands (an ACL file). The
 * data directory stays the same across restarts. */
export class Redis {
    static async start(options) {
        const redis = new Redis(options);
        await redis.start();
        return redis;
    }

    /* args: more redis-server flags (a cluster node's, AOF, an ACL file). */
    constructor({ port, args = [], auth } = {}) {
        this.port = port;
        this.extraArgs = args;
        this.auth = auth;
        this.dir = makeTempDir('redis');
        this.proc = null;
    }

    get url() {
        return `redis://127.0.0.1:${this.port}`;
    }

    /* (Re)start on the same port and wait until it answers PING. */
    async start() {
        if (this.proc && this.proc.running) throw new Error('redis-server is already running');
        if (!this.port) this.port = await freePort();
        // prettier-ignore
        const args = ['--port', String(this.port), '--bind', '127.0.0.1', '--save', '',
            '--appendonly', 'no', '--enable-debug-command', 'yes', '--dir', this.dir,
            '--daemonize', 'no', '--logfile', '', ...this.extraArgs];
        this.proc = new Proc('redis-server', 'redis-server', args);
        const proc = this.proc;
        await waitFor(
            async () => {
                if (!proc.running) throw new Error(`redis-server exited: ${JSON.stringify(proc.result)}\n${proc.tail()}`);
                return (await this.command('PING')) === 'PONG';
            },
            { timeoutMs: START_TIMEOUT_MS, message: `redis-server on port ${this.port} to answer PING` },
        );
        return this;
    }

    command(...args) {
        return redisCommand(this.port, args, { auth: this.auth });
    }

    get pid() {
        return this.proc ? this.proc.pid : undefined;
    }

    /* Freeze it (SIGSTOP): connections stay open, nothing is answered. */
    pause() {
        this.proc.signal('SIGSTOP');
    }

    resume() {
        this.proc.signal('SIGCONT');
    }

    /* Crash it: no goodbye to the clients. */
    async kill() {
        if (this.proc) await this.proc.stop({ signal: 'SIGKILL' });
    }

    async stop() {
        if (this.proc) await this.proc.stop({ signal: 'SIGTERM', timeoutMs: 5000 });
    }

    async restart() {
        await this.stop();
        return this.start();
    }
}

/* How many times Redis ran command (lower case, e.g. 'ping', 'fcall_ro')
 * since its start or the last CONFIG RESETSTAT, from INFO commandstats. */
export async function redisCommandCalls(redis, command) {
    const info = await redis.command('INFO', 'commandstats');
    const m = new RegExp(`^cmdstat_${command}:calls=(\\d+)`, 'm').exec(info);
    return m ? Number(m[1]) : 0;
}

// ---- Redis Cluster -------------------------------------------------------------

/* Node timeout of the test clusters: a killed master is failed over within
 * about this plus an election (~1 s). */
export const TEST_CLUSTER_NODE_TIMEOUT_MS = 2000;
const CLUSTER_FORM_TIMEOUT_MS = 30000;

/* A free loopback port whose cluster bus port (+10000) is free too, both
 * below the ephemeral range: for any cluster-enabled redis-server. */
export function freeClusterPort() {
    return freePortBelow(EPHEMERAL_LOW - 10000, [10000]);
}

/* Run redis-cli with args; resolves its stdout, rejects on a non-zero exit. */
function redisCli(args, { timeoutMs = CLUSTER_FORM_TIMEOUT_MS } = {}) {
    return new Promise((resolve, reject) => {
        const proc = new Proc('redis-cli', 'redis-cli', args);
        const timer = setTimeout(() => proc.signal('SIGKILL'), timeoutMs);
        proc.exited.then((result) => {
            clearTimeout(timer);
            if (result.code === 0) resolve(proc.stdout);
            else reject(new Error(`redis-cli ${args.join(' ')} failed (${JSON.stringify(result)}):\n${proc.tail()}`));
        });
    });
}

const MOVED_OR_ASK = /^(?:MOVED|ASK) \d+ (\S+):(\d+)$/;
const RETRY_LATER = /^(?:TRYAGAIN|CLUSTERDOWN|LOADING)\b/;

/* A real Redis Cluster on loopback: `masters` masters with `replicas`
 * replicas each, cluster-enabled redis-servers joined by
 * `redis-cli --cluster create`. Same interface as Redis (url, command,
 * kill, start, stop), so that the suites run unchanged on it: command()
 * sends a keyed command to the master of its key's slot (following
 * redirects), SCAN / FLUSHALL / DBSIZE / DEBUG DIGEST cover every master. */
export class RedisCluster {
    static async start(options) {
        const cluster = new RedisCluster(options);
        await cluster.start();
        return cluster;
    }

    constructor({ masters = 3, replicas = 0, nodeTimeoutMs = TEST_CLUSTER_NODE_TIMEOUT_MS } = {}) {
        this.nMasters = masters;
        this.replicas = replicas;
        this.nodeTimeoutMs = nodeTimeoutMs;
        this.nodes = []; /* Redis objects, creation order */
        this.formed = false;
    }

    /* Every node is a seed (consentd needs only one that answers). */
    get url() {
        return `redis+cluster://${this.nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`;
    }

    /* Form it the first time; after kill()/stop(), start the nodes again on
     * their ports with their nodes.conf. Resolves once the cluster is ok. */
    async start() {
        if (!this.formed) {
            const total = this.nMasters * (1 + this.replicas);
            for (let i = 0; i < total; i++) {
                const port = await freeClusterPort();
                // prettier-ignore
                const node = new Redis({ port, args: ['--cluster-enabled', 'yes',
                    '--cluster-config-file', 'nodes.conf', '--cluster-node-timeout', String(this.nodeTimeoutMs),
                    '--repl-diskless-sync-delay', '0', '--loglevel', 'warning'] });
                this.nodes.push(node);
            }
            await Promise.all(this.nodes.map((n) => n.start()));
            await redisCli(['--cluster', 'create', ...this.nodes.map((n) => `127.0.0.1:${n.port}`),
                '--cluster-replicas', String(this.replicas), '--cluster-yes']);
            this.formed = true;
        } else {
            await Promise.all(this.nodes.filter((n) => !n.proc || !n.proc.running).map((n) => n.start()));
        }
        await this.waitOk();
        return this;
    }

    /* Until every running node says cluster_state:ok, knows every node and
     * sees all 16384 slots served, and every replica is in sync. */
    async waitOk({ timeoutMs = CLUSTER_FORM_TIMEOUT_MS } = {}) {
        const running = () => this.nodes.filter((n) => n.proc && n.proc.running);
        await waitFor(
            async () => {
                for (const node of running()) {
                    const info = await node.command('CLUSTER', 'INFO');
                    if (!/cluster_state:ok/.test(info) || !/cluster_slots_ok:16384/.test(info)) return false;
                    const repl = await node.command('INFO', 'replication');
                    if (/role:slave/.test(repl) && !/master_link_status:up/.test(repl)) return false;
                }
                return true;
            },
            { timeoutMs, intervalMs: 100, message: 'the Redis Cluster to be ok' },
        );
    }

    /* Until every running node gives the same owner for every slot (after a
     * reshard the last slots' new owners reach the other nodes by gossip). */
    async waitAgreed({ timeoutMs = CLUSTER_FORM_TIMEOUT_MS } = {}) {
        const view = async (node) =>
            (await node.command('CLUSTER', 'NODES'))
                .trim()
                .split('\n')
                .map((line) => line.split(' '))
                .filter((f) => f[2].includes('master') && f.length > 8)
                .map((f) => `${f[0]} ${f.slice(8).filter((x) => /^\d/.test(x)).join(' ')}`)
                .filter((x) => /\s\d/.test(x))
                .sort()
                .join('\n');
        await waitFor(
            async () => {
                const views = await Promise.all(this.nodes.filter((n) => n.proc && n.proc.running).map(view));
                return views.every((v) => v === views[0]);
            },
            { timeoutMs, intervalMs: 100, message: 'every cluster node to agree on the slot owners' },
        );
    }

    /* redis-cli with these arguments (--cluster reshard ...): its stdout. */
    cli(args, options) {
        return redisCli(args, options);
    }

    /* The node listening on port. */
    node(port) {
        return this.nodes.find((n) => n.port === Number(port));
    }

    /* [{id, port, node, master: bool, masterId, slots: [[from, to]...]}] from
     * CLUSTER NODES of a running node (live nodes only: no 'fail' flag). */
    async topology() {
        let lastError;
        for (const n of this.nodes.filter((x) => x.proc && x.proc.running)) {
            try {
                const text = await n.command('CLUSTER', 'NODES');
                return text
                    .trim()
                    .split('\n')
                    .map((line) => {
                        const f = line.split(' ');
                        const port = Number(f[1].split('@')[0].split(':').pop());
                        const slots = f
                            .slice(8)
                            .filter((x) => /^\d/.test(x))
                            .map((x) => x.split('-').map(Number))
                            .map(([a, b]) => [a, b ?? a]);
                        return { id: f[0], port, node: this.node(port), master: f[2].includes('master'), failed: f[2].includes('fail'), masterId: f[3], slots };
                    });
            } catch (error) {
                lastError = error;
            }
        }
        throw lastError || new Error('no cluster node is running');
    }

    /* The masters serving slots now. */
    async masters() {
        return (await this.topology()).filter((t) => t.master && !t.failed && t.slots.length > 0);
    }

    async masterOf(slot) {
        const m = (await this.masters()).find((t) => t.slots.some(([a, b]) => slot >= a && slot <= b));
        if (!m) throw new Error(`no master serves slot ${slot}`);
        return m.node;
    }

    async command(...args) {
        const name = String(args[0]).toUpperCase();
        const masters = async () => (await this.masters()).sort((a, b) => a.slots[0][0] - b.slots[0][0]).map((t) => t.node);
        if (name === 'SCAN') {
            /* Every master's keys, at once: cursor 0. */
            const keys = [];
            for (const m of await masters()) {
                let cursor = '0';
                do {
                    const [next, batch] = await m.command('SCAN', cursor, ...args.slice(2));
                    cursor = next;
                    keys.push(...batch);
                } while (cursor !== '0');
            }
            return ['0', keys];
        }
        if (name === 'FLUSHALL' || name === 'FLUSHDB' || name === 'FUNCTION') {
            for (const m of await masters()) await m.command(...args);
            return 'OK';
        }
        if (name === 'DBSIZE') {
            let n = 0;
            for (const m of await masters()) n += await m.command('DBSIZE');
            return n;
        }
        if (name === 'DEBUG' && String(args[1]).toUpperCase() === 'DIGEST') {
            const digests = [];
            for (const m of await masters()) digests.push(await m.command('DEBUG', 'DIGEST'));
            return digests.join(',');
        }
        if (args.length < 2) return (await masters())[0].command(...args);
        let node = await this.masterOf(keySlotOf(String(args[1])));
        for (let attempt = 0; ; attempt++) {
            try {
                return await node.command(...args);
            } catch (error) {
                if (!(error instanceof RedisError) || attempt >= 20) throw error;
                const moved = MOVED_OR_ASK.exec(error.message);
                if (moved && error.message.startsWith('MOVED')) node = this.node(moved[2]);
                else if (moved || RETRY_LATER.test(error.message)) await delay(100); /* a migration or a failover under way */
                else throw error;
                if (!node) throw error;
            }
        }
    }

    /* Crash every node. */
    async kill() {
        await Promise.all(this.nodes.map((n) => n.kill()));
    }

    async stop() {
        await Promise.all(this.nodes.map((n) => n.stop()));
    }
}

/* Redis Cluster's key slot: CRC16/XMODEM of the hash tag (or the key), mod 16384. */
export function keySlotOf(key) {
    const s = key.indexOf('{');
    if (s >= 0) {
        const e = key.indexOf('}', s + 1);
        if (e > s + 1) key = key.slice(s + 1, e);
    }
    let crc = 0;
    for (const byte of Buffer.from(key, 'utf8')) {
        crc ^= byte << 8;
        for (let i = 0; i < 8; i++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    }
    return crc % 16384;
}

/* CONSENTD_TEST_REDIS=cluster runs the suites on a 3-master Redis Cluster
 * (ctest registers the consent, rights and analytics suites twice). */
export const TEST_ON_CLUSTER = process.env.CONSENTD_TEST_REDIS === 'cluster';

/* The store the suites run on: one redis-server, or a cluster. */
export function startRedis(options) {
    return TEST_ON_CLUSTER ? RedisCluster.start(options) : Redis.start(options);
}

// ---- consentd ---------------------------------------------------------------

export function consentdBin() {
    if (process.env.CONSENTD_BIN) return process.env.CONSENTD_BIN;
    for (const dir of ['build', 'build-test']) {
        const bin = path.join(SOURCE_DIR, dir, 'consentd');
        if (fs.existsSync(bin)) return bin;
    }
    throw new Error('consentd binary not found: set CONSENTD_BIN, or build it (ops/test.sh builds build-test/consentd)');
}

/* The environment for consentd: ours, without the variables that would
 * override the generated config file. */
function consentdEnv(extra = {}) {
    const env = { ...process.env };
    for (const name of ['PORT', 'REDIS_URL', 'CONSENTD_THREADS', 'CONSENTD_CONFIG']) delete env[name];
    return { ...env, ...extra };
}

/* The sanitizer report in text, or null. */
export function sanitizerReport(text) {
    const m = /ERROR: (?:Address|Leak|UndefinedBehavior)Sanitizer|runtime error:/.exec(text);
    if (!m) return null;
    return text.slice(Math.max(0, m.index - 200), m.index + 4000);
}

function assertNoSanitizerReport(what, text) {
    const report = sanitizerReport(text);
    if (report) throw new Error(`${what}: sanitizer report in its output:\n${report}`);
}

/* The site files shipped in ops/sites/: {'demo.json': '<json text>'}. */
export function shippedSites() {
    const dir = path.join(SOURCE_DIR, 'ops', 'sites');
    const sites = {};
    for (const name of fs.existsSync(dir) ? fs.readdirSync(dir) : []) {
        if (name.endsWith('.json')) sites[name] = fs.readFileSync(path.join(dir, name), 'utf8');
    }
    return sites;
}

/* ops/sites/<id>.json, parsed. */
export function shippedSite(id = 'demo') {
    const text = shippedSites()[`${id}.json`];
    if (text === undefined) throw new Error(`ops/sites/${id}.json not found`);
    return JSON.parse(text);
}

/* The demo site as another site: same settings under a new id. */
export function siteLike(id, base = shippedSite('demo')) {
    const site = structuredClone(base);
    if ('id' in site) site.id = id;
    return site;
}

/* The demo site plus a purpose on legitimate interest, which the demo has
 * none of since issue 19 (item 5): legitimate interest only covers a purpose
 * that reads and writes nothing on the visitor's device ("trackers": false),
 * here statistics drawn from the server's own logs. */
export function siteWithLegitimateInterest(id) {
    const site = siteLike(id);
    site.purposes.splice(2, 0, {
        id: 'server_statistics',
        legal_basis: 'legitimate_interest',
        trackers: false,
        retention_days: 365,
        recipients: ['Démo SARL'],
        texts: {
            fr: { name: 'Statistiques sans traceur', description: 'Compter les visites à partir des journaux de notre serveur, sans rien lire ni écrire sur votre appareil.' },
            en: { name: 'Statistics without trackers', description: "Counting visits from our server's own logs, without reading or writing anything on your device." },
        },
    });
    return site;
}

/* A site whose last purpose has an invalid legal basis: the error must name
 * `purposes[<index>].legal_basis`. Returns {site, field}. */
export function brokenSite(id) {
    const site = siteLike(id);
    if (!Array.isArray(site.purposes) || site.purposes.length === 0) throw new Error('demo site has no purposes');
    const index = site.purposes.length - 1;
    site.purposes[index].legal_basis = 'because_we_can';
    return { site, field: `purposes[${index}].legal_basis` };
}

function isObject(v) {
    return v !== null && typeof v === 'object' && !Array.isArray(v);
}

export function deepMerge(base, over) {
    const out = { ...base };
    for (const [k, v] of Object.entries(over || {})) {
        out[k] = isObject(v) && isObject(base[k]) ? deepMerge(base[k], v) : v;
    }
    return out;
}

function writeSites(dir, sites) {
    fs.mkdirSync(dir, { recursive: true });
    for (const [name, content] of Object.entries(sites)) {
        const text = typeof content === 'string' ? content : JSON.stringify(content, null, 2);
        fs.writeFileSync(path.join(dir, name), text);
    }
}

/* Create a signing key in dir (the server refuses to start without one). */
export function generateKeys(dir) {
    const r = spawnSync(consentdBin(), ['keygen', '--keys', dir], { env: consentdEnv(), encoding: 'utf8', timeout: 30000 });
    assertNoSanitizerReport('consentd keygen', `${r.stdout}${r.stderr}`);
    if (r.status !== 0) throw new Error(`consentd keygen --keys ${dir} failed (${r.status}): ${r.stderr}`);
}

/* Lay out a consentd directory: consentd.json, sites/, keys/. Returns the paths.
 * sites: {'name.json': object | text} instead of the shipped ones. */
export function makeConsentdDir({ config = {}, sites = shippedSites(), keys = true } = {}) {
    const dir = makeTempDir('consentd');
    const sitesDir = path.join(dir, 'sites');
    const keysDir = path.join(dir, 'keys');
    writeSites(sitesDir, sites);
    if (keys) generateKeys(keysDir);
    const configPath = path.join(dir, 'consentd.json');
    const base = { sites_dir: 'sites', keys_dir: 'keys' };
    fs.writeFileSync(configPath, JSON.stringify(deepMerge(base, config), null, 2));
    return { dir, sitesDir, keysDir, configPath };
}

/* Run consentd to completion (--check-config, a config that must be refused,
 * ...): {status, signal, stdout, stderr}. Fails on a sanitizer report. */
export function runConsentd(args, { env = {}, timeoutMs = 30000 } = {}) {
    const r = spawnSync(consentdBin(), args, { env: consentdEnv(env), encoding: 'utf8', timeout: timeoutMs });
    if (r.error) throw r.error;
    assertNoSanitizerReport(`consentd ${args.join(' ')}`, `${r.stdout}${r.stderr}`);
    return { status: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

/* One consentd on a free port, with its own config, sites and keys. */
export class Consentd {
    /* options: redis (a Redis) or redisUrl; config (merged over the test
     * defaults); sites ({'name.json': object|text}, default ops/sites/*);
     * threads; args (more flags); env (more variables); launcher (a command
     * that runs consentd, e.g. ['prlimit', '--nofile=400']). */
    static async start(options) {
        const consentd = new Consentd(options);
        await consentd.start();
        return consentd;
    }

    constructor({ redis, redisUrl, config = {}, sites, threads = 2, args = [], env = {}, launcher = [] } = {}) {
        this.redisUrl = redisUrl || (redis ? redis.url : 'redis://127.0.0.1:1');
        /* On a cluster, start() also waits for the slot map and every master. */
        this.waitReady = redis instanceof RedisCluster;
        this.overrides = config;
        this.sites = sites;
        this.threads = threads;
        this.args = args;
        this.env = env;
        this.launcher = launcher;
        this.proc = null;
        this.expectingExit = false;
    }

    async start() {
        if (this.proc && this.proc.running) throw new Error('consentd is already running');
        if (!this.port) this.port = await freePort();
        const defaults = {
            listen: { address: '127.0.0.1', port: this.port },
            threads: this.threads,
            redis: {
                url: this.redisUrl,
                command_timeout_ms: TEST_REDIS_COMMAND_TIMEOUT_MS,
                reconnect_max_ms: TEST_REDIS_RECONNECT_MAX_MS,
            },
            public_url: `http://127.0.0.1:${this.port}`,
            limits: { shutdown_timeout_ms: TEST_SHUTDOWN_TIMEOUT_MS },
            /* Every test client is a loopback peer: the limits would mix the
             * tests' traffic. The tests of the limits turn this off (or drop
             * it, for the default). */
            rate_limit: { exempt_loopback: true },
            /* Tests read the stats right after changing the counters: no
             * answers from memory, but where a test turns it on. */
            stats: { cache_seconds: 0, cache_closed_seconds: 0 },
            log: { format: 'text', level: 'info', access_log: true, client_ip: false },
        };
        if (!this.layout) {
            this.config = deepMerge(defaults, this.overrides);
            this.layout = makeConsentdDir({ config: this.config, sites: this.sites || shippedSites() });
        }
        this.expectingExit = false;
        const [program, ...args] = [...this.launcher, consentdBin(), '--config', this.layout.configPath, ...this.args];
        this.proc = new Proc('consentd', program, args, {
            env: consentdEnv(this.env),
        });
        const proc = this.proc;
        await waitFor(
            async () => {
                if (!proc.running) {
                    throw new Error(`consentd exited during start-up: ${JSON.stringify(proc.result)}\n${proc.tail()}`);
                }
                // TLS: the port accepting is enough (the test speaks TLS itself).
                if (this.config.tls) return (await probePort(this.port)) === 'open';
                const res = await request(this.port, '/healthz', { timeoutMs: 2000 });
                return !this.waitReady || res.status === 200;
            },
            { timeoutMs: START_TIMEOUT_MS, message: `consentd on port ${this.port} to answer /healthz` },
        );
        return this;
    }

    get sitesDir() {
        return this.layout.sitesDir;
    }

    get stderr() {
        return this.proc ? this.proc.stderr : '';
    }

    get running() {
        return !!this.proc && this.proc.running;
    }

    url(target = '/') {
        return `http://127.0.0.1:${this.port}${target}`;
    }

    request(target, options) {
        return request(this.port, target, options);
    }

    async metrics() {
        const res = await this.request('/metrics');
        if (res.status !== 200) throw new Error(`/metrics answered ${res.status}: ${res.text}`);
        return parseMetrics(res.text);
    }

    signal(sig) {
        if (['SIGTERM', 'SIGINT', 'SIGKILL'].includes(sig)) this.expectingExit = true;
        this.proc.signal(sig);
    }

    writeSite(name, content) {
        writeSites(this.sitesDir, { [name]: content });
    }

    removeSite(name) {
        fs.rmSync(path.join(this.sitesDir, name), { force: true });
    }

    /* Wait until its stderr (from offset on) matches re; returns the match. */
    waitForLog(re, { from = 0, timeoutMs = 5000 } = {}) {
        return waitFor(() => re.exec(this.stderr.slice(from)), { timeoutMs, message: `a log line matching ${re}` });
    }

    get pid() {
        return this.proc ? this.proc.pid : undefined;
    }

    /* Crash it (SIGKILL) and wait until it is gone; start() runs it again
     * with the same port, config, sites and keys. */
    async kill() {
        this.expectingExit = true;
        await this.proc.stop({ signal: 'SIGKILL' });
    }

    /* Wait for the exit that a signal asked for; checks for sanitizer reports. */
    async waitExit(ms = TEST_SHUTDOWN_TIMEOUT_MS + 2000) {
        const result = await this.proc.waitExit(ms);
        assertNoSanitizerReport('consentd', this.proc.stderr);
        return result;
    }

    /* SIGTERM, wait (SIGKILL past the deadline), then check that it exited 0,
     * that it had not died on its own before, and that no sanitizer spoke. */
    async stop() {
        if (!this.proc) return;
        const diedAlone = !this.proc.running && !this.expectingExit;
        this.expectingExit = true;
        const result = await this.proc.stop({ signal: 'SIGTERM', timeoutMs: TEST_SHUTDOWN_TIMEOUT_MS + 5000 });
        assertNoSanitizerReport('consentd', this.proc.stderr);
        if (diedAlone) throw new Error(`consentd had exited by itself during the tests: ${JSON.stringify(this.proc.result)}\n${this.proc.tail()}`);
        if (result.killed) throw new Error(`consentd did not exit within ${TEST_SHUTDOWN_TIMEOUT_MS + 5000} ms of SIGTERM`);
    }
}

/* redis-server + consentd, the usual pair. stop() stops both, consentd
 * first, and reports a consentd problem (exit, sanitizer) after Redis is down. */
export async function startStack(options = {}) {
    const redis = await startRedis();
    let consentd;
    try {
        consentd = await Consentd.start({ redis, ...options });
    } catch (error) {
        await redis.stop();
        throw error;
    }
    return {
        redis,
        consentd,
        async stop() {
            try {
                await consentd.stop();
            } finally {
                await redis.stop();
            }
        },
    };
}
