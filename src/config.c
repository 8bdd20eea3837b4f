/*
 * config.c - the server configuration: built-in defaults, then the JSON file,
 * then the environment (PORT, REDIS_URL, CONSENTD_THREADS).
 *
 * Everything here runs once at start-up on the main thread, so it may block
 * (file I/O, getaddrinfo). The result is a plain struct, read-only afterwards.
 *
 * Strictness is the point: a field we do not know, a value of the wrong type
 * or out of range stops the server with "<file>: <field path>: <reason>",
 * rather than running with a setting the operator did not mean.
 */
#include "config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <sodium.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "json.h"
#include "resolve.h"
#include "log.h"

#define CONFIG_FILE_MAX_BYTES (1024 * 1024) /* a config file is a few hundred bytes */
#define CONFIG_TIMEOUT_MS_MAX 60000
#define CONFIG_MAX_PENDING_MAX 1000000
#define CONFIG_MAX_BODY_BYTES_MAX (16 * 1024 * 1024)
#define CONFIG_MAX_CONNECTIONS_MAX 1000000
#define CONFIG_REDIS_DB_MAX 65535
#define CONFIG_REDIS_DEFAULT_PORT 6379
#define CONFIG_RATE_MAX 1000000

/* ---- error messages ------------------------------------------------------- */

/* Where a message starts: "<file>: " or "environment PORT: ". */
typedef struct config_ctx {
    const char *file; /* as the caller named it, for messages */
    char *err;
    size_t errlen;
} config_ctx_t;

static int config_fail(const config_ctx_t *c, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int config_fail(const config_ctx_t *c, const char *field, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    json_field_error(c->err, c->errlen, c->file, field, fmt, ap);
    va_end(ap);
    return -1;
}

static int url_fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int url_fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err != NULL && errlen > 0) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -1;
}

/* ---- field readers -------------------------------------------------------- */

/* Fail on any key of obj not in allowed (NULL-terminated); names the field
 * and lists the ones we know, since a typo is the usual cause. */
static int config_check_keys(const config_ctx_t *c, const json_t *obj, const char *prefix,
                             const char *const *allowed)
{
    char list[256], field[512];
    const char *key = json_unknown_key(obj, allowed, list, sizeof(list));
    if (key == NULL) return 0;
    snprintf(field, sizeof(field), "%s%s", prefix, key);
    return config_fail(c, field, "unknown field (known fields: %s)", list);
}

/* An optional sub-object: NULL when absent, -1 (with err) when not an object. */
static int config_object(const config_ctx_t *c, const json_t *root, const char *key,
                         const char *const *allowed, json_t **out)
{
    json_t *v = json_object_get(root, key);
    *out = NULL;
    if (v == NULL) return 0;
    if (!json_is_object(v)) return config_fail(c, key, "must be an object");
    char prefix[64];
    snprintf(prefix, sizeof(prefix), "%s.", key);
    if (config_check_keys(c, v, prefix, allowed) != 0) return -1;
    *out = v;
    return 0;
}

/* An optional integer in [min, max]; *out untouched when absent. */
static int config_int(const config_ctx_t *c, const json_t *obj, const char *key, const char *field,
                      json_int_t min, json_int_t max, json_int_t *out)
{
    json_t *v = obj != NULL ? json_object_get(obj, key) : NULL;
    if (v == NULL) return 0;
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return config_fail(c, field, "must be an integer from %lld to %lld", (long long)min,
                           (long long)max);
    *out = json_integer_value(v);
    return 0;
}

static int config_u32(const config_ctx_t *c, const json_t *obj, const char *key, const char *field,
                      uint32_t min, uint32_t max, uint32_t *out)
{
    json_int_t v = *out;
    if (config_int(c, obj, key, field, min, max, &v) != 0) return -1;
    *out = (uint32_t)v;
    return 0;
}

static int config_bool(const config_ctx_t *c, const json_t *obj, const char *key, const char *field,
                       int *out)
{
    json_t *v = obj != NULL ? json_object_get(obj, key) : NULL;
    if (v == NULL) return 0;
    if (!json_is_boolean(v)) return config_fail(c, field, "must be true or false");
    *out = json_is_true(v);
    return 0;
}

/* An optional non-empty string that fits in cap (with its NUL), without
 * control characters; *out untouched when absent. */
static int config_string(const config_ctx_t *c, const json_t *obj, const char *key,
                         const char *field, char *out, size_t cap)
{
    json_t *v = obj != NULL ? json_object_get(obj, key) : NULL;
    if (v == NULL) return 0;
    if (!json_is_string(v)) return config_fail(c, field, "must be a string");
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (len == 0) return config_fail(c, field, "must not be empty");
    if (len >= cap) return config_fail(c, field, "must be at most %zu bytes long", cap - 1);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
            return config_fail(c, field, "must not contain control characters");
    memcpy(out, s, len + 1);
    return 0;
}

/* ---- paths ---------------------------------------------------------------- */

/* base + "/" + rel (or rel alone when absolute), with ".", ".." and repeated
 * slashes removed lexically: the directory need not exist yet (keys_dir is
 * created by `consentd keygen`). */
static int config_path_resolve(const char *base, const char *rel, char *out, size_t cap)
{
    char joined[PATH_MAX * 2];
    int n = rel[0] == '/' ? snprintf(joined, sizeof(joined), "%s", rel)
                          : snprintf(joined, sizeof(joined), "%s/%s", base, rel);
    if (n < 0 || (size_t)n >= sizeof(joined)) return -1;
    size_t o = 0;
    const char *p = joined;
    while (*p != '\0') {
        while (*p == '/')
            p++;
        const char *seg = p;
        while (*p != '\0' && *p != '/')
            p++;
        size_t len = (size_t)(p - seg);
        if (len == 0 || (len == 1 && seg[0] == '.')) continue;
        if (len == 2 && seg[0] == '.' && seg[1] == '.') {
            while (o > 0 && out[o - 1] != '/')
                o--;
            if (o > 0) o--; /* the slash; ".." of "/" is "/" */
            continue;
        }
        if (o + 1 + len + 1 > cap) return -1;
        out[o++] = '/';
        memcpy(out + o, seg, len);
        o += len;
    }
    if (o == 0) {
        if (cap < 2) return -1;
        out[o++] = '/';
    }
    out[o] = '\0';
    return 0;
}

