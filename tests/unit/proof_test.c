/*
 * proof_test.c - signed proofs: the compact JWS shape, every claim decoded
 * back (accents, quotes, backslashes, control characters, invalid UTF-8),
 * the signature checked in C with libsodium and by node's own crypto from
 * nothing but the JWKS (tests/unit/proof_verify.mjs), tampering refused,
 * key rotation, buffer bounds, and the signing rate.
 *
 * Works in a fresh directory under $TMPDIR (or /tmp), removed at exit.
 */
#include "check.h"
#include "proof.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#define TEST_T0 ((time_t)1790000000) /* 2026-09-21T14:13:20Z */
#define TEST_DAY ((time_t)86400)
#define TEST_HOLD_DAYS KEYS_HOLD_MIN_DAYS
#define TEST_PATH_MAX 512
#define TEST_OUTPUT_MAX 65536
#define TEST_RATE_SIGNATURES 20000
#define B64URL sodium_base64_VARIANT_URLSAFE_NO_PADDING

static char root[TEST_PATH_MAX], dir[TEST_PATH_MAX], script[TEST_PATH_MAX];
static key_set_t *keys;

/* ---- fixtures --------------------------------------------------------------- */

static const char *const purposes[] = {"mesure_d'audience", "publicité", "réseaux\tsociaux\n"};
static const unsigned char granted[] = {1, 0, 1};

static proof_claims_t claims_french(void)
{
    return (proof_claims_t){
        .iss = "https://consent.example.fr",
        .aud = "boulangerie-dupont",
        .sub = "v_3q2-7wJkQ",
        .jti = "c_01J9ZKXW",
        .iat = TEST_T0,
        .exp = TEST_T0 + 182 * TEST_DAY,
        .pv = "2026-09 « Politique de confidentialité » \"v2\"",
        .th = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        .src = "banner",
        .lang = "fr",
        .var = "bannière \\ B",
        .act = "withdrawal",
        .ctl = "custom",
        .gpc = 1,
        .n_decisions = 3,
        .purposes = purposes,
        .granted = granted,
    };
}

/* The claims JSON that claims_french() must produce, byte for byte. */
static const char claims_french_json[] =
    "{\"iss\":\"https://consent.example.fr\",\"aud\":\"boulangerie-dupont\","
    "\"sub\":\"v_3q2-7wJkQ\",\"jti\":\"c_01J9ZKXW\",\"iat\":1790000000,\"exp\":1805724800,"
    "\"pv\":\"2026-09 « Politique de confidentialité » \\\"v2\\\"\","
    "\"th\":\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08\","
    "\"src\":\"banner\",\"lang\":\"fr\",\"var\":\"bannière \\\\ B\","
    "\"act\":\"withdrawal\",\"ctl\":\"custom\",\"gpc\":true,"
    "\"dec\":{\"mesure_d'audience\":true,\"publicité\":false,\"réseaux\\tsociaux\\n\":true}}";

/* ---- helpers ---------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void cleanup(void)
{
    key_set_free(keys);
    keys = NULL;
    if (root[0] != '\0') nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *path_in(char *buf, const char *name)
{
    if (snprintf(buf, TEST_PATH_MAX, "%s/%s", root, name) >= TEST_PATH_MAX) buf[0] = '\0';
    return buf;
}

static int write_bytes(const char *path, const char *data, size_t len)
{
    FILE *f = fopen(path, "wb");
    if (f == NULL) return -1;
    size_t n = fwrite(data, 1, len, f);
    return fclose(f) == 0 && n == len ? 0 : -1;
}

/* The three parts of a compact JWS, as offsets into it. */
typedef struct jws_parts {
    size_t header_len, payload_off, payload_len, sig_off, sig_len;
} jws_parts_t;

static int jws_split(const char *jws, size_t len, jws_parts_t *p)
{
    const char *d1 = memchr(jws, '.', len);
    if (d1 == NULL) return -1;
    const char *d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - jws));
    if (d2 == NULL || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - jws)) != NULL) return -1;
    p->header_len = (size_t)(d1 - jws);
    p->payload_off = p->header_len + 1;
    p->payload_len = (size_t)(d2 - d1 - 1);
    p->sig_off = (size_t)(d2 + 1 - jws);
    p->sig_len = len - p->sig_off;
    return 0;
}

