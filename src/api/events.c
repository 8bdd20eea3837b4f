/*
 * events.c - POST /v1/sites/{site}/events: validate, count, 204.
 *
 * The body is strict (events.h): an unknown field, a wrong type, an event
 * type, language or variant the site does not know is a 400 and counts
 * nothing. text/plain is accepted beside application/json because
 * navigator.sendBeacon() sends a string that way, without a preflight.
 */
#include "events.h"

#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "clock.h"
#include "consent.h"
#include "counters.h"
#include "json_scan.h"

#define EVENTS_POLICY_VERSION_MAX 64

static const struct {
    const char *name;
    counters_metric_t metric;
} events_types[] = {
    {"shown", COUNTERS_SHOWN},
    {"dismissed", COUNTERS_DISMISSED},
    {"panel_opened", COUNTERS_PANEL_OPENED},
};

static const char *events_site_language(const site_t *site, const char *lang)
{
    for (size_t i = 0; i < site->n_languages; i++)
        if (strcmp(site->languages[i], lang) == 0) return site->languages[i];
    return NULL;
}

int events_body_check(const char *body, size_t len, const site_t *site, events_event_t *out,
                      events_refusal_t *why)
{
    memset(out, 0, sizeof(*out));
    json_scan_value_t root, key, value;
    const char *perr;
    if (json_scan_parse(body, len, &root, &perr) != 0 || root.type != JSON_SCAN_OBJECT) {
        why->code = "malformed_json";
        snprintf(why->message, sizeof(why->message), "%s",
                 perr != NULL ? perr : "the body must be a JSON object");
        return -1;
    }

    /* The strings, decoded into one arena: together never longer than the
     * body, plus their NULs. null is the same as absent for the optional
     * fields. */
    char stack[2 * EVENTS_MAX_BODY + 16], *arena = stack;
    size_t arena_cap = 2 * len + 16, used = 0;
    if (arena_cap > sizeof(stack) && (arena = malloc(arena_cap)) == NULL) {
        why->code = "malformed_json";
        snprintf(why->message, sizeof(why->message), "out of memory");
        return -1;
    }
    static const char *const names[] = {"type",    "lang",           "variant",
                                        "visitor", "policy_version", "page"};
    enum { F_TYPE, F_LANG, F_VARIANT, F_VISITOR, F_POLICY, F_PAGE, F_N };
    const char *field[F_N] = {NULL};
    char bad[JSON_SCAN_KEY_MAX + 1] = "";
    for (size_t pos = 0; bad[0] == '\0' && json_scan_member(&root, &pos, &key, &value);) {
        size_t f = 0;
        while (f < F_N && !json_scan_string_is(&key, names[f], strlen(names[f])))
            f++;
        int is_str = value.type == JSON_SCAN_STRING, is_null = value.type == JSON_SCAN_NULL;
        if (f < F_N && (is_str || (is_null && f != F_TYPE))) {
            if (!is_str) continue;
            ssize_t n = json_scan_string(&value, arena + used, arena_cap - used);
            field[f] = arena + used;
            used += (size_t)n + 1; /* fits: the arena holds every string of the body */
            /* policy_version is informative, counted whatever its value, but bounded */
            if (f == F_POLICY && (size_t)n > EVENTS_POLICY_VERSION_MAX)
                snprintf(bad, sizeof(bad), "policy_version");
        } else if (json_scan_string(&key, bad, sizeof(bad)) <= 0) {
            snprintf(bad, sizeof(bad), "\"\""); /* the empty key, named */
        }
    }
    const char *type = field[F_TYPE], *lang = field[F_LANG], *variant = field[F_VARIANT],
               *visitor = field[F_VISITOR];
    /* The page group the banner names: any other name folds into "other". */
    out->page = field[F_PAGE] != NULL
                    ? site_page_group_index(site, field[F_PAGE], strlen(field[F_PAGE]))
                    : -1;
    int has_type = type != NULL;

    char *msg = why->message;
    size_t cap = sizeof(why->message);
    const char *code = NULL;
    if (bad[0] != '\0') {
        code = "invalid_field";
        if (strcmp(bad, "policy_version") == 0)
            snprintf(msg, cap, "policy_version must be a string of at most %d bytes",
                     EVENTS_POLICY_VERSION_MAX);
        else
            snprintf(msg, cap, "unknown field or wrong type: %.64s", bad);
    } else if (!has_type) {
        code = "missing_field";
        snprintf(msg, cap, "type is required");
    } else {
        size_t t = 0, nt = sizeof(events_types) / sizeof(events_types[0]);
        while (t < nt && strcmp(type, events_types[t].name) != 0)
            t++;
        if (t == nt) {
            code = "unknown_event_type";
            snprintf(msg, cap, "type must be shown, dismissed or panel_opened");
        } else {
            out->metric = events_types[t].metric;
        }
    }
    if (code == NULL && visitor != NULL && !visitor_id_valid(visitor, strlen(visitor))) {
        code = "invalid_visitor";
        snprintf(msg, cap, "visitor must be 8 to 64 characters of A-Z a-z 0-9 - _");
    } else if (code == NULL && lang != NULL &&
               (out->lang = events_site_language(site, lang)) == NULL) {
        code = "unknown_language";
        snprintf(msg, cap, "this site has no texts in that language");
    } else if (code == NULL && variant != NULL &&
               (out->variant = site_variant_find(site, variant, strlen(variant))) == NULL) {
        code = "unknown_variant";
        snprintf(msg, cap, "this site declares no such banner variant");
    }
    if (code == NULL && visitor != NULL)
        memcpy(out->visitor, visitor, strlen(visitor) + 1); /* 8..64 bytes: checked */
    if (arena != stack) free(arena);
    why->code = code;
    return code == NULL ? 0 : -1;
}

void events_post(http_request_t *rq)
{
    const site_t *site = rq->site;
    http_caller_t caller = http_caller(rq);
    if (caller != HTTP_CALLER_BROWSER && caller != HTTP_CALLER_SERVER) {
        http_caller_error(rq, caller);
        return;
    }
    if (!http_body_is_json_or_text(rq)) {
        http_error(rq, 415, "unsupported_media_type",
                   "send the body as application/json (or text/plain, as sendBeacon does)");
        return;
    }
    events_event_t ev;
    events_refusal_t why;
    if (events_body_check(rq->req->entity.base, rq->req->entity.len, site, &ev, &why) != 0) {
        http_error(rq, 400, why.code, why.message);
        return;
    }
    const counters_segment_t seg = {
        .ua = http_useragent_class(rq), .page = ev.page, .decide_ms = -1};
    counters_event(rq->worker->counters, rq->worker->snap->sites, site, ev.metric, ev.lang,
                   ev.variant != NULL ? ev.variant->id : NULL,
                   ev.visitor[0] != '\0' ? ev.visitor : NULL, &seg, clock_real_ms());
    http_header(rq, "cache-control", H2O_STRLIT("no-store"));
    http_send_static(rq, 204, NULL, NULL, 0);
}