static int config_dir_field(const config_ctx_t *c, const json_t *root, const char *key,
                            const char *base, char *out, size_t cap)
{
    char rel[PATH_MAX];
    rel[0] = '\0';
    if (config_string(c, root, key, key, rel, sizeof(rel)) != 0) return -1;
    if (rel[0] == '\0') return 0; /* absent: keep the default, already resolved */
    if (config_path_resolve(base, rel, out, cap) != 0) return config_fail(c, key, "path too long");
    return 0;
}

/* ---- the Redis URL -------------------------------------------------------- */

static int hexval(int ch)
{
    if (ch >= '0' && ch <= '9') return ch - '0';
    if (ch >= 'a' && ch <= 'f') return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F') return ch - 'A' + 10;
    return -1;
}

/* Percent-decode len bytes of s into out (cap with NUL); -1 on a bad escape,
 * a %00 or overflow. Passwords with '@', ':' or '/' must be written %40 etc. */
static int url_decode(const char *s, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        int ch = (unsigned char)s[i];
        if (ch == '%') {
            if (i + 2 >= len) return -1;
            int h = hexval(s[i + 1]), l = hexval(s[i + 2]);
            if (h < 0 || l < 0 || (h == 0 && l == 0)) return -1;
            ch = h * 16 + l;
            i += 2;
        }
        if (o + 1 >= cap) return -1;
        out[o++] = (char)ch;
    }
    out[o] = '\0';
    return 0;
}

/* Digits only, value in [min, max]. */
static int parse_uint(const char *s, size_t len, long min, long max, long *out)
{
    if (len == 0 || len > 10) return -1;
    long v = 0;
    for (size_t i = 0; i < len; i++) {
        if (s[i] < '0' || s[i] > '9') return -1;
        v = v * 10 + (s[i] - '0');
    }
    if (v < min || v > max) return -1;
    *out = v;
    return 0;
}

static int host_chars_ok(const char *h)
{
    for (; *h != '\0'; h++)
        if (!isalnum((unsigned char)*h) && *h != '.' && *h != '-' && *h != '_') return 0;
    return 1;
}

/* unix:///path[?db=N&password=...&user=...] (also redis+unix://). */
static int url_parse_unix(config_redis_t *r, const char *rest, char *err, size_t errlen)
{
    const char *q = strchr(rest, '?');
    size_t plen = q != NULL ? (size_t)(q - rest) : strlen(rest);
    if (plen == 0 || rest[0] != '/')
        return url_fail(err, errlen,
                        "a unix socket URL needs an absolute path: unix:///path/to/redis.sock");
    if (plen >= sizeof(((struct sockaddr_un *)0)->sun_path) || plen >= sizeof(r->unix_path))
        return url_fail(err, errlen, "the socket path is too long (at most %zu bytes)",
                        sizeof(((struct sockaddr_un *)0)->sun_path) - 1);
    if (url_decode(rest, plen, r->unix_path, sizeof(r->unix_path)) != 0)
        return url_fail(err, errlen, "the socket path has a bad %%-escape");
    if (q == NULL) return 0;
    const char *p = q + 1;
    while (*p != '\0') {
        const char *end = strchr(p, '&');
        size_t len = end != NULL ? (size_t)(end - p) : strlen(p);
        const char *eq = memchr(p, '=', len);
        if (eq == NULL)
            return url_fail(err, errlen, "query parameter %.*s has no value", (int)len, p);
        size_t klen = (size_t)(eq - p), vlen = len - klen - 1;
        const char *v = eq + 1;
        long db;
        if (klen == 2 && memcmp(p, "db", 2) == 0) {
            if (parse_uint(v, vlen, 0, CONFIG_REDIS_DB_MAX, &db) != 0)
                return url_fail(err, errlen, "db must be an integer from 0 to %d",
                                CONFIG_REDIS_DB_MAX);
            r->db = (int)db;
        } else if (klen == 8 && memcmp(p, "password", 8) == 0) {
            if (vlen == 0 || url_decode(v, vlen, r->password, sizeof(r->password)) != 0)
                return url_fail(err, errlen, "password is empty, too long or badly %%-escaped");
        } else if (klen == 4 && memcmp(p, "user", 4) == 0) {
            if (vlen == 0 || url_decode(v, vlen, r->username, sizeof(r->username)) != 0)
                return url_fail(err, errlen, "user is empty, too long or badly %%-escaped");
        } else {
            return url_fail(err, errlen, "unknown query parameter %.*s (known: db, password, user)",
                            (int)klen, p);
        }
        p += len + (end != NULL);
    }
    if (r->username[0] != '\0' && r->password[0] == '\0')
        return url_fail(err, errlen, "user %s is given without a password", r->username);
    return 0;
}

/* The userinfo of an authority ("[user]:password" before its last '@'):
 * sets *host to what follows it. */
static int url_parse_userinfo(config_redis_t *r, const char *rest, size_t alen, const char **host,
                              char *err, size_t errlen)
{
    const char *at = NULL;
    for (const char *p = rest; p < rest + alen; p++)
        if (*p == '@') at = p;
    *host = rest;
    if (at == NULL) return 0;
    const char *colon = memchr(rest, ':', (size_t)(at - rest));
    const char *pw = rest;
    if (colon != NULL) {
        if (url_decode(rest, (size_t)(colon - rest), r->username, sizeof(r->username)) != 0)
            return url_fail(err, errlen, "the user name is too long or badly %%-escaped");
        pw = colon + 1;
    }
    if (url_decode(pw, (size_t)(at - pw), r->password, sizeof(r->password)) != 0)
        return url_fail(err, errlen,
                        "the password is too long or badly %%-escaped "
                        "(write @ as %%40, : as %%3A, / as %%2F)");
    if (r->password[0] == '\0')
        return url_fail(err, errlen, "the password is empty: remove the '@' or give one");
    *host = at + 1;
    return 0;
}

/* host[:port] or [v6][:port], hlen bytes: the name in name (cap bytes), the
 * port (default 6379) in *port. */
