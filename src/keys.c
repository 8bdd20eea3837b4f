/*
 * keys.c - the Ed25519 signing keys: manifest, PEM files, JWKS, keygen.
 *
 * Key material: each `<kid>.pem` holds a PKCS#8 Ed25519 private key, i.e.
 * the 32-byte seed (RFC 8410). OpenSSL reads and writes the PEM; libsodium
 * expands the seed into its 64-byte secret key (seed || public key) and
 * signs, because it signs about twice as fast as OpenSSL 3 here. Only the
 * active key's secret key is kept after loading: the other listed keys are
 * only needed for their public half in the JWKS. Every buffer that held
 * private bytes is wiped with sodium_memzero before it is released.
 *
 * Everything here runs off the event loop (start-up, SIGHUP, keygen): it
 * may block on files and allocate. The key_set_t it returns is immutable,
 * so worker threads sign with it concurrently without locking.
 */
#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>

#include "clock.h"
#include "site.h"

#define KEYS_MANIFEST_NAME "keys.json"
#define KEYS_MAX 256                   /* keys a manifest may list */
#define KEYS_MANIFEST_MAX (256 * 1024) /* bytes: far above KEYS_MAX entries */
#define KEYS_PEM_MAX 8192              /* bytes: an Ed25519 PEM is about 120 */
#define KEYS_PATH_MAX 4096
#define KEYS_SEED_BYTES 32
#define KEYS_KID_RANDOM_BYTES 6 /* 8 base64url characters */
#define KEYS_KID_TRIES 8
#define KEYS_TIME_MAX CLOCK_TEXT_MAX /* "YYYY-MM-DDTHH:MM:SSZ" */
#define KEYS_X_B64_MAX sodium_base64_ENCODED_LEN(crypto_sign_PUBLICKEYBYTES, KEYS_B64)
#define KEYS_HEADER_MAX 256
#define KEYS_B64 sodium_base64_VARIANT_URLSAFE_NO_PADDING

/* One entry of keys.json. */
typedef struct keys_entry {
    char kid[KEYS_KID_MAX + 1];
    time_t created_at;
    time_t retired_at;
    int retired; /* retired_at is set (not null) */
} keys_entry_t;

typedef struct keys_manifest {
    char active[KEYS_KID_MAX + 1];
    size_t n;
    keys_entry_t keys[KEYS_MAX];
} keys_manifest_t;

struct key_set {
    unsigned char sk[crypto_sign_SECRETKEYBYTES]; /* the active key: seed || public key */
    char active_kid[KEYS_KID_MAX + 1];
    char *jwks; /* malloc'd by jansson */
    size_t jwks_len;
    char header[KEYS_HEADER_MAX]; /* base64url protected header */
    size_t header_len;
};

/* ---- small helpers ---------------------------------------------------------- */

static int keys_kid_valid(const char *kid)
{
    size_t n = strlen(kid);
    if (n == 0 || n > KEYS_KID_MAX) return 0;
    for (size_t i = 0; i < n; i++) {
        char c = kid[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-'))
            return 0;
    }
    return 1;
}

static int keys_path(char *out, const char *dir, const char *name, const char *suffix)
{
    int n = snprintf(out, KEYS_PATH_MAX, "%s/%s%s", dir, name, suffix);
    return n > 0 && n < KEYS_PATH_MAX ? 0 : -1;
}

/* Read a whole regular file of at most max bytes into a malloc'd buffer
 * (NUL-terminated). Returns NULL with errno set (EFBIG when too large). */
static char *keys_file_read(const char *path, size_t max, size_t *len)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    struct stat st;
    if (fstat(fd, &st) != 0) {
        close(fd);
        return NULL;
    }
    if (!S_ISREG(st.st_mode) || (size_t)st.st_size > max) {
        close(fd);
        errno = S_ISREG(st.st_mode) ? EFBIG : EINVAL;
        return NULL;
    }
    char *buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        close(fd);
        errno = ENOMEM;
        return NULL;
    }
    size_t off = 0;
    while (off < (size_t)st.st_size) {
        ssize_t r = read(fd, buf + off, (size_t)st.st_size - off);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) {
            int e = r == 0 ? EIO : errno;
            sodium_memzero(buf, (size_t)st.st_size);
            free(buf);
            close(fd);
            errno = e;
            return NULL;
        }
        off += (size_t)r;
    }
    close(fd);
    buf[off] = '\0';
    *len = off;
    return buf;
}

