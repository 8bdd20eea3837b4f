/*
 * scans.c - POST /v1/sites/{site}/scans and GET .../scans/latest (scans.h).
 *
 * The body is read with jansson (duplicate keys refused): a small body, a
 * rare call. The stored text is written here, never the body as sent.
 */
#include "scans.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "clock.h"
#include "store.h"

static const char *const scans_counts[] = {"pages",    "violations", "undeclared",
                                           "leftover", "stale",      "notices"};
#define SCANS_COUNTS (sizeof(scans_counts) / sizeof(scans_counts[0]))

/* "YYYY-MM-DDTHH:MM:SS[.fff]Z" (UTC, as the scanner's toISOString writes). */
static int scans_time_ok(const char *s)
{
    size_t n = strlen(s);
    if (n != 20 && n != 24) return 0;
    char day[11];
    memcpy(day, s, 10);
    day[10] = '\0';
    int64_t d;
    if (clock_parse_day(day, &d) != 0 || s[10] != 'T' || s[13] != ':' || s[16] != ':' ||
        s[n - 1] != 'Z')
        return 0;
    for (size_t i = 11; i < n - 1; i++) {
        if (i == 13 || i == 16 || (n == 24 && i == 19)) continue;
        if (s[i] < '0' || s[i] > '9') return 0;
    }
    if (n == 24 && s[19] != '.') return 0;
    int h = (s[11] - '0') * 10 + s[12] - '0', m = (s[14] - '0') * 10 + s[15] - '0',
        sec = (s[17] - '0') * 10 + s[18] - '0';
    return h < 24 && m < 60 && sec < 60;
}

/* A short printable line: no control character. */
static int scans_line_ok(const char *s, size_t len, size_t max)
{
    if (len == 0 || len > max) return 0;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return 0;
    return 1;
}

static int scans_fail(const char **code, char *message, size_t cap, const char *c, const char *fmt,
                      const char *field)
{
    *code = c;
    snprintf(message, cap, fmt, field);
    return -1;
}