static int url_parse_host(const char *host, size_t hlen, char *name, size_t cap, uint16_t *port,
                          char *err, size_t errlen)
{
    const char *p = NULL;
    const char *end = host + hlen;
    if (hlen > 0 && host[0] == '[') {
        const char *close = memchr(host, ']', hlen);
        if (close == NULL) return url_fail(err, errlen, "an IPv6 address needs its closing ']'");
        size_t nlen = (size_t)(close - host - 1);
        if (nlen == 0 || nlen >= cap) return url_fail(err, errlen, "the host is missing");
        memcpy(name, host + 1, nlen);
        name[nlen] = '\0';
        struct in6_addr a6;
        if (inet_pton(AF_INET6, name, &a6) != 1)
            return url_fail(err, errlen, "[%s] is not an IPv6 address", name);
        if (close + 1 < end) {
            if (close[1] != ':') return url_fail(err, errlen, "unexpected text after ']'");
            p = close + 2;
        }
    } else {
        const char *colon = memchr(host, ':', hlen);
        size_t nlen = colon != NULL ? (size_t)(colon - host) : hlen;
        if (nlen == 0)
            return url_fail(err, errlen, "the host is missing: redis://host[:port][/db]");
        if (nlen >= cap) return url_fail(err, errlen, "the host name is too long");
        memcpy(name, host, nlen);
        name[nlen] = '\0';
        if (!host_chars_ok(name))
            return url_fail(err, errlen, "the host name %s has characters a host name cannot have",
                            name);
        if (colon != NULL) p = colon + 1;
    }
    *port = CONFIG_REDIS_DEFAULT_PORT;
    if (p != NULL) {
        long v;
        if (parse_uint(p, (size_t)(end - p), 1, 65535, &v) != 0)
            return url_fail(err, errlen, "the port must be an integer from 1 to 65535");
        *port = (uint16_t)v;
    }
    return 0;
}

/* redis://[[user]:password@]host[:port][/db] */
static int url_parse_tcp(config_redis_t *r, const char *rest, int resolve, char *err, size_t errlen)
{
    size_t alen = strcspn(rest, "/?#");
    const char *path = rest + alen;
    if (strpbrk(path, "?#") != NULL)
        return url_fail(err, errlen,
                        "query strings and fragments are not supported in "
                        "redis:// URLs (the database goes in the path: /N)");
    const char *host;
    if (url_parse_userinfo(r, rest, alen, &host, err, errlen) != 0) return -1;
    char name[256];
    if (url_parse_host(host, (size_t)(rest + alen - host), name, sizeof(name), &r->port, err,
                       errlen) != 0)
        return -1;
    if (path[0] == '/' && path[1] != '\0') {
        long db;
        if (parse_uint(path + 1, strlen(path + 1), 0, CONFIG_REDIS_DB_MAX, &db) != 0)
            return url_fail(err, errlen, "the database (/N) must be an integer from 0 to %d",
                            CONFIG_REDIS_DB_MAX);
        r->db = (int)db;
    }
    snprintf(r->host_name, sizeof(r->host_name), "%s", name);
    if (resolve) return resolve_lookup(name, r->host, sizeof(r->host), err, errlen);
    snprintf(r->host, sizeof(r->host), "%s", name);
    return 0;
}

/* redis+cluster://[[user]:password@]host[:port][,host[:port]...]: seed nodes
 * of a Redis Cluster (any of them, masters or replicas: the slot map is read
 * from the first that answers). A cluster has only database 0. */
static int url_parse_cluster(config_redis_t *r, const char *rest, int resolve, char *err,
                             size_t errlen)
{
    size_t alen = strcspn(rest, "/?#");
    const char *path = rest + alen;
    if (strpbrk(path, "?#") != NULL)
        return url_fail(err, errlen,
                        "query strings and fragments are not supported in redis+cluster:// URLs");
    if (path[0] == '/' && path[1] != '\0' && strcmp(path, "/0") != 0)
        return url_fail(err, errlen, "a Redis Cluster has only database 0: remove %s", path);
    const char *host;
    if (url_parse_userinfo(r, rest, alen, &host, err, errlen) != 0) return -1;
    const char *end = rest + alen;
    r->cluster = 1;
    r->n_seeds = 0;
    for (;;) {
        const char *comma = memchr(host, ',', (size_t)(end - host));
        const char *stop = comma != NULL ? comma : end;
        if (r->n_seeds == CONFIG_REDIS_SEEDS_MAX)
            return url_fail(err, errlen, "at most %d seed nodes", CONFIG_REDIS_SEEDS_MAX);
        config_redis_node_t *seed = &r->seeds[r->n_seeds];
        char name[256];
        if (url_parse_host(host, (size_t)(stop - host), name, sizeof(name), &seed->port, err,
                           errlen) != 0)
            return -1;
        snprintf(seed->name, sizeof(seed->name), "%s", name);
        if (resolve) {
            if (resolve_lookup(name, seed->host, sizeof(seed->host), err, errlen) != 0) return -1;
        } else { /* a syntax check: the name is resolved later */
            snprintf(seed->host, sizeof(seed->host), "%.*s", (int)sizeof(seed->host) - 1, name);
        }
        r->n_seeds++;
        if (comma == NULL) break;
        host = comma + 1;
    }
    /* host and port name the first seed, for messages. */
    memcpy(r->host, r->seeds[0].host, sizeof(r->host));
    memcpy(r->host_name, r->seeds[0].name, sizeof(r->host_name));
    r->port = r->seeds[0].port;
    return 0;
}

/* Case-insensitive "scheme://" prefix. */
static const char *url_scheme(const char *url, const char *scheme)
{
    size_t n = strlen(scheme);
    return strncasecmp(url, scheme, n) == 0 ? url + n : NULL;
}