/* The text of OpenSSL's last error (or fallback), clearing its queue. */
static const char *keys_openssl_error(char *buf, size_t len, const char *fallback)
{
    unsigned long e = ERR_peek_last_error();
    if (e == 0)
        snprintf(buf, len, "%s", fallback);
    else
        ERR_error_string_n(e, buf, len);
    ERR_clear_error();
    return buf;
}

/* ---- RFC 3339 times --------------------------------------------------------- */

static void keys_time_format(time_t t, char out[KEYS_TIME_MAX])
{
    clock_format((int64_t)t * 1000, CLOCK_ISO_S, out);
}

static int keys_digits(const char *s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return 0;
}

/* Strict RFC 3339 date-time: YYYY-MM-DDTHH:MM:SS[.frac](Z|+HH:MM|-HH:MM). */
static int keys_time_parse(const char *s, time_t *out)
{
    static const int mdays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    int year, mon, day, hour, min, sec, oh = 0, om = 0, sign = 0;
    if (strlen(s) < 20 || keys_digits(s, 4, &year) || s[4] != '-' || keys_digits(s + 5, 2, &mon) ||
        s[7] != '-' || keys_digits(s + 8, 2, &day) || (s[10] != 'T' && s[10] != 't') ||
        keys_digits(s + 11, 2, &hour) || s[13] != ':' || keys_digits(s + 14, 2, &min) ||
        s[16] != ':' || keys_digits(s + 17, 2, &sec))
        return -1;
    const char *p = s + 19;
    if (*p == '.') {
        if (p[1] < '0' || p[1] > '9') return -1;
        for (p++; *p >= '0' && *p <= '9'; p++)
            ;
    }
    if ((*p == 'Z' || *p == 'z') && p[1] == '\0') {
        sign = 0;
    } else if ((*p == '+' || *p == '-') && strlen(p) == 6 && !keys_digits(p + 1, 2, &oh) &&
               p[3] == ':' && !keys_digits(p + 4, 2, &om)) {
        sign = *p == '+' ? 1 : -1;
        if (oh > 23 || om > 59) return -1;
    } else {
        return -1;
    }
    int leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    if (year < 1970 || mon < 1 || mon > 12 || day < 1 || day > mdays[mon - 1] ||
        (mon == 2 && day == 29 && !leap) || hour > 23 || min > 59 || sec > 60)
        return -1;
    struct tm tm = {.tm_year = year - 1900,
                    .tm_mon = mon - 1,
                    .tm_mday = day,
                    .tm_hour = hour,
                    .tm_min = min,
                    .tm_sec = sec};
    time_t t = timegm(&tm);
    if (t == (time_t)-1) return -1;
    *out = t - sign * (time_t)(oh * 3600 + om * 60);
    return 0;
}

/* ---- the manifest ----------------------------------------------------------- */

