/*
 * keys_test.c - the signing keys: keygen (files, modes, PKCS#8 readable by
 * the openssl CLI), the manifest (strict validation, errors naming the
 * file), rotation, how long a retired key stays in the JWKS, and that no
 * private byte ever reaches the JWKS.
 *
 * Works in a fresh directory under $TMPDIR (or /tmp), removed at exit.
 * Foreign and broken keys are made with the openssl CLI, not with our code.
 */
#include "check.h"
#include "keys.h"

#include <errno.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <jansson.h>
#include <sodium.h>

#include "site.h"
#include "store.h"

#define TEST_T0 ((time_t)1790000000) /* 2026-09-21T14:13:20Z */
#define TEST_DAY ((time_t)86400)
#define TEST_ROTATED (TEST_T0 + 30 * TEST_DAY)
/* The shortest hold (a cookie's proof): what keys.c listed before issue 19. */
#define TEST_HOLD_DAYS KEYS_HOLD_MIN_DAYS
#define TEST_LISTED_FOR ((time_t)KEYS_LISTED_DAYS(TEST_HOLD_DAYS) * TEST_DAY)
#define TEST_PATH_MAX 512
#define TEST_FILE_MAX 65536

static char root[TEST_PATH_MAX], dir[TEST_PATH_MAX]; /* dir: the main key directory */
static char first_kid[KEYS_KID_MAX + 1], second_kid[KEYS_KID_MAX + 1];

/* ---- helpers ---------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    return remove(path);
}

static void cleanup(void)
{
    if (root[0] != '\0') nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static const char *path_in(char *buf, const char *d, const char *fmt, ...)
{
    char name[TEST_PATH_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(name, sizeof(name), fmt, ap);
    va_end(ap);
    if (snprintf(buf, TEST_PATH_MAX, "%s/%s", d, name) >= TEST_PATH_MAX)
        buf[0] = '\0'; /* fails the check that uses it */
    return buf;
}

static int write_text(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (f == NULL) return -1;
    fputs(text, f);
    return fclose(f);
}

/* Whole file into buf (NUL-terminated); bytes read or -1. */
static long read_all(const char *path, char *buf, size_t cap)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) return -1;
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return (long)n;
}

/* Run a shell command (stdin from /dev/null, output discarded unless the
 * command redirects it); its exit status or -1. */