static int config_redis_url_parse_mode(config_redis_t *out, const char *url, int resolve, char *err,
                                       size_t errlen)
{
    config_redis_t r;
    memset(&r, 0, sizeof(r));
    if (url == NULL || url[0] == '\0') return url_fail(err, errlen, "the URL is empty");
    size_t len = strlen(url);
    if (len >= sizeof(r.url))
        return url_fail(err, errlen, "the URL is too long (at most %zu bytes)", sizeof(r.url) - 1);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)url[i] <= 0x20 || url[i] == 0x7f)
            return url_fail(err, errlen, "the URL must not contain spaces or control characters");
    memcpy(r.url, url, len + 1);
    const char *rest;
    int rc;
    if ((rest = url_scheme(url, "redis://")) != NULL) {
        rc = url_parse_tcp(&r, rest, resolve, err, errlen);
    } else if ((rest = url_scheme(url, "redis+cluster://")) != NULL) {
        rc = url_parse_cluster(&r, rest, resolve, err, errlen);
    } else if ((rest = url_scheme(url, "unix://")) != NULL ||
               (rest = url_scheme(url, "redis+unix://")) != NULL) {
        rc = url_parse_unix(&r, rest, err, errlen);
    } else if (url_scheme(url, "rediss://") != NULL) {
        return url_fail(err, errlen,
                        "rediss:// (TLS to Redis) is not supported yet: use "
                        "redis:// on a trusted network, or a unix:// socket");
    } else {
        return url_fail(err, errlen,
                        "must be redis://[[user]:password@]host[:port][/db], "
                        "redis+cluster://[[user]:password@]host[:port][,host[:port]...] or "
                        "unix:///path/to/redis.sock[?db=N]");
    }
    if (rc != 0) return -1;
    memcpy(out->url, r.url, sizeof(r.url));
    memcpy(out->host, r.host, sizeof(r.host));
    memcpy(out->host_name, r.host_name, sizeof(r.host_name));
    memcpy(out->unix_path, r.unix_path, sizeof(r.unix_path));
    memcpy(out->password, r.password, sizeof(r.password));
    memcpy(out->username, r.username, sizeof(r.username));
    out->port = r.unix_path[0] != '\0' ? 0 : r.port;
    out->db = r.db;
    out->cluster = r.cluster;
    out->n_seeds = r.n_seeds;
    memcpy(out->seeds, r.seeds, sizeof(r.seeds));
    return 0;
}

int config_redis_url_parse(config_redis_t *out, const char *url, char *err, size_t errlen)
{
    return config_redis_url_parse_mode(out, url, 1, err, errlen);
}

/* ---- the file ------------------------------------------------------------- */

/* The IAB's languages of GVL translations (ISO 639-1): the EU's official
 * languages but English (the list itself is English). */
static const char *const config_tcf_default_languages[] = {
    "bg", "cs", "da", "de", "el", "es", "et", "fi", "fr", "ga", "hr", "hu",
    "it", "lt", "lv", "mt", "nl", "pl", "pt", "ro", "sk", "sl", "sv", NULL};

static void config_defaults(config_t *cfg, const char *base)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->listen_address, sizeof(cfg->listen_address), "0.0.0.0");
    cfg->port = 8080;
    cfg->threads = 0;
    snprintf(cfg->redis.url, sizeof(cfg->redis.url), "redis://127.0.0.1:6379");
    cfg->redis.command_timeout_ms = 1000;
    cfg->redis.connect_timeout_ms = 1000;
    cfg->redis.reconnect_min_ms = 50;
    cfg->redis.reconnect_max_ms = 2000;
    cfg->redis.max_pending = 10000;
    cfg->redis.wait_replicas = 0;
    cfg->redis.wait_timeout_ms = 200;
    config_path_resolve(base, "sites", cfg->sites_dir, sizeof(cfg->sites_dir));
    config_path_resolve(base, "keys", cfg->keys_dir, sizeof(cfg->keys_dir));
    cfg->tcf_gvl_dir[0] = '\0';
    snprintf(cfg->tcf_gvl_url, sizeof(cfg->tcf_gvl_url), "%s", CONFIG_TCF_GVL_URL);
    snprintf(cfg->tcf_translations_url, sizeof(cfg->tcf_translations_url), "%s",
             CONFIG_TCF_TRANSLATIONS_URL);
    cfg->n_tcf_translations = 0;
    for (size_t i = 0; config_tcf_default_languages[i] != NULL; i++)
        snprintf(cfg->tcf_translations[cfg->n_tcf_translations++], sizeof(cfg->tcf_translations[0]),
                 "%s", config_tcf_default_languages[i]);
    cfg->max_body_bytes = 65536;
    cfg->max_connections = 10000;
    cfg->max_connections_per_client = 1000;
    cfg->request_timeout_ms = 10000;
    cfg->shutdown_timeout_ms = 10000;
    cfg->http2 = 0;
    cfg->rl_consents_per_second = 10;
    cfg->rl_consents_burst = 50;
    cfg->rl_visitor_writes_per_minute = 10;
    cfg->stats_cache_ms = 5000;
    cfg->stats_cache_closed_ms = 300000;
    cfg->rl_visitor_writes_per_day = 100;
    cfg->rl_events_per_second = 20;
    cfg->rl_events_burst = 100;
    cfg->rl_exempt_loopback = 0;
    cfg->erasure_disk_within_s = CONFIG_ERASURE_DISK_WITHIN_DEFAULT_S;
    cfg->log_json = 0;
    cfg->log_level = LOG_INFO;
    cfg->access_log = 1;
    cfg->log_client_ip = 0;
    cfg->log_checkpoint_seconds = 60;
}

/* Read the whole file (bounded) and parse it into *out; the JSON error
 * names the line and column. */
static int config_read(const config_ctx_t *c, const char *path, json_t **out)
{
    FILE *f = fopen(path, "rb");
    if (f == NULL) return config_fail(c, NULL, "cannot read: %s", strerror(errno));
    struct stat st;
    if (fstat(fileno(f), &st) != 0 || !S_ISREG(st.st_mode)) {
        fclose(f);
        return config_fail(c, NULL, "cannot read: not a regular file");
    }
    char *buf = malloc(CONFIG_FILE_MAX_BYTES + 1);
    size_t n = buf != NULL ? fread(buf, 1, CONFIG_FILE_MAX_BYTES + 1, f) : 0;
    int read_failed = ferror(f);
    fclose(f);
    int rc = 0;
    if (buf == NULL)
        rc = config_fail(c, NULL, "out of memory");
    else if (read_failed)
        rc = config_fail(c, NULL, "cannot read: input/output error");
    else if (n > CONFIG_FILE_MAX_BYTES)
        rc = config_fail(c, NULL, "larger than %d bytes", CONFIG_FILE_MAX_BYTES);
    if (rc != 0) {
        free(buf);
        return rc;
    }
    json_error_t jerr;
    json_t *root = json_loadb(buf, n, JSON_REJECT_DUPLICATES, &jerr);
    free(buf);
    if (root == NULL)
        return config_fail(c, NULL, "line %d, column %d: invalid JSON: %s", jerr.line, jerr.column,
                           jerr.text);
    if (!json_is_object(root)) {
        json_decref(root);
        return config_fail(c, NULL, "must be a JSON object");
    }
    *out = root;
    return 0;
}