static int keys_manifest_entry(keys_manifest_t *m, json_t *item, size_t i, const char *path,
                               char *err, size_t errlen)
{
    const char *name;
    json_t *value;
    if (!json_is_object(item)) {
        snprintf(err, errlen, "%s: keys[%zu]: must be an object", path, i);
        return -1;
    }
    json_object_foreach(item, name, value)
    {
        if (strcmp(name, "kid") != 0 && strcmp(name, "created_at") != 0 &&
            strcmp(name, "retired_at") != 0) {
            snprintf(err, errlen, "%s: keys[%zu]: unknown member \"%.64s\"", path, i, name);
            return -1;
        }
    }
    json_t *kid = json_object_get(item, "kid");
    json_t *created = json_object_get(item, "created_at");
    json_t *retired = json_object_get(item, "retired_at");
    if (!json_is_string(kid) || !keys_kid_valid(json_string_value(kid))) {
        snprintf(err, errlen, "%s: keys[%zu]: kid must be 1 to %d characters of [A-Za-z0-9_-]",
                 path, i, KEYS_KID_MAX);
        return -1;
    }
    keys_entry_t *e = &m->keys[m->n];
    memset(e, 0, sizeof(*e));
    strcpy(e->kid, json_string_value(kid));
    for (size_t k = 0; k < m->n; k++) {
        if (strcmp(m->keys[k].kid, e->kid) == 0) {
            snprintf(err, errlen, "%s: key %s is listed twice", path, e->kid);
            return -1;
        }
    }
    if (!json_is_string(created) || keys_time_parse(json_string_value(created), &e->created_at)) {
        snprintf(err, errlen, "%s: key %s: created_at must be an RFC 3339 date-time", path, e->kid);
        return -1;
    }
    if (retired == NULL || json_is_null(retired)) {
        e->retired = 0;
    } else if (json_is_string(retired) &&
               keys_time_parse(json_string_value(retired), &e->retired_at) == 0) {
        e->retired = 1;
    } else {
        snprintf(err, errlen, "%s: key %s: retired_at must be null or an RFC 3339 date-time", path,
                 e->kid);
        return -1;
    }
    m->n++;
    return 0;
}

/* Parse and validate keys.json. With missing_ok, a missing file is an empty
 * manifest (keygen's first key); otherwise it is an error. */
