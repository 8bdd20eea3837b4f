/*
 * site_config.h - a site's configuration in Redis, over HTTP (issue 22,
 * item 1): the draft, the versions, their diff, publish and roll back.
 *
 *   GET  /v1/sites/{site}/draft                      the draft and its revision
 *   PUT  /v1/sites/{site}/draft                      replace it (If-Match or "revision")
 *   GET  /v1/sites/{site}/versions                   who, when, message, newest first
 *   POST /v1/sites/{site}/versions                   the draft becomes a version
 *   GET  /v1/sites/{site}/versions/{version}         one version's document
 *   GET  /v1/sites/{site}/diff?from=A&to=B           a JSON diff of two versions
 *   POST /v1/sites/{site}/versions/{version}/publish publish it (a roll back: an older one)
 *
 * A document is validated by site.c (site_set_load_doc) before it is stored,
 * with the messages a site file gets, the source named "site <id> draft
 * <revision>": invalid is 422 with {field, reason}. Publishing applies the
 * policy bump rule (site_doc.h; docs/sites.md), then announces the version
 * (store_sites_announce) so that every node serves it (site_watch.h).
 * Storage goes through store.h; nothing here knows a key.
 */
#ifndef CONSENTD_API_SITE_CONFIG_H
#define CONSENTD_API_SITE_CONFIG_H

#include <jansson.h>

#include "http.h"

#define SITE_CONFIG_MAX_BODY (256 * 1024) /* a site document, a few KB to a few 10 KB */

/* Validate a site document (canonical, len bytes) as a draft is validated:
 * site.c (site_set_load_doc, the id must be id) and the banner's build
 * (banner_site_check). 0, or answered 422 invalid_site whose message is
 * "<source>: <field>: <reason>" and errors [{field, reason}] (-1). snap
 * gives the Global Vendor List a "tcf" block is checked against. */
struct snapshot;
int site_config_validate(http_request_t *rq, const struct snapshot *snap, const char *source,
                         const char *id, const char *json, size_t len);
/* doc (a JSON object) canonicalised (site_doc.h: keys sorted, compact),
 * malloc'd; NULL after answering 422 invalid_site when it is no object. */
char *site_config_canonical(http_request_t *rq, const json_t *doc, size_t *len);
/* Answer root (taken; NULL: 500) as JSON, Cache-Control: no-store: the
 * answers of every site configuration route (sites.c, site_preview.c). */
void site_config_send(http_request_t *rq, int status, json_t *root);
/* A store function's JSON reply (an object), parsed; NULL after answering
 * the error (err: http_storage_error; anything else: 500). */
json_t *site_config_reply(http_request_t *rq, const char *js, size_t len, const redis_error_t *err);

void site_config_draft_get(http_request_t *rq);
void site_config_draft_put(http_request_t *rq);
void site_config_versions_list(http_request_t *rq);
void site_config_versions_post(http_request_t *rq);
void site_config_version_get(http_request_t *rq);
void site_config_diff(http_request_t *rq);
void site_config_publish(http_request_t *rq);

#endif