static int config_public_url_ok(const char *u)
{
    const char *rest = strncmp(u, "https://", 8) == 0  ? u + 8
                       : strncmp(u, "http://", 7) == 0 ? u + 7
                                                       : NULL;
    if (rest == NULL || rest[0] == '\0' || rest[0] == '/') return 0;
    for (; *u != '\0'; u++)
        if (*u == ' ') return 0;
    return 1;
}

static int config_listen_address_ok(const char *a)
{
    unsigned char buf[sizeof(struct in6_addr)];
    return inet_pton(AF_INET, a, buf) == 1 || inet_pton(AF_INET6, a, buf) == 1 || host_chars_ok(a);
}

/* redis.read_url (issue 21): checked for syntax as redis.url, resolved with
 * it (config_redis_read_resolve). One replica of a single Redis (redis://
 * or unix://), or the nodes of the cluster of redis.url (redis+cluster://):
 * then each slot is read from a replica of its master (READONLY). */
static int config_redis_read_apply(const config_ctx_t *c, const json_t *redis, config_t *cfg)
{
    json_t *v = redis != NULL ? json_object_get(redis, "read_url") : NULL;
    if (v == NULL || json_is_null(v)) return 0;
    if (config_string(c, redis, "read_url", "redis.read_url", cfg->redis_read.url,
                      sizeof(cfg->redis_read.url)) != 0)
        return -1;
    config_redis_t probe;
    memset(&probe, 0, sizeof(probe));
    char uerr[CONFIG_ERR_MAX];
    if (config_redis_url_parse_mode(&probe, cfg->redis_read.url, 0, uerr, sizeof(uerr)) != 0)
        return config_fail(c, "redis.read_url", "%s", uerr);
    return 0;
}

/* The read URL with the main one's timeouts, resolved; no durable writes
 * there (nothing is written). -1 and why in uerr. */
static int config_redis_read_resolve(config_t *cfg, char *uerr, size_t cap)
{
    if (cfg->redis_read.url[0] == '\0') return 0;
    config_redis_t r = cfg->redis;
    if (config_redis_url_parse(&r, cfg->redis_read.url, uerr, cap) != 0) return -1;
    if (r.cluster != cfg->redis.cluster)
        return url_fail(uerr, cap,
                        cfg->redis.cluster
                            ? "redis.url is a cluster: name its nodes (redis+cluster://host:port,"
                              "...), whose replicas are then read"
                            : "redis+cluster:// needs a redis+cluster:// redis.url (one Redis: "
                              "name its replica, redis://host:port)");
    r.wait_replicas = 0;
    r.replica_reads = r.cluster; /* each slot from a replica of its master (redis.c) */
    cfg->redis_read = r;
    return 0;
}

static int config_tcf_url_ok(const char *u)
{
    return strncmp(u, "https://", 8) == 0 && u[8] != '\0' && strpbrk(u, " \"'\\") == NULL;
}

/*
 * "tcf": {"gvl_dir", "gvl_url", "translations_url", "translations"} (issue
 * 24, item 2). Only gvl_dir matters to consentd (the store it loads, gvl.h);
 * the URLs and languages are read by ops/gvl-update.sh, checked here so that
 * a typo fails at start-up rather than at the next weekly update.
 */
static int config_tcf_apply(const config_ctx_t *c, const json_t *root, const char *base,
                            config_t *cfg)
{
    static const char *const keys[] = {"gvl_dir", "gvl_url", "translations_url", "translations",
                                       NULL};
    json_t *tcf;
    if (config_object(c, root, "tcf", keys, &tcf) != 0) return -1;
    if (tcf == NULL) return 0;
    json_t *v = json_object_get(tcf, "gvl_dir");
    if (v != NULL && !json_is_null(v)) {
        char rel[PATH_MAX];
        rel[0] = '\0';
        if (config_string(c, tcf, "gvl_dir", "tcf.gvl_dir", rel, sizeof(rel)) != 0) return -1;
        if (rel[0] == '\0')
            return config_fail(c, "tcf.gvl_dir", "must not be empty (null: no TCF)");
        if (config_path_resolve(base, rel, cfg->tcf_gvl_dir, sizeof(cfg->tcf_gvl_dir)) != 0)
            return config_fail(c, "tcf.gvl_dir", "path too long");
    }
    if (config_string(c, tcf, "gvl_url", "tcf.gvl_url", cfg->tcf_gvl_url,
                      sizeof(cfg->tcf_gvl_url)) != 0)
        return -1;
    if (!config_tcf_url_ok(cfg->tcf_gvl_url))
        return config_fail(c, "tcf.gvl_url", "must be an https:// URL (the IAB's: %s)",
                           CONFIG_TCF_GVL_URL);
    if (config_string(c, tcf, "translations_url", "tcf.translations_url", cfg->tcf_translations_url,
                      sizeof(cfg->tcf_translations_url)) != 0)
        return -1;
    if (!config_tcf_url_ok(cfg->tcf_translations_url) ||
        strstr(cfg->tcf_translations_url, "{lang}") == NULL)
        return config_fail(c, "tcf.translations_url",
                           "must be an https:// URL with {lang} in it (the IAB's: %s)",
                           CONFIG_TCF_TRANSLATIONS_URL);
    json_t *langs = json_object_get(tcf, "translations");
    if (langs == NULL) return 0;
    if (!json_is_array(langs) || json_array_size(langs) > CONFIG_TCF_LANGUAGES_MAX)
        return config_fail(c, "tcf.translations", "must be an array of at most %d language codes",
                           CONFIG_TCF_LANGUAGES_MAX);
    cfg->n_tcf_translations = 0;
    for (size_t i = 0; i < json_array_size(langs); i++) {
        json_t *l = json_array_get(langs, i);
        const char *s = json_is_string(l) ? json_string_value(l) : "";
        char field[48];
        snprintf(field, sizeof(field), "tcf.translations[%zu]", i);
        if (strlen(s) != 2 || !islower((unsigned char)s[0]) || !islower((unsigned char)s[1]))
            return config_fail(c, field,
                               "must be a language code: two lower-case letters (ISO 639-1)");
        snprintf(cfg->tcf_translations[cfg->n_tcf_translations++], sizeof(cfg->tcf_translations[0]),
                 "%s", s);
    }
    return 0;
}