static int keys_manifest_read(keys_manifest_t *m, const char *dir, int missing_ok, char *err,
                              size_t errlen)
{
    char path[KEYS_PATH_MAX];
    memset(m, 0, sizeof(*m));
    if (keys_path(path, dir, KEYS_MANIFEST_NAME, "") != 0) {
        snprintf(err, errlen, "%.200s: key directory path too long", dir);
        return -1;
    }
    size_t len;
    char *text = keys_file_read(path, KEYS_MANIFEST_MAX, &len);
    if (text == NULL) {
        if (errno == ENOENT && missing_ok) return 0;
        if (errno == ENOENT)
            snprintf(err, errlen, "%s: missing (run `consentd keygen --keys %s`)", path, dir);
        else if (errno == EFBIG)
            snprintf(err, errlen, "%s: larger than %d bytes", path, KEYS_MANIFEST_MAX);
        else
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    json_error_t jerr;
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    if (root == NULL) {
        snprintf(err, errlen, "%s: line %d: %s", path, jerr.line, jerr.text);
        return -1;
    }
    int rc = -1;
    const char *name;
    json_t *value;
    if (!json_is_object(root)) {
        snprintf(err, errlen, "%s: must be a JSON object", path);
        goto out;
    }
    json_object_foreach(root, name, value)
    {
        if (strcmp(name, "active") != 0 && strcmp(name, "keys") != 0) {
            snprintf(err, errlen, "%s: unknown member \"%.64s\"", path, name);
            goto out;
        }
    }
    json_t *active = json_object_get(root, "active");
    json_t *keys = json_object_get(root, "keys");
    if (!json_is_array(keys) || json_array_size(keys) == 0) {
        snprintf(err, errlen, "%s: \"keys\" must be a non-empty array", path);
        goto out;
    }
    if (json_array_size(keys) > KEYS_MAX) {
        snprintf(err, errlen, "%s: more than %d keys", path, KEYS_MAX);
        goto out;
    }
    if (!json_is_string(active) || !keys_kid_valid(json_string_value(active))) {
        snprintf(err, errlen, "%s: \"active\" must name exactly one key (a kid)", path);
        goto out;
    }
    strcpy(m->active, json_string_value(active));
    size_t i;
    json_array_foreach(keys, i, value)
    {
        if (keys_manifest_entry(m, value, i, path, err, errlen) != 0) goto out;
    }
    const keys_entry_t *a = NULL;
    for (i = 0; i < m->n; i++)
        if (strcmp(m->keys[i].kid, m->active) == 0) a = &m->keys[i];
    if (a == NULL) {
        snprintf(err, errlen, "%s: the active key %s is not listed in \"keys\"", path, m->active);
        goto out;
    }
    if (a->retired) {
        snprintf(err, errlen, "%s: the active key %s has a retired_at", path, m->active);
        goto out;
    }
    rc = 0;
out:
    json_decref(root);
    return rc;
}

/* ---- loading ---------------------------------------------------------------- */

/* OpenSSL's default would prompt on the terminal for an encrypted key. */
static int keys_no_passphrase(char *buf, int size, int rwflag, void *u)
{
    return -1;
}

/* Load <dir>/<kid>.pem: its public key into pk and, when sk is not NULL,
 * its libsodium secret key into sk. */
static int keys_pem_load(const char *dir, const char *kid,
                         unsigned char pk[crypto_sign_PUBLICKEYBYTES], unsigned char *sk, char *err,
                         size_t errlen)
{
    char path[KEYS_PATH_MAX], why[256];
    unsigned char seed[KEYS_SEED_BYTES], own_sk[crypto_sign_SECRETKEYBYTES];
    unsigned char ossl_pk[crypto_sign_PUBLICKEYBYTES];
    size_t len, seed_len = sizeof(seed), ossl_pk_len = sizeof(ossl_pk);
    int rc = -1;
    if (keys_path(path, dir, kid, ".pem") != 0) {
        snprintf(err, errlen, "%.200s: key directory path too long", dir);
        return -1;
    }
    char *text = keys_file_read(path, KEYS_PEM_MAX, &len);
    if (text == NULL) {
        if (errno == ENOENT)
            snprintf(err, errlen, "%s: missing, yet " KEYS_MANIFEST_NAME " lists it", path);
        else if (errno == EFBIG)
            snprintf(err, errlen, "%s: larger than %d bytes, not an Ed25519 key", path,
                     KEYS_PEM_MAX);
        else
            snprintf(err, errlen, "%s: %s", path, strerror(errno));
        return -1;
    }
    BIO *bio = BIO_new_mem_buf(text, (int)len);
    EVP_PKEY *pkey = bio ? PEM_read_bio_PrivateKey(bio, NULL, keys_no_passphrase, NULL) : NULL;
    BIO_free(bio);
    sodium_memzero(text, len);
    free(text);
    if (pkey == NULL) {
        snprintf(err, errlen, "%s: not a readable unencrypted PEM private key (%s)", path,
                 keys_openssl_error(why, sizeof(why), "no key found"));
        return -1;
    }
    if (EVP_PKEY_get_id(pkey) != EVP_PKEY_ED25519) {
        const char *type = EVP_PKEY_get0_type_name(pkey);
        snprintf(err, errlen, "%s: not an Ed25519 key (%s)", path, type ? type : "unknown type");
        goto out;
    }
    if (EVP_PKEY_get_raw_private_key(pkey, seed, &seed_len) != 1 || seed_len != sizeof(seed) ||
        EVP_PKEY_get_raw_public_key(pkey, ossl_pk, &ossl_pk_len) != 1 ||
        ossl_pk_len != sizeof(ossl_pk)) {
        snprintf(err, errlen, "%s: cannot read the Ed25519 key (%s)", path,
                 keys_openssl_error(why, sizeof(why), "bad length"));
        goto out;
    }
    crypto_sign_seed_keypair(pk, own_sk, seed);
    if (sodium_memcmp(pk, ossl_pk, sizeof(ossl_pk)) != 0) {
        snprintf(err, errlen, "%s: the public key does not match the private key", path);
        goto out;
    }
    if (sk != NULL) memcpy(sk, own_sk, sizeof(own_sk));
    rc = 0;
out:
    sodium_memzero(seed, sizeof(seed));
    sodium_memzero(own_sk, sizeof(own_sk));
    EVP_PKEY_free(pkey); /* OpenSSL wipes its copy */
    ERR_clear_error();
    return rc;
}

/* A retired key stays listed this long after retired_at (see keys.h). */
static int keys_listed(const keys_entry_t *e, time_t now, uint32_t hold_days)
{
    return !e->retired || now - e->retired_at <= (time_t)KEYS_LISTED_DAYS(hold_days) * 86400;
}

static json_t *keys_jwk(const char *kid, const unsigned char pk[crypto_sign_PUBLICKEYBYTES])
{
    char x[KEYS_X_B64_MAX];
    sodium_bin2base64(x, sizeof(x), pk, crypto_sign_PUBLICKEYBYTES, KEYS_B64);
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "OKP", "crv", "Ed25519", "x", x,
                     "kid", kid, "use", "sig", "alg", "EdDSA");
}