/* Strict base64url of len chars into out (NUL-terminated); length or -1. */
static long b64url_decode(const char *s, size_t len, unsigned char *out, size_t cap)
{
    size_t n;
    if (sodium_base642bin(out, cap - 1, s, len, NULL, &n, NULL, B64URL) != 0) return -1;
    out[n] = '\0';
    return (long)n;
}

static json_t *jws_payload(const char *jws, size_t len, char *raw, size_t cap)
{
    jws_parts_t p;
    if (jws_split(jws, len, &p) != 0 ||
        b64url_decode(jws + p.payload_off, p.payload_len, (unsigned char *)raw, cap) < 0)
        return NULL;
    return json_loads(raw, JSON_REJECT_DUPLICATES, NULL);
}

/* The raw Ed25519 public key the set's JWKS lists under kid. */
static int jwks_public_key(const key_set_t *set, const char *kid, unsigned char pk[32])
{
    size_t len, i, pk_len = 0;
    const char *text = key_set_jwks(set, &len);
    json_t *jwks = json_loadb(text, len, 0, NULL), *k;
    int rc = -1;
    json_array_foreach(json_object_get(jwks, "keys"), i, k)
    {
        const char *x = json_string_value(json_object_get(k, "x"));
        if (strcmp(json_string_value(json_object_get(k, "kid")) ?: "", kid) == 0 && x != NULL &&
            sodium_base642bin(pk, 32, x, strlen(x), NULL, &pk_len, NULL, B64URL) == 0 &&
            pk_len == 32)
            rc = 0;
    }
    json_decref(jwks);
    return rc;
}

/* Verify jws in C: the signature over header.payload with kid's JWKS key. */
static int c_verify(const key_set_t *set, const char *kid, const char *jws, size_t len)
{
    jws_parts_t p;
    unsigned char pk[32], sig[128];
    if (jws_split(jws, len, &p) != 0 || jwks_public_key(set, kid, pk) != 0 ||
        b64url_decode(jws + p.sig_off, p.sig_len, sig, sizeof(sig)) != 64)
        return -1;
    return crypto_sign_verify_detached(sig, (const unsigned char *)jws, p.sig_off - 1, pk);
}

/* Run `node proof_verify.mjs JWKS PROOF` on files holding set's JWKS and
 * jws; node's stdout into out. Returns node's exit status, or -1. */
static int node_verify(const key_set_t *set, const char *jws, size_t len, char *out, size_t cap)
{
    char jwks_path[TEST_PATH_MAX], proof_path[TEST_PATH_MAX], out_path[TEST_PATH_MAX];
    size_t jwks_len;
    const char *jwks = key_set_jwks(set, &jwks_len);
    path_in(jwks_path, "jwks.json");
    path_in(proof_path, "proof.jws");
    path_in(out_path, "node.out");
    if (write_bytes(jwks_path, jwks, jwks_len) != 0 || write_bytes(proof_path, jws, len) != 0)
        return -1;
    fflush(stdout);
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        int fd = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0) _exit(127);
        execlp("node", "node", script, jwks_path, proof_path, (char *)NULL);
        perror("    exec node");
        _exit(127);
    }
    int st;
    if (waitpid(pid, &st, 0) != pid) return -1;
    if (!WIFEXITED(st)) {
        printf("    node died: signal %d\n", WIFSIGNALED(st) ? WTERMSIG(st) : -1);
        return -1;
    }
    FILE *f = fopen(out_path, "r");
    size_t n = f ? fread(out, 1, cap - 1, f) : 0;
    if (f) fclose(f);
    out[n] = '\0';
    return WEXITSTATUS(st);
}

static size_t sign(const key_set_t *set, const proof_claims_t *c, char *out, size_t cap)
{
    return proof_sign(set, c, out, cap);
}

/* ---- the JWS ---------------------------------------------------------------- */

