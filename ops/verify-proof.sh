#!/usr/bin/env bash
# ops/verify-proof.sh - check, end to end, what a visitor was shown and chose:
#
#   1. fetch the visitor's current proof (GET /v1/sites/SITE/consents/VISITOR,
#      with the site's API key), or take the one given with --proof;
#   2. verify its Ed25519 signature (JWS, EdDSA) against the key of the same
#      kid in /.well-known/jwks.json, with Node's own crypto (no consentd
#      code), and check its audience, subject and expiry (with --expired-ok,
#      an expired proof passes: one from an access request or an audit
#      export, years old; retired keys stay in the JWKS as long as such a
#      proof can be held);
#   3. download the banner version the proof names (claim "bv") from the
#      archive (GET /v1/sites/SITE/banner-versions/BV, API key);
#   4. recompute its hash with sed and sha256sum (the 64 hex digits of its
#      own "bv" field read as '0') and compare with the proof's.
#
# Usage: ops/verify-proof.sh [--proof JWS] [--expired-ok] [--out FILE] SITE VISITOR
#   --proof JWS   verify this proof (e.g. from the visitor's "consentd" cookie,
#                 or the "proof" of an access request's or export's record)
#                 instead of fetching the current one
#   --expired-ok  the proof may have expired: what is checked is what was
#                 signed when it was issued (say it with its expiry)
#   --out FILE    keep the downloaded banner version in FILE
# Environment:
#   CONSENTD_URL  where consentd answers (default http://localhost:8080)
#   CONSENTD_KEY  the site's API key (default $CONSENTD_DEMO_KEY, else demo-key-change-me)
# Exits 0 when every check passes, 1 when one fails (it says which), 2 on bad usage.
set -euo pipefail

die() {
    printf 'verify-proof: FAILED: %s\n' "$1" >&2
    exit 1
}
usage() {
    sed -n '/^# Usage:/,/^# Exits/p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

proof='' out='' expired_ok=0
while [ $# -gt 0 ]; do
    case "$1" in
    --proof) [ $# -ge 2 ] || usage; proof=$2; shift 2 ;;
    --expired-ok) expired_ok=1; shift ;;
    --out) [ $# -ge 2 ] || usage; out=$2; shift 2 ;;
    -h | --help) usage ;;
    --*) usage ;;
    *) break ;;
    esac
done
[ $# -eq 2 ] || usage
site=$1 visitor=$2
url=${CONSENTD_URL:-http://localhost:8080}
url=${url%/}
key=${CONSENTD_KEY:-${CONSENTD_DEMO_KEY:-demo-key-change-me}}
for tool in curl node sed sha256sum; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is not installed (ops/run.sh installs what this needs)"
done

work=$(mktemp -d "${TMPDIR:-/tmp}/verify-proof.XXXXXX")
trap 'rm -rf "$work"' EXIT

# GET with the site's key into a file; dies with consentd's error otherwise.
get() {
    local status
    status=$(curl -sS -o "$2" -w '%{http_code}' -H "Authorization: Bearer $key" "$url$1") ||
        die "cannot reach consentd at $url (set CONSENTD_URL)"
    [ "$status" = 200 ] || die "GET $1 answered $status: $(head -c 300 "$2")"
}

# 1. The proof.
if [ -z "$proof" ]; then
    get "/v1/sites/$site/consents/$visitor" "$work/consent.json"
    proof=$(node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).proof)' "$work/consent.json")
fi
printf '%s' "$proof" >"$work/proof.jws"

# 2. Its signature, from the JWKS alone, and who and what it is about.
get "/.well-known/jwks.json" "$work/jwks.json"
node - "$work/proof.jws" "$work/jwks.json" "$site" "$visitor" "$work/bv" "$expired_ok" <<'JS' || exit 1
const fs = require('fs');
const crypto = require('crypto');
const [jwsFile, jwksFile, site, visitor, bvFile, expiredOk] = process.argv.slice(2);
const fail = (why) => {
    process.stderr.write(`verify-proof: FAILED: ${why}\n`);
    process.exit(1);
};
const parts = fs.readFileSync(jwsFile, 'utf8').trim().split('.');
if (parts.length !== 3) fail('the proof is not a compact JWS');
const json = (b64, what) => {
    try {
        return JSON.parse(Buffer.from(b64, 'base64url').toString('utf8'));
    } catch {
        fail(`the proof's ${what} is not base64url JSON`);
    }
};
const header = json(parts[0], 'header');
const claims = json(parts[1], 'claims');
if (header.alg !== 'EdDSA') fail(`alg is ${header.alg}, not EdDSA`);
const jwk = (JSON.parse(fs.readFileSync(jwksFile, 'utf8')).keys || []).find((k) => k.kid === header.kid);
if (!jwk) fail(`no key ${header.kid} in the JWKS`);
const key = crypto.createPublicKey({ key: { kty: jwk.kty, crv: jwk.crv, x: jwk.x }, format: 'jwk' });
const signed = Buffer.from(`${parts[0]}.${parts[1]}`);
if (!crypto.verify(null, signed, key, Buffer.from(parts[2], 'base64url'))) fail('the signature does not verify');
if (claims.aud !== site) fail(`the proof is for site ${claims.aud}, not ${site}`);
if (claims.sub !== visitor) fail(`the proof is about visitor ${claims.sub}, not ${visitor}`);
const expired = !(claims.exp * 1000 > Date.now());
if (expired && expiredOk !== '1') {
    fail(`the proof expired at ${new Date(claims.exp * 1000).toISOString()} (--expired-ok to check an old proof)`);
}
if (!/^[0-9a-f]{64}$/.test(claims.bv || '')) {
    fail('the proof names no banner version (bv): recorded by a server, or by a banner from before versions');
}
const when = (s) => new Date(s * 1000).toISOString();
const decisions = Object.entries(claims.dec || {}).map(([p, g]) => `${p}=${g ? 'yes' : 'no'}`).join(' ');
console.log(`proof: signature OK (key ${header.kid}), site ${site}, visitor ${visitor}`);
console.log(`       given ${when(claims.iat)} (${claims.src}, ${claims.lang}, variant ${claims.var || '-'}), policy ${claims.pv}, until ${when(claims.exp)}`);
console.log(`       decisions: ${decisions}`);
if (claims.act) console.log(`       how: ${claims.act}, control ${claims.ctl || '-'}${claims.gpc ? ', Global Privacy Control signal' : ''}`);
if (expired) console.log(`       expired ${when(claims.exp)}: checked as evidence of what was signed then`);
fs.writeFileSync(bvFile, claims.bv);
JS
bv=$(cat "$work/bv")

# 3. The banner version it names, exactly as it was served.
get "/v1/sites/$site/banner-versions/$bv" "$work/banner.js"

# 4. Its hash, recomputed from the bytes.
zeros=$(printf '%064d' 0)
got=$(LC_ALL=C sed -E 's/"bv":"[0-9a-f]{64}"/"bv":"'"$zeros"'"/' "$work/banner.js" | sha256sum | cut -d' ' -f1)
[ "$got" = "$bv" ] || die "the archived banner hashes to $got, not to the proof's $bv"
grep -qF "\"bv\":\"$bv\"" "$work/banner.js" || die "the archived banner does not carry the version $bv"
[ -z "$out" ] || cp "$work/banner.js" "$out"
printf 'banner version %s: archived, %s bytes, SHA-256 recomputed: OK\n' "$bv" "$(wc -c <"$work/banner.js")"
printf 'verify-proof: OK\n'