key_set_t *key_set_load(const char *dir, time_t now, uint32_t hold_days, char *err, size_t errlen)
{
    struct stat st;
    if (sodium_init() < 0) {
        snprintf(err, errlen, "libsodium failed to initialise");
        return NULL;
    }
    int found = stat(dir, &st) == 0;
    if (!found || !S_ISDIR(st.st_mode)) {
        const char *why = found             ? "not a directory"
                          : errno == ENOENT ? "no such key directory"
                                            : strerror(errno);
        snprintf(err, errlen, "%s: %s (run `consentd keygen --keys %s`)", dir, why, dir);
        return NULL;
    }
    keys_manifest_t *m = malloc(sizeof(*m));
    key_set_t *set = calloc(1, sizeof(*set));
    json_t *jwks = json_object(), *list = json_array();
    json_t *others = json_array();
    if (m == NULL || set == NULL || jwks == NULL || list == NULL || others == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    if (keys_manifest_read(m, dir, 0, err, errlen) != 0) goto fail;
    for (size_t i = 0; i < m->n; i++) {
        const keys_entry_t *e = &m->keys[i];
        int active = strcmp(e->kid, m->active) == 0;
        unsigned char pk[crypto_sign_PUBLICKEYBYTES];
        if (!active && !keys_listed(e, now, hold_days)) continue; /* no proof of it is held */
        if (keys_pem_load(dir, e->kid, pk, active ? set->sk : NULL, err, errlen) != 0) goto fail;
        json_t *jwk = keys_jwk(e->kid, pk);
        if (jwk == NULL || json_array_append_new(active ? list : others, jwk) != 0) {
            snprintf(err, errlen, "out of memory");
            goto fail;
        }
    }
    /* The active key first: clients that try keys in order find it at once. */
    if (json_array_extend(list, others) != 0 || json_object_set(jwks, "keys", list) != 0) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    set->jwks = json_dumps(jwks, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (set->jwks == NULL) {
        snprintf(err, errlen, "out of memory");
        goto fail;
    }
    set->jwks_len = strlen(set->jwks);
    strcpy(set->active_kid, m->active);

    char header[KEYS_HEADER_MAX];
    int n = snprintf(header, sizeof(header), "{\"alg\":\"EdDSA\",\"kid\":\"%s\",\"typ\":\"JWT\"}",
                     set->active_kid);
    sodium_bin2base64(set->header, sizeof(set->header), (const unsigned char *)header, (size_t)n,
                      KEYS_B64);
    set->header_len = strlen(set->header);

    json_decref(jwks);
    json_decref(list);
    json_decref(others);
    free(m);
    return set;

fail:
    json_decref(jwks);
    json_decref(list);
    json_decref(others);
    free(m);
    key_set_free(set);
    return NULL;
}

void key_set_free(key_set_t *set)
{
    if (set == NULL) return;
    sodium_memzero(set->sk, sizeof(set->sk));
    free(set->jwks);
    free(set);
}

const char *key_set_active_kid(const key_set_t *set)
{
    return set->active_kid;
}

const char *key_set_jwks(const key_set_t *set, size_t *len)
{
    if (len != NULL) *len = set->jwks_len;
    return set->jwks;
}

void key_set_sign(const key_set_t *set, const unsigned char *msg, size_t len, unsigned char sig[64])
{
    crypto_sign_detached(sig, NULL, msg, len, set->sk);
}

const char *key_set_jws_header(const key_set_t *set, size_t *len)
{
    if (len != NULL) *len = set->header_len;
    return set->header;
}

/* ---- keygen ----------------------------------------------------------------- */

/* Write data to <dir>/<name> atomically: a 0600 temporary file in dir,
 * fsync, rename over name, fsync dir. A crash leaves the old file or the
 * new one, never a torn one. */
static int keys_file_write(const char *dir, const char *name, const void *data, size_t len,
                           char *err, size_t errlen)
{
    char path[KEYS_PATH_MAX], tmp[KEYS_PATH_MAX];
    if (keys_path(path, dir, name, "") != 0 || keys_path(tmp, dir, ".", name) != 0 ||
        strlen(tmp) + 8 >= sizeof(tmp)) {
        snprintf(err, errlen, "%.200s: key directory path too long", dir);
        return -1;
    }
    strcat(tmp, ".XXXXXX");
    int fd = mkostemp(tmp, O_CLOEXEC); /* mode 0600 */
    if (fd < 0) {
        snprintf(err, errlen, "%s: cannot create a temporary file: %s", path, strerror(errno));
        return -1;
    }
    const char *p = data;
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, p + off, len - off);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0) goto fail;
        off += (size_t)w;
    }
    if (fchmod(fd, 0600) != 0 || fsync(fd) != 0) goto fail;
    if (close(fd) != 0) {
        fd = -1;
        goto fail;
    }
    fd = -1;
    if (rename(tmp, path) != 0) goto fail;
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        fsync(dfd);
        close(dfd);
    }
    return 0;
