// Helpers for the tamper-evident log's tests: write consents, wait for a
// checkpoint that covers them, run ops/verify-log.sh, and tamper with the
// log directly in Redis (as someone with access to Redis would).
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { SOURCE_DIR, keySlotOf, waitFor } from './harness.mjs';
import { DEMO_KEY, browser, postConsent, server } from './consent.mjs';

export const VERIFY_LOG = path.join(SOURCE_DIR, 'ops', 'verify-log.sh');

export function choiceOf(site, visitor) {
    const consent = site.purposes.filter((p) => p.legal_basis === 'consent').map((p) => p.id);
    return { visitor, decisions: { [consent[0]]: true }, policy_version: site.policy_version, lang: 'en' };
}

/* n consents of one visitor (all in one partition), then one each of
 * others: returns how many were written. */
export async function writeConsents(consentd, site, visitor, n, others = 3) {
    let written = 0;
    for (let i = 0; i < n; i++) {
        const res = await postConsent(consentd, choiceOf(site, visitor), browser(), site.id);
        assert.equal(res.status, 201, res.text);
        written++;
    }
    for (let i = 0; i < others; i++) {
        const res = await postConsent(consentd, choiceOf(site, `${visitor}-other-${i}`), browser(), site.id);
        assert.equal(res.status, 201, res.text);
        written++;
    }
    return written;
}

export function payloadOf(jws) {
    return JSON.parse(Buffer.from(jws.split('.')[1], 'base64url').toString('utf8'));
}

/* Every checkpoint of the site (all pages), oldest first. */
export async function checkpointsOf(consentd, siteId) {
    const all = [];
    let cursor = null;
    do {
        const res = await consentd.request(`/v1/sites/${siteId}/log/checkpoints?limit=100${cursor ? `&cursor=${cursor}` : ''}`);
        assert.equal(res.status, 200, res.text);
        all.push(...res.json().checkpoints);
        cursor = res.json().next_cursor;
    } while (cursor);
    return all;
}

/* Wait until the last checkpoint covers at least size entries. */
export async function waitCovered(consentd, siteId, size, { timeoutMs = 15000 } = {}) {
    return waitFor(
        async () => {
            const cps = await checkpointsOf(consentd, siteId);
            const last = cps.at(-1);
            return last && payloadOf(last.jws).size >= size ? cps : null;
        },
        { timeoutMs, intervalMs: 200, message: `a checkpoint of ${siteId} covering ${size} entries` },
    );
}

/* ops/verify-log.sh against this consentd: {status, out}. */
export function verifyLog(consentd, siteId, key = DEMO_KEY, args = []) {
    const r = spawnSync('bash', [VERIFY_LOG, ...args, siteId], {
        env: { ...process.env, CONSENTD_URL: consentd.url(''), CONSENTD_KEY: key },
        encoding: 'utf8',
        timeout: 60000,
    });
    if (r.error) throw r.error;
    return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

/* The raw export of the site (all pages), for the tests' own checks. */
export async function rawLog(consentd, siteId) {
    const entries = [];
    let cursor = null;
    do {
        const res = await consentd.request(`/v1/sites/${siteId}/log?limit=1000${cursor ? `&cursor=${cursor}` : ''}`, { headers: server() });
        assert.equal(res.status, 200, res.text);
        for (const line of res.text.split('\n')) if (line) entries.push(JSON.parse(line));
        cursor = res.headers['x-next-cursor'];
    } while (cursor);
    return entries;
}

/* A command on the node that holds key (one Redis, or a cluster's master). */
async function onKey(redis, key, ...args) {
    if (typeof redis.masterOf === 'function') return (await redis.masterOf(keySlotOf(key))).command(...args);
    return redis.command(...args);
}

/* The log key of the site's partition holding at least min entries. */
export async function busyPartition(redis, siteId, min) {
    const [, keys] = await redis.command('SCAN', '0', 'MATCH', `cd:{${siteId}:*}:log`, 'COUNT', '10000');
    for (const key of keys) {
        if ((await onKey(redis, key, 'XLEN', key)) >= min) {
            return { key, p: Number(/:(\d+)\}/.exec(key)[1]) };
        }
    }
    throw new Error(`no partition of ${siteId} holds ${min} entries`);
}

/* Rebuild the stream key in Redis, entry by entry (binary-safe: in Lua), with
 * entry k (1-based) altered, a forged copy inserted after it, entries k and
 * k+1 swapped, or entry k deleted (XDEL). Returns the ids involved. */
const TAMPER = `
local mode, k = ARGV[1], tonumber(ARGV[2])
local es = redis.call('XRANGE', KEYS[1], '-', '+')
local function ms_seq(id)
  local ms, seq = string.match(id, '^(%d+)-(%d+)$')
  return tonumber(ms), tonumber(seq)
end
if mode == 'insert' then
  -- After the first entry from k on whose successor leaves room for an id.
  while es[k + 1] do
    local m1, s1 = ms_seq(es[k][1])
    local m2, s2 = ms_seq(es[k + 1][1])
    if m2 > m1 or s2 > s1 + 1 then break end
    k = k + 1
  end
end
if mode == 'delete' then
  redis.call('XDEL', KEYS[1], es[k][1])
  return {es[k][1]}
end
redis.call('DEL', KEYS[1])
local touched = {}
for i, e in ipairs(es) do
  local id, f = e[1], e[2]
  if mode == 'reorder' and (i == k or i == k + 1) then
    f = es[i == k and k + 1 or k][2]
    touched[#touched + 1] = id
  end
  if mode == 'alter' and i == k then
    for j = 1, #f, 2 do
      if f[j] == 'r' or f[j] == 'c' then
        local r = f[j + 1]
        f[j + 1] = string.sub(r, 1, -2) .. string.char((string.byte(r, -1) + 1) % 256)
      end
    end
    touched[#touched + 1] = id
  end
  redis.call('XADD', KEYS[1], id, unpack(f))
  if mode == 'insert' and i == k then
    local ms, seq = ms_seq(id)
    local forged = string.format('%d-%d', ms, seq + 1)
    redis.call('XADD', KEYS[1], forged, unpack(f))
    touched[#touched + 1] = forged
  end
end
return touched
`;

export async function tamper(redis, key, mode, k) {
    return onKey(redis, key, 'EVAL', TAMPER, '1', key, mode, String(k));
}