static int proof_is_three_base64url_parts(void)
{
    char jws[PROOF_MAX];
    proof_claims_t c = claims_french();
    size_t len = sign(keys, &c, jws, sizeof(jws));
    jws_parts_t p;
    CHECK(len > 0 && len < PROOF_MAX && strlen(jws) == len);
    CHECK(jws_split(jws, len, &p) == 0);
    CHECK(p.header_len > 0 && p.payload_len > 0 && p.sig_len == 86);
    CHECK(strspn(jws, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.") == len);
    return 0;
}

static int header_is_eddsa_with_active_kid(void)
{
    char jws[PROOF_MAX], expect[256];
    unsigned char header[256];
    proof_claims_t c = claims_french();
    size_t len = sign(keys, &c, jws, sizeof(jws));
    jws_parts_t p;
    CHECK(len > 0 && jws_split(jws, len, &p) == 0);
    CHECK(b64url_decode(jws, p.header_len, header, sizeof(header)) > 0);
    snprintf(expect, sizeof(expect), "{\"alg\":\"EdDSA\",\"kid\":\"%s\",\"typ\":\"JWT\"}",
             key_set_active_kid(keys));
    CHECK(strcmp((char *)header, expect) == 0);
    return 0;
}

static int claims_decode_to_every_field(void)
{
    char jws[PROOF_MAX], raw[PROOF_MAX];
    proof_claims_t c = claims_french();
    size_t len = sign(keys, &c, jws, sizeof(jws));
    CHECK(len > 0);
    json_t *j = jws_payload(jws, len, raw, sizeof(raw));
    CHECK(j != NULL);
    json_t *dec = json_object_get(j, "dec");
    int ok = json_object_size(j) == 15 &&
             strcmp(json_string_value(json_object_get(j, "iss")), c.iss) == 0 &&
             strcmp(json_string_value(json_object_get(j, "aud")), c.aud) == 0 &&
             strcmp(json_string_value(json_object_get(j, "sub")), c.sub) == 0 &&
             strcmp(json_string_value(json_object_get(j, "jti")), c.jti) == 0 &&
             json_integer_value(json_object_get(j, "iat")) == c.iat &&
             json_integer_value(json_object_get(j, "exp")) == c.exp &&
             strcmp(json_string_value(json_object_get(j, "pv")), c.pv) == 0 &&
             strcmp(json_string_value(json_object_get(j, "th")), c.th) == 0 &&
             strcmp(json_string_value(json_object_get(j, "src")), c.src) == 0 &&
             strcmp(json_string_value(json_object_get(j, "lang")), c.lang) == 0 &&
             strcmp(json_string_value(json_object_get(j, "var")), c.var) == 0 &&
             strcmp(json_string_value(json_object_get(j, "act")), c.act) == 0 &&
             strcmp(json_string_value(json_object_get(j, "ctl")), c.ctl) == 0 &&
             json_is_true(json_object_get(j, "gpc")) && json_object_size(dec) == 3 &&
             json_is_true(json_object_get(dec, purposes[0])) &&
             json_is_false(json_object_get(dec, purposes[1])) &&
             json_is_true(json_object_get(dec, purposes[2]));
    json_decref(j);
    CHECK(ok);
    return 0;
}

/* Members in proof.h's order, compact, UTF-8 kept, only what must be escaped. */
static int claims_json_is_compact_and_in_documented_order(void)
{
    char jws[PROOF_MAX], raw[PROOF_MAX];
    proof_claims_t c = claims_french();
    size_t len = sign(keys, &c, jws, sizeof(jws));
    jws_parts_t p;
    CHECK(len > 0 && jws_split(jws, len, &p) == 0);
    CHECK(b64url_decode(jws + p.payload_off, p.payload_len, (unsigned char *)raw, sizeof(raw)) > 0);
    if (strcmp(raw, claims_french_json) != 0)
        printf("    got      %s\n    expected %s\n", raw, claims_french_json);
    CHECK(strcmp(raw, claims_french_json) == 0);
    return 0;
}

static int signature_verifies_in_c_with_jwks_key(void)
{
    char jws[PROOF_MAX];
    proof_claims_t c = claims_french();
    size_t len = sign(keys, &c, jws, sizeof(jws));
    CHECK(len > 0);
    CHECK(c_verify(keys, key_set_active_kid(keys), jws, len) == 0);
    return 0;
}

static int signing_is_deterministic(void)
{
    char a[PROOF_MAX], b[PROOF_MAX];
    proof_claims_t c = claims_french();
    size_t la = sign(keys, &c, a, sizeof(a)), lb = sign(keys, &c, b, sizeof(b));
    CHECK(la > 0 && la == lb && memcmp(a, b, la) == 0);
    return 0;
}

/* ---- node, an implementation we did not write --------------------------------- */

static int node_verifies_proof_and_reads_same_claims(void)
{
    char jws[PROOF_MAX], raw[PROOF_MAX], out[TEST_OUTPUT_MAX];
    proof_claims_t c = claims_french();
    size_t len = sign(keys, &c, jws, sizeof(jws));
    CHECK(len > 0);
    int status = node_verify(keys, jws, len, out, sizeof(out));
    printf("    node exit %d: %.100s...\n", status, out);
    CHECK(status == 0);
    json_t *from_node = json_loads(out, 0, NULL), *from_c = jws_payload(jws, len, raw, sizeof(raw));
    int same = from_node != NULL && from_c != NULL && json_equal(from_node, from_c);
    json_decref(from_node);
    json_decref(from_c);
    CHECK(same);
    return 0;
}

static int node_rejects_tampered_payload(void)
{
    char jws[PROOF_MAX], out[TEST_OUTPUT_MAX];
    proof_claims_t c = claims_french();
    size_t len = sign(keys, &c, jws, sizeof(jws));
    jws_parts_t p;
    CHECK(len > 0 && jws_split(jws, len, &p) == 0);
    /* one character of the payload, kept valid base64url ('A' <-> 'B') */
    char *ch = jws + p.payload_off + p.payload_len / 2;
    *ch = *ch == 'A' ? 'B' : 'A';
    CHECK(c_verify(keys, key_set_active_kid(keys), jws, len) != 0);
    CHECK(node_verify(keys, jws, len, out, sizeof(out)) == 1);
    CHECK(out[0] == '\0'); /* no claims printed */
    return 0;
}

static int node_rejects_tampered_signature(void)
{
    char jws[PROOF_MAX], out[TEST_OUTPUT_MAX];
    proof_claims_t c = claims_french();
    size_t len = sign(keys, &c, jws, sizeof(jws));
    jws_parts_t p;
    CHECK(len > 0 && jws_split(jws, len, &p) == 0);
    char *ch = jws + p.sig_off + 10;
    *ch = *ch == 'A' ? 'B' : 'A';
    CHECK(node_verify(keys, jws, len, out, sizeof(out)) == 1);
    return 0;
}

/* A JWKS that does not list the proof's kid cannot verify it. */
static int node_rejects_proof_with_unknown_kid(void)
{
    char other_dir[TEST_PATH_MAX], kid[KEYS_KID_MAX + 1], err[KEYS_ERR_MAX];
    char jws[PROOF_MAX], out[TEST_OUTPUT_MAX];
    proof_claims_t c = claims_french();
    size_t len = sign(keys, &c, jws, sizeof(jws));
    CHECK(len > 0);
    CHECK(keys_generate(path_in(other_dir, "other"), 0, TEST_T0, kid, err, sizeof(err)) == 0);
    key_set_t *other = key_set_load(other_dir, TEST_T0, TEST_HOLD_DAYS, err, sizeof(err));
    CHECK(other != NULL);
    int status = node_verify(other, jws, len, out, sizeof(out));
    key_set_free(other);
    CHECK(status == 1);
    return 0;
}

/* A proof signed before a rotation verifies against the JWKS after it. */
static int proof_of_rotated_out_key_still_verifies(void)
{
    char jws[PROOF_MAX], fresh[PROOF_MAX], out[TEST_OUTPUT_MAX], kid[KEYS_KID_MAX + 1];
    char old_kid[KEYS_KID_MAX + 1], err[KEYS_ERR_MAX];
    proof_claims_t c = claims_french();
    size_t len = sign(keys, &c, jws, sizeof(jws));
    CHECK(len > 0);
    snprintf(old_kid, sizeof(old_kid), "%s", key_set_active_kid(keys));
    CHECK(keys_generate(dir, 1, TEST_T0 + 30 * TEST_DAY, kid, err, sizeof(err)) == 0);
    key_set_t *rotated =
        key_set_load(dir, TEST_T0 + 30 * TEST_DAY, TEST_HOLD_DAYS, err, sizeof(err));
    CHECK(rotated != NULL);
    int is_new = strcmp(key_set_active_kid(rotated), kid) == 0;
    int c_ok = c_verify(rotated, old_kid, jws, len) == 0;
    int node_status = node_verify(rotated, jws, len, out, sizeof(out));
    size_t fresh_len = sign(rotated, &c, fresh, sizeof(fresh));
    int fresh_ok = fresh_len > 0 && c_verify(rotated, kid, fresh, fresh_len) == 0 &&
                   c_verify(rotated, old_kid, fresh, fresh_len) != 0;
    key_set_free(rotated);
    CHECK(is_new);
    CHECK(c_ok);
    CHECK(node_status == 0);
    CHECK(fresh_ok); /* new proofs use the new key */
    return 0;
}

/* ---- claims edge cases ------------------------------------------------------- */

static int var_ctl_gpc_omitted_when_null_act_required(void)
{
    char jws[PROOF_MAX], raw[PROOF_MAX];
    proof_claims_t c = claims_french();
    c.var = NULL;
    c.ctl = NULL;
    c.gpc = 0;
    size_t len = sign(keys, &c, jws, sizeof(jws));
    CHECK(len > 0);
    json_t *j = jws_payload(jws, len, raw, sizeof(raw));
    CHECK(j != NULL);
    int ok = json_object_get(j, "var") == NULL && json_object_get(j, "ctl") == NULL &&
             json_object_get(j, "gpc") == NULL && json_object_size(j) == 12;
    json_decref(j);
    CHECK(ok);
    CHECK(strstr(raw, "\"lang\":\"fr\",\"act\":\"withdrawal\",\"dec\":{") != NULL);
    /* act is required: a proof must say whether it records a withdrawal. */
    c.act = NULL;
    CHECK(sign(keys, &c, jws, sizeof(jws)) == 0);
    return 0;
}

/* Issue 22, item 5: sv (the published site version) and sd (its document's
 * SHA-256) follow bv, as numbers and hex; absent when not given. */
static int site_version_claims_follow_bv(void)
{
    char jws[PROOF_MAX], raw[PROOF_MAX];
    static const char sd[] = "ab0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcd";
    proof_claims_t c = claims_french();
    c.bv = "5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03";
    c.sv = 4294967301ULL; /* beyond 32 bits */
    c.sd = sd;
    size_t len = sign(keys, &c, jws, sizeof(jws));
    CHECK(len > 0);
    json_t *j = jws_payload(jws, len, raw, sizeof(raw));
    CHECK(j != NULL);
    int ok = json_integer_value(json_object_get(j, "sv")) == 4294967301LL &&
             strcmp(json_string_value(json_object_get(j, "sd")), sd) == 0;
    json_decref(j);
    CHECK(ok);
    CHECK(strstr(raw, "e03\",\"sv\":4294967301,\"sd\":\"ab01") != NULL);
    c.sv = 0;
    c.sd = NULL;
    len = sign(keys, &c, jws, sizeof(jws));
    CHECK(len > 0);
    j = jws_payload(jws, len, raw, sizeof(raw));
    CHECK(j != NULL);
    ok = json_object_get(j, "sv") == NULL && json_object_get(j, "sd") == NULL;
    json_decref(j);
    CHECK(ok);
    return 0;
}

static int no_purposes_gives_empty_decisions(void)
{
    char jws[PROOF_MAX], raw[PROOF_MAX];
    proof_claims_t c = claims_french();
    c.n_decisions = 0;
    c.purposes = NULL;
    c.granted = NULL;
    size_t len = sign(keys, &c, jws, sizeof(jws));
    CHECK(len > 0);
    json_t *j = jws_payload(jws, len, raw, sizeof(raw));
    CHECK(j != NULL);
    int ok = json_is_object(json_object_get(j, "dec")) &&
             json_object_size(json_object_get(j, "dec")) == 0;
    json_decref(j);
    CHECK(ok);
    return 0;
}

/* Invalid UTF-8 and control bytes still give valid JSON that node accepts. */
static int hostile_bytes_still_give_valid_verifiable_json(void)
{
    char jws[PROOF_MAX], raw[PROOF_MAX], out[TEST_OUTPUT_MAX];
    proof_claims_t c = claims_french();
    c.sub = "bad\xff\xfe utf8 \xc3\x28 overlong \xc0\xaf surrogate \xed\xa0\x80 cut \xe2\x82";
    c.var = "ctl \x01\x1f\x7f \r\b\f </script>";
    size_t len = sign(keys, &c, jws, sizeof(jws));
    CHECK(len > 0);
    json_t *j = jws_payload(jws, len, raw, sizeof(raw));
    CHECK(j != NULL);
    int ok =
        strcmp(json_string_value(json_object_get(j, "sub")),
               "bad\xef\xbf\xbd\xef\xbf\xbd utf8 \xef\xbf\xbd( overlong \xef\xbf\xbd\xef\xbf\xbd"
               " surrogate \xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd cut \xef\xbf\xbd\xef\xbf\xbd") ==
            0 &&
        strcmp(json_string_value(json_object_get(j, "var")), c.var) == 0;
    json_decref(j);
    CHECK(ok);
    CHECK(node_verify(keys, jws, len, out, sizeof(out)) == 0);
    return 0;
}

static int extreme_timestamps_are_exact_integers(void)
{
    char jws[PROOF_MAX], raw[PROOF_MAX];
    proof_claims_t c = claims_french();
    c.iat = 0;
    c.exp = INT64_MAX;
    size_t len = sign(keys, &c, jws, sizeof(jws));
    CHECK(len > 0);
    json_t *j = jws_payload(jws, len, raw, sizeof(raw));
    CHECK(j != NULL);
    json_decref(j);
    CHECK(strstr(raw, "\"iat\":0,\"exp\":9223372036854775807,") != NULL);
    c.iat = INT64_MIN;
    len = sign(keys, &c, jws, sizeof(jws));
    j = jws_payload(jws, len, raw, sizeof(raw));
    CHECK(j != NULL);
    int ok = json_integer_value(json_object_get(j, "iat")) == INT64_MIN;
    json_decref(j);
    CHECK(ok);
    return 0;
}

static int missing_required_claim_returns_zero(void)
{
    char jws[PROOF_MAX];
    proof_claims_t c = claims_french();
    c.sub = NULL;
    CHECK(sign(keys, &c, jws, sizeof(jws)) == 0);
    c = claims_french();
    c.purposes = NULL;
    CHECK(sign(keys, &c, jws, sizeof(jws)) == 0);
    return 0;
}

/* ---- bounds ------------------------------------------------------------------ */

static int too_small_cap_returns_zero(void)
{
    char jws[PROOF_MAX], small[PROOF_MAX];
    proof_claims_t c = claims_french();
    size_t len = sign(keys, &c, jws, sizeof(jws));
    CHECK(len > 0);
    CHECK(sign(keys, &c, small, 16) == 0);
    CHECK(sign(keys, &c, small, 0) == 0);
    /* exactly the JWS and its NUL fits; one byte less does not */
    memset(small, 'x', sizeof(small));
    CHECK(sign(keys, &c, small, len + 1) == len);
    CHECK(memcmp(small, jws, len + 1) == 0);
    memset(small, 'x', sizeof(small));
    CHECK(sign(keys, &c, small, len) == 0);
    CHECK(small[len] == 'x'); /* nothing written past cap */
    return 0;
}

/* Claims too big for PROOF_MAX fail cleanly, even with a larger buffer. */
static int oversized_claims_return_zero(void)
{
    static char big[2 * PROOF_MAX];
    char jws[PROOF_MAX];
    proof_claims_t c = claims_french();
    memset(big, 'a', 3000);
    big[3000] = '\0';
    c.sub = big;
    CHECK(sign(keys, &c, jws, sizeof(jws)) == 0);
    /* and the largest claims that fit still give a proof under PROOF_MAX */
    size_t lo = 0, hi = 3000;
    while (lo < hi) { /* longest sub that signs */
        size_t mid = (lo + hi + 1) / 2;
        big[mid] = '\0';
        if (sign(keys, &c, jws, sizeof(jws)) > 0)
            lo = mid;
        else
            hi = mid - 1;
        big[mid] = 'a';
    }
    big[lo] = '\0';
    size_t len = sign(keys, &c, jws, sizeof(jws));
    printf("    longest sub that fits: %zu bytes, proof %zu bytes\n", lo, len);
    CHECK(lo > 2000 && len > 0 && len <= PROOF_MAX - 1 && len >= PROOF_MAX - 4);
    return 0;
}

/* ---- rate ---------------------------------------------------------------------- */

static void print_signing_rate(void)
{
    char jws[PROOF_MAX];
    proof_claims_t c = claims_french();
    struct timespec a, b;
    size_t total = 0;
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (int i = 0; i < TEST_RATE_SIGNATURES; i++) {
        c.iat = TEST_T0 + i;
        total += sign(keys, &c, jws, sizeof(jws));
    }
    clock_gettime(CLOCK_MONOTONIC, &b);
    double s = (double)(b.tv_sec - a.tv_sec) + (double)(b.tv_nsec - a.tv_nsec) / 1e9;
    printf("signing rate: %d proofs in %.3f s = %.0f proofs/s (%.1f us each, %zu bytes each)\n",
           TEST_RATE_SIGNATURES, s, TEST_RATE_SIGNATURES / s, s * 1e6 / TEST_RATE_SIGNATURES,
           total / TEST_RATE_SIGNATURES);
}

int main(void)
{
    char err[KEYS_ERR_MAX], kid[KEYS_KID_MAX + 1];
    const char *tmp = getenv("TMPDIR"), *src = getenv("CONSENTD_SOURCE_DIR");
    snprintf(root, sizeof(root), "%s/consentd-proof-test-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (mkdtemp(root) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    atexit(cleanup);
    /* beside this file when ctest's CONSENTD_SOURCE_DIR is not set */
    int n = src && src[0] ? snprintf(script, sizeof(script), "%s/tests/unit/proof_verify.mjs", src)
                          : snprintf(script, sizeof(script), "%.*s/proof_verify.mjs",
                                     (int)(strrchr(__FILE__, '/') - __FILE__), __FILE__);
    if (n >= (int)sizeof(script) || access(script, R_OK) != 0) {
        printf("cannot read %s (set CONSENTD_SOURCE_DIR)\n0 passed, 1 failed\n", script);
        return 1;
    }
    path_in(dir, "keys");
    if (sodium_init() < 0 || keys_generate(dir, 0, TEST_T0, kid, err, sizeof(err)) != 0 ||
        (keys = key_set_load(dir, TEST_T0, TEST_HOLD_DAYS, err, sizeof(err))) == NULL) {
        printf("cannot make a key: %s\n0 passed, 1 failed\n", err);
        return 1;
    }

    RUN(proof_is_three_base64url_parts);
    RUN(header_is_eddsa_with_active_kid);
    RUN(claims_decode_to_every_field);
    RUN(claims_json_is_compact_and_in_documented_order);
    RUN(signature_verifies_in_c_with_jwks_key);
    RUN(signing_is_deterministic);
    RUN(node_verifies_proof_and_reads_same_claims);
    RUN(node_rejects_tampered_payload);
    RUN(node_rejects_tampered_signature);
    RUN(node_rejects_proof_with_unknown_kid);
    RUN(proof_of_rotated_out_key_still_verifies);
    RUN(var_ctl_gpc_omitted_when_null_act_required);
    RUN(site_version_claims_follow_bv);
    RUN(no_purposes_gives_empty_decisions);
    RUN(hostile_bytes_still_give_valid_verifiable_json);
    RUN(extreme_timestamps_are_exact_integers);
    RUN(missing_required_claim_returns_zero);
    RUN(too_small_cap_returns_zero);
    RUN(oversized_claims_return_zero);
    print_signing_rate();

    return check_summary();
}