static int sh(const char *fmt, ...)
{
    char cmd[4 * TEST_PATH_MAX], full[5 * TEST_PATH_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    snprintf(full, sizeof(full), "(%s) </dev/null >/dev/null 2>&1", cmd);
    int st = system(full);
    return st != -1 && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* A copy of the main key directory to break in some way. */
static const char *copy_dir(char *buf, const char *name)
{
    if (snprintf(buf, TEST_PATH_MAX, "%s/%s", root, name) >= TEST_PATH_MAX) return NULL;
    if (sh("rm -rf '%s' && cp -a '%s' '%s'", buf, dir, buf) != 0) return NULL;
    return buf;
}

static json_t *jwks_of(const key_set_t *set)
{
    size_t len;
    const char *text = key_set_jwks(set, &len);
    return json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
}

/* The kids the JWKS lists, in order, joined by spaces. */
static const char *jwks_kids(const key_set_t *set, char *buf, size_t cap)
{
    json_t *jwks = jwks_of(set), *k;
    size_t i;
    buf[0] = '\0';
    json_array_foreach(json_object_get(jwks, "keys"), i, k)
    {
        if (i > 0) strncat(buf, " ", cap - strlen(buf) - 1);
        strncat(buf, json_string_value(json_object_get(k, "kid")) ?: "?", cap - strlen(buf) - 1);
    }
    json_decref(jwks);
    return buf;
}

/* Load must fail, with an error that contains `needle` (a file name). */
static int load_fails_naming(const char *d, time_t now, const char *needle)
{
    char err[KEYS_ERR_MAX] = "";
    key_set_t *set = key_set_load(d, now, TEST_HOLD_DAYS, err, sizeof(err));
    if (set != NULL) {
        printf("    loaded, expected an error naming %s\n", needle);
        key_set_free(set);
        return -1;
    }
    printf("    error: %s\n", err);
    CHECK(strstr(err, needle) != NULL);
    return 0;
}

static const char *manifest_two_keys(char *buf, size_t cap, const char *active_member)
{
    snprintf(buf, cap,
             "{%s\"keys\": [{\"kid\": \"%s\", \"created_at\": \"2026-09-21T14:13:20Z\", "
             "\"retired_at\": null}, {\"kid\": \"%s\", \"created_at\": \"2026-10-21T14:13:20Z\", "
             "\"retired_at\": null}]}",
             active_member, first_kid, second_kid);
    return buf;
}

/* ---- keygen ----------------------------------------------------------------- */

static int keygen_creates_private_directory_and_pem(void)
{
    char err[KEYS_ERR_MAX], p[TEST_PATH_MAX];
    struct stat st;
    CHECK(stat(dir, &st) != 0 && errno == ENOENT);
    CHECK(keys_generate(dir, 0, TEST_T0, first_kid, err, sizeof(err)) == 0);
    CHECK(stat(dir, &st) == 0 && S_ISDIR(st.st_mode) && (st.st_mode & 07777) == 0700);
    CHECK(stat(path_in(p, dir, "%s.pem", first_kid), &st) == 0 && (st.st_mode & 07777) == 0600);
    CHECK(stat(path_in(p, dir, "keys.json"), &st) == 0 && (st.st_mode & 07777) == 0600);
    return 0;
}

static int keygen_leaves_no_temporary_file(void)
{
    char expect[TEST_PATH_MAX];
    snprintf(expect, sizeof(expect), "%s.pem keys.json", first_kid);
    CHECK(sh("test \"$(ls -A '%s' | sort | tr '\\n' ' ')\" = '%s '", dir, expect) == 0);
    return 0;
}

static int new_kid_is_utc_date_and_eight_base64url_chars(void)
{
    CHECK(strlen(first_kid) == 17);
    CHECK(strncmp(first_kid, "20260921-", 9) == 0);
    for (int i = 9; i < 17; i++) {
        char c = first_kid[i];
        CHECK((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_');
    }
    return 0;
}

static int pem_is_pkcs8_readable_by_openssl_cli(void)
{
    char p[TEST_PATH_MAX], text[TEST_FILE_MAX];
    path_in(p, dir, "%s.pem", first_kid);
    CHECK(read_all(p, text, sizeof(text)) > 0);
    CHECK(strncmp(text, "-----BEGIN PRIVATE KEY-----\n", 28) == 0);
    CHECK(strstr(text, "-----END PRIVATE KEY-----") != NULL);
    CHECK(sh("openssl pkey -in '%s' -noout", p) == 0);
    /* openssl itself says what kind of key it is */
    CHECK(sh("openssl pkey -in '%s' -text -noout | grep -q '^ED25519 Private-Key'", p) == 0);
    return 0;
}

static int manifest_names_first_key_active_and_not_retired(void)
{
    char p[TEST_PATH_MAX];
    json_t *m = json_load_file(path_in(p, dir, "keys.json"), JSON_REJECT_DUPLICATES, NULL);
    CHECK(m != NULL);
    json_t *k = json_array_get(json_object_get(m, "keys"), 0);
    int ok =
        json_array_size(json_object_get(m, "keys")) == 1 &&
        strcmp(json_string_value(json_object_get(m, "active")), first_kid) == 0 &&
        strcmp(json_string_value(json_object_get(k, "created_at")), "2026-09-21T14:13:20Z") == 0 &&
        json_is_null(json_object_get(k, "retired_at"));
    json_decref(m);
    CHECK(ok);
    return 0;
}

/* ---- loading ---------------------------------------------------------------- */

static int first_key_is_active_without_activate(void)
{
    char err[KEYS_ERR_MAX];
    key_set_t *set = key_set_load(dir, TEST_T0, TEST_HOLD_DAYS, err, sizeof(err));
    if (set == NULL) printf("    %s\n", err);
    CHECK(set != NULL);
    int ok = strcmp(key_set_active_kid(set), first_kid) == 0;
    key_set_free(set);
    CHECK(ok);
    return 0;
}

static int jwks_lists_active_key_as_okp_ed25519(void)
{
    char err[KEYS_ERR_MAX];
    key_set_t *set = key_set_load(dir, TEST_T0, TEST_HOLD_DAYS, err, sizeof(err));
    CHECK(set != NULL);
    json_t *jwks = jwks_of(set);
    key_set_free(set);
    CHECK(jwks != NULL);
    json_t *keys = json_object_get(jwks, "keys"), *k = json_array_get(keys, 0);
    const char *x = json_string_value(json_object_get(k, "x"));
    int ok = json_object_size(jwks) == 1 && json_array_size(keys) == 1 &&
             json_object_size(k) == 6 &&
             strcmp(json_string_value(json_object_get(k, "kty")), "OKP") == 0 &&
             strcmp(json_string_value(json_object_get(k, "crv")), "Ed25519") == 0 &&
             strcmp(json_string_value(json_object_get(k, "kid")), first_kid) == 0 &&
             strcmp(json_string_value(json_object_get(k, "use")), "sig") == 0 &&
             strcmp(json_string_value(json_object_get(k, "alg")), "EdDSA") == 0 && x != NULL &&
             strlen(x) == 43 &&
             strspn(x, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                       "0123456789-_") == 43;
    json_decref(jwks);
    CHECK(ok);
    return 0;
}

/* x must be the public key openssl derives from the PEM, byte for byte. */
static int jwks_x_is_the_public_key_openssl_derives(void)
{
    char err[KEYS_ERR_MAX], p[TEST_PATH_MAX], der[TEST_PATH_MAX], raw[128];
    key_set_t *set = key_set_load(dir, TEST_T0, TEST_HOLD_DAYS, err, sizeof(err));
    CHECK(set != NULL);
    json_t *jwks = jwks_of(set);
    key_set_free(set);
    char x[64];
    snprintf(
        x, sizeof(x), "%s",
        json_string_value(json_object_get(json_array_get(json_object_get(jwks, "keys"), 0), "x")));
    json_decref(jwks);
    path_in(der, root, "pub.der");
    CHECK(sh("openssl pkey -in '%s' -pubout -outform DER -out '%s'",
             path_in(p, dir, "%s.pem", first_kid), der) == 0);
    long n = read_all(der, raw, sizeof(raw));
    CHECK(n == 44); /* SubjectPublicKeyInfo: 12 bytes of header, then the 32-byte key */
    char expect[64];
    sodium_bin2base64(expect, sizeof(expect), (unsigned char *)raw + 12, 32,
                      sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    CHECK(strcmp(x, expect) == 0);
    return 0;
}

static int jws_header_names_active_kid(void)
{
    char err[KEYS_ERR_MAX], expect[256];
    unsigned char json[256];
    size_t len, json_len;
    key_set_t *set = key_set_load(dir, TEST_T0, TEST_HOLD_DAYS, err, sizeof(err));
    CHECK(set != NULL);
    const char *h = key_set_jws_header(set, &len);
    int rc = sodium_base642bin(json, sizeof(json) - 1, h, len, NULL, &json_len, NULL,
                               sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    int terminated = strlen(h) == len;
    key_set_free(set);
    CHECK(rc == 0 && terminated);
    json[json_len] = '\0';
    snprintf(expect, sizeof(expect), "{\"alg\":\"EdDSA\",\"kid\":\"%s\",\"typ\":\"JWT\"}",
             first_kid);
    CHECK(strcmp((char *)json, expect) == 0);
    return 0;
}

static int signature_verifies_with_jwks_public_key(void)
{
    char err[KEYS_ERR_MAX];
    unsigned char sig[64], pk[32];
    static const unsigned char msg[] = "header.payload";
    size_t pk_len;
    key_set_t *set = key_set_load(dir, TEST_T0, TEST_HOLD_DAYS, err, sizeof(err));
    CHECK(set != NULL);
    key_set_sign(set, msg, sizeof(msg) - 1, sig);
    json_t *jwks = jwks_of(set);
    key_set_free(set);
    const char *x =
        json_string_value(json_object_get(json_array_get(json_object_get(jwks, "keys"), 0), "x"));
    int rc = sodium_base642bin(pk, sizeof(pk), x, strlen(x), NULL, &pk_len, NULL,
                               sodium_base64_VARIANT_URLSAFE_NO_PADDING);
    json_decref(jwks);
    CHECK(rc == 0 && pk_len == 32);
    CHECK(crypto_sign_verify_detached(sig, msg, sizeof(msg) - 1, pk) == 0);
    sig[10] ^= 1;
    CHECK(crypto_sign_verify_detached(sig, msg, sizeof(msg) - 1, pk) != 0);
    return 0;
}

/* ---- rotation ----------------------------------------------------------------- */

static int rotation_activates_new_key_and_keeps_old_listed(void)
{
    char err[KEYS_ERR_MAX], kids[512], expect[512];
    CHECK(keys_generate(dir, 1, TEST_ROTATED, second_kid, err, sizeof(err)) == 0);
    CHECK(strcmp(first_kid, second_kid) != 0);
    CHECK(strncmp(second_kid, "20261021-", 9) == 0);
    key_set_t *set = key_set_load(dir, TEST_ROTATED, TEST_HOLD_DAYS, err, sizeof(err));
    CHECK(set != NULL);
    int active_ok = strcmp(key_set_active_kid(set), second_kid) == 0;
    jwks_kids(set, kids, sizeof(kids));
    key_set_free(set);
    CHECK(active_ok);
    snprintf(expect, sizeof(expect), "%s %s", second_kid, first_kid); /* active first */
    printf("    jwks kids: %s\n", kids);
    CHECK(strcmp(kids, expect) == 0);
    return 0;
}

static int rotation_sets_retired_at_on_previous_key(void)
{
    char p[TEST_PATH_MAX];
    json_t *m = json_load_file(path_in(p, dir, "keys.json"), JSON_REJECT_DUPLICATES, NULL);
    CHECK(m != NULL);
    json_t *keys = json_object_get(m, "keys");
    json_t *old = json_array_get(keys, 0), *cur = json_array_get(keys, 1);
    int ok = json_array_size(keys) == 2 &&
             strcmp(json_string_value(json_object_get(m, "active")), second_kid) == 0 &&
             strcmp(json_string_value(json_object_get(old, "kid")), first_kid) == 0 &&
             strcmp(json_string_value(json_object_get(old, "retired_at")),
                    "2026-10-21T14:13:20Z") == 0 &&
             strcmp(json_string_value(json_object_get(cur, "kid")), second_kid) == 0 &&
             json_is_null(json_object_get(cur, "retired_at"));
    json_decref(m);
    CHECK(ok);
    return 0;
}

static int retired_key_listed_until_longest_choice_lifetime(void)
{
    char err[KEYS_ERR_MAX], kids[512], expect[512];
    key_set_t *set =
        key_set_load(dir, TEST_ROTATED + TEST_LISTED_FOR, TEST_HOLD_DAYS, err, sizeof(err));
    CHECK(set != NULL);
    jwks_kids(set, kids, sizeof(kids));
    key_set_free(set);
    snprintf(expect, sizeof(expect), "%s %s", second_kid, first_kid);
    CHECK(strcmp(kids, expect) == 0);
    return 0;
}

static int retired_key_gone_after_longest_choice_lifetime(void)
{
    char err[KEYS_ERR_MAX], kids[512];
    key_set_t *set =
        key_set_load(dir, TEST_ROTATED + TEST_LISTED_FOR + 1, TEST_HOLD_DAYS, err, sizeof(err));
    CHECK(set != NULL);
    jwks_kids(set, kids, sizeof(kids));
    key_set_free(set);
    printf("    jwks kids: %s\n", kids);
    CHECK(strcmp(kids, second_kid) == 0);
    return 0;
}

/* Issue 19, item 3: the JWKS at `days` days (and `extra` seconds) after the
 * rotation, for proofs held hold_days: is the retired key in it? */
static int listed_after(uint32_t hold_days, time_t days, time_t extra, int *listed)
{
    char err[KEYS_ERR_MAX], kids[512];
    key_set_t *set =
        key_set_load(dir, TEST_ROTATED + days * TEST_DAY + extra, hold_days, err, sizeof(err));
    if (set == NULL) printf("    %s\n", err);
    CHECK(set != NULL);
    jwks_kids(set, kids, sizeof(kids));
    key_set_free(set);
    *listed = strstr(kids, first_kid) != NULL;
    return 0;
}

/* A proof the retired key signed may be read back from the history or the
 * consent log up to twice the log retention after it was signed (store.h):
 * with the default site (5 years), five years minus a day after the
 * rotation the key is still published, and until the hold and the reload
 * grace are over; then it goes. The longest hold over every site counts. */
static int retired_key_listed_as_long_as_a_site_may_hold_its_proofs(void)
{
    site_t site = {.choice_lifetime_days = 182, .log_retention_days = 1825};
    uint32_t hold = store_proof_hold_days(&site);
    CHECK(hold == 3650);
    int listed;
    CHECK(listed_after(hold, 1825 - 1, 0, &listed) == 0);
    CHECK(listed); /* a five-year-old proof from an export verifies */
    CHECK(listed_after(hold, 1825 + 1, 0, &listed) == 0);
    CHECK(listed); /* a write just before the retention kept it one more */
    CHECK(listed_after(hold, 3650 + KEYS_RELOAD_GRACE_DAYS, 0, &listed) == 0);
    CHECK(listed);
    CHECK(listed_after(hold, 3650 + KEYS_RELOAD_GRACE_DAYS, 1, &listed) == 0);
    CHECK(!listed); /* no proof of it can be held anywhere any more */
    /* Before issue 19 the key left after 13 months and 30 days. */
    CHECK(listed_after(hold, KEYS_HOLD_MIN_DAYS + KEYS_RELOAD_GRACE_DAYS, 1, &listed) == 0);
    CHECK(listed);
    /* The longest over the sites: a site with a 10-year log, or the floor
     * for a short one (a proof in a cookie lives 13 months at most). */
    site_t longest = {.choice_lifetime_days = 395, .log_retention_days = 3650};
    CHECK(store_proof_hold_days(&longest) == 7300);
    site_t shortest = {.choice_lifetime_days = 30, .log_retention_days = 30};
    CHECK(store_proof_hold_days(&shortest) == 60);
    CHECK(listed_after(store_proof_hold_days(&shortest),
                       KEYS_HOLD_MIN_DAYS + KEYS_RELOAD_GRACE_DAYS, 0, &listed) == 0);
    CHECK(listed);
    return 0;
}

/* Once expired, the old PEM is not even read: deleting it is safe. */
static int expired_key_pem_is_not_read(void)
{
    char d[TEST_PATH_MAX], p[TEST_PATH_MAX], err[KEYS_ERR_MAX];
    CHECK(copy_dir(d, "expired") != NULL);
    CHECK(unlink(path_in(p, d, "%s.pem", first_kid)) == 0);
    key_set_t *set =
        key_set_load(d, TEST_ROTATED + TEST_LISTED_FOR + 1, TEST_HOLD_DAYS, err, sizeof(err));
    CHECK(set != NULL);
    key_set_free(set);
    CHECK(load_fails_naming(d, TEST_ROTATED + TEST_LISTED_FOR, p) == 0);
    return 0;
}

static int keygen_without_activate_keeps_active_key(void)
{
    char d[TEST_PATH_MAX], err[KEYS_ERR_MAX], kid[KEYS_KID_MAX + 1], kids[512], expect[512];
    CHECK(copy_dir(d, "pending") != NULL);
    CHECK(keys_generate(d, 0, TEST_ROTATED + TEST_DAY, kid, err, sizeof(err)) == 0);
    key_set_t *set = key_set_load(d, TEST_ROTATED + TEST_DAY, TEST_HOLD_DAYS, err, sizeof(err));
    CHECK(set != NULL);
    int ok = strcmp(key_set_active_kid(set), second_kid) == 0;
    jwks_kids(set, kids, sizeof(kids));
    key_set_free(set);
    CHECK(ok);
    /* published ahead of activation, so caches already know it */
    snprintf(expect, sizeof(expect), "%s %s %s", second_kid, first_kid, kid);
    CHECK(strcmp(kids, expect) == 0);
    return 0;
}

/* Nothing private in any JWKS: no "d", and not the seed openssl reads. */
static int jwks_never_contains_private_part(void)
{
    char err[KEYS_ERR_MAX], p[TEST_PATH_MAX], der[TEST_PATH_MAX], raw[128], seed_b64[64];
    const char *kids[] = {first_kid, second_kid};
    key_set_t *set = key_set_load(dir, TEST_ROTATED, TEST_HOLD_DAYS, err, sizeof(err));
    CHECK(set != NULL);
    size_t len;
    char jwks[TEST_FILE_MAX];
    snprintf(jwks, sizeof(jwks), "%s", key_set_jwks(set, &len));
    key_set_free(set);
    CHECK(strstr(jwks, "\"d\"") == NULL);
    for (int i = 0; i < 2; i++) {
        path_in(der, root, "priv.der");
        CHECK(sh("openssl pkey -in '%s' -outform DER -out '%s'", path_in(p, dir, "%s.pem", kids[i]),
                 der) == 0);
        long n = read_all(der, raw, sizeof(raw));
        unlink(der);
        CHECK(n == 48); /* PKCS#8: 16 bytes of header, then the 32-byte seed */
        sodium_bin2base64(seed_b64, sizeof(seed_b64), (unsigned char *)raw + 16, 32,
                          sodium_base64_VARIANT_URLSAFE_NO_PADDING);
        sodium_memzero(raw, sizeof(raw));
        CHECK(strstr(jwks, seed_b64) == NULL);
    }
    return 0;
}

/* ---- broken key directories ----------------------------------------------------- */

static int missing_directory_fails_suggesting_keygen(void)
{
    char d[TEST_PATH_MAX];
    path_in(d, root, "nowhere");
    CHECK(load_fails_naming(d, TEST_T0, d) == 0);
    CHECK(load_fails_naming(d, TEST_T0, "consentd keygen") == 0);
    return 0;
}

static int missing_manifest_fails_suggesting_keygen(void)
{
    char d[TEST_PATH_MAX], p[TEST_PATH_MAX];
    CHECK(copy_dir(d, "nomanifest") != NULL);
    CHECK(unlink(path_in(p, d, "keys.json")) == 0);
    CHECK(load_fails_naming(d, TEST_ROTATED, p) == 0);
    CHECK(load_fails_naming(d, TEST_ROTATED, "consentd keygen") == 0);
    return 0;
}

static int corrupt_manifest_fails_naming_file(void)
{
    char d[TEST_PATH_MAX], p[TEST_PATH_MAX];
    CHECK(copy_dir(d, "corrupt") != NULL);
    CHECK(write_text(path_in(p, d, "keys.json"), "{\"active\": \"x\", \"keys\": [") == 0);
    CHECK(load_fails_naming(d, TEST_ROTATED, p) == 0);
    return 0;
}

static int keygen_refuses_corrupt_manifest_and_writes_nothing(void)
{
    char d[TEST_PATH_MAX], p[TEST_PATH_MAX], err[KEYS_ERR_MAX], kid[KEYS_KID_MAX + 1];
    char text[TEST_FILE_MAX];
    path_in(d, root, "corrupt");
    CHECK(keys_generate(d, 1, TEST_ROTATED, kid, err, sizeof(err)) != 0);
    printf("    error: %s\n", err);
    CHECK(strstr(err, path_in(p, d, "keys.json")) != NULL);
    CHECK(read_all(p, text, sizeof(text)) > 0 &&
          strcmp(text, "{\"active\": \"x\", \"keys\": [") == 0);
    CHECK(sh("test $(ls -A '%s' | wc -l) -eq 3", d) == 0); /* two PEMs and keys.json */
    return 0;
}

static int missing_pem_fails_naming_file(void)
{
    char d[TEST_PATH_MAX], p[TEST_PATH_MAX];
    CHECK(copy_dir(d, "nopem") != NULL);
    CHECK(unlink(path_in(p, d, "%s.pem", second_kid)) == 0);
    CHECK(load_fails_naming(d, TEST_ROTATED, p) == 0);
    return 0;
}

/* Replace the active key's PEM with one openssl makes from `genpkey_args`. */
static int foreign_pem_fails_naming_file(const char *name, const char *genpkey_args,
                                         const char *reason)
{
    char d[TEST_PATH_MAX], p[TEST_PATH_MAX];
    CHECK(copy_dir(d, name) != NULL);
    path_in(p, d, "%s.pem", second_kid);
    CHECK(sh("openssl genpkey %s -out '%s'", genpkey_args, p) == 0);
    CHECK(load_fails_naming(d, TEST_ROTATED, p) == 0);
    CHECK(load_fails_naming(d, TEST_ROTATED, reason) == 0);
    return 0;
}

static int rsa_pem_fails_naming_file(void)
{
    return foreign_pem_fails_naming_file("rsa", "-algorithm RSA -pkeyopt rsa_keygen_bits:2048",
                                         "not an Ed25519 key");
}

static int ec_pem_fails_naming_file(void)
{
    return foreign_pem_fails_naming_file("ec", "-algorithm EC -pkeyopt ec_paramgen_curve:P-256",
                                         "not an Ed25519 key");
}

/* Same key type in a JWK (OKP) but not a signing curve. */
static int x25519_pem_fails_naming_file(void)
{
    return foreign_pem_fails_naming_file("x25519", "-algorithm X25519", "not an Ed25519 key");
}

/* Refused, and without waiting for a passphrase on a terminal. */
static int encrypted_pem_fails_naming_file(void)
{
    return foreign_pem_fails_naming_file(
        "encrypted", "-algorithm ED25519 -aes-256-cbc -pass pass:secret", "PEM");
}

static int garbage_pem_fails_naming_file(void)
{
    char d[TEST_PATH_MAX], p[TEST_PATH_MAX];
    CHECK(copy_dir(d, "garbage") != NULL);
    CHECK(write_text(path_in(p, d, "%s.pem", second_kid),
                     "-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n") == 0);
    CHECK(load_fails_naming(d, TEST_ROTATED, p) == 0);
    return 0;
}

static int two_keys_without_active_fails_naming_manifest(void)
{
    char d[TEST_PATH_MAX], p[TEST_PATH_MAX], text[2048];
    CHECK(copy_dir(d, "noactive") != NULL);
    CHECK(write_text(path_in(p, d, "keys.json"), manifest_two_keys(text, sizeof(text), "")) == 0);
    CHECK(load_fails_naming(d, TEST_ROTATED, p) == 0);
    CHECK(load_fails_naming(d, TEST_ROTATED, "active") == 0);
    return 0;
}

/* Each manifest below is wrong in one way; all are refused naming keys.json. */
static int invalid_manifests_fail_naming_manifest(void)
{
    char d[TEST_PATH_MAX], p[TEST_PATH_MAX], text[2048], member[256];
    const char *bad[] = {
        "[]",
        "{\"active\": \"%s\", \"keys\": []}",
        "{\"active\": \"%s\", \"active\": \"%s\", \"keys\": []}",
        "{\"active\": \"nobody\", \"keys\": [{\"kid\": \"%s\", \"created_at\": "
        "\"2026-09-21T14:13:20Z\", \"retired_at\": null}]}",
        "{\"active\": \"%s\", \"keys\": [{\"kid\": \"%s\", \"created_at\": "
        "\"2026-09-21T14:13:20Z\", \"retired_at\": null, \"extra\": 1}]}",
        "{\"active\": \"%s\", \"keys\": [{\"kid\": \"%s\", \"created_at\": \"yesterday\", "
        "\"retired_at\": null}]}",
        "{\"active\": \"%s\", \"keys\": [{\"kid\": \"%s\", \"created_at\": "
        "\"2026-02-30T00:00:00Z\", \"retired_at\": null}]}",
        "{\"active\": \"%s\", \"keys\": [{\"kid\": \"%s\", \"created_at\": "
        "\"2026-09-21T14:13:20Z\", \"retired_at\": \"2026-09-22T00:00:00Z\"}]}",
        "{\"active\": \"%s\", \"keys\": [{\"kid\": \"%s\", \"created_at\": "
        "\"2026-09-21T14:13:20Z\", \"retired_at\": null}], \"comment\": \"x\"}",
        "{\"active\": \"%s\", \"keys\": [{\"kid\": \"%s\", \"created_at\": "
        "\"2026-09-21T14:13:20Z\"}, {\"kid\": \"%s\", \"created_at\": "
        "\"2026-09-21T14:13:20Z\"}]}",
        "{\"active\": \"%s\", \"keys\": [{\"kid\": \"%s\", \"created_at\": "
        "\"2026-09-21T14:13:20Z\", \"retired_at\": null}]} trailing",
    };
    CHECK(copy_dir(d, "invalid") != NULL);
    path_in(p, d, "keys.json");
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(text, sizeof(text), bad[i], second_kid, second_kid, second_kid);
        CHECK(write_text(p, text) == 0);
        if (load_fails_naming(d, TEST_ROTATED, p) != 0) {
            printf("    manifest %zu: %s\n", i, text);
            return -1;
        }
    }
    /* a kid that could escape the directory or the JSON */
    snprintf(member, sizeof(member), "\"active\": \"../%s\", ", second_kid);
    snprintf(text, sizeof(text),
             "{%s\"keys\": [{\"kid\": \"../%s\", \"created_at\": \"2026-09-21T14:13:20Z\"}]}",
             member, second_kid);
    CHECK(write_text(p, text) == 0);
    CHECK(load_fails_naming(d, TEST_ROTATED, p) == 0);
    /* and the valid shapes load: retired_at may be omitted, offsets accepted */
    snprintf(text, sizeof(text),
             "{\"active\": \"%s\", \"keys\": [{\"kid\": \"%s\", \"created_at\": "
             "\"2026-09-21T16:13:20.5+02:00\"}]}",
             second_kid, second_kid);
    CHECK(write_text(p, text) == 0);
    char err[KEYS_ERR_MAX];
    key_set_t *set = key_set_load(d, TEST_ROTATED, TEST_HOLD_DAYS, err, sizeof(err));
    if (set == NULL) printf("    %s\n", err);
    CHECK(set != NULL);
    key_set_free(set);
    return 0;
}

int main(void)
{
    const char *tmp = getenv("TMPDIR");
    snprintf(root, sizeof(root), "%s/consentd-keys-test-XXXXXX", tmp && tmp[0] ? tmp : "/tmp");
    if (mkdtemp(root) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    atexit(cleanup);
    if (snprintf(dir, sizeof(dir), "%s/keys", root) >= (int)sizeof(dir)) return 1;
    if (sodium_init() < 0) return 1;

    RUN(keygen_creates_private_directory_and_pem);
    RUN(keygen_leaves_no_temporary_file);
    RUN(new_kid_is_utc_date_and_eight_base64url_chars);
    RUN(pem_is_pkcs8_readable_by_openssl_cli);
    RUN(manifest_names_first_key_active_and_not_retired);
    RUN(first_key_is_active_without_activate);
    RUN(jwks_lists_active_key_as_okp_ed25519);
    RUN(jwks_x_is_the_public_key_openssl_derives);
    RUN(jws_header_names_active_kid);
    RUN(signature_verifies_with_jwks_public_key);
    RUN(rotation_activates_new_key_and_keeps_old_listed);
    RUN(rotation_sets_retired_at_on_previous_key);
    RUN(retired_key_listed_until_longest_choice_lifetime);
    RUN(retired_key_gone_after_longest_choice_lifetime);
    RUN(retired_key_listed_as_long_as_a_site_may_hold_its_proofs);
    RUN(expired_key_pem_is_not_read);
    RUN(keygen_without_activate_keeps_active_key);
    RUN(jwks_never_contains_private_part);
    RUN(missing_directory_fails_suggesting_keygen);
    RUN(missing_manifest_fails_suggesting_keygen);
    RUN(corrupt_manifest_fails_naming_file);
    RUN(keygen_refuses_corrupt_manifest_and_writes_nothing);
    RUN(missing_pem_fails_naming_file);
    RUN(rsa_pem_fails_naming_file);
    RUN(ec_pem_fails_naming_file);
    RUN(x25519_pem_fails_naming_file);
    RUN(encrypted_pem_fails_naming_file);
    RUN(garbage_pem_fails_naming_file);
    RUN(two_keys_without_active_fails_naming_manifest);
    RUN(invalid_manifests_fail_naming_manifest);

    return check_summary();
}