int scans_body_check(const char *body, size_t len, int64_t received_ms, char **out, size_t *out_len,
                     const char **code, char *message, size_t cap)
{
    *out = NULL;
    *out_len = 0;
    json_error_t jerr;
    json_t *root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
    if (root == NULL || !json_is_object(root)) {
        json_decref(root);
        return scans_fail(code, message, cap, "malformed_json", "%s",
                          root == NULL ? jerr.text : "the body must be a JSON object");
    }
    int rc = -1;
    json_t *stored = json_object();
    const char *key;
    json_t *v;
    json_object_foreach(root, key, v)
    {
        int known = strcmp(key, "scanned_at") == 0 || strcmp(key, "verdict") == 0 ||
                    strcmp(key, "scanner") == 0 || strcmp(key, "findings") == 0;
        for (size_t i = 0; i < SCANS_COUNTS; i++)
            known |= strcmp(key, scans_counts[i]) == 0;
        if (!known) {
            char k[65];
            snprintf(k, sizeof(k), "%s", key);
            scans_fail(code, message, cap, "invalid_field", "unknown field: %s", k);
            goto done;
        }
    }
    v = json_object_get(root, "scanned_at");
    if (!json_is_string(v) || !scans_time_ok(json_string_value(v))) {
        scans_fail(code, message, cap, "invalid_field",
                   "%s is required: a UTC RFC 3339 time, YYYY-MM-DDTHH:MM:SS[.sss]Z", "scanned_at");
        goto done;
    }
    json_object_set(stored, "scanned_at", v);
    char received[CLOCK_TEXT_MAX];
    clock_format(received_ms, CLOCK_ISO_MS, received);
    json_object_set_new(stored, "received_at", json_string(received));
    v = json_object_get(root, "verdict");
    if (!json_is_string(v) ||
        (strcmp(json_string_value(v), "pass") != 0 && strcmp(json_string_value(v), "fail") != 0)) {
        scans_fail(code, message, cap, "invalid_field", "%s is required: pass or fail", "verdict");
        goto done;
    }
    json_object_set(stored, "verdict", v);
    v = json_object_get(root, "scanner");
    if (!json_is_string(v) ||
        !scans_line_ok(json_string_value(v), json_string_length(v), SCANS_SCANNER_MAX)) {
        scans_fail(code, message, cap, "invalid_field",
                   "%s is required: 1 to 64 bytes, no control character", "scanner");
        goto done;
    }
    json_object_set(stored, "scanner", v);
    for (size_t i = 0; i < SCANS_COUNTS; i++) {
        v = json_object_get(root, scans_counts[i]);
        if (!json_is_integer(v) || json_integer_value(v) < 0 ||
            json_integer_value(v) > SCANS_COUNT_MAX) {
            scans_fail(code, message, cap, "invalid_field",
                       "%s is required: an integer from 0 to 1000000", scans_counts[i]);
            goto done;
        }
        json_object_set(stored, scans_counts[i], v);
    }
    v = json_object_get(root, "findings");
    json_t *lines = json_array();
    json_object_set_new(stored, "findings", lines);
    if (v != NULL && (!json_is_array(v) || json_array_size(v) > SCANS_FINDINGS_MAX)) {
        scans_fail(code, message, cap, "invalid_field", "%s must be an array of at most 20 lines",
                   "findings");
        goto done;
    }
    size_t i;
    json_t *line;
    json_array_foreach(v, i, line)
    {
        if (!json_is_string(line) ||
            !scans_line_ok(json_string_value(line), json_string_length(line), SCANS_FINDING_MAX)) {
            scans_fail(code, message, cap, "invalid_field",
                       "%s: each line is 1 to 300 bytes, no control character", "findings");
            goto done;
        }
        json_array_append(lines, line);
    }
    *out = json_dumps(stored, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (*out == NULL) {
        scans_fail(code, message, cap, "internal", "%s", "out of memory");
        goto done;
    }
    *out_len = strlen(*out);
    rc = 0;
done:
    json_decref(stored);
    json_decref(root);
    return rc;
}

static int scans_server_only(http_request_t *rq)
{
    http_caller_t caller = http_caller(rq);
    if (caller == HTTP_CALLER_SERVER) return 1;
    /* A browser of the site has no business here: it gets the 401 too. */
    http_caller_error(rq, caller == HTTP_CALLER_BROWSER ? HTTP_CALLER_NONE : caller);
    return 0;
}

/* The stored text, kept in the pending state until Redis answers. */
typedef struct scans_pending {
    size_t len;
    char json[];
} scans_pending_t;

static void scans_on_added(void *data, int found, const redis_error_t *err)
{
    http_pending_t *p = data;
    http_request_t *rq = http_pending_request(p);
    scans_pending_t *st = http_pending_state(p);
    if (rq != NULL && err != NULL) {
        http_storage_error(rq, 0, err);
    } else if (rq != NULL && !found) {
        http_error(rq, 500, "internal", "the summary was not stored");
    } else if (rq != NULL) {
        http_header(rq, "cache-control", H2O_STRLIT("no-store"));
        http_send_copy(rq, 201, "application/json", st->json, st->len);
    }
    http_pending_free(p);
}

void scans_post(http_request_t *rq)
{
    if (!scans_server_only(rq)) return;
    if (!http_body_is_json(rq)) {
        http_error(rq, 415, "unsupported_media_type", "send the body as application/json");
        return;
    }
    char *json, message[160];
    size_t len;
    const char *code;
    if (scans_body_check(rq->req->entity.base, rq->req->entity.len, clock_real_ms(), &json, &len,
                         &code, message, sizeof(message)) != 0) {
        http_error(rq, strcmp(code, "internal") == 0 ? 500 : 400, code, message);
        return;
    }
    http_pending_t *p = http_pending_new(rq, sizeof(scans_pending_t) + len + 1);
    if (p == NULL) {
        free(json);
        http_error(rq, 500, "internal", "out of memory");
        return;
    }
    scans_pending_t *st = http_pending_state(p);
    st->len = len;
    memcpy(st->json, json, len + 1);
    free(json);
    int rc = store_scan_add(rq->worker->redis, rq->site, st->json, st->len, scans_on_added, p);
    if (rc != REDIS_OK) {
        http_pending_free(p);
        http_storage_error(rq, rc, NULL);
    }
}

static void scans_on_latest(void *data, const char *js, size_t len, const redis_error_t *err)
{
    http_pending_t *p = data;
    http_request_t *rq = http_pending_request(p);
    if (rq != NULL && err != NULL) {
        http_storage_error(rq, 0, err);
    } else if (rq != NULL && js == NULL) {
        http_error(rq, 404, "no_scan", "no scan summary was posted for this site");
    } else if (rq != NULL) {
        http_header(rq, "cache-control", H2O_STRLIT("no-store"));
        http_send_copy(rq, 200, "application/json", js, len);
    }
    http_pending_free(p);
}

void scans_latest(http_request_t *rq)
{
    if (!scans_server_only(rq)) return;
    http_pending_t *p = http_pending_new(rq, 1);
    if (p == NULL) {
        http_error(rq, 500, "internal", "out of memory");
        return;
    }
    int rc = store_scan_latest(rq->worker->redis, rq->site, scans_on_latest, p);
    if (rc != REDIS_OK) {
        http_pending_free(p);
        http_storage_error(rq, rc, NULL);
    }
}