/* "admin": the operator key's SHA-256, 64 hex digits (or null: none). */
static int config_admin_apply(const config_ctx_t *c, const json_t *admin, config_t *cfg)
{
    json_t *v = admin != NULL ? json_object_get(admin, "operator_key_sha256") : NULL;
    if (v == NULL || json_is_null(v)) return 0;
    size_t bin_len = 0;
    if (!json_is_string(v) || json_string_length(v) != 64 ||
        sodium_hex2bin(cfg->operator_key_sha256, sizeof(cfg->operator_key_sha256),
                       json_string_value(v), 64, NULL, &bin_len, NULL) != 0 ||
        bin_len != sizeof(cfg->operator_key_sha256))
        return config_fail(c, "admin.operator_key_sha256",
                           "must be the SHA-256 of the operator key, 64 hex digits, or null");
    cfg->operator_key_set = 1;
    return 0;
}

/* Apply the file's fields over the defaults. redis.url is only checked for
 * syntax here: it is resolved once the environment has had its say, so that
 * REDIS_URL can replace a file's host that does not resolve on this machine. */
static int config_apply(const config_ctx_t *c, config_t *cfg, const json_t *root, const char *base,
                        int *public_url_set)
{
    static const char *const top[] = {"listen",     "threads", "redis",   "sites_dir", "keys_dir",
                                      "public_url", "limits",  "http2",   "log",       "tls",
                                      "rate_limit", "metrics", "erasure", "stats",     "tcf",
                                      "admin",      NULL};
    static const char *const listen_keys[] = {"address", "port", NULL};
    static const char *const erasure_keys[] = {"disk_within_seconds", NULL};
    static const char *const admin_keys[] = {"operator_key_sha256", NULL};
    static const char *const metrics_keys[] = {"listen", NULL};
    static const char *const redis_keys[] = {"url",
                                             "read_url",
                                             "command_timeout_ms",
                                             "connect_timeout_ms",
                                             "reconnect_min_ms",
                                             "reconnect_max_ms",
                                             "max_pending",
                                             "wait_replicas",
                                             "wait_timeout_ms",
                                             NULL};
    static const char *const limits_keys[] = {
        "max_body_bytes",     "max_connections",     "max_connections_per_client",
        "request_timeout_ms", "shutdown_timeout_ms", NULL};
    static const char *const log_keys[] = {
        "format", "level", "access_log", "client_ip", "checkpoint_seconds", NULL};
    static const char *const tls_keys[] = {"cert_file", "key_file", NULL};
    static const char *const stats_keys[] = {"cache_seconds", "cache_closed_seconds", NULL};
    static const char *const rl_keys[] = {"consents_per_second",
                                          "consents_burst",
                                          "events_per_second",
                                          "events_burst",
                                          "client_address_header",
                                          "exempt_loopback",
                                          "visitor_writes_per_minute",
                                          "visitor_writes_per_day",
                                          NULL};
    json_t *listen, *redis, *limits, *log, *tls = NULL, *rl, *metrics, *erasure, *stats, *admin;
    if (config_check_keys(c, root, "", top) != 0 ||
        config_object(c, root, "listen", listen_keys, &listen) != 0 ||
        config_object(c, root, "metrics", metrics_keys, &metrics) != 0 ||
        config_object(c, root, "redis", redis_keys, &redis) != 0 ||
        config_object(c, root, "limits", limits_keys, &limits) != 0 ||
        config_object(c, root, "log", log_keys, &log) != 0 ||
        config_object(c, root, "rate_limit", rl_keys, &rl) != 0 ||
        config_object(c, root, "erasure", erasure_keys, &erasure) != 0 ||
        config_object(c, root, "stats", stats_keys, &stats) != 0 ||
        config_object(c, root, "admin", admin_keys, &admin) != 0 ||
        config_admin_apply(c, admin, cfg) != 0)
        return -1;
    if (config_tcf_apply(c, root, base, cfg) != 0) return -1;
    json_t *tls_v = json_object_get(root, "tls");
    if (tls_v != NULL && !json_is_null(tls_v) && config_object(c, root, "tls", tls_keys, &tls) != 0)
        return -1;

    /* listen */
    if (config_string(c, listen, "address", "listen.address", cfg->listen_address,
                      sizeof(cfg->listen_address)) != 0)
        return -1;
    if (!config_listen_address_ok(cfg->listen_address))
        return config_fail(c, "listen.address", "must be an IPv4 or IPv6 address or a host name");
    json_int_t v = cfg->port;
    if (config_int(c, listen, "port", "listen.port", 1, 65535, &v) != 0) return -1;
    cfg->port = (uint16_t)v;

    /* metrics.listen: null or absent is no operator listener */
    json_t *mlisten = metrics != NULL ? json_object_get(metrics, "listen") : NULL;
    if (mlisten != NULL && !json_is_null(mlisten)) {
        if (!json_is_object(mlisten))
            return config_fail(c, "metrics.listen",
                               "must be null or an object {\"address\": ..., \"port\": ...}");
        if (config_check_keys(c, mlisten, "metrics.listen.", listen_keys) != 0) return -1;
        snprintf(cfg->metrics_address, sizeof(cfg->metrics_address), "127.0.0.1");
        if (config_string(c, mlisten, "address", "metrics.listen.address", cfg->metrics_address,
                          sizeof(cfg->metrics_address)) != 0)
            return -1;
        if (!config_listen_address_ok(cfg->metrics_address))
            return config_fail(c, "metrics.listen.address",
                               "must be an IPv4 or IPv6 address or a host name");
        if (json_object_get(mlisten, "port") == NULL)
            return config_fail(c, "metrics.listen.port", "is required: the operator port");
        v = 0;
        if (config_int(c, mlisten, "port", "metrics.listen.port", 1, 65535, &v) != 0) return -1;
        cfg->metrics_port = (uint16_t)v;
    }

    v = cfg->threads;
    if (config_int(c, root, "threads", "threads", 0, CONFIG_THREADS_MAX, &v) != 0) return -1;
    cfg->threads = (unsigned)v;

    /* redis */
    if (config_string(c, redis, "url", "redis.url", cfg->redis.url, sizeof(cfg->redis.url)) != 0)
        return -1;
    config_redis_t probe = cfg->redis;
    char uerr[CONFIG_ERR_MAX];
    if (config_redis_url_parse_mode(&probe, cfg->redis.url, 0, uerr, sizeof(uerr)) != 0)
        return config_fail(c, "redis.url", "%s", uerr);
    if (config_redis_read_apply(c, redis, cfg) != 0) return -1;
    if (config_u32(c, redis, "command_timeout_ms", "redis.command_timeout_ms", 1,
                   CONFIG_TIMEOUT_MS_MAX, &cfg->redis.command_timeout_ms) != 0 ||
        config_u32(c, redis, "connect_timeout_ms", "redis.connect_timeout_ms", 1,
                   CONFIG_TIMEOUT_MS_MAX, &cfg->redis.connect_timeout_ms) != 0 ||
        config_u32(c, redis, "reconnect_min_ms", "redis.reconnect_min_ms", 1, CONFIG_TIMEOUT_MS_MAX,
                   &cfg->redis.reconnect_min_ms) != 0 ||
        config_u32(c, redis, "reconnect_max_ms", "redis.reconnect_max_ms", 1, CONFIG_TIMEOUT_MS_MAX,
                   &cfg->redis.reconnect_max_ms) != 0 ||
        config_u32(c, redis, "max_pending", "redis.max_pending", 1, CONFIG_MAX_PENDING_MAX,
                   &cfg->redis.max_pending) != 0 ||
        config_u32(c, redis, "wait_replicas", "redis.wait_replicas", 0, CONFIG_WAIT_REPLICAS_MAX,
                   &cfg->redis.wait_replicas) != 0 ||
        config_u32(c, redis, "wait_timeout_ms", "redis.wait_timeout_ms", 1, CONFIG_TIMEOUT_MS_MAX,
                   &cfg->redis.wait_timeout_ms) != 0)
        return -1;
    if (cfg->redis.wait_replicas > 0 && cfg->redis.wait_timeout_ms >= cfg->redis.command_timeout_ms)
        return config_fail(c, "redis.wait_timeout_ms",
                           "must be smaller than redis.command_timeout_ms (%u), which bounds the "
                           "write and its WAIT together",
                           cfg->redis.command_timeout_ms);
    if (cfg->redis.reconnect_min_ms > cfg->redis.reconnect_max_ms)
        return config_fail(c, "redis.reconnect_min_ms",
                           "must not be larger than redis.reconnect_max_ms (%u)",
                           cfg->redis.reconnect_max_ms);

    /* directories, public URL */
    if (config_dir_field(c, root, "sites_dir", base, cfg->sites_dir, sizeof(cfg->sites_dir)) != 0 ||
        config_dir_field(c, root, "keys_dir", base, cfg->keys_dir, sizeof(cfg->keys_dir)) != 0)
        return -1;
    /* null: derived from the port once the environment is known */
    json_t *public_url = json_object_get(root, "public_url");
    if (public_url != NULL && !json_is_null(public_url)) {
        if (config_string(c, root, "public_url", "public_url", cfg->public_url,
                          sizeof(cfg->public_url)) != 0)
            return -1;
        if (!config_public_url_ok(cfg->public_url))
            return config_fail(c, "public_url",
                               "must be null or an http:// or https:// URL, e.g. "
                               "https://consent.example.com");
        *public_url_set = 1;
    }

    /* erasure */
    if (config_u32(c, erasure, "disk_within_seconds", "erasure.disk_within_seconds", 1,
                   CONFIG_ERASURE_DISK_WITHIN_MAX_S, &cfg->erasure_disk_within_s) != 0)
        return -1;

    /* limits */
    v = (json_int_t)cfg->max_body_bytes;
    if (config_int(c, limits, "max_body_bytes", "limits.max_body_bytes", 1,
                   CONFIG_MAX_BODY_BYTES_MAX, &v) != 0)
        return -1;
    cfg->max_body_bytes = (size_t)v;
    if (config_u32(c, limits, "max_connections", "limits.max_connections", 1,
                   CONFIG_MAX_CONNECTIONS_MAX, &cfg->max_connections) != 0 ||
        config_u32(c, limits, "max_connections_per_client", "limits.max_connections_per_client", 0,
                   CONFIG_MAX_CONNECTIONS_MAX, &cfg->max_connections_per_client) != 0 ||
        config_u32(c, limits, "request_timeout_ms", "limits.request_timeout_ms", 1,
                   CONFIG_TIMEOUT_MS_MAX, &cfg->request_timeout_ms) != 0 ||
        config_u32(c, limits, "shutdown_timeout_ms", "limits.shutdown_timeout_ms", 1,
                   CONFIG_TIMEOUT_MS_MAX, &cfg->shutdown_timeout_ms) != 0)
        return -1;

    if (config_bool(c, root, "http2", "http2", &cfg->http2) != 0) return -1;

    /* tls: null or absent is plain HTTP (behind a TLS-terminating proxy) */
    if (tls != NULL) {
        char rel[PATH_MAX];
        const char *names[] = {"cert_file", "key_file"};
        char *outs[] = {cfg->tls_cert_file, cfg->tls_key_file};
        for (int i = 0; i < 2; i++) {
            char field[32];
            snprintf(field, sizeof(field), "tls.%s", names[i]);
            rel[0] = '\0';
            if (config_string(c, tls, names[i], field, rel, sizeof(rel)) != 0) return -1;
            if (rel[0] == '\0')
                return config_fail(c, field, "is required: a PEM file (certificate chain, key)");
            if (config_path_resolve(base, rel, outs[i], PATH_MAX) != 0)
                return config_fail(c, field, "path too long");
        }
    }

    /* rate_limit */
    if (config_u32(c, rl, "consents_per_second", "rate_limit.consents_per_second", 0,
                   CONFIG_RATE_MAX, &cfg->rl_consents_per_second) != 0 ||
        config_u32(c, rl, "consents_burst", "rate_limit.consents_burst", 1, CONFIG_RATE_MAX,
                   &cfg->rl_consents_burst) != 0 ||
        config_u32(c, rl, "events_per_second", "rate_limit.events_per_second", 0, CONFIG_RATE_MAX,
                   &cfg->rl_events_per_second) != 0 ||
        config_u32(c, rl, "events_burst", "rate_limit.events_burst", 1, CONFIG_RATE_MAX,
                   &cfg->rl_events_burst) != 0 ||
        config_u32(c, rl, "visitor_writes_per_minute", "rate_limit.visitor_writes_per_minute", 0,
                   CONFIG_RATE_MAX, &cfg->rl_visitor_writes_per_minute) != 0 ||
        config_u32(c, rl, "visitor_writes_per_day", "rate_limit.visitor_writes_per_day", 0,
                   CONFIG_RATE_MAX, &cfg->rl_visitor_writes_per_day) != 0)
        return -1;
    if (config_bool(c, rl, "exempt_loopback", "rate_limit.exempt_loopback",
                    &cfg->rl_exempt_loopback) != 0)
        return -1;
    json_t *hdr = rl != NULL ? json_object_get(rl, "client_address_header") : NULL;
    if (hdr != NULL && !json_is_null(hdr)) {
        if (!json_is_string(hdr) || strcasecmp(json_string_value(hdr), "x-forwarded-for") != 0)
            return config_fail(c, "rate_limit.client_address_header",
                               "must be null (the peer address) or \"x-forwarded-for\" (its last "
                               "address: set it only behind a proxy that appends it)");
        snprintf(cfg->rl_client_header, sizeof(cfg->rl_client_header), "x-forwarded-for");
    }

    /* stats */
    uint32_t cache_s = cfg->stats_cache_ms / 1000, closed_s = cfg->stats_cache_closed_ms / 1000;
    if (config_u32(c, stats, "cache_seconds", "stats.cache_seconds", 0, 3600, &cache_s) != 0 ||
        config_u32(c, stats, "cache_closed_seconds", "stats.cache_closed_seconds", 0, 86400,
                   &closed_s) != 0)
        return -1;
    cfg->stats_cache_ms = cache_s * 1000;
    cfg->stats_cache_closed_ms = closed_s * 1000;

    /* log */
    json_t *fmt = log != NULL ? json_object_get(log, "format") : NULL;
    if (fmt != NULL) {
        const char *s = json_is_string(fmt) ? json_string_value(fmt) : "";
        if (strcmp(s, "text") != 0 && strcmp(s, "json") != 0)
            return config_fail(c, "log.format", "must be \"text\" or \"json\"");
        cfg->log_json = strcmp(s, "json") == 0;
    }
    json_t *level = log != NULL ? json_object_get(log, "level") : NULL;
    if (level != NULL) {
        int l = json_is_string(level) ? log_level_parse(json_string_value(level)) : -1;
        if (l < 0) return config_fail(c, "log.level", "must be one of debug, info, warn, error");
        cfg->log_level = l;
    }
    if (config_bool(c, log, "access_log", "log.access_log", &cfg->access_log) != 0 ||
        config_bool(c, log, "client_ip", "log.client_ip", &cfg->log_client_ip) != 0 ||
        config_u32(c, log, "checkpoint_seconds", "log.checkpoint_seconds", 0,
                   CONFIG_CHECKPOINT_SECONDS_MAX, &cfg->log_checkpoint_seconds) != 0)
        return -1;
    return 0;
}