fail:
    snprintf(err, errlen, "%s: cannot write: %s", path, strerror(errno ? errno : EIO));
    if (fd >= 0) close(fd);
    unlink(tmp);
    return -1;
}

/* A fresh kid: YYYYMMDD (UTC, from now) '-' 8 random base64url characters. */
static void keys_kid_new(time_t now, char kid[KEYS_KID_MAX + 1])
{
    unsigned char rnd[KEYS_KID_RANDOM_BYTES];
    char day[CLOCK_TEXT_MAX];
    size_t n = clock_format((int64_t)now * 1000, CLOCK_DAY_KEY, day);
    memcpy(kid, day, n);
    kid[n++] = '-';
    randombytes_buf(rnd, sizeof(rnd));
    sodium_bin2base64(kid + n, KEYS_KID_MAX + 1 - n, rnd, sizeof(rnd), KEYS_B64);
}

/* A new Ed25519 key as PKCS#8 PEM text in a wiping BIO (the caller frees). */
static BIO *keys_pem_new(char *err, size_t errlen)
{
    unsigned char seed[KEYS_SEED_BYTES];
    char why[256];
    randombytes_buf(seed, sizeof(seed));
    EVP_PKEY *pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed, sizeof(seed));
    sodium_memzero(seed, sizeof(seed));
    BIO *bio = BIO_new(BIO_s_secmem());
    if (pkey == NULL || bio == NULL ||
        PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) != 1) {
        snprintf(err, errlen, "cannot create an Ed25519 key (%s)",
                 keys_openssl_error(why, sizeof(why), "out of memory"));
        BIO_free(bio);
        bio = NULL;
    }
    EVP_PKEY_free(pkey);
    return bio;
}

static char *keys_manifest_dump(const keys_manifest_t *m)
{
    json_t *root = json_object(), *list = json_array();
    char *text = NULL;
    if (root == NULL || list == NULL) goto out;
    for (size_t i = 0; i < m->n; i++) {
        char created[KEYS_TIME_MAX], retired[KEYS_TIME_MAX];
        keys_time_format(m->keys[i].created_at, created);
        keys_time_format(m->keys[i].retired_at, retired);
        json_t *e =
            json_pack("{s:s, s:s, s:o}", "kid", m->keys[i].kid, "created_at", created, "retired_at",
                      m->keys[i].retired ? json_string(retired) : json_null());
        if (e == NULL || json_array_append_new(list, e) != 0) goto out;
    }
    if (json_object_set_new(root, "active", json_string(m->active)) != 0 ||
        json_object_set(root, "keys", list) != 0)
        goto out;
    char *body = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    if (body != NULL && (text = malloc(strlen(body) + 2)) != NULL)
        sprintf(text, "%s\n", body); /* a text file ends with a newline */
    free(body);
out:
    json_decref(root);
    json_decref(list);
    return text;
}

int keys_generate(const char *dir, int activate, time_t now, char *kid, char *err, size_t errlen)
{
    struct stat st;
    char path[KEYS_PATH_MAX], name[KEYS_KID_MAX + 8];
    keys_manifest_t *m = NULL;
    BIO *pem = NULL;
    char *manifest = NULL;
    int rc = -1, pem_written = 0;

    if (sodium_init() < 0) {
        snprintf(err, errlen, "libsodium failed to initialise");
        return -1;
    }
    if (stat(dir, &st) != 0) {
        if (errno != ENOENT || mkdir(dir, 0700) != 0 || chmod(dir, 0700) != 0) {
            snprintf(err, errlen, "%s: cannot create the key directory: %s", dir, strerror(errno));
            return -1;
        }
    } else if (!S_ISDIR(st.st_mode)) {
        snprintf(err, errlen, "%s: not a directory", dir);
        return -1;
    }
    if ((m = malloc(sizeof(*m))) == NULL) {
        snprintf(err, errlen, "out of memory");
        return -1;
    }
    if (keys_manifest_read(m, dir, 1, err, errlen) != 0) goto out;
    if (m->n == KEYS_MAX) {
        snprintf(err, errlen,
                 "%s/" KEYS_MANIFEST_NAME ": already %d keys; remove keys that have left the "
                 "JWKS (retired more than twice the longest log_retention_days plus %d days ago)",
                 dir, KEYS_MAX, KEYS_RELOAD_GRACE_DAYS);
        goto out;
    }

    /* A kid that neither the manifest nor the directory knows. */
    keys_entry_t *e = &m->keys[m->n];
    memset(e, 0, sizeof(*e));
    for (int tries = 0;; tries++) {
        int taken = 0;
        if (tries == KEYS_KID_TRIES) {
            snprintf(err, errlen, "%s: cannot find an unused key id", dir);
            goto out;
        }
        keys_kid_new(now, e->kid);
        for (size_t i = 0; i < m->n; i++)
            taken |= strcmp(m->keys[i].kid, e->kid) == 0;
        if (keys_path(path, dir, e->kid, ".pem") != 0) {
            snprintf(err, errlen, "%.200s: key directory path too long", dir);
            goto out;
        }
        if (!taken && lstat(path, &st) != 0 && errno == ENOENT) break;
    }
    e->created_at = now;

    if ((pem = keys_pem_new(err, errlen)) == NULL) goto out;
    char *pem_text;
    long pem_len = BIO_get_mem_data(pem, &pem_text);
    snprintf(name, sizeof(name), "%s.pem", e->kid);
    if (pem_len <= 0 || keys_file_write(dir, name, pem_text, (size_t)pem_len, err, errlen) != 0)
        goto out;
    pem_written = 1;

    /* The first key is active whatever the caller asked. */
    if (activate || m->n == 0) {
        for (size_t i = 0; i < m->n; i++) {
            if (strcmp(m->keys[i].kid, m->active) == 0) {
                m->keys[i].retired = 1;
                m->keys[i].retired_at = now;
            }
        }
        strcpy(m->active, e->kid);
    }
    m->n++;
    if ((manifest = keys_manifest_dump(m)) == NULL) {
        snprintf(err, errlen, "out of memory");
        goto out;
    }
    if (keys_file_write(dir, KEYS_MANIFEST_NAME, manifest, strlen(manifest), err, errlen) != 0)
        goto out;
    strcpy(kid, e->kid);
    rc = 0;
out:
    if (rc != 0 && pem_written) unlink(path); /* the manifest does not list it */
    BIO_free(pem);
    free(manifest);
    free(m);
    return rc;
}