/* ---- the environment ------------------------------------------------------ */

/* An unset or empty variable leaves the file's value. */
static int config_env_uint(const char *name, long min, long max, long *out, char *err,
                           size_t errlen)
{
    const char *s = getenv(name);
    if (s == NULL || s[0] == '\0') return 0;
    if (parse_uint(s, strlen(s), min, max, out) != 0)
        return url_fail(err, errlen, "environment %s: must be an integer from %ld to %ld", name,
                        min, max);
    return 1;
}

static int config_env(config_t *cfg, char *err, size_t errlen)
{
    long v;
    int rc = config_env_uint("PORT", 1, 65535, &v, err, errlen);
    if (rc < 0) return -1;
    if (rc > 0) cfg->port = (uint16_t)v;
    rc = config_env_uint("CONSENTD_THREADS", 0, CONFIG_THREADS_MAX, &v, err, errlen);
    if (rc < 0) return -1;
    if (rc > 0) cfg->threads = (unsigned)v;
    return 0;
}

int config_load(config_t *cfg, const char *path, char *err, size_t errlen)
{
    char base[PATH_MAX];
    config_ctx_t c = {.file = path, .err = err, .errlen = errlen};
    if (err != NULL && errlen > 0) err[0] = '\0';
    if (path != NULL) {
        char real[PATH_MAX];
        if (realpath(path, real) == NULL)
            return config_fail(&c, NULL, "cannot read: %s", strerror(errno));
        snprintf(base, sizeof(base), "%s", real);
        char *slash = strrchr(base, '/');
        if (slash == base)
            slash[1] = '\0';
        else if (slash != NULL)
            *slash = '\0';
        config_defaults(cfg, base);
        snprintf(cfg->path, sizeof(cfg->path), "%s", real);
    } else {
        if (getcwd(base, sizeof(base)) == NULL)
            return url_fail(err, errlen, "cannot find the current directory: %s", strerror(errno));
        config_defaults(cfg, base);
    }

    int public_url_set = 0;
    if (path != NULL) {
        json_t *root;
        if (config_read(&c, path, &root) != 0) return -1;
        int rc = config_apply(&c, cfg, root, base, &public_url_set);
        json_decref(root);
        if (rc != 0) return -1;
    }
    if (config_env(cfg, err, errlen) != 0) return -1;
    /* (Only a file sets it: c names the file.) */
    if (cfg->metrics_port != 0 && cfg->metrics_port == cfg->port)
        return config_fail(&c, "metrics.listen.port", "must differ from the public port (%u)",
                           cfg->port);

    /* The Redis URL that wins is resolved once, here. */
    const char *env_url = getenv("REDIS_URL");
    char uerr[CONFIG_ERR_MAX];
    if (env_url != NULL && env_url[0] != '\0') {
        if (config_redis_url_parse(&cfg->redis, env_url, uerr, sizeof(uerr)) != 0)
            return url_fail(err, errlen, "environment REDIS_URL: %s", uerr);
    } else if (config_redis_url_parse(&cfg->redis, cfg->redis.url, uerr, sizeof(uerr)) != 0) {
        if (path != NULL) return config_fail(&c, "redis.url", "%s", uerr);
        return url_fail(err, errlen, "redis.url: %s", uerr);
    }
    if (config_redis_read_resolve(cfg, uerr, sizeof(uerr)) != 0) {
        if (path != NULL) return config_fail(&c, "redis.read_url", "%s", uerr);
        return url_fail(err, errlen, "redis.read_url: %s", uerr);
    }
    if (!public_url_set)
        snprintf(cfg->public_url, sizeof(cfg->public_url), "%s://localhost:%u",
                 cfg->tls_cert_file[0] != '\0' ? "https" : "http", cfg->port);
    return 0;
}
